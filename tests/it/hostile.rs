//! Hostile content through the real binary: dates feeds cannot write,
//! symbolic links that loop or leave the content folder, files over
//! `content.max_file_size`. Every command finishes (under a time limit),
//! exits 0 or 1, reports the file, and still publishes the other books.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::support::{Feeds, Site};

pub const GOOD: &str = "---
title: Good Book
authors: [Jane Doe]
start: 2022-12-05 00:00:00
end: 2022-12-09 23:59:59
archive:
- name: Reader
  text: What is the book about?
  replies:
  - name: Jane Doe
    text: It is about good things, and why they last.
---
Body.
";

/// Runs the binary in `dir`; a run that outlives `limit` is killed and fails
/// the test. Returns the exit code, stdout and stderr.
pub fn run_with_timeout(dir: &Path, args: &[&str], limit: Duration) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bookweek"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let (out, err) = (out.join().unwrap(), err.join().unwrap());
            return (status.code().unwrap_or(-1), out, err);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`bookweek {}` in {} did not finish within {limit:?}",
                args.join(" "),
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn titles(feeds: &Feeds) -> Vec<Vec<String>> {
    feeds
        .all()
        .iter()
        .map(|f| {
            f.entries
                .iter()
                .map(|e| e.title.clone().unwrap().content)
                .collect()
        })
        .collect()
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn dates_outside_years_1_to_9999_are_check_errors_and_the_other_books_publish() {
    let site = Site::empty("feeds:\n  limit: 100\n");
    site.write("content/books/good.md", GOOD);
    for (name, date) in [
        ("minus-one", "-0001-01-01 00:00:00"),
        ("zero", "0000-01-01 00:00:00"),
        ("ten-thousand", "10000-01-01 00:00:00"),
    ] {
        site.write(
            &format!("content/books/{name}.md"),
            GOOD.replace("2022-12-05 00:00:00", date)
                .replace("Good Book", name),
        );
    }
    // Berlin kept local mean time (+00:53:28) until 1893: a good date, which
    // feeds write in UTC since no offset syntax can say it.
    site.write(
        "content/books/old.md",
        GOOD.replace("2022-12-05 00:00:00", "1850-01-01 00:00:00")
            .replace("2022-12-09 23:59:59", "1850-01-05 23:59:59")
            .replace("Good Book", "Old Book"),
    );
    let run = site.run(&["check"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    for (name, date) in [
        ("minus-one", "-0001-01-01 00:00:00"),
        ("ten-thousand", "10000-01-01 00:00:00"),
        ("zero", "0000-01-01 00:00:00"),
    ] {
        let line = format!(
            "content/books/{name}.md:4:1: error: `start` is outside the years 1 to 9999: `{date}`"
        );
        assert!(
            run.stdout.lines().any(|l| l == line),
            "{line}\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("checked 5 files (2 books ok, 3 left out): 3 errors"),
        "{}",
        run.stdout
    );

    for args in [
        &["build", "--now", "2026-01-01T00:00:00Z"][..],
        &["once", "--now", "2026-01-01T00:00:00Z"][..],
    ] {
        std::fs::remove_dir_all(site.path().join("public")).ok();
        let (code, out, err) = run_with_timeout(site.path(), args, LIMIT);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(
            err.contains("3 books left out") || out.contains("3 books left out"),
            "{out}{err}"
        );
        let feeds = Feeds::read(&site.path().join("public"));
        for t in titles(&feeds) {
            assert_eq!(
                t,
                [
                    "Good Book: the author's answers",
                    "Book of the Week: Good Book",
                    "Old Book: the author's answers",
                    "Book of the Week: Old Book"
                ]
            );
        }
        let old: DateTime<Utc> = "1849-12-31T23:06:32Z".parse().unwrap();
        for f in feeds.all() {
            let e = f.entries.last().unwrap();
            assert_eq!(e.published.or(e.updated), Some(old));
        }
        assert!(
            feeds.raw[0].contains("<pubDate>Mon, 31 Dec 1849 23:06:32 +0000</pubDate>"),
            "{}",
            feeds.raw[0]
        );
    }
}

#[test]
fn directory_links_round_a_loop_or_out_of_content_do_not_hang_any_command() {
    let site = Site::empty("");
    site.write("content/books/good.md", GOOD);
    let books = site.path().join("content/books");
    std::os::unix::fs::symlink("..", books.join("up1")).unwrap();
    std::os::unix::fs::symlink("..", books.join("up2")).unwrap();
    std::os::unix::fs::symlink("/", books.join("root")).unwrap();
    std::os::unix::fs::symlink("..", site.path().join("content/people/up")).unwrap();
    let now = "2026-01-01T00:00:00Z";
    let (code, out, err) = run_with_timeout(site.path(), &["check"], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("checked 1 file (1 book ok, 0 left out)"),
        "{out}"
    );
    let (code, out, err) = run_with_timeout(site.path(), &["build", "--now", now], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::remove_dir_all(site.path().join("public")).unwrap();
    let (code, out, err) = run_with_timeout(site.path(), &["once", "--now", now], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("feeds rebuilt (2 items, 3 files changed)"),
        "{out}"
    );
    for t in titles(&Feeds::read(&site.path().join("public"))) {
        assert_eq!(t.len(), 2);
    }
    // The walk is stable: the next run has nothing to do.
    let (code, out, err) = run_with_timeout(site.path(), &["once", "--now", now], LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("feeds unchanged;"), "{out}");
}

#[test]
fn a_linked_book_file_is_read_and_followed_for_changes_and_a_broken_link_is_an_error() {
    let site = Site::empty("");
    site.write("drafts/linked.md", GOOD.replace("Good Book", "Linked Book"));
    std::os::unix::fs::symlink(
        site.path().join("drafts/linked.md"),
        site.path().join("content/books/linked.md"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        site.path().join("drafts/missing.md"),
        site.path().join("content/books/broken.md"),
    )
    .unwrap();
    let run = site.run(&["check"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let expected = format!(
        "content/books/broken.md:1:1: error: cannot read file: No such file or directory (os error 2) (it is a symbolic link to `{}`, which cannot be read)",
        site.path().join("drafts/missing.md").display()
    );
    assert!(run.stdout.lines().any(|l| l == expected), "{}", run.stdout);
    let now = "2026-01-01T00:00:00Z";
    let (code, out, err) = run_with_timeout(site.path(), &["once", "--now", now], LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    let feeds = Feeds::read(&site.path().join("public"));
    assert_eq!(titles(&feeds)[0][1], "Book of the Week: Linked Book");
    // An edit of the link's target is an edit of the book: `once` sees it.
    std::thread::sleep(Duration::from_millis(20));
    site.write(
        "drafts/linked.md",
        GOOD.replace("Good Book", "Renamed Book"),
    );
    let (_, out, err) = run_with_timeout(site.path(), &["once", "--now", now], LIMIT);
    assert!(out.starts_with("feeds rebuilt"), "{out}{err}");
    let feeds = Feeds::read(&site.path().join("public"));
    assert_eq!(titles(&feeds)[0][1], "Book of the Week: Renamed Book");
}

#[test]
fn a_file_over_max_file_size_is_an_error_naming_it_and_is_never_read() {
    let site = Site::empty("content:\n  max_file_size: 100 KiB\n");
    site.write("content/books/good.md", GOOD);
    let body = "A long paragraph of the body. ".repeat(7000);
    site.write(
        "content/books/big.md",
        GOOD.replace("Good Book", "Big Book") + &body,
    );
    // 200 MB that take no disk: bookweek must refuse it from its size alone.
    let huge = std::fs::File::create(site.path().join("content/books/huge.md")).unwrap();
    huge.set_len(200 << 20).unwrap();
    let run = site.run(&["check"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let expected = "\
content/books/big.md:1:1: error: file is 205.3 KiB, more than `content.max_file_size` (100 KiB); it is not read (raise the limit in the config if the file is right)
content/books/huge.md:1:1: error: file is 200 MiB, more than `content.max_file_size` (100 KiB); it is not read (raise the limit in the config if the file is right)
checked 3 files (1 book ok, 2 left out): 2 errors, 0 warnings
";
    assert_eq!(run.stdout, expected);
    let started = Instant::now();
    let (code, out, err) = run_with_timeout(
        site.path(),
        &["build", "--now", "2026-01-01T00:00:00Z"],
        LIMIT,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("error: 2 books left out because of errors"),
        "{err}"
    );
    let feeds = Feeds::read(&site.path().join("public"));
    assert_eq!(titles(&feeds)[0].len(), 2);
    assert!(feeds.raw.iter().all(|f| f.len() < 20_000));
}

#[test]
fn the_default_limit_is_4_mib() {
    let site = Site::empty("");
    let body = "x".repeat((4 << 20) + 1);
    site.write("content/books/big.md", GOOD.to_string() + &body);
    let run = site.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(
            "big.md:1:1: error: file is 4.0 MiB, more than `content.max_file_size` (4 MiB)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_lookback_beyond_the_calendar_means_everything_not_a_panic() {
    let site = Site::empty("digest:\n  lookback: 100000000years\n");
    site.write("content/books/good.md", GOOD);
    for args in [&["digest", "send", "--dry-run"][..], &["once"][..]] {
        let args: Vec<&str> = ["--now", "2022-12-12T09:00:00+01:00"]
            .iter()
            .chain(args)
            .copied()
            .collect();
        let (code, out, err) = run_with_timeout(site.path(), &args, LIMIT);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
}

#[test]
fn a_pipe_named_like_a_book_is_an_error_not_a_hang() {
    let site = Site::empty("");
    site.write("content/books/good.md", GOOD);
    let fifo = site.path().join("content/books/pipe.md");
    crate::support::assert_succeeds(Command::new("mkfifo").arg(&fifo));
    let (code, out, err) = run_with_timeout(site.path(), &["check"], LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "content/books/pipe.md:1:1: error: not a regular file but a device, socket or pipe; it is not read"
        ),
        "{out}"
    );
    let (code, out, err) = run_with_timeout(
        site.path(),
        &["once", "--now", "2026-01-01T00:00:00Z"],
        LIMIT,
    );
    assert_eq!(code, 1, "{out}{err}");
}
