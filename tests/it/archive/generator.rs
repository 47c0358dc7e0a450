//! The round trip on real books (tests/fixtures/archive/corpus, copied from
//! the community's site): each book's archive is turned into a Slack export
//! the way Slack writes one — users with IDs, timestamps in the window, names
//! as `<@U…>` mentions, markdown links as `<url|label>`, bare URLs as
//! `<url>`, some emoji as `:codes:`, `&`, `<`, `>` escaped — with joins, bot
//! posts, a broadcast reply, a deleted message, announcements and posts from
//! other weeks around it. The import must give each archive back thread for
//! thread, with the same names and the same text up to the emoji forms.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDateTime, TimeZone};
use regex::Regex;
use serde_json::{Value, json};

use super::{Archive, archive_of, read};
use crate::support::{Site, fixture};

const CHANNEL: &str = "book-of-the-week";
const NOW: &str = "2025-01-01T00:00:00Z";

/// Emoji that the generator writes as Slack codes (one code point each, so
/// that the import must give back exactly the same character).
const CODES: &[(&str, &str)] = &[
    ("🙂", "slightly_smiling_face"),
    ("😊", "blush"),
    ("👍", "+1"),
    ("😀", "grinning"),
    ("🙏", "pray"),
    ("🎉", "tada"),
    ("👏", "clap"),
    ("😄", "smile"),
    ("😉", "wink"),
    ("🤔", "thinking_face"),
    ("😅", "sweat_smile"),
    ("🔥", "fire"),
];

struct Generator {
    users: BTreeMap<String, String>,
    /// Day file (UTC date) → messages.
    days: BTreeMap<String, Vec<Value>>,
    micros: u32,
    written: usize,
    links: usize,
    mentions: usize,
    codes: usize,
}

impl Generator {
    fn new() -> Self {
        Self {
            users: BTreeMap::new(),
            days: BTreeMap::new(),
            micros: 0,
            written: 0,
            links: 0,
            mentions: 0,
            codes: 0,
        }
    }

    fn user(&mut self, name: &str) -> String {
        let n = self.users.len();
        self.users
            .entry(name.to_string())
            .or_insert_with(|| format!("U0{:08}", n + 1))
            .clone()
    }

    /// A unique timestamp at `secs`.
    fn ts(&mut self, secs: i64) -> String {
        self.micros += 1;
        format!("{secs}.{:06}", self.micros)
    }

