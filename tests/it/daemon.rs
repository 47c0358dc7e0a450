//! `bookweek run`: the real binary on a free port, spoken to over HTTP, with a
//! real SMTP server for the subscribe → confirm → digest → unsubscribe path.

use std::time::Duration;

use mail_parser::MessageParser;

use crate::support::{Daemon, Site, SmtpServer, repo, wait_for};

fn daemon_site(extra: &str) -> Site {
    Site::with_content(
        &repo().join("content"),
        &format!("server:\n  listen: 127.0.0.1:0\n{extra}"),
    )
}

fn book(slug_title: &str, start: &str, end: &str, archive: bool) -> String {
    let archive = if archive {
        "archive:\n- name: Reader\n  text: What is the most important lesson of the book?\n  replies:\n  - name: Jane Doe\n    text: That reliability is a property of the whole system, people and processes included, not of the model alone.\n"
    } else {
        ""
    };
    format!(
        "---\ntitle: {slug_title}\nauthors: [Jane Doe]\nstart: {start}\nend: {end}\n{archive}---\nBody.\n"
    )
}

#[test]
fn a_window_opening_after_start_appears_without_a_file_change() {
    let site = daemon_site("");
    site.write(
        "content/books/20230102-soon.md",
        book("Soon", "2023-01-02 00:00:00", "2023-01-06 23:59:59", false),
    );
    // Two seconds before the window opens (Berlin is UTC+1 in January).
    let d = Daemon::start(&site, "2023-01-01T22:59:58Z");
    let atom = d.get("/atom.xml").text().unwrap();
    assert!(!atom.contains("Book of the Week: Soon"));
    wait_for("the opening item", Duration::from_secs(8), || {
        d.get("/atom.xml")
            .text()
            .unwrap()
            .contains("Book of the Week: Soon")
    });
}

#[test]
fn watcher_adds_keeps_last_good_and_removes_books() {
    let site = daemon_site("");
    let d = Daemon::start(&site, "2023-01-10T12:00:00Z");
    let feed = || d.get("/feed.json").text().unwrap();
    // A new file appears within two seconds.
    site.write(
        "content/books/20230102-new.md",
        book(
            "Brand New",
            "2023-01-02 00:00:00",
            "2023-01-06 23:59:59",
            true,
        ),
    );
    wait_for("the new book", Duration::from_secs(2), || {
        feed().contains("Book of the Week: Brand New")
    });
    // Invalid YAML over it keeps the old version served and logs the error.
    site.write(
        "content/books/20230102-new.md",
        "---\ntitle: [Brand New\n---\n",
    );
    wait_for("the error in the log", Duration::from_secs(3), || {
        d.log()
            .contains("content/books/20230102-new.md:3:1: error: invalid YAML")
    });
    assert!(feed().contains("Book of the Week: Brand New"));
    // Editors' swap files are ignored.
    site.write("content/books/.20230102-new.md.swp", "garbage");
    // Deleting removes it.
    std::fs::remove_file(site.path().join("content/books/20230102-new.md")).unwrap();
    wait_for("the book to go", Duration::from_secs(3), || {
        !feed().contains("Brand New")
    });
    assert!(feed().contains("Reliable Machine Learning"));
}

#[test]
fn conditional_get_answers_304_until_the_content_changes() {
    let site = daemon_site("");
    let d = Daemon::start(&site, "2023-01-10T12:00:00Z");
    let first = d.get("/atom.xml");
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["content-type"].to_str().unwrap(),
        "application/atom+xml; charset=utf-8"
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let client = reqwest::blocking::Client::new();
    let again = client
        .get(d.url("/atom.xml"))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().unwrap().is_empty());
    site.write(
        "content/books/20230102-new.md",
        book(
            "Changed",
            "2023-01-02 00:00:00",
            "2023-01-06 23:59:59",
            false,
        ),
    );
    wait_for("a changed feed", Duration::from_secs(3), || {
        let r = client
            .get(d.url("/atom.xml"))
            .header("If-None-Match", &etag)
            .send()
            .unwrap();
        r.status() == 200 && r.headers()["etag"].to_str().unwrap() != etag
    });
}

fn messages_to(server: &SmtpServer, to: &str) -> Vec<String> {
    server
        .messages()
        .iter()
        .filter_map(|raw| {
            let m = MessageParser::default().parse(raw)?;
            let rcpt = m.to()?.first()?.address()?.to_string();
            (rcpt == to).then(|| String::from_utf8_lossy(raw).into_owned())
        })
        .collect()
}

