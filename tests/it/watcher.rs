//! The daemon's folder watcher follows exactly the config file (also when it
//! is named without a folder) and ignores everything else beside it.

use std::time::{Duration, Instant};

use crate::support::{Daemon, Site, repo, wait_for};

/// How often the daemon logged `what`.
fn count(d: &Daemon, what: &str) -> usize {
    d.log().matches(what).count()
}

fn config(title: &str) -> String {
    format!(
        "site:\n  title: {title}\nserver:\n  listen: 127.0.0.1:0\nmail:\n  url: file://outbox\n"
    )
}

#[test]
fn a_config_named_without_a_folder_is_followed_and_a_log_beside_it_is_not() {
    let site = Site::with_content(&repo().join("content"), "");
    std::fs::remove_dir_all(site.path().join("config")).unwrap();
    site.write("bookweek.yaml", config("First Title"));
    let d = Daemon::spawn(
        &site,
        "2022-12-10T10:00:00+01:00",
        &["--config", "bookweek.yaml"],
        None,
    );
    std::thread::sleep(Duration::from_millis(500));
    let reloads_at_start = count(&d, "files changed");

    // A log file written beside the config, line after line, for 2 s.
    let started = Instant::now();
    let mut log = String::new();
    while started.elapsed() < Duration::from_secs(2) {
        log.push_str("a log line\n");
        site.write("cron.log", &log);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(count(&d, "files changed"), reloads_at_start, "{}", d.log());

    // An edit of the config file itself is seen and applied.
    site.write("bookweek.yaml", config("Second Title"));
    wait_for("the config edit", Duration::from_secs(10), || {
        count(&d, "config reloaded") > 0
    });
    wait_for("the new title in the feed", Duration::from_secs(10), || {
        std::fs::read_to_string(site.path().join("public/feed.xml"))
            .unwrap_or_default()
            .contains("Second Title")
    });
}
