//! `bookweek digest preview` on the shipped example: at a time with nothing
//! new it says so and previews the last digest that had news; `--tick` and
//! `--book` pick one. It never reads the clock and records nothing.

use mail_parser::{MessageParser, MimeHeaders as _};

use crate::support::{Site, repo};

/// Long after the shipped example's week: nothing is new.
const LATER: &str = "2026-11-30T09:30:00+01:00";
const SLUG: &str = "20221121-reliable-machine-learning";

fn shipped() -> Site {
    Site::with_content(&repo().join("content"), "")
}

struct Eml {
    subject: String,
    to: String,
    date: String,
    text: String,
    html: String,
}

fn read_eml(site: &Site, dir: &str) -> Eml {
    let raw = std::fs::read(site.path().join(dir).join("digest.eml")).unwrap();
    let m = MessageParser::default()
        .parse(&raw)
        .expect("a parsable message");
    let ct = m.root_part().content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );
    Eml {
        subject: m.subject().unwrap_or_default().to_string(),
        to: m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string(),
        date: m.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        text: m.body_text(0).unwrap_or_default().into_owned(),
        html: m.body_html(0).unwrap_or_default().into_owned(),
    }
}

/// What the state holds: digests and stored secrets (a preview adds neither).
fn recorded(site: &Site) -> (i64, i64) {
    let db = site.path().join("state/bookweek.db");
    if !db.exists() {
        return (0, 0);
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get(0)).unwrap();
    (
        count("SELECT count(*) FROM digests"),
        count("SELECT count(*) FROM meta WHERE key = 'secret'"),
    )
}

#[test]
fn with_nothing_new_preview_shows_the_last_digest_with_news() {
    let site = shipped();
    let run = site.run(&["--now", LATER, "digest", "preview"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "nothing new for the tick 2026-11-30T09:00:00+01:00; previewing the digest of 2022-12-12T09:00:00+01:00 instead (the last one with news)\n\
             items:   1\n  \
             2022-12-09 23:59  tag:example.org,2020:{SLUG}/recap\n\
             subject: The authors' answers from Reliable Machine Learning\n\
             preview/digest.eml\npreview/digest.html\npreview/digest.txt\n"
        )
    );
    let eml = read_eml(&site, "preview");
    assert_eq!(
        eml.subject,
        "The authors' answers from Reliable Machine Learning"
    );
    assert_eq!(eml.to, "reader@example.com");
    // The Date is --now, not the clock.
    assert_eq!(eml.date, "2026-11-30T08:30:00Z");
    // The authors' best answers are in both parts.
    assert!(eml.text.contains("Niall Murphy"), "{}", eml.text);
    assert!(eml.html.contains("Niall Murphy"), "{}", eml.html);
    assert!(!eml.text.contains("this week"), "{}", eml.text);
    assert_eq!(recorded(&site), (0, 0));

    // Nothing was recorded: `send --dry-run` still plans the 2022-12-12 digest.
    assert_eq!(site.run(&["subscribers", "add", "ann@example.net"]).code, 0);
    let plan = site.run(&[
        "--now",
        "2022-12-12T09:01:00+01:00",
        "digest",
        "send",
        "--dry-run",
    ]);
    assert!(
        plan.stdout
            .contains("decision:   would be created and sent"),
        "{}",
        plan.stdout
    );
}

#[test]
fn preview_of_the_due_digest_is_unchanged() {
    let site = shipped();
    let run = site.run(&[
        "--now",
        "2022-12-12T09:01:00+01:00",
        "digest",
        "preview",
        "--out",
        "pv",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(
            "the digest due at --now: the tick 2022-12-12T09:00:00+01:00\nitems:   2\n"
        ),
        "{}",
        run.stdout
    );
    let eml = read_eml(&site, "pv");
    assert_eq!(
        eml.subject,
        "The authors' answers from Reliable Machine Learning"
    );
    assert_eq!(recorded(&site), (0, 0));
}

#[test]
fn tick_and_book_pick_the_digest_to_preview() {
    let site = shipped();
    // A time within a week: the tick at or before it, with the opening.
    let run = site.run(&[
        "--now",
        LATER,
        "digest",
        "preview",
        "--tick",
        "2022-12-08T12:00:00Z",
        "--out",
        "t",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "the digest of the tick 2022-12-05T09:00:00+01:00\nitems:   1\n  2022-12-05 00:00  tag:example.org,2020:{SLUG}/opening\n"
        )),
        "{}",
        run.stdout
    );
    // Mid-week: the present tense.
    let eml = read_eml(&site, "t");
    assert_eq!(eml.subject, "This week: Reliable Machine Learning");
    let flat = eml.text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("answer your questions this week, until Friday 9 December."),
        "{}",
        eml.text
    );
    assert!(eml.text.contains("How to take part"), "{}", eml.text);

    let run = site.run(&[
        "--now", LATER, "digest", "preview", "--book", SLUG, "--out", "b",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "the digest of the tick 2022-12-12T09:00:00+01:00, which carried the recap of `{SLUG}`\n"
        )),
        "{}",
        run.stdout
    );
    assert!(read_eml(&site, "b").text.contains("Niall Murphy"));

    let run = site.run(&["--now", LATER, "digest", "preview", "--book", "reliable"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!("error: no book `reliable` in content/books (did you mean `{SLUG}`?)\n")
    );
    // A tick with nothing in it writes nothing.
    let run = site.run(&[
        "--now",
        LATER,
        "digest",
        "preview",
        "--tick",
        "2024-01-01T09:00:00+01:00",
        "--out",
        "e",
    ]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "the tick 2024-01-01T09:00:00+01:00 had nothing new: no digest to preview\n"
    );
    assert!(!site.path().join("e").exists());
    assert_eq!(recorded(&site), (0, 0));
}

#[test]
fn with_no_news_ever_preview_says_so_and_writes_nothing() {
    let site = Site::empty("");
    let run = site.run(&["--now", LATER, "digest", "preview"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "nothing new for the tick 2026-11-30T09:00:00+01:00, and no earlier tick had news: no digest to preview\n"
    );
    assert!(!site.path().join("preview").exists());
}

/// The README's first-run section shows real output: every command there
/// that passes `--now` prints exactly what the README says it prints.
#[test]
fn readme_first_run_output_is_real() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("## First run").expect("a first-run section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut examples: Vec<(String, String)> = Vec::new();
    let mut in_console = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            let cmd = cmd.split(" # ").next().unwrap().trim().to_string();
            examples.push((cmd, String::new()));
        } else if !line.is_empty()
            && let Some((_, out)) = examples.last_mut()
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    let timed: Vec<&(String, String)> = examples
        .iter()
        .filter(|(c, _)| c.contains("--now"))
        .collect();
    assert!(timed.len() >= 3, "{examples:?}");
    let site = Site::with_content(&repo().join("content"), "");
    for (cmd, expected) in timed {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(args[0], "bookweek", "{cmd}");
        let run = site.run(&args[1..]);
        assert_eq!(run.code, 0, "{cmd}: {}", run.stderr);
        assert_eq!(&run.stdout, expected, "README output of `{cmd}`");
    }
}
