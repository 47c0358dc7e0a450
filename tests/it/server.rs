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

/// The body of `path` from the daemon as asked with `accept`: (status,
/// Content-Encoding, ETag, raw body). reqwest decodes nothing here (no gzip
/// or brotli feature), so the body is what went over the wire.
fn fetch(
    d: &Daemon,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, String, Vec<u8>) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.get(d.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let coding = header("content-encoding");
    let etag = header("etag").unwrap_or_default();
    if r.status() == 200 {
        assert_eq!(header("vary").as_deref(), Some("accept-encoding"), "{path}");
        assert_eq!(
            header("content-length"),
            r.content_length().map(|n| n.to_string())
        );
    }
    (
        r.status().as_u16(),
        coding,
        etag,
        r.bytes().unwrap().to_vec(),
    )
}

/// Decodes with the decoders of flate2 and brotli (not the encoders the
/// server uses): what a browser or feed reader would read.
fn decode(coding: Option<&str>, body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::MultiGzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

#[test]
fn feeds_come_precompressed_as_asked_and_decode_to_the_bytes_written() {
    let site = site("");
    let d = Daemon::start(&site, NOW);
    for path in ["/feed.xml", "/atom.xml", "/feed.json", "/"] {
        let file = if path == "/" {
            "index.html"
        } else {
            &path[1..]
        };
        let written = std::fs::read(site.path().join("public").join(file)).unwrap();
        let (status, coding, plain_etag, plain) = fetch(&d, path, &[]);
        assert_eq!((status, coding), (200, None), "{path}");
        assert_eq!(plain, written, "{path}: not the bytes written");
        assert!(
            plain.len() > 1024,
            "{path} is too small to test compression"
        );
        for (accept, expected) in [
            ("gzip", Some("gzip")),
            ("br", Some("br")),
            ("gzip, deflate, br", Some("br")),
            ("gzip;q=0.8, br;q=0.5", Some("gzip")),
            ("br;q=0, *", Some("gzip")),
            ("gzip;q=0, br;q=0", None),
            ("identity;q=0, zstd", None),
        ] {
            let (status, coding, etag, body) = fetch(&d, path, &[("Accept-Encoding", accept)]);
            assert_eq!(status, 200, "{path} {accept}");
            assert_eq!(coding.as_deref(), expected, "{path} {accept}");
            let decoded = decode(coding.as_deref(), &body);
            assert_eq!(decoded, plain, "{path} {accept}: decodes to other bytes");
            match expected {
                Some(c) => {
                    assert!(body.len() < plain.len() / 2, "{path} {accept}");
                    assert_eq!(
                        etag,
                        format!("{}-{c}\"", plain_etag.trim_end_matches('"')),
                        "{path} {accept}"
                    );
                }
                None => assert_eq!(etag, plain_etag),
            }
            // Each representation answers 304 to its own tag only.
            let (status, _, again, body) = fetch(
                &d,
                path,
                &[("Accept-Encoding", accept), ("If-None-Match", &etag)],
            );
            assert_eq!((status, body.len()), (304, 0), "{path} {accept}");
            assert_eq!(again, etag);
            if expected.is_some() {
                let (status, ..) = fetch(
                    &d,
                    path,
                    &[("Accept-Encoding", accept), ("If-None-Match", &plain_etag)],
                );
                assert_eq!(status, 200, "{path} {accept}");
            }
        }
        if path != "/" && path != "/feed.json" {
            let (_, coding, _, body) = fetch(&d, path, &[("Accept-Encoding", "br")]);
            let feed = feed_rs::parser::parse(&decode(coding.as_deref(), &body)[..]).unwrap();
            assert!(!feed.entries.is_empty(), "{path}");
        }
    }

    // HEAD tells the length of the body GET would send in that coding.
    let client = reqwest::blocking::Client::new();
    let head = client
        .head(d.url("/atom.xml"))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    let (_, _, _, gzipped) = fetch(&d, "/atom.xml", &[("Accept-Encoding", "gzip")]);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        gzipped.len().to_string()
    );
    assert_eq!(head.headers()["content-encoding"], "gzip");

    // An edit is compressed again with the next publish.
    let (_, _, old_etag, _) = fetch(&d, "/atom.xml", &[("Accept-Encoding", "gzip")]);
    let book = site
        .path()
        .join("content/books/20221121-reliable-machine-learning.md");
    let text = std::fs::read_to_string(&book).unwrap();
    let title = text
        .lines()
        .find(|l| l.starts_with("title:"))
        .unwrap()
        .to_string();
    std::fs::write(
        &book,
        text.replacen(&title, "title: A Compressed Marker Title", 1),
    )
    .unwrap();
    wait_for(
        "the edit in the gzipped feed",
        Duration::from_secs(5),
        || {
            let (_, coding, etag, body) = fetch(&d, "/atom.xml", &[("Accept-Encoding", "gzip")]);
            etag != old_etag
                && coding.as_deref() == Some("gzip")
                && String::from_utf8(decode(coding.as_deref(), &body))
                    .unwrap()
                    .contains("A Compressed Marker Title")
        },
    );
}

/// Reads one HTTP/1.1 response with a Content-Length from `stream`:
/// (head, body).
fn read_response(stream: &mut impl Read) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|n| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn large_feeds_sent_from_memory_files_arrive_whole_also_to_a_slow_pipelining_client() {
    // Feeds of ~200 KB: above the size sent with sendfile.
    let site = Site::with_content(
        &crate::support::corpus_sample(),
        "server:\n  listen: 127.0.0.1:0\n",
    );
    let d = Daemon::start(&site, NOW);
    let written = |name: &str| std::fs::read(site.path().join("public").join(name)).unwrap();
    for name in ["feed.xml", "atom.xml", "feed.json"] {
        let plain = written(name);
        assert!(plain.len() > 128 * 1024, "{name}: {} bytes", plain.len());
        let (status, coding, _, body) = fetch(&d, &format!("/{name}"), &[]);
        assert_eq!((status, coding), (200, None));
        assert!(body == plain, "{name}: other bytes than written");
        let (_, coding, _, body) = fetch(&d, &format!("/{name}"), &[("Accept-Encoding", "gzip")]);
        assert!(decode(coding.as_deref(), &body) == plain, "{name}: gzip");
    }

    // Sixty requests at once on one connection (11 MB of answers, more than
    // the 4 MB a socket buffers), read only after a pause
    // and a few KB at a time: the socket fills and each body goes out in
    // pieces, from where the last piece stopped.
    let addr = d.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let paths = ["/feed.xml", "/atom.xml", "/feed.json", "/atom.xml"];
    let mut requests = String::new();
    for i in 0..60 {
        requests.push_str(&format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\n\r\n",
            paths[i % paths.len()]
        ));
    }
    stream.write_all(requests.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut slow = std::io::BufReader::with_capacity(4096, stream);
    for i in 0..60 {
        let (head, body) = read_response(&mut slow);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let expected = written(&paths[i % paths.len()][1..]);
        assert!(body == expected, "response {i}: other bytes than written");
        if i % 5 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