    fn push(&mut self, message: Value) {
        let ts: f64 = message["ts"].as_str().unwrap().parse().unwrap();
        let day = chrono::DateTime::from_timestamp(ts as i64, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        self.days.entry(day).or_default().push(message);
    }

    fn message(&mut self, ts: &str, user: &str, text: &str) -> Value {
        json!({
            "client_msg_id": format!("{:08x}-0000-4000-8000-{:012x}", self.micros, self.written),
            "type": "message",
            "text": text,
            "user": user,
            "ts": ts,
            "team": "T0TEAM",
            "user_team": "T0TEAM",
            "source_team": "T0TEAM",
            "blocks": [{"type": "rich_text", "block_id": "x", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "(blocks are not read when there is text)"}]}]}],
        })
    }

    /// Archive text → Slack's `text` markup.
    fn encode(&mut self, text: &str, with_codes: bool) -> String {
        static LINK: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
            Regex::new(r"\[([^\[\]]+)\]\(((?:https?|mailto):[^()\s<>|]+)\)").unwrap()
        });
        let mut out = String::new();
        let mut last = 0;
        for c in LINK.captures_iter(text) {
            let whole = c.get(0).unwrap();
            out.push_str(&self.encode_plain(&text[last..whole.start()], with_codes));
            out.push_str(&format!("<{}|{}>", escape(&c[2]), escape(&c[1])));
            self.links += 1;
            last = whole.end();
        }
        out.push_str(&self.encode_plain(&text[last..], with_codes));
        out
    }

    /// Text outside markdown links: bare URLs, names, emoji.
    fn encode_plain(&mut self, text: &str, with_codes: bool) -> String {
        static URL: std::sync::LazyLock<Regex> =
            std::sync::LazyLock::new(|| Regex::new(r"https?://[^\s<>|]+").unwrap());
        let mut out = String::new();
        let mut last = 0;
        for m in URL.find_iter(text) {
            out.push_str(&self.encode_words(&text[last..m.start()], with_codes));
            out.push_str(&format!("<{}>", escape(m.as_str())));
            last = m.end();
        }
        out.push_str(&self.encode_words(&text[last..], with_codes));
        out
    }

    fn encode_words(&mut self, text: &str, with_codes: bool) -> String {
        let escaped = escape(text);
        // Names as mentions, the longest first, whole words only.
        let mut names: Vec<(String, String)> = self
            .users
            .iter()
            .filter(|(n, _)| n.chars().count() >= 3 && n.chars().any(char::is_alphabetic))
            .map(|(n, id)| (escape(n), id.clone()))
            .collect();
        names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        let mut out = String::new();
        let mut i = 0;
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        'outer: while i < escaped.len() {
            let before = escaped[..i].chars().next_back();
            if !word(before) {
                for (name, id) in &names {
                    if escaped[i..].starts_with(name.as_str())
                        && !word(escaped[i + name.len()..].chars().next())
                    {
                        out.push_str(&format!("<@{id}>"));
                        self.mentions += 1;
                        i += name.len();
                        continue 'outer;
                    }
                }
            }
            let c = escaped[i..].chars().next().unwrap();
            let next = escaped[i + c.len_utf8()..].chars().next();
            let code = CODES.iter().find(|(e, _)| e.starts_with(c));
            // A code glued to a word needs three letters or more to read as
            // one; a variation selector or skin tone after it would be lost.
            let plain_next = next.is_none_or(|n| {
                !('\u{fe00}'..='\u{fe0f}').contains(&n)
                    && !('\u{1f3fb}'..='\u{1f3ff}').contains(&n)
                    && n != '\u{200d}'
            });
            match code {
                Some((_, name))
                    if with_codes
                        && plain_next
                        && before != Some(':')
                        && (!word(before) || name.len() >= 3) =>
                {
                    out.push_str(&format!(":{name}:"));
                    self.codes += 1;
                }
                _ => out.push(c),
            }
            i += c.len_utf8();
        }
        out
    }

    /// One book's week, as its channel would hold it.
    fn book(&mut self, index: usize, text: &str) {
        let fm: serde_yaml::Value = serde_yaml::from_str(super::front_matter(text)).unwrap();
        let at = |key: &str| -> i64 {
            let s = fm[key].as_str().unwrap();
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
            chrono_tz::Europe::Berlin
                .from_local_datetime(&naive)
                .earliest()
                .unwrap()
                .timestamp()
        };
        let (start, end) = (at("start"), at("end"));
        let archive = archive_of(text);
        let old_format = index % 2 == 1;
        let organizer = self.user("Organizer Person");
        let reader = self.user("Eager Reader");
        for (name, _, replies) in &archive {
            self.user(name);
            for (n, _) in replies {
                self.user(n);
            }
        }
        // Noise before the week: joins, a post from last week, the announcement.
        let people: Vec<String> = self.users.values().cloned().collect();
        for (k, id) in people.iter().enumerate() {
            let ts = self.ts(start - 6 * 3600 + k as i64);
            self.push(
                json!({"user": id, "text": format!("<@{id}> has joined the channel"),
                "type": "message", "subtype": "channel_join", "ts": ts}),
            );
        }
        let ts = self.ts(start - 3 * 86400);
        let m = self.message(&ts, &reader, "From last week: not this book's");
        self.push(m);
        let ts = self.ts(start - 2 * 3600);
        let title = fm["title"].as_str().unwrap().to_string();
        let mut a = self.message(
            &ts,
            &organizer,
            &format!("Hello, everyone!\nThe book of this week is <https://example.org/books/{index}.html|{}>\nAsk your questions in threads :wave:", escape(&title)),
        );
        a["thread_ts"] = json!(ts);
        a["reply_count"] = json!(1);
        self.push(a);
        let r_ts = self.ts(start - 3600);
        let mut r = self.message(&r_ts, &reader, "Can't wait!");
        r["thread_ts"] = json!(ts);
        r["parent_user_id"] = json!(organizer);
        self.push(r);
        // A bot, and a deleted message with a reply, during the week.
        let ts = self.ts(start + 3600);
        self.push(json!({"type": "message", "subtype": "bot_message", "text": "New episode of the podcast!",
            "ts": ts, "username": "RSS", "bot_id": "B0FEED", "icons": {"emoji": ":rss:"}}));
        let ts = self.ts(start + 2 * 3600);
        self.push(
            json!({"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
            "user": "USLACKBOT", "hidden": true, "ts": ts, "thread_ts": ts, "reply_count": 1}),
        );
        let r_ts = self.ts(start + 2 * 3600 + 60);
        let mut r = self.message(&r_ts, &reader, "What did it say?");
        r["thread_ts"] = json!(ts);
        r["parent_user_id"] = json!("USLACKBOT");
        self.push(r);

        // The threads: the first the day before the week, the rest spread over it.
        let n = archive.len() as i64;
        for (i, (name, text, replies)) in archive.iter().enumerate() {
            let secs = if i == 0 {
                start - 12 * 3600
            } else {
                start + (end - start) * i as i64 / n
            };
            let ts = self.ts(secs);
            let id = self.users[name].clone();
            let encoded = self.encode(text, self.written % 2 == 1);
            self.written += 1;
            let mut post = self.message(&ts, &id, &encoded);
            let mut reply_refs = Vec::new();
            let mut reply_msgs = Vec::new();
            for (j, (rname, rtext)) in replies.iter().enumerate() {
                // The last reply of the last thread comes days after the week.
                let rsecs = if i + 1 == archive.len() && j + 1 == replies.len() {
                    end + 3 * 86400
                } else {
                    secs + 97 * (j as i64 + 1)
                };
                let rts = self.ts(rsecs);
                let rid = self.users[rname].clone();
                let encoded = self.encode(rtext, self.written % 2 == 1);
                self.written += 1;
                let mut r = self.message(&rts, &rid, &encoded);
                // Old exports list replies on the parent; some of their
                // replies carry no thread_ts at all.
                if !old_format || j % 2 == 0 {
                    r["thread_ts"] = json!(ts);
                    r["parent_user_id"] = json!(id);
                }
                if i == 1 && j == 0 {
                    r["subtype"] = json!("thread_broadcast");
                    r["thread_ts"] = json!(ts);
                    r["root"] =
                        json!({"text": post["text"], "user": id, "ts": ts, "thread_ts": ts});
                }
                reply_refs.push(json!({"user": rid, "ts": rts}));
                reply_msgs.push(r);
                if i == 0 && j == 0 {
                    // A bot answering in a thread.
                    let bts = self.ts(rsecs + 1);
                    reply_msgs.push(json!({"type": "message", "subtype": "bot_message", "text": "Thanks for asking!",
                        "ts": bts, "bot_id": "B0HELP", "username": "helper", "thread_ts": ts}));
                }
            }
            if !replies.is_empty() {
                post["thread_ts"] = json!(ts);
                post["reply_count"] = json!(replies.len());
                if old_format {
                    post["replies"] = Value::Array(reply_refs);
                } else {
                    post["latest_reply"] = reply_msgs.last().unwrap()["ts"].clone();
                }
            }
            self.push(post);
            for r in reply_msgs {
                self.push(r);
            }
        }
        // After the week: the organiser's announcements and next week's talk.
        let ts = self.ts(end + 3600);
        let winners = format!("The lucky winners are <@{reader}> and <@{organizer}>! :tada:");
        let m = self.message(&ts, &organizer, &winners);
        self.push(m);
        let ts = self.ts(end + 3700);
        let m = self.message(&ts, &organizer, "Please send me your emails in DM");
        self.push(m);
        let ts = self.ts(end + 4 * 86400);
        let m = self.message(&ts, &reader, "Next week already? Not this book's either");
        self.push(m);
    }

    fn write(&self, dir: &Path) {
        let mut users: Vec<Value> = self
            .users
            .iter()
            .enumerate()
            .map(|(k, (name, id))| {
                // Half show a display name, half only a real name.
                let (display, real) = if k % 2 == 0 {
                    (name.clone(), format!("{name} (full name)"))
                } else {
                    (String::new(), name.clone())
                };
                json!({"id": id, "team_id": "T0TEAM", "name": format!("user{k}"), "deleted": false,
                    "real_name": real, "tz": "Europe/Berlin",
                    "profile": {"real_name": real, "display_name": display, "real_name_normalized": real,
                        "display_name_normalized": display, "image_72": "https://example.org/a.png"},
                    "is_bot": false, "is_app_user": false})
            })
            .collect();
        users.push(
            json!({"id": "USLACKBOT", "name": "slackbot", "real_name": "slackbot",
            "profile": {"display_name": "slackbot", "real_name": "slackbot"}, "is_bot": false}),
        );
        std::fs::create_dir_all(dir.join(CHANNEL)).unwrap();
        std::fs::write(
            dir.join("users.json"),
            serde_json::to_vec_pretty(&users).unwrap(),
        )
        .unwrap();
        let channels = json!([
            {"id": "C0BOOKS", "name": CHANNEL, "created": 1600000000, "members": [], "topic": {"value": ""}, "purpose": {"value": ""}},
            {"id": "C0GENERAL", "name": "general", "created": 1600000000, "members": [], "topic": {"value": ""}, "purpose": {"value": ""}}
        ]);
        std::fs::write(
            dir.join("channels.json"),
            serde_json::to_vec_pretty(&channels).unwrap(),
        )
        .unwrap();
        for (day, messages) in &self.days {
            let mut messages = messages.clone();
            messages.sort_by(|a, b| {
                let ts = |m: &Value| m["ts"].as_str().unwrap().parse::<f64>().unwrap();
                ts(a).total_cmp(&ts(b))
            });
            std::fs::write(
                dir.join(CHANNEL).join(format!("{day}.json")),
                serde_json::to_vec_pretty(&messages).unwrap(),
            )
            .unwrap();
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text with every emoji and every `:code:` taken out: what "the same up to
/// the emoji forms" compares.
fn without_emoji(s: &str) -> String {
    static CODE: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r":[a-z0-9_+\-]+:").unwrap());
    CODE.replace_all(s, "")
        .chars()
        .filter(|c| {
            let mut b = [0; 4];
            let s: &str = c.encode_utf8(&mut b);
            emojis::get(s).is_none()
                && !matches!(*c, '\u{fe0f}' | '\u{200d}' | '\u{1f3fb}'..='\u{1f3ff}')
        })
        .collect()
}

