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

#[test]
fn links_inside_the_content_are_not_followed_but_a_linked_books_folder_is() {
    let site = Site::with_content(&repo().join("content"), "server:\n  listen: 127.0.0.1:0\n");
    // The books live elsewhere; content/books is a link to them, and holds
    // links to the disk's root and round a loop.
    let books = site.path().join("shelf");
    std::fs::rename(site.path().join("content/books"), &books).unwrap();
    std::os::unix::fs::symlink(&books, site.path().join("content/books")).unwrap();
    std::os::unix::fs::symlink("/", books.join("root")).unwrap();
    std::os::unix::fs::symlink("..", books.join("up")).unwrap();
    let d = Daemon::start(&site, "2023-01-10T12:00:00Z");
    let feed = || d.get("/feed.json").text().unwrap();
    assert!(feed().contains("Reliable Machine Learning"), "{}", d.log());
    // A new book written through the link's target is seen.
    std::fs::write(
        books.join("20230102-new.md"),
        "---\ntitle: A Brand New Book\nauthors: [Jane Doe]\nstart: 2023-01-02 00:00:00\nend: 2023-01-06 23:59:59\n---\nBody.\n",
    )
    .unwrap();
    wait_for("the new book", Duration::from_secs(10), || {
        feed().contains("A Brand New Book")
    });
}
