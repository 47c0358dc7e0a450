//! The automatic fetch over the Slack Web API, against a local server that
//! answers `conversations.history`, `conversations.replies` and `users.info`
//! in Slack's documented shapes: cursor pagination, a 429 with Retry-After,
//! `ok: false` errors; `once` and the daemon both fetch a closed book's
//! threads and the recap follows.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::archive_of;
use super::server::{Reply, Request, Server};
use crate::support::{Run, Site, fixture};

const TOKEN: &str = "xoxb-test-token-not-a-real-one";
const BOOK: &str = "content/books/20230102-handmade.md";
/// The window closed at 2023-01-06 23:59:59 Berlin (22:59:59Z); the fetch is
/// due two hours later.
const DUE: &str = "2023-01-07T01:30:00Z";

fn msg(ts: &str, user: &str, text: &str) -> Value {
    json!({"type": "message", "user": user, "text": text, "ts": ts, "team": "T01TEAM",
        "blocks": [{"type": "rich_text", "block_id": "z", "elements": []}]})
}

fn parent(ts: &str, user: &str, text: &str, replies: u64) -> Value {
    let mut m = msg(ts, user, text);
    m["thread_ts"] = json!(ts);
    m["reply_count"] = json!(replies);
    m["reply_users_count"] = json!(1);
    m["latest_reply"] = json!(ts);
    m
}

fn reply(ts: &str, thread: &str, user: &str, text: &str) -> Value {
    let mut m = msg(ts, user, text);
    m["thread_ts"] = json!(thread);
    m["parent_user_id"] = json!("U02READER");
    m
}

fn broadcast() -> Value {
    let mut b = reply(
        "1672732900.000100",
        "1672732800.000100",
        "U01JANE",
        "Broadcast answer <!channel>",
    );
    b["subtype"] = json!("thread_broadcast");
    b["root"] = json!({"text": "Question B", "user": "U02READER", "ts": "1672732800.000100", "thread_ts": "1672732800.000100"});
    b
}

fn user(id: &str, display: &str, real: &str) -> Value {
    json!({"ok": true, "user": {"id": id, "team_id": "T01TEAM", "name": id.to_lowercase(), "deleted": false,
        "real_name": real, "tz": "Europe/Berlin", "is_bot": false,
        "profile": {"real_name": real, "display_name": display, "real_name_normalized": real,
            "display_name_normalized": display, "image_72": "https://example.org/a.png"}}})
}

fn page(messages: Vec<Value>, next: &str) -> Reply {
    Reply::json(
        json!({"ok": true, "messages": messages, "has_more": !next.is_empty(),
        "pin_count": 0, "response_metadata": {"next_cursor": next}}),
    )
}

/// How the stand-in answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Working,
    ChannelNotFound,
    RateLimitedForLong,
    EndlessPages,
}

/// Slack as it answers for the week of the hand-made book: two history
/// pages (the second after one 429), two threads (one over two pages, one
/// with a broadcast reply that history repeats), three users.
fn slack(mode: Arc<Mutex<Mode>>) -> Server {
    let limited_once = AtomicBool::new(false);
    Server::start(move |r: &Request| {
        let q = |k: &str| r.query.get(k).cloned().unwrap_or_default();
        let mode = *mode.lock().unwrap();
        match (mode, r.method.as_str()) {
            (Mode::ChannelNotFound, "conversations.history") => {
                Reply::json(json!({"ok": false, "error": "channel_not_found"}))
            }
            (Mode::RateLimitedForLong, _) => Reply {
                status: 429,
                headers: vec![("Retry-After".into(), "500".into())],
                body: json!({"ok": false, "error": "ratelimited"}).to_string(),
            },
            (Mode::EndlessPages, "conversations.history") => {
                let n: u64 = q("cursor").trim_start_matches("p").parse().unwrap_or(0);
                page(vec![], &format!("p{}", n + 1))
            }
            (_, "conversations.history") => match q("cursor").as_str() {
                // Newest first, as Slack lists them; the broadcast is in the
                // channel too.
                "" => page(
                    vec![
                        msg("1672920000.000100", "U02READER", "Thanks <@U01JANE> :tada:"),
                        broadcast(),
                        parent("1672732800.000100", "U02READER", "Question B", 1),
                    ],
                    "dXNlcjpVMDYxTkZUVDI=",
                ),
                "dXNlcjpVMDYxTkZUVDI=" if !limited_once.swap(true, Ordering::SeqCst) => Reply {
                    status: 429,
                    headers: vec![("Retry-After".into(), "1".into())],
                    body: json!({"ok": false, "error": "ratelimited"}).to_string(),
                },
                "dXNlcjpVMDYxTkZUVDI=" => page(
                    vec![
                        json!({"type": "message", "subtype": "bot_message", "text": "Daily reminder", "ts": "1672655000.000100", "bot_id": "B01"}),
                        parent(
                            "1672653600.000100",
                            "U02READER",
                            "Question A: what is chapter 3 about?",
                            2,
                        ),
                        json!({"type": "message", "subtype": "channel_join", "user": "U03CARL", "text": "<@U03CARL> has joined the channel", "ts": "1672650000.000100"}),
                    ],
                    "",
                ),
                other => panic!("unexpected cursor {other:?}"),
            },
            (_, "conversations.replies") => match (q("ts").as_str(), q("cursor").as_str()) {
                ("1672653600.000100", "") => page(
                    vec![
                        parent(
                            "1672653600.000100",
                            "U02READER",
                            "Question A: what is chapter 3 about?",
                            2,
                        ),
                        reply(
                            "1672653700.000100",
                            "1672653600.000100",
                            "U01JANE",
                            "It is about X. See <https://example.org/ch3|chapter 3> &amp; more",
                        ),
                    ],
                    "cmVwbHk6Mg==",
                ),
                ("1672653600.000100", "cmVwbHk6Mg==") => page(
                    vec![reply(
                        "1672653800.000100",
                        "1672653600.000100",
                        "U03CARL",
                        "Thanks!",
                    )],
                    "",
                ),
                ("1672732800.000100", "") => page(
                    vec![
                        parent("1672732800.000100", "U02READER", "Question B", 1),
                        broadcast(),
                    ],
                    "",
                ),
                other => panic!("unexpected thread {other:?}"),
            },
            (_, "users.info") => match q("user").as_str() {
                "U01JANE" => Reply::json(user("U01JANE", "Jane Doe", "Jane Q. Doe")),
                "U02READER" => Reply::json(user("U02READER", "", "Ann Reader")),
                "U03CARL" => Reply::json(user("U03CARL", "Carl Third", "Carl Third")),
                _ => Reply::json(json!({"ok": false, "error": "user_not_found"})),
            },
            (_, other) => panic!("unexpected method {other}"),
        }
    })
}

