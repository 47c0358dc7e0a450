//! `bookweek build`: which items appear, their ids and dates, as feed-rs reads them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

use std::path::Path;

use crate::support::{Feeds, Site, corpus_sample, repo, whole_corpus};

/// start, end and "has an archive" of every book in `corpus`, read straight
/// from the files: the test's own oracle, not bookweek's parser.
fn corpus_windows(corpus: &Path) -> BTreeMap<String, (DateTime<Utc>, DateTime<Utc>, bool)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(corpus.join("books")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name.starts_with('_') {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let yaml = text
            .split("\n---")
            .next()
            .unwrap()
            .trim_start_matches("---");
        let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        let t = |k: &str| {
            let naive =
                NaiveDateTime::parse_from_str(v[k].as_str().unwrap(), "%Y-%m-%d %H:%M:%S").unwrap();
            Berlin
                .from_local_datetime(&naive)
                .unwrap()
                .with_timezone(&Utc)
        };
        let archive = v["archive"].as_sequence().is_some_and(|a| !a.is_empty());
        out.insert(name, (t("start"), t("end"), archive));
    }
    out
}

fn entry_date(e: &feed_rs::model::Entry) -> DateTime<Utc> {
    e.published.or(e.updated).unwrap()
}

/// Every item due at 2026-01-01 is in all three feeds, once, dated at its
/// window's start (opening) or end (recap), newest first; `expected` is the
/// count of (openings, recaps), so the oracle cannot silently read nothing.
fn feeds_hold_every_due_item_with_event_dates(corpus: &Path, expected: (usize, usize)) {
    let site = Site::reading(corpus, "feeds:\n  limit: 1000\n");
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let (run, feeds) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let windows = corpus_windows(corpus);
    let openings = windows.values().filter(|w| w.0 <= now).count();
    let recaps = windows.values().filter(|w| w.1 <= now && w.2).count();
    assert_eq!((openings, recaps), expected);
    for feed in feeds.all() {
        assert_eq!(feed.entries.len(), openings + recaps);
        let ids: BTreeSet<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), feed.entries.len(), "ids are unique");
        for e in &feed.entries {
            let date = entry_date(e);
            assert!(date <= now, "{} is dated after now", e.id);
            // id: tag:example.org,2020:<slug>/<kind>
            let (slug, kind) = e.id.rsplit_once(':').unwrap().1.split_once('/').unwrap();
            let w = windows[slug];
            let expected = if kind == "opening" { w.0 } else { w.1 };
            assert_eq!(date, expected, "{}", e.id);
        }
        // Newest first.
        let dates: Vec<_> = feed.entries.iter().map(entry_date).collect();
        assert!(dates.windows(2).all(|d| d[0] >= d[1]));
    }
    // The feed's own date is the newest item's, not the build time (JSON Feed
    // has no feed-level date).
    for feed in [&feeds.rss, &feeds.atom] {
        assert_eq!(feed.updated, Some(entry_date(&feed.entries[0])));
    }
}

#[test]
fn corpus_sample_feeds_hold_every_due_item_with_event_dates() {
    // The sample's newest book has no archive yet: 19 openings, 18 recaps.
    feeds_hold_every_due_item_with_event_dates(&corpus_sample(), (19, 18));
}

#[test]
#[ignore = "needs the whole corpus in BOOKWEEK_CORPUS; run by .ci/run"]
fn whole_corpus_feeds_hold_every_due_item_with_event_dates() {
    feeds_hold_every_due_item_with_event_dates(&whole_corpus(), (56, 55));
}

#[test]
fn default_limit_keeps_the_newest_fifty() {
    // 26 weekly books with an archive: 52 items, two more than the limit.
    let site = Site::empty("");
    let monday = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for week in 0..26 {
        let start = monday + chrono::Duration::weeks(week);
        let end = start + chrono::Duration::days(4);
        site.write(
            &format!("content/books/{}-book-{week}.md", start.format("%Y%m%d")),
            format!(
                "---\ntitle: Book {week}\nauthors: [Jane Doe]\nstart: {start} 00:00:00\nend: {end} 23:59:59\n\
                 archive:\n- name: Reader\n  text: Why this book?\n  replies:\n  - name: Jane Doe\n    text: Because.\n---\n"
            ),
        );
    }
    let (run, feeds) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for feed in feeds.all() {
        assert_eq!(feed.entries.len(), 50);
        assert_eq!(
            feed.entries[0].id,
            "tag:example.org,2020:20240624-book-25/recap"
        );
        // The oldest book's opening and recap are the two left out.
        assert_eq!(
            feed.entries[49].id,
            "tag:example.org,2020:20240108-book-1/opening"
        );
    }
}

