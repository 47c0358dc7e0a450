//! `bookweek once`: everything due, once; a lock keeps runs from overlapping.

use std::fs::File;
use std::process::{Command, Stdio};

use crate::support::{Site, SmtpServer, repo};

const NOW: &str = "2022-12-12T09:00:30+01:00";

fn site(mail_url: &str) -> Site {
    let site = Site::with_content(
        &repo().join("content"),
        &format!("mail:\n  url: {mail_url}\n  retry_delay: 20ms\n"),
    );
    let run = site.run(&["subscribers", "add", "ann@example.net"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    site
}

#[test]
fn second_run_does_nothing() {
    let server = SmtpServer::start(&[]);
    let site = site(&server.url());
    let first = site.run(&["--now", NOW, "once"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.stdout.trim(),
        "feeds rebuilt (2 items, 3 files changed); site: 10 pages, 5 images (15 written); digest 1 created: sent 1, skipped 0, retried 0, failed 0"
    );
    let second = site.run(&["--now", "2022-12-12T09:01:30+01:00", "once"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout.trim(), "feeds unchanged; no digest due");
    assert_eq!(server.messages().len(), 1);
    // A changed book is picked up by the next run.
    let book = "content/books/20221121-reliable-machine-learning.md";
    site.write(
        book,
        site.read(book)
            .replace("title: Reliable Machine Learning", "title: Reliable ML"),
    );
    let third = site.run(&["--now", "2022-12-12T09:02:30+01:00", "once"]);
    assert!(
        third
            .stdout
            .starts_with("feeds rebuilt (2 items, 3 files changed)"),
        "{}",
        third.stdout
    );
}

#[test]
fn a_held_lock_makes_a_run_exit_at_once_without_touching_anything() {
    let site = site("file://outbox");
    std::fs::create_dir_all(site.path().join("state")).unwrap();
    let lock = File::create(site.path().join("state/bookweek.db.lock")).unwrap();
    lock.lock().unwrap();
    let run = site.run(&["--now", NOW, "once"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "bookweek once: another bookweek process holds state/bookweek.db.lock; this one did nothing"
    );
    assert!(!site.path().join("public").exists());
    assert!(!site.path().join("outbox").exists());
    drop(lock);
    assert_eq!(site.run(&["--now", NOW, "once"]).code, 0);
}

#[test]
fn two_runs_started_together_send_the_digest_once() {
    // A server that is down when the first run starts keeps it busy (and
    // holding the lock) while it backs off; the second run starts meanwhile.
    let down = SmtpServer::start(&["--down-until-file", "/nonexistent/never"]);
    let site = Site::with_content(
        &repo().join("content"),
        &format!(
            "mail:\n  url: {}\n  retry_delay: 300ms\n  max_attempts: 2\n",
            down.url()
        ),
    );
    site.run(&["subscribers", "add", "ann@example.net"]);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_bookweek"))
            .current_dir(site.path())
            .args(["--now", NOW, "once"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let b = spawn();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    assert_eq!(
        codes,
        [75, 3],
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(
        String::from_utf8_lossy(&b.stderr).contains("another bookweek process (pid "),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    // The server comes back: the next run delivers the digest, once.
    let (dir, port) = down.stop();
    let server = SmtpServer::start_in(dir, Some(port), &[]);
    let run = site.run(&["--now", "2022-12-12T09:05:00+01:00", "once"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = site.run(&["--now", "2022-12-12T09:06:00+01:00", "once"]);
    assert_eq!(run.stdout.trim(), "feeds unchanged; no digest due");
    assert_eq!(server.messages().len(), 1);
}