/// The subscriber's line in `bookweek subscribers list` (email, name,
/// status, since), read from the state database the daemon writes.
fn subscriber_line(site: &Site, email: &str) -> String {
    let list = site.run(&["subscribers", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    list.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(email))
        .unwrap_or_else(|| panic!("{email} not in {}", list.stdout))
        .to_string()
}

#[test]
fn subscribe_confirm_digest_and_one_click_unsubscribe() {
    let server = SmtpServer::start(&[]);
    let site = daemon_site(&format!(
        "site:\n  base_url: http://placeholder.invalid\nmail:\n  url: {}\n  retry_delay: 20ms\ndigest:\n  schedule: \"*/2 * * * * *\"\n",
        server.url()
    ));
    // A subscriber who stays, to show that digests do go out.
    site.run(&["subscribers", "add", "stays@example.net"]);
    let d = Daemon::start(&site, "2022-12-10T10:00:00+01:00");
    // The confirmation link points at base_url; the test talks to the daemon directly.
    let local = |url: &str| url.replacen("http://placeholder.invalid", &d.base, 1);

    let client = reqwest::blocking::Client::new();
    let page = client
        .post(d.url("/subscribe"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("email=new%40example.net")
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    wait_for("the confirmation email", Duration::from_secs(5), || {
        !messages_to(&server, "new@example.net").is_empty()
    });
    let confirmation = &messages_to(&server, "new@example.net")[0];
    let m = MessageParser::default()
        .parse(confirmation.as_bytes())
        .unwrap();
    let text = m.body_text(0).unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http://placeholder.invalid/confirm/"))
        .expect("a confirm link")
        .to_string();
    // A tampered token changes nothing.
    let mut tampered = local(&link);
    tampered.pop();
    tampered.push('x');
    assert_eq!(client.get(&tampered).send().unwrap().status(), 404);
    assert_eq!(client.post(&tampered).send().unwrap().status(), 404);
    // Following the link (as a mail scanner does) shows a button and
    // confirms nothing; pressing the button (a form POST) confirms.
    let pending = subscriber_line(&site, "new@example.net");
    assert!(pending.contains(" pending "), "{pending}");
    let page = client.get(local(&link)).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(
        html.contains("<button type=\"submit\">Confirm</button>"),
        "{html}"
    );
    assert_eq!(subscriber_line(&site, "new@example.net"), pending);
    let confirmed = client
        .post(local(&link))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().unwrap().contains("You are subscribed"));
    let active = subscriber_line(&site, "new@example.net");
    assert!(active.contains(" active "), "{active}");

    // The next digest with something new reaches the address.
    site.write(
        "content/books/20221205-second.md",
        book(
            "Second Book",
            "2022-12-05 00:00:00",
            "2022-12-09 23:59:59",
            true,
        ),
    );
    wait_for(
        "a digest for the new subscriber",
        Duration::from_secs(10),
        || messages_to(&server, "new@example.net").len() >= 2,
    );
    let digest = messages_to(&server, "new@example.net").pop().unwrap();
    let m = MessageParser::default().parse(digest.as_bytes()).unwrap();
    assert!(
        m.subject().unwrap().contains("Second Book"),
        "{:?}",
        m.subject()
    );
    let unsubscribe = m
        .header_raw("List-Unsubscribe")
        .unwrap()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").unwrap().trim(),
        "List-Unsubscribe=One-Click"
    );
    // GET only shows a button.
    let page = client.get(local(&unsubscribe)).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .unwrap()
            .contains("<button type=\"submit\">Unsubscribe</button>")
    );
    assert_eq!(subscriber_line(&site, "new@example.net"), active);
    // RFC 8058 one-click: 200, no redirect.
    let one_click = client
        .post(local(&unsubscribe))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .unwrap();
    assert_eq!(one_click.status(), 200);
    let gone = subscriber_line(&site, "new@example.net");
    assert!(gone.contains(" unsubscribed "), "{gone}");
    let before = messages_to(&server, "new@example.net").len();
    let stays_before = messages_to(&server, "stays@example.net").len();

    // The next digest goes out, but not to them.
    site.write(
        "content/books/20221205-third.md",
        book(
            "Third Book",
            "2022-12-05 00:00:00",
            "2022-12-09 23:59:59",
            true,
        ),
    );
    wait_for("the next digest", Duration::from_secs(10), || {
        messages_to(&server, "stays@example.net").len() > stays_before
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(messages_to(&server, "new@example.net").len(), before);
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let site = daemon_site("");
    let mut d = Daemon::start(&site, "2023-01-10T12:00:00Z");
    assert_eq!(d.get("/healthz").status(), 200);
    let status = d.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_config_edit_reschedules_the_digest() {
    let server = SmtpServer::start(&[]);
    let config = |schedule: &str| {
        format!(
            "server:\n  listen: 127.0.0.1:0\nmail:\n  url: {}\n  retry_delay: 20ms\ndigest:\n  schedule: \"{schedule}\"\n",
            server.url()
        )
    };
    // Saturday: the Monday schedule has no fresh tick; catching up sends nothing.
    let site = Site::with_content(&repo().join("content"), &config("0 0 9 * * Mon"));
    site.run(&["subscribers", "add", "ann@example.net"]);
    let d = Daemon::start(&site, "2022-12-10T10:00:00+01:00");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.count(), 0, "{}", d.log());
    site.write("config/bookweek.yaml", config("*/2 * * * * *"));
    wait_for(
        "a digest on the new schedule",
        Duration::from_secs(8),
        || server.count() == 1,
    );
    assert!(d.log().contains("digest scheduled"), "{}", d.log());
}
