//! Snapshots of the three feeds built from the shipped example.

use crate::support::{Site, repo};

#[test]
fn shipped_example_feeds() {
    let site = Site::with_content(&repo().join("content"), "");
    let (run, feeds) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("rss", feeds.raw[0]);
    insta::assert_snapshot!("atom", feeds.raw[1]);
    insta::assert_snapshot!("json", feeds.raw[2]);
}