#[test]
#[ignore = "needs the whole corpus in BOOKWEEK_CORPUS; run by .ci/run"]
fn whole_corpus_default_limit_keeps_the_newest_fifty() {
    let site = Site::reading(&whole_corpus(), "");
    let (_, feeds) = site.build("2026-01-01T00:00:00Z");
    for feed in feeds.all() {
        assert_eq!(feed.entries.len(), 50);
        // The newest book has no archive yet, so no recap.
        assert_eq!(
            feed.entries[0].id,
            "tag:example.org,2020:20250505-machine-learning-for-tabular-data/opening"
        );
    }
}

fn ids(feeds: &Feeds) -> Vec<Vec<String>> {
    feeds
        .all()
        .iter()
        .map(|f| f.entries.iter().map(|e| e.id.clone()).collect())
        .collect()
}

#[test]
fn ids_survive_edits_to_archive_text_templates_and_url_scheme() {
    let site = Site::with_content(&repo().join("content"), "");
    let (_, before) = site.build("2026-01-01T00:00:00Z");
    let book = "content/books/20221121-reliable-machine-learning.md";
    let edited = site
        .read(book)
        .replace("Thanks Niall Murphy!", "Thank you so much, Niall!")
        .replace(
            "title: Reliable Machine Learning",
            "title: Reliable Machine Learning (2nd look)",
        );
    site.write(book, edited);
    site.write("templates/recap.html.j2", "<p>{{ title }}</p>\n");
    site.write(
        "config/bookweek.yaml",
        "site:\n  base_url: http://example.org\n",
    );
    let (run, after) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_ne!(before.raw, after.raw, "the edits changed the feeds");
    assert_eq!(ids(&before), ids(&after));
    assert_eq!(ids(&before)[0].len(), 2);
}

#[test]
fn opening_inside_the_window_and_recap_one_second_after_it() {
    let site = Site::with_content(&repo().join("content"), "");
    // The shipped book runs 2022-12-05 00:00:00 to 2022-12-09 23:59:59 Berlin (UTC+1).
    let (_, before) = site.build("2022-12-04T22:59:59Z");
    assert!(before.atom.entries.is_empty());
    let (_, inside) = site.build("2022-12-07T12:00:00Z");
    let titles = |f: &Feeds| -> Vec<Vec<String>> {
        f.all()
            .iter()
            .map(|f| {
                f.entries
                    .iter()
                    .map(|e| e.title.clone().unwrap().content)
                    .collect()
            })
            .collect()
    };
    for t in titles(&inside) {
        assert_eq!(t, ["Book of the Week: Reliable Machine Learning"]);
    }
    let (_, at_end) = site.build("2022-12-09T22:59:58Z");
    assert_eq!(at_end.rss.entries.len(), 1);
    let (_, after) = site.build("2022-12-09T23:00:00Z");
    for t in titles(&after) {
        assert_eq!(
            t,
            [
                "Reliable Machine Learning: the authors' answers",
                "Book of the Week: Reliable Machine Learning"
            ]
        );
    }
}

#[test]
fn rebuild_with_nothing_new_leaves_files_untouched() {
    let site = Site::with_content(&repo().join("content"), "");
    let (first, _) = site.build("2026-01-01T00:00:00Z");
    assert!(!first.stdout.contains("unchanged"), "{}", first.stdout);
    let mtime = |f: &str| {
        std::fs::metadata(site.path().join("public").join(f))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = ["feed.xml", "atom.xml", "feed.json"].map(mtime);
    let bytes = Feeds::read(&site.path().join("public")).raw;
    // A later "now" with nothing new due gives the same bytes.
    let (second, feeds) = site.build("2026-06-01T00:00:00Z");
    assert_eq!(feeds.raw, bytes);
    assert_eq!(["feed.xml", "atom.xml", "feed.json"].map(mtime), before);
    assert_eq!(
        second.stdout.matches("(unchanged)").count(),
        3,
        "{}",
        second.stdout
    );
}
