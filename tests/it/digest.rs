//! `bookweek digest send` against a real SMTP server (aiosmtpd over TCP);
//! what arrives is read with an independent MIME parser (mail-parser).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::support::{Run, Site, SmtpServer, corpus_sample, repo};

/// A minute after Monday 09:00 in Berlin, the first digest tick after the
/// shipped example's week closed.
const NOW: &str = "2022-12-12T09:01:00+01:00";

/// A site with the shipped example; `mail` adds keys to the `mail:` section.
fn site(server_url: &str, mail: &str) -> Site {
    Site::with_content(
        &repo().join("content"),
        &format!(
            "mail:\n  url: {server_url}\n  from: \"Book of the Week <digest@example.org>\"\n  retry_delay: 20ms\n{}\n",
            if mail.is_empty() {
                "  connections: 2"
            } else {
                mail
            }
        ),
    )
}

fn add(site: &Site, emails: &[&str]) {
    for e in emails {
        let run = site.run(&["subscribers", "add", e]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
}

fn send(site: &Site, now: &str) -> Run {
    site.run(&["--now", now, "digest", "send"])
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("a parsable message")
}

fn header(m: &Message, name: &str) -> String {
    m.header_raw(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn recipient(m: &Message) -> String {
    m.to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn digest_reaches_every_subscriber_once_with_newsletter_headers() {
    let server = SmtpServer::start(&[]);
    let site = site(&server.url(), "");
    add(
        &site,
        &["ann@example.net", "bob@example.net", "cid@example.net"],
    );
    site.run(&["subscribers", "add", "eve@example.net", "--pending"]);

    let run = send(&site, NOW);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("sent 3, skipped 0, retried 0, failed 0"),
        "{}",
        run.stdout
    );

    let raw = server.messages();
    assert_eq!(raw.len(), 3);
    let mut ids = BTreeSet::new();
    let mut to = BTreeSet::new();
    for bytes in &raw {
        let m = parse(bytes);
        to.insert(recipient(&m));
        assert!(
            ids.insert(m.message_id().unwrap().to_string()),
            "duplicate Message-ID"
        );
        assert!(m.message_id().unwrap().ends_with("@example.org"));
        assert_eq!(
            m.from().unwrap().first().unwrap().address().unwrap(),
            "digest@example.org"
        );
        assert!(m.date().is_some());
        assert_eq!(
            m.subject().unwrap(),
            // One book: its title, and not the From name again.
            "The authors' answers from Reliable Machine Learning"
        );
        // multipart/alternative with a text and an HTML part.
        let ct = m.root_part().content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        let text = m.body_text(0).unwrap();
        let html = m.body_html(0).unwrap();
        assert_eq!(
            header(&m, "List-Id"),
            "Book of the Week <book-of-the-week.example.org>"
        );
        assert_eq!(
            header(&m, "List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        let unsub = header(&m, "List-Unsubscribe");
        let link = unsub.trim_start_matches('<').trim_end_matches('>');
        assert!(
            link.starts_with("https://example.org/unsubscribe/"),
            "{unsub}"
        );
        // The same per-subscriber link is visible in both bodies.
        assert!(text.contains(link), "text part lacks {link}");
        assert!(html.contains(link), "HTML part lacks {link}");
        // The content: the book, whose week is over by this Monday (so in
        // the past tense, and no "how to take part"), and the best answers.
        assert!(
            text.contains("THE WEEK IN REVIEW: Reliable Machine Learning"),
            "{text}"
        );
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("answered the community's questions, 5–9 December 2022."),
            "{text}"
        );
        assert!(!text.contains("How to take part"), "{text}");
        assert!(text.contains("Carlos Pumar asked:"));
        assert!(html.contains("<img src=\"https://example.org/images/books/20221121-reliable-machine-learning/cover.jpg\" alt=\"Cover of Reliable Machine Learning\""));
        assert!(!html.to_lowercase().contains("<script"));
    }
    assert_eq!(
        to,
        ["ann@example.net", "bob@example.net", "cid@example.net"]
            .map(String::from)
            .into()
    );
    // Each subscriber's link is their own.
    let links: BTreeSet<String> = raw
        .iter()
        .map(|b| header(&parse(b), "List-Unsubscribe"))
        .collect();
    assert_eq!(links.len(), 3);

    // A second run for the same tick sends nothing.
    let run = send(&site, "2022-12-12T10:00:00+01:00");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "nothing to send");
    assert_eq!(server.messages().len(), 3);
}

#[test]
fn stale_tick_is_skipped_and_its_items_go_out_with_the_next_one() {
    let server = SmtpServer::start(&[]);
    let site = site(&server.url(), "");
    add(&site, &["ann@example.net"]);
    // The machine was down: bookweek first runs two days after the tick.
    let run = send(&site, "2022-12-14T09:00:00+01:00");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("recorded as skipped, not sent"),
        "{}",
        run.stderr
    );
    assert_eq!(server.messages().len(), 0);
    // Running again does not send it late either.
    send(&site, "2022-12-15T09:00:00+01:00");
    assert_eq!(server.messages().len(), 0);
    // The next tick still has the recap within its 14-day lookback, so it
    // goes out then; the opening (5 December) has become old news.
    let run = send(&site, "2022-12-19T09:00:30+01:00");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let raw = server.messages();
    assert_eq!(raw.len(), 1);
    let text = parse(&raw[0]).body_text(0).unwrap().to_string();
    assert!(
        text.contains("THE WEEK IN REVIEW: Reliable Machine Learning"),
        "{text}"
    );
    assert!(text.contains("THE AUTHORS' BEST ANSWERS"), "{text}");
    // The opening went out before: no cover, no body, no links again.
    assert!(!text.contains("More about the book"), "{text}");
    // And only once: the tick after that has nothing new.
    let run = send(&site, "2022-12-26T09:00:30+01:00");
    assert_eq!(run.stdout.trim(), "nothing to send", "{}", run.stderr);
}

#[test]
fn temporary_failures_are_retried_and_permanent_ones_reported() {
    let server = SmtpServer::start(&[
        "--fail-rcpt",
        "slow@example.net=451",
        "--fail-rcpt-times",
        "2",
        "--fail-rcpt",
        "gone@example.net=550",
    ]);
    let site = site(&server.url(), "");
    add(
        &site,
        &["ann@example.net", "slow@example.net", "gone@example.net"],
    );
    let run = send(&site, NOW);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("sent 2, skipped 0, retried 2, failed 1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("error: 1 deliveries failed"),
        "{}",
        run.stderr
    );
    let to: Vec<String> = server
        .messages()
        .iter()
        .map(|b| recipient(&parse(b)))
        .collect();
    assert_eq!(to.iter().filter(|t| *t == "slow@example.net").count(), 1);
    assert!(!to.contains(&"gone@example.net".to_string()));
    // The failed delivery is not retried by the next run.
    let run = send(&site, "2022-12-12T09:30:00+01:00");
    assert_eq!(run.stdout.trim(), "nothing to send");
    assert_eq!(server.messages().len(), 2);
}

#[test]
fn unsubscribed_after_the_digest_was_made_is_skipped() {
    // The digest is created while the server is down; one subscriber
    // leaves before it comes back.
    let down = SmtpServer::start(&["--down-until-file", "/nonexistent/never"]);
    let site = site(&down.url(), "  max_attempts: 1");
    add(&site, &["ann@example.net", "bob@example.net"]);
    let run = send(&site, NOW);
    assert_eq!(run.code, 75, "{}{}", run.stdout, run.stderr);
    let (dir, port) = down.stop();
    site.run(&["subscribers", "remove", "bob@example.net"]);
    let server = SmtpServer::start_in(dir, Some(port), &[]);
    let run = send(&site, "2022-12-12T09:10:00+01:00");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("sent 1, skipped 1"), "{}", run.stdout);
    let to: Vec<String> = server
        .messages()
        .iter()
        .map(|b| recipient(&parse(b)))
        .collect();
    assert_eq!(to, ["ann@example.net"]);
}

#[test]
fn server_down_at_the_start_gets_everything_later_and_nothing_twice() {
    let server = SmtpServer::start(&[]);
    let (dir, port) = server.stop();
    let site = site(&format!("smtp://127.0.0.1:{port}"), "  max_attempts: 2");
    add(
        &site,
        &["ann@example.net", "bob@example.net", "cid@example.net"],
    );
    let run = send(&site, NOW);
    assert_eq!(run.code, 75, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("3 deliveries are still pending"),
        "{}",
        run.stderr
    );
    // The server comes back; the next cron run delivers everything once.
    let server = SmtpServer::start_in(dir, Some(port), &[]);
    let run = send(&site, "2022-12-12T09:05:00+01:00");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("sent 3"), "{}", run.stdout);
    send(&site, "2022-12-12T09:10:00+01:00");
    let to: Vec<String> = server
        .messages()
        .iter()
        .map(|b| recipient(&parse(b)))
        .collect();
    assert_eq!(to.len(), 3, "{to:?}");
    assert_eq!(to.iter().collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn killed_sends_resume_without_losing_mail_and_repeat_at_most_one_per_kill() {
    const N: usize = 3000;
    let server = SmtpServer::start(&[]);
    // One connection: at most one message is between "accepted by the
    // server" and "recorded as sent" at any time.
    let site = site(&server.url(), "  connections: 1");
    let csv: String = std::iter::once("email,name\n".to_string())
        .chain((0..N).map(|i| format!("sub{i:05}@example.net,Subscriber {i}\n")))
        .collect();
    site.write("subs.csv", csv);
    let run = site.run(&["subscribers", "import", "subs.csv"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let mut kills = 0;
    for stop_at in [300, 1300, 2300] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bookweek"))
            .current_dir(site.path())
            .args(["--now", NOW, "digest", "send"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while server.count() < stop_at {
            assert!(started.elapsed() < Duration::from_secs(60), "send stalled");
            assert!(
                child.try_wait().unwrap().is_none(),
                "send ended before the kill"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    let run = send(&site, "2022-12-12T09:20:00+01:00");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for b in server.messages() {
        *per_recipient.entry(recipient(&parse(&b))).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), N, "every subscriber got the digest");
    let duplicates: usize = per_recipient.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates after {kills} kills"
    );
}

#[test]
fn first_digest_on_real_books_holds_only_the_lookback() {
    let server = SmtpServer::start(&[]);
    let site = Site::reading(
        &corpus_sample(),
        &format!("mail:\n  url: {}\n  retry_delay: 20ms\n", server.url()),
    );
    add(&site, &["ann@example.net"]);
    // Monday after the last book with an archive closed (2024-10-20).
    let now = "2024-10-21T09:00:10+02:00";
    let plan = site.run(&["--now", now, "digest", "send", "--dry-run"]);
    assert!(plan.stdout.contains("items:      2\n"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("20241017-build-large-language-model-from-scratch/opening")
    );
    assert!(
        plan.stdout
            .contains("20241017-build-large-language-model-from-scratch/recap")
    );
    assert_eq!(server.messages().len(), 0, "a dry run sends nothing");
    let run = send(&site, now);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let raw = server.messages();
    assert_eq!(raw.len(), 1);
    let m = parse(&raw[0]);
    assert_eq!(
        m.subject().unwrap(),
        "The author's answers from Build a Large Language Model (From Scratch)"
    );
    let text = m.body_text(0).unwrap();
    assert!(!text.contains("Reliable Machine Learning"));
}

#[test]
fn preview_writes_files_a_person_can_open() {
    let site = site("file://outbox", "");
    let run = site.run(&["--now", NOW, "digest", "preview", "--out", "pv"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let eml = std::fs::read(site.path().join("pv/digest.eml")).unwrap();
    let m = parse(&eml);
    assert_eq!(recipient(&m), "reader@example.com");
    let html = std::fs::read_to_string(site.path().join("pv/digest.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Unsubscribe</a>"));
    let text = std::fs::read_to_string(site.path().join("pv/digest.txt")).unwrap();
    assert!(text.contains("Unsubscribe:\nhttps://example.org/unsubscribe/"));
    // Nothing was recorded: a real send afterwards still creates the digest.
    add(&site, &["ann@example.net"]);
    let run = send(&site, NOW);
    assert!(
        run.stdout.contains("sent 1"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        std::fs::read_dir(site.path().join("outbox"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn dkim_signs_when_a_key_is_configured() {
    use base64::Engine;
    let server = SmtpServer::start(&[]);
    let key: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
    let site = site(
        &server.url(),
        "  dkim:\n    domain: example.org\n    selector: bw2026\n    private_key: dkim.key",
    );
    site.write(
        "dkim.key",
        base64::engine::general_purpose::STANDARD.encode(key),
    );
    add(&site, &["ann@example.net"]);
    let run = send(&site, NOW);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let raw = server.messages();
    let m = parse(&raw[0]);
    let sig = header(&m, "DKIM-Signature");
    for field in [
        "a=ed25519-sha256",
        "d=example.org",
        "s=bw2026",
        "c=relaxed/relaxed",
        "list-unsubscribe-post",
        "bh=",
    ] {
        assert!(sig.contains(field), "{field} missing in {sig}");
    }
    // An independent implementation (dkimpy) verifies the signature over
    // the message exactly as the server received it.
    let file = site.path().join("received.eml");
    std::fs::write(&file, &raw[0]).unwrap();
    crate::support::assert_succeeds(
        std::process::Command::new("python3")
            .arg(repo().join("tests/dkim/verify.py"))
            .arg(&file)
            .arg(base64::engine::general_purpose::STANDARD.encode(key)),
    );
}