/// The announcements the import leaves out by default.
fn is_announcement(text: &str) -> bool {
    text.contains("The lucky winners")
        || text.contains("Please send me your emails in DM")
        || (text.contains("Hello, everyone!") && text.contains("The book of this week is"))
}

#[derive(Debug, Default)]
struct Fidelity {
    threads: usize,
    threads_matched: usize,
    replies: usize,
    replies_matched: usize,
    texts_exact: usize,
    texts_up_to_emoji: usize,
    left_out_announcements: usize,
}

fn compare(expected: &Archive, got: &Archive, f: &mut Fidelity, book: &str) {
    assert_eq!(got.len(), expected.len(), "{book}: thread count");
    let mut same = |a: &str, b: &str, what: &str| {
        if a == b {
            f.texts_exact += 1;
        } else {
            assert_eq!(without_emoji(a), without_emoji(b), "{book}: {what}");
            eprintln!("{book}: {what} differs in its emoji forms: {a:?} → {b:?}");
            f.texts_up_to_emoji += 1;
        }
    };
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        assert_eq!(g.0, e.0, "{book}: thread {} asker", i + 1);
        same(&e.1, &g.1, &format!("thread {} question", i + 1));
        assert_eq!(g.2.len(), e.2.len(), "{book}: thread {} replies", i + 1);
        for (j, (er, gr)) in e.2.iter().zip(&g.2).enumerate() {
            assert_eq!(gr.0, er.0, "{book}: thread {} reply {} name", i + 1, j + 1);
            same(&er.1, &gr.1, &format!("thread {} reply {}", i + 1, j + 1));
        }
    }
}

