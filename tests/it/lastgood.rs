//! Cron = daemon on a broken edit: `build`, `once` and `bookweek run` all
//! keep publishing the last good version of a book whose file an edit broke,
//! remembered in the state database, say so in the error line, and drop the
//! book when its file is deleted.

use std::time::{Duration, Instant};

use crate::hostile::GOOD;
use crate::support::{Daemon, Feeds, Site};

const BROKEN_LINE: &str = "content/books/good.md:4:1: error: `start` is not a date and time: `2022-12-32`; expected `YYYY-MM-DD HH:MM:SS`; the last good version (read 2026-01-01T00:00:00Z) is still published";

fn site() -> Site {
    let site = Site::empty("server:\n  listen: 127.0.0.1:0\n");
    site.write("content/books/good.md", GOOD);
    site.write(
        "content/books/other.md",
        GOOD.replace("Good Book", "Other Book")
            .replace("2022-12-05", "2022-12-12")
            .replace("2022-12-09", "2022-12-16"),
    );
    site
}

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| e.title.clone().unwrap().content)
        .collect()
}

const ALL: [&str; 4] = [
    "Other Book: the author's answers",
    "Book of the Week: Other Book",
    "Good Book: the author's answers",
    "Book of the Week: Good Book",
];

fn break_good_book(site: &Site) {
    site.write(
        "content/books/good.md",
        GOOD.replace("2022-12-05 00:00:00", "2022-12-32"),
    );
}

/// `key → read_at` of the kept versions, straight from the database.
fn kept(site: &Site) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(site.path().join("state/bookweek.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT key, read_at FROM books ORDER BY key")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn build_keeps_the_last_good_version_of_a_broken_book_until_its_file_is_deleted() {
    let site = site();
    let (run, feeds) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(titles(&feeds.rss), ALL);

    break_good_book(&site);
    let (run, feeds) = site.build("2026-01-02T00:00:00Z");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.lines().any(|l| l == BROKEN_LINE),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: 1 book with errors; its last good version still published"),
        "{}",
        run.stderr
    );
    for feed in feeds.all() {
        assert_eq!(titles(feed), ALL);
    }
    // `check` checks the files as they are: the book is left out there.
    let run = site.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("(1 book ok, 1 left out)"),
        "{}",
        run.stdout
    );

    // A good edit replaces the kept version; the untouched book keeps its own.
    site.write(
        "content/books/good.md",
        GOOD.replace("Good Book", "Better Book"),
    );
    let (run, feeds) = site.build("2026-01-03T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(titles(&feeds.atom)[3], "Book of the Week: Better Book");
    assert_eq!(
        kept(&site),
        [
            ("books/good.md".into(), "2026-01-03T00:00:00Z".into()),
            ("books/other.md".into(), "2026-01-01T00:00:00Z".into())
        ]
    );

    // Deleted: gone from the feeds and from the state.
    std::fs::remove_file(site.path().join("content/books/good.md")).unwrap();
    let (run, feeds) = site.build("2026-01-04T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(titles(&feeds.json), &ALL[..2]);
    assert_eq!(kept(&site).len(), 1);
}

/// A feed as the daemon serves it: its bytes, and as feed-rs reads them.
fn served(daemon: &Daemon, name: &str) -> (String, feed_rs::model::Feed) {
    let body = daemon.get(&format!("/{name}")).text().unwrap();
    let feed = feed_rs::parser::parse(body.as_bytes()).unwrap();
    (body, feed)
}

#[test]
fn once_keeps_it_too_and_a_restarted_daemon_publishes_the_same_feeds() {
    let site = site();
    let run = site.run(&["once", "--now", "2026-01-01T00:00:00Z"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    break_good_book(&site);
    let run = site.run(&["once", "--now", "2026-01-02T00:00:00Z"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("feeds unchanged (4 items); 1 broken book kept at its last good version;"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.lines().any(|l| l == BROKEN_LINE),
        "{}",
        run.stderr
    );
    let cron = Feeds::read(&site.path().join("public"));
    for feed in cron.all() {
        assert_eq!(titles(feed), ALL);
    }

    // The daemon, started after the edit (a restart: its memory is empty),
    // publishes what cron published, from the state database.
    let daemon = Daemon::start(&site, "2026-01-02T00:00:00Z");
    for (name, from_cron) in [
        ("feed.xml", &cron.raw[0]),
        ("atom.xml", &cron.raw[1]),
        ("feed.json", &cron.raw[2]),
    ] {
        let (body, feed) = served(&daemon, name);
        assert_eq!(titles(&feed), ALL);
        assert_eq!(
            &body, from_cron,
            "{name} differs between the daemon and cron"
        );
    }
    let started = Instant::now();
    while !daemon.log().contains(BROKEN_LINE) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