fn expected() -> super::Archive {
    vec![
        (
            "Ann Reader".into(),
            "Question A: what is chapter 3 about?".into(),
            vec![
                (
                    "Jane Doe".into(),
                    "It is about X. See [chapter 3](https://example.org/ch3) & more".into(),
                ),
                ("Carl Third".into(), "Thanks!".into()),
            ],
        ),
        (
            "Ann Reader".into(),
            "Question B".into(),
            vec![("Jane Doe".into(), "Broadcast answer @channel".into())],
        ),
        ("Ann Reader".into(), "Thanks Jane Doe 🎉".into(), vec![]),
    ]
}

fn site(extra: &str) -> Site {
    Site::with_content(
        &fixture("archive/handmade/content"),
        &format!("archive:\n  slack:\n    channel: C0BOOKWEEK\n{extra}"),
    )
}

fn command(site: &Site, api: &Server, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bookweek"));
    c.current_dir(site.path())
        .args(args)
        .env("SLACK_TOKEN", TOKEN)
        .env("BOOKWEEK_SLACK_API_URL", &api.url);
    c
}

fn once(site: &Site, api: &Server, now: &str) -> Run {
    let run = Run::from(
        command(site, api, &["--now", now, "once"])
            .output()
            .unwrap(),
    );
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "the token was printed"
    );
    run
}

#[test]
fn once_fetches_a_closed_books_threads_and_the_recap_follows() {
    let mode = Arc::new(Mutex::new(Mode::Working));
    let api = slack(mode);
    let site = site("");
    let run = once(&site, &api, DUE);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(
            "archive of 20230102-handmade fetched (3 threads, 3 replies); feeds rebuilt (2 items"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(super::archive_of(&site.read(BOOK)), expected());

    // The recap is in the feeds built by the same run.
    let feed = feed_rs::parser::parse(site.read("public/atom.xml").as_bytes()).unwrap();
    assert_eq!(feed.entries.len(), 2);
    assert!(site.read("public/atom.xml").contains("It is about X."));

    let requests = api.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}") as &str))
    );
    // The week's range: a day before the start, until now (the window's
    // end plus two days is still to come).
    let history = api.calls("conversations.history");
    assert_eq!(history.len(), 3, "two pages and one retry after the 429");
    assert_eq!(history[0].query["channel"], "C0BOOKWEEK");
    assert_eq!(history[0].query["oldest"], "1672527600.000000");
    assert_eq!(history[0].query["latest"], "1673055000.000000");
    assert_eq!(history[0].query["inclusive"], "true");
    assert_eq!(history[1].query["cursor"], "dXNlcjpVMDYxTkZUVDI=");
    let waited = history[2].at - history[1].at;
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After honoured: waited {waited:?}"
    );
    assert_eq!(api.calls("conversations.replies").len(), 3);
    // users.info once per user.
    let mut users: Vec<String> = api
        .calls("users.info")
        .iter()
        .map(|r| r.query["user"].clone())
        .collect();
    users.sort();
    assert_eq!(users, ["U01JANE", "U02READER", "U03CARL"]);

    // Nothing more for a book that has its archive.
    let before = api.requests().len();
    let run = once(&site, &api, "2023-01-07T01:31:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("archive"), "{}", run.stdout);
    assert_eq!(api.requests().len(), before);
}

