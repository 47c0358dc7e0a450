//! Grammar check of the Atom feed built from the whole corpus with jing and the
//! RFC 4287 RELAX NG grammar (`../shared/validators/check-atom.sh`).

use std::process::Command;

use crate::support::{Site, assert_succeeds, corpus, repo};

#[test]
fn corpus_atom_feed_is_valid_rfc4287() {
    let have_jing = Command::new("jing").arg("-h").output().is_ok();
    if !have_jing {
        // CI installs jing (.ci/run); a developer machine may lack it.
        assert!(std::env::var_os("CI").is_none(), "jing is required in CI");
        eprintln!("skipped: jing is not installed (apt-get install jing libxml2-utils)");
        return;
    }
    let site = Site::reading(&corpus(), "feeds:\n  limit: 1000\n");
    let (run, _) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_succeeds(
        Command::new("bash")
            .arg(repo().join("../shared/validators/check-atom.sh"))
            .arg(site.path().join("public/atom.xml")),
    );
}
