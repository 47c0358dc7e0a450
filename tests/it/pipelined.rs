//! `bookweek digest send` to a server that offers PIPELINING: each message's
//! content goes out with the next message's envelope, and the ledger still
//! makes sending exactly-once (a kill repeats at most one message per
//! connection). The server is aiosmtpd with `--pipelining`; what arrives is
//! read with mail-parser.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

use crate::support::{Site, SmtpServer, repo};

const NOW: &str = "2022-12-12T09:01:00+01:00";

fn site(server: &SmtpServer, connections: usize) -> Site {
    Site::with_content(
        &repo().join("content"),
        &format!(
            "mail:\n  url: {}\n  from: \"Book of the Week <digest@example.org>\"\n  retry_delay: 20ms\n  connections: {connections}\n",
            server.url()
        ),
    )
}

fn import(site: &Site, emails: impl Iterator<Item = String>) {
    let csv: String = std::iter::once("email,name\n".to_string())
        .chain(emails.map(|e| format!("{e},\n")))
        .collect();
    site.write("subs.csv", csv);
    let run = site.run(&["subscribers", "import", "subs.csv"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// How many messages each recipient got.
fn received(server: &SmtpServer) -> BTreeMap<String, usize> {
    let mut per_recipient = BTreeMap::new();
    for raw in server.messages() {
        let message = MessageParser::default()
            .parse(&raw)
            .expect("a parsable message");
        let to = message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        *per_recipient.entry(to).or_default() += 1;
    }
    per_recipient
}

#[test]
fn killed_pipelined_sends_repeat_at_most_one_message_per_connection() {
    const N: usize = 3000;
    const CONNECTIONS: usize = 4;
    let server = SmtpServer::start(&["--pipelining"]);
    let site = site(&server, CONNECTIONS);
    import(&site, (0..N).map(|i| format!("sub{i:05}@example.net")));

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
    let run = site.run(&["--now", "2022-12-12T09:20:00+01:00", "digest", "send"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let per_recipient = received(&server);
    assert_eq!(per_recipient.len(), N, "every subscriber got the digest");
    let duplicates: usize = per_recipient.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills * CONNECTIONS,
        "{duplicates} duplicates after {kills} kills with {CONNECTIONS} connections"
    );
}

/// While the ledger cannot be written (another process holds its write
/// lock), each connection stops after at most one message the server
/// accepted and the ledger does not show: the bound a kill relies on,
/// checked without depending on when the kill lands.
#[test]
fn a_stalled_ledger_stops_each_connection_after_one_unrecorded_message() {
    const N: usize = 2000;
    const CONNECTIONS: usize = 4;
    let server = SmtpServer::start(&["--pipelining"]);
    let site = site(&server, CONNECTIONS);
    import(&site, (0..N).map(|i| format!("sub{i:05}@example.net")));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bookweek"))
        .current_dir(site.path())
        .args(["--now", NOW, "digest", "send"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.count() < 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "send stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut db = rusqlite::Connection::open(site.path().join("state/bookweek.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let lock = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .unwrap();
    let recorded: i64 = lock
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let recorded = recorded as usize;
    // Give the connections time to run as far as they are allowed.
    std::thread::sleep(Duration::from_millis(1500));
    let accepted = server.count();
    assert!(
        accepted <= recorded + CONNECTIONS,
        "{accepted} accepted with {recorded} recorded and {CONNECTIONS} connections"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    lock.rollback().unwrap();
    drop(db);

    let run = site.run(&["--now", "2022-12-12T09:20:00+01:00", "digest", "send"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let per_recipient = received(&server);
    assert_eq!(per_recipient.len(), N, "every subscriber got the digest");
    let duplicates: usize = per_recipient.values().map(|n| n - 1).sum();
    assert!(duplicates <= CONNECTIONS, "{duplicates} duplicates");
}

/// Refusals in a piggybacked envelope (a 4xx that passes, a 5xx that does
/// not) and a refused content do not disturb the messages around them.
#[test]
fn refusals_between_pipelined_messages_touch_only_their_own() {
    let server = SmtpServer::start(&[
        "--pipelining",
        "--fail-rcpt",
        "sub00010@example.net=451",
        "--fail-rcpt-times",
        "1",
        "--fail-rcpt",
        "sub00020@example.net=550",
        "--fail-data-code",
        "451",
        "--fail-data-times",
        "3",
    ]);
    let site = site(&server, 2);
    import(&site, (0..60).map(|i| format!("sub{i:05}@example.net")));
    let run = site.run(&["--now", NOW, "digest", "send"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("sent 59, skipped 0, retried 4, failed 1"),
        "{}",
        run.stdout
    );
    let per_recipient = received(&server);
    assert_eq!(per_recipient.len(), 59);
    assert!(per_recipient.values().all(|&n| n == 1), "{per_recipient:?}");
    assert!(!per_recipient.contains_key("sub00020@example.net"));
}
