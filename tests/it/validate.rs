//! Grammar check of Atom feeds built from real books with jing and the RFC
//! 4287 RELAX NG grammar (tests/fixtures/atom: the grammar and a script that
//! also checks the two rules the grammar carries only as annotations).

use std::path::Path;
use std::process::Command;

use crate::support::{Site, assert_succeeds, corpus_sample, fixture, whole_corpus};

fn atom_feed_is_valid_rfc4287(corpus: &Path) {
    // No silent skip: without jing the test fails and says what to install.
    for tool in ["jing", "xmllint"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is not installed: apt-get install jing libxml2-utils (see README, Development)"
        );
    }
    let site = Site::reading(corpus, "feeds:\n  limit: 1000\n");
    let (run, _) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_succeeds(
        Command::new("sh")
            .arg(fixture("atom/check-atom.sh"))
            .arg(site.path().join("public/atom.xml")),
    );
}

#[test]
fn corpus_sample_atom_feed_is_valid_rfc4287() {
    atom_feed_is_valid_rfc4287(&corpus_sample());
}

#[test]
#[ignore = "needs the whole corpus in BOOKWEEK_CORPUS; run by .ci/run"]
fn whole_corpus_atom_feed_is_valid_rfc4287() {
    atom_feed_is_valid_rfc4287(&whole_corpus());
}

/// The check itself can fail: an entry without its `id` is rejected.
#[test]
fn grammar_check_rejects_an_entry_without_id() {
    let site = Site::reading(&corpus_sample(), "");
    let (run, _) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let atom = site.read("public/atom.xml");
    // Cut the first entry's <id>…</id>.
    let entry = atom.find("<entry>").unwrap();
    let id = entry + atom[entry..].find("<id>").unwrap();
    let id_end = id + atom[id..].find("</id>").unwrap() + "</id>".len();
    let broken = site.path().join("broken.xml");
    std::fs::write(&broken, format!("{}{}", &atom[..id], &atom[id_end..])).unwrap();
    let out = Command::new("sh")
        .arg(fixture("atom/check-atom.sh"))
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("missing required element \"id\""),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