#[test]
fn nothing_is_fetched_before_the_window_has_been_closed_for_archive_slack_after() {
    let api = slack(Arc::new(Mutex::new(Mode::Working)));
    let site = site("");
    // 1h after the end, with the default of 2h.
    let run = once(&site, &api, "2023-01-07T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(api.requests().is_empty());
    // With `after: 30m` it is due.
    let site = Site::with_content(
        &fixture("archive/handmade/content"),
        "archive:\n  slack:\n    channel: C0BOOKWEEK\n    after: 30m\n",
    );
    let run = once(&site, &api, "2023-01-07T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("archive of 20230102-handmade fetched"),
        "{}",
        run.stdout
    );
}

#[test]
fn slack_errors_are_reported_and_tried_again_on_the_next_run() {
    let mode = Arc::new(Mutex::new(Mode::ChannelNotFound));
    let api = slack(mode.clone());
    let site = site("");
    let before = site.read(BOOK);
    let run = once(&site, &api, DUE);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "error: archive of 20230102-handmade: conversations.history: Slack answered `channel_not_found`; it is tried again on the next run"
    );
    assert!(
        run.stdout
            .starts_with("archive of 20230102-handmade failed; feeds rebuilt (1 item"),
        "{}",
        run.stdout
    );
    assert_eq!(site.read(BOOK), before);
    // One call, no tight loop.
    assert_eq!(api.requests().len(), 1);

    // A rate limit longer than a run waits: given up at once, not slept through.
    *mode.lock().unwrap() = Mode::RateLimitedForLong;
    let started = Instant::now();
    let run = once(&site, &api, "2023-01-07T01:35:00Z");
    assert_eq!(run.code, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        run.stderr.contains(
            "conversations.history: rate limited; Slack asks to wait 500 s more than this run waits"
        ),
        "{}",
        run.stderr
    );

    // Pagination that never ends is cut off.
    *mode.lock().unwrap() = Mode::EndlessPages;
    let run = once(&site, &api, "2023-01-07T01:40:00Z");
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("more than 200 pages"), "{}", run.stderr);
    assert_eq!(site.read(BOOK), before);

    // Slack works again: the next run fetches.
    *mode.lock().unwrap() = Mode::Working;
    let run = once(&site, &api, "2023-01-07T01:45:00Z");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(archive_of(&site.read(BOOK)), expected());
}

#[test]
fn without_a_token_nothing_is_fetched_and_check_says_why() {
    let api = slack(Arc::new(Mutex::new(Mode::Working)));
    let site = site("");
    let run = Run::from(
        command(&site, &api, &["--now", DUE, "once"])
            .env_remove("SLACK_TOKEN")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(api.requests().is_empty());
    assert!(
        run.stderr.contains("SLACK_TOKEN (environment): warning: not set: `archive.slack` is configured but no threads are fetched without a bot token"),
        "{}",
        run.stderr
    );
    // A channel name where the ID belongs is an error at its line.
    let bad = Site::with_content(
        &fixture("archive/handmade/content"),
        "archive:\n  slack:\n    channel: book-of-the-week\n",
    );
    let run = bad.run(&["check"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("config/bookweek.yaml:3:5: error: `archive.slack.channel` must be the channel's ID like `C0123456789` (the channel's details show it), not `book-of-the-week`")
            || run.stderr.contains("config/bookweek.yaml:3:5: error: `archive.slack.channel` must be the channel's ID"),
        "{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn the_daemon_fetches_when_a_window_has_closed_and_publishes_the_recap() {
    let api = slack(Arc::new(Mutex::new(Mode::Working)));
    let site = site("server:\n  listen: 127.0.0.1:0\n");
    let mut child = command(&site, &api, &["--now", DUE, "run"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    {
        let (err, log) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
    }
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first
        .trim()
        .strip_prefix("bookweek: listening on ")
        .unwrap()
        .to_string();
    let started = Instant::now();
    let recap = loop {
        let atom = reqwest::blocking::get(format!("{base}/atom.xml"))
            .unwrap()
            .text()
            .unwrap();
        if atom.contains("It is about X.") {
            break atom;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("no recap after 20 s: {}", log.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        feed_rs::parser::parse(recap.as_bytes())
            .unwrap()
            .entries
            .len(),
        2
    );
    assert_eq!(archive_of(&site.read(BOOK)), expected());
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("archive fetched: 3 threads, 3 replies; authors recognized: Jane Doe"),
        "{log}"
    );
    assert!(!log.contains(TOKEN));
}
