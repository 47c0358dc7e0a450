//! Several bookweek processes on one state file: any mix of `digest send`,
//! `once` and `run` started together delivers each (digest, subscriber)
//! exactly once. What arrived is read back from a real SMTP server.

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

use crate::support::{Daemon, Site, SmtpServer};

const N: usize = 400;

/// Four books, one a week from Monday 2 January 2023, each with an archive:
/// every Monday tick has news (an opening, and from the second on a recap).
fn site(mail_url: &str) -> Site {
    let site = Site::empty(&format!(
        "server:\n  listen: 127.0.0.1:0\nmail:\n  url: {mail_url}\n  connections: 4\n  retry_delay: 20ms\n"
    ));
    for (i, day) in ["02", "09", "16", "23"].iter().enumerate() {
        let friday = day.parse::<u32>().unwrap() + 4;
        site.write(
            &format!("content/books/2023-01-{day}-book-{i}.md"),
            format!(
                "---\ntitle: Book {i}\nauthors: [Jane Doe]\nstart: 2023-01-{day} 00:00:00\nend: 2023-01-{friday:02} 23:59:59\narchive:\n- name: Reader\n  text: What is the one lesson of book {i}?\n  replies:\n  - name: Jane Doe\n    text: That the whole system matters, the people and processes around it included, more than any part.\n---\nBody.\n"
            ),
        );
    }
    let csv: String = std::iter::once("email,name\n".to_string())
        .chain((0..N).map(|i| format!("reader{i:04}@example.net,Reader {i}\n")))
        .collect();
    site.write("subs.csv", csv);
    let run = site.run(&["subscribers", "import", "subs.csv"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    site
}

fn spawn(site: &Site, now: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bookweek"))
        .current_dir(site.path())
        .args(["--now", now])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(children: Vec<Child>) -> Vec<Output> {
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn describe(outputs: &[Output]) -> String {
    outputs
        .iter()
        .map(|o| {
            format!(
                "[{:?}] {}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every message that arrived, counted per (digest, recipient): the digest
/// is the first number of our Message-ID, `<bookweek.{digest}.{sub}.…>`.
fn received(server: &SmtpServer) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for raw in server.messages() {
        let m = MessageParser::default().parse(&raw).unwrap();
        let id = m.message_id().unwrap_or_default().to_string();
        let digest = id
            .strip_prefix("bookweek.")
            .and_then(|rest| rest.split('.').next())
            .unwrap_or_else(|| panic!("unexpected Message-ID {id:?}"))
            .to_string();
        let to = m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        *counts.entry((digest, to)).or_default() += 1;
    }
    counts
}

fn assert_each_once(server: &SmtpServer, digests: usize, log: &str) {
    let counts = received(server);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} deliveries arrived more than once, e.g. {:?}\n{log}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    assert_eq!(counts.len(), digests * N, "{log}");
    let per_digest: BTreeMap<&str, usize> = counts.keys().fold(BTreeMap::new(), |mut m, (d, _)| {
        *m.entry(d.as_str()).or_default() += 1;
        m
    });
    assert_eq!(per_digest.len(), digests, "{per_digest:?}");
    assert!(per_digest.values().all(|n| *n == N), "{per_digest:?}");
}

fn wait_for_count(server: &SmtpServer, n: usize) {
    let started = Instant::now();
    while server.count() < n {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} of {n} messages arrived",
            server.count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Anything sent twice would arrive about now.
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn any_mix_of_processes_started_together_delivers_each_digest_once() {
    let server = SmtpServer::start(&[]);
    let site = site(&server.url());

    // Week 1: two `digest send` and a `once`, started together.
    let now = "2023-01-02T09:01:00+01:00";
    let outputs = finish(vec![
        spawn(&site, now, &["digest", "send"]),
        spawn(&site, now, &["digest", "send"]),
        spawn(&site, now, &["once"]),
    ]);
    let log = describe(&outputs);
    assert!(outputs.iter().all(|o| o.status.code() == Some(0)), "{log}");
    assert_each_once(&server, 1, &log);

    // Week 2: the daemon (which sends what is due at start) and two
    // `digest send`, started together.
    let now = "2023-01-09T09:01:00+01:00";
    let mut run = Daemon::start(&site, now);
    let outputs = finish(vec![
        spawn(&site, now, &["digest", "send"]),
        spawn(&site, now, &["digest", "send"]),
    ]);
    wait_for_count(&server, 2 * N);
    assert_eq!(run.terminate().code(), Some(0), "{}", run.log());
    let log = format!("{}\n[daemon] {}", describe(&outputs), run.log());
    assert!(outputs.iter().all(|o| o.status.code() == Some(0)), "{log}");
    assert_each_once(&server, 2, &log);

    // Week 3: waves of `once` and `digest send`, repeatedly.
    let now = "2023-01-16T09:01:00+01:00";
    let mut children = vec![];
    for _ in 0..3 {
        children.push(spawn(&site, now, &["once"]));
        children.push(spawn(&site, now, &["digest", "send"]));
        std::thread::sleep(Duration::from_millis(30));
    }
    let outputs = finish(children);
    let log = describe(&outputs);
    // A `once` that found another run holding the run lock exits 3.
    assert!(
        outputs
            .iter()
            .all(|o| matches!(o.status.code(), Some(0 | 3))),
        "{log}"
    );
    assert_each_once(&server, 3, &log);

    // Week 4: the daemon, a `once` next to it (refused: the daemon holds the
    // run lock) and a `digest send`.
    let now = "2023-01-23T09:01:00+01:00";
    let mut run = Daemon::start(&site, now);
    let outputs = finish(vec![
        spawn(&site, now, &["digest", "send"]),
        spawn(&site, now, &["once"]),
    ]);
    wait_for_count(&server, 4 * N);
    assert_eq!(run.terminate().code(), Some(0), "{}", run.log());
    let log = format!("{}\n[daemon] {}", describe(&outputs), run.log());
    assert_eq!(outputs[0].status.code(), Some(0), "{log}");
    assert_eq!(outputs[1].status.code(), Some(3), "{log}");
    assert_each_once(&server, 4, &log);
}

#[test]
fn two_fresh_sends_at_one_tick_create_one_digest_and_both_succeed() {
    let server = SmtpServer::start(&[]);
    let site = site(&server.url());
    let now = "2023-01-09T09:01:00+01:00";
    let outputs = finish(vec![
        spawn(&site, now, &["digest", "send"]),
        spawn(&site, now, &["digest", "send"]),
    ]);
    let log = describe(&outputs);
    assert!(outputs.iter().all(|o| o.status.code() == Some(0)), "{log}");
    assert!(!log.contains("UNIQUE"), "{log}");
    // One of them sent; the other waited, then found nothing left to do.
    let stdouts: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    assert_eq!(
        stdouts
            .iter()
            .filter(|s| s.contains("nothing to send"))
            .count(),
        1,
        "{log}"
    );
    assert_each_once(&server, 1, &log);
}