fn books() -> Vec<(String, String)> {
    let dir = fixture("archive/corpus/books");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_stem().unwrap().to_str().unwrap().to_string(),
                read(&p),
            )
        })
        .collect();
    out.sort();
    out
}

/// The file around its `archive:` (the last key in these books).
fn around_archive(text: &str) -> (&str, &str) {
    let start = text.find("\narchive:\n").unwrap() + 1;
    let mut end = start + text[start..].find("\n---\n").unwrap() + 1;
    // Blank lines before the closing `---` are not the archive's.
    while text[..end].ends_with("\n\n") {
        end -= 1;
    }
    (&text[..start], &text[end..])
}

#[test]
fn import_gives_back_every_books_archive_thread_for_thread() {
    let books = books();
    assert!(books.len() >= 3);
    let export = tempfile::tempdir().unwrap();
    let mut g = Generator::new();
    for (i, (_, text)) in books.iter().enumerate() {
        g.book(i, text);
    }
    g.write(export.path());
    let export_path = export.path().to_str().unwrap();
    let slugs: Vec<&str> = books.iter().map(|(s, _)| s.as_str()).collect();
    let site = Site::with_content(
        &fixture("archive/corpus"),
        "archive:\n  channel: book-of-the-week\n",
    );
    let run = site.run(&[
        "--now",
        NOW,
        "archive",
        "import",
        export_path,
        "--replace",
        "--book",
        &slugs.join(","),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let mut f = Fidelity::default();
    for (slug, original) in &books {
        let path = format!("content/books/{slug}.md");
        let imported = site.read(&path);
        let mut expected = archive_of(original);
        let before = expected.len();
        expected.retain(|t| !is_announcement(&t.1));
        f.left_out_announcements += before - expected.len();
        let got = archive_of(&imported);
        compare(&expected, &got, &mut f, slug);
        f.threads += expected.len();
        f.threads_matched += got.len();
        f.replies += expected.iter().map(|t| t.2.len()).sum::<usize>();
        f.replies_matched += got.iter().map(|t| t.2.len()).sum::<usize>();
        // Every byte outside `archive:` is the original's.
        let (head, tail) = around_archive(original);
        assert!(
            imported.starts_with(head),
            "{slug}: the bytes before archive: changed"
        );
        assert!(
            imported.ends_with(tail),
            "{slug}: the bytes after archive: changed"
        );
        assert!(
            run.stdout
                .contains(&format!("{slug}: {} threads", got.len())),
            "{}",
            run.stdout
        );
    }
    // An author who chats under a nickname (Michael Munn as "Mike Munn") is
    // recognized, and not warned about.
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("20210208-ml-design-patterns:"))
        .unwrap_or_default();
    assert!(
        line.contains("authors recognized:") && line.contains("Michael Munn"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("author Michael Munn never appears"),
        "{}",
        run.stderr
    );
    eprintln!(
        "round trip over {} books: {f:?}; export: {} users, {} messages written as Slack markup ({} links, {} mentions, {} emoji codes)",
        books.len(),
        g.users.len(),
        g.written,
        g.links,
        g.mentions,
        g.codes
    );
    assert_eq!(f.threads_matched, f.threads);
    assert_eq!(f.replies_matched, f.replies);
    // The generator wrote every kind it claims to.
    assert!(
        g.links > 10 && g.mentions > 10 && g.codes > 5,
        "{} {} {}",
        g.links,
        g.mentions,
        g.codes
    );
    // The one announcement that the notebook had kept (graph data book).
    assert_eq!(f.left_out_announcements, 1);

    // Again: the same bytes, and the summary says so.
    let files: Vec<String> = slugs
        .iter()
        .map(|s| site.read(&format!("content/books/{s}.md")))
        .collect();
    let again = site.run(&[
        "--now",
        NOW,
        "archive",
        "import",
        export_path,
        "--replace",
        "--book",
        &slugs.join(","),
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout.matches("(file unchanged)").count(),
        slugs.len(),
        "{}",
        again.stdout
    );
    for (s, before) in slugs.iter().zip(&files) {
        assert_eq!(&site.read(&format!("content/books/{s}.md")), before);
    }

    // Books without an archive, chosen by default (closed, no archive): the
    // same threads, added at the end of the front matter, every other byte kept.
    let bare = Site::with_content(
        &fixture("archive/corpus"),
        "archive:\n  channel: book-of-the-week\n",
    );
    let mut bare_texts = Vec::new();
    for (slug, original) in &books {
        let (head, tail) = around_archive(original);
        bare.write(&format!("content/books/{slug}.md"), format!("{head}{tail}"));
        bare_texts.push(format!("{head}{tail}"));
    }
    let run = bare.run(&["--now", NOW, "archive", "import", export_path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for ((s, replaced), before) in slugs.iter().zip(&files).zip(&bare_texts) {
        let got = bare.read(&format!("content/books/{s}.md"));
        assert_eq!(archive_of(&got), archive_of(replaced), "{s}");
        let close = before.find("\n---\n").unwrap() + 1;
        assert!(
            got.starts_with(&before[..close]) && got.ends_with(&before[close..]),
            "{s}"
        );
    }
    // And now that they have archives, there is nothing left to import.
    let run = bare.run(&["--now", NOW, "archive", "import", export_path]);
    assert_eq!(
        run.stdout.trim(),
        format!(
            "no closed book without an archive at {}; nothing to import",
            "2025-01-01 00:00:00 +00:00"
        )
    );
}
