//! The HTTP server of `bookweek run` as clients meet it: the real binary on
//! a free port, pages that follow a config reload, and connections (slow
//! clients, timeouts, the connection cap under a small open-file limit).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Daemon, Site, repo, wait_for};

/// The moment every test here runs at.
const NOW: &str = "2023-01-10T12:00:00Z";

fn site(extra: &str) -> Site {
    Site::with_content(
        &repo().join("content"),
        &format!("server:\n  listen: 127.0.0.1:0\n{extra}"),
    )
}

#[test]
fn the_home_page_follows_a_reloaded_site_title() {
    let site = site("site:\n  title: Old Club Title\n");
    let d = Daemon::start(&site, NOW);
    let home = d.get("/").text().unwrap();
    assert!(home.contains("<h1>Old Club Title</h1>"), "{home}");
    site.write(
        "config/bookweek.yaml",
        "server:\n  listen: 127.0.0.1:0\nsite:\n  title: New Club Title\n",
    );
    wait_for("the reload", Duration::from_secs(5), || {
        d.log().contains("config reloaded")
    });
    wait_for(
        "the new title on the home page",
        Duration::from_secs(5),
        || {
            d.get("/")
                .text()
                .unwrap()
                .contains("<h1>New Club Title</h1>")
        },
    );
    let home = d.get("/").text().unwrap();
    assert!(home.contains("<title>New Club Title</title>"), "{home}");
    assert!(!home.contains("Old Club Title"), "{home}");
    // The feeds and the pages agree.
    let feed = feed_rs::parser::parse(d.get("/atom.xml").bytes().unwrap().as_ref()).unwrap();
    assert_eq!(feed.title.unwrap().content, "New Club Title");
    let missing = d.get("/no-such-page").text().unwrap();
    assert!(missing.contains("New Club Title"), "{missing}");
}

/// Waits until the server closes `stream` (end of file or reset), writing
/// one byte of `trickle` every `every` meanwhile if given; returns how long
/// that took, or `None` if it was still open after `limit`.
fn closed_within(
    stream: &mut TcpStream,
    trickle: Option<(&[u8], Duration)>,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let every = trickle.map_or(Duration::from_millis(200), |(_, every)| every);
    stream.set_read_timeout(Some(every)).unwrap();
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        if let Some((bytes, _)) = trickle
            && sent < bytes.len()
        {
            if stream.write_all(&bytes[sent..=sent]).is_err() {
                return Some(start.elapsed());
            }
            sent += 1;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            // A response (a 408, say) before the close: keep reading.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn a_header_sent_one_byte_at_a_time_is_cut_off_at_the_header_timeout() {
    let site = site("  header_timeout: 2s\n");
    let d = Daemon::start(&site, NOW);
    let addr = d.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    // A byte every half second: the deadline must not restart with each.
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let closed = closed_within(
        &mut stream,
        Some((request, Duration::from_millis(500))),
        Duration::from_secs(10),
    )
    .expect("a trickling client still connected after 10 s");
    assert!(
        closed >= Duration::from_millis(1900),
        "closed after {closed:?}"
    );
    // A client that connects and sends nothing is closed too.
    let mut silent = TcpStream::connect(&addr).unwrap();
    let closed = closed_within(&mut silent, None, Duration::from_secs(10))
        .expect("a silent client still connected after 10 s");
    assert!(
        closed >= Duration::from_millis(1900),
        "closed after {closed:?}"
    );
    // The server is fine.
    assert_eq!(d.get("/healthz").status(), 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_and_a_stalled_body_too() {
    let site = site("  header_timeout: 2s\n  request_timeout: 2s\n");
    let d = Daemon::start(&site, NOW);
    let addr = d.base.trim_start_matches("http://").to_string();

    // One request answered, then nothing: closed about 2 s later.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let closed = closed_within(&mut idle, None, Duration::from_secs(10))
        .expect("an idle keep-alive connection still open after 10 s");
    assert!(
        closed >= Duration::from_millis(1900),
        "closed after {closed:?}"
    );

    // A form post whose body never comes: the request deadline closes it.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(
            b"POST /subscribe HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=",
        )
        .unwrap();
    let closed = closed_within(&mut stalled, None, Duration::from_secs(10))
        .expect("a request with a stalled body still open after 10 s");
    assert!(
        closed >= Duration::from_millis(1900),
        "closed after {closed:?}"
    );
    assert_eq!(d.get("/healthz").status(), 200);
}

#[test]
fn healthz_answers_with_2000_slow_clients_and_1024_open_files() {
    // This process holds the 2,000 client ends.
    let files = rlimit::increase_nofile_limit(8192).unwrap();
    assert!(
        files >= 2200,
        "cannot open enough files for the test: limit {files}"
    );

    let site = site("");
    let mut d = Daemon::spawn(&site, NOW, &[], Some(1024));
    let addr = d.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..2000 {
        let mut s = TcpStream::connect(&addr).unwrap();
        // The start of a request head, and then nothing more for now.
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: l");
        slow.push(s);
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut took = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let r = client
            .get(d.url("/healthz"))
            .send()
            .unwrap_or_else(|e| panic!("/healthz: {e}\n{}", d.log()));
        assert_eq!(r.status(), 200);
        took.push(start.elapsed());
    }
    eprintln!("/healthz with 2,000 slow clients: {took:?}");
    let log = d.log();
    assert!(log.contains("open_files=1024"), "{log}");
    assert!(log.contains("max_connections=768"), "{log}");
    assert!(log.contains("at the connection cap (768)"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");

    // And it still stops cleanly with them all connected.
    let status = d.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(!d.log().contains("Too many open files"), "{}", d.log());
    drop(slow);
}
