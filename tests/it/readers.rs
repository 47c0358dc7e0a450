//! What readers see, checked on the digests of real books (the corpus
//! sample; the whole corpus in `.ci/run`): every digest fits a 375 px phone
//! in headless Chromium, every text colour is readable, there is one `<h1>`,
//! a colour-scheme meta and a preheader, every cell names its font, the text
//! part keeps every URL within 78 columns, subjects are short and never
//! repeat the From name. Feed items take their titles from `site.title`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use mail_parser::MessageParser;

use crate::support::{Site, corpus_sample, repo, whole_corpus};

/// A digest as a reader's mail client gets it (read back with mail-parser).
struct Digest {
    tick: String,
    subject: String,
    html: String,
    text: String,
}

/// Every digest a schedule running at every tick would have sent for the
/// books of `corpus` (its default config: Mondays 09:00, Europe/Berlin),
/// rendered by `bookweek digest preview --tick`.
fn digests_of(corpus: &Path, config: &str) -> Vec<Digest> {
    let loaded = bookweek::content::load(corpus, chrono_tz::Europe::Berlin).unwrap();
    let settings = bookweek::config::parse(Path::new("bookweek.yaml"), config).config;
    let later = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap();
    let ticks: BTreeSet<String> = bookweek::feeds::due(&loaded.catalog, later)
        .iter()
        .filter_map(|d| bookweek::digest::tick_at_or_after(&settings, d.date()))
        .map(|t| t.to_rfc3339())
        .collect();
    let site = Site::reading(corpus, config);
    ticks
        .iter()
        .enumerate()
        .map(|(i, tick)| {
            let out = format!("d{i}");
            let run = site.run(&[
                "--now",
                "2030-01-01T00:00:00Z",
                "digest",
                "preview",
                "--tick",
                tick,
                "--out",
                &out,
            ]);
            assert_eq!(run.code, 0, "{tick}: {}{}", run.stdout, run.stderr);
            let raw = std::fs::read(site.path().join(&out).join("digest.eml"))
                .unwrap_or_else(|e| panic!("{tick}: {e}\n{}", run.stdout));
            let m = MessageParser::default().parse(&raw).unwrap();
            Digest {
                tick: tick.clone(),
                subject: m.subject().unwrap_or_default().to_string(),
                html: m.body_html(0).unwrap_or_default().into_owned(),
                text: m.body_text(0).unwrap_or_default().into_owned(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Headless Chromium

/// Debian's `chromium` (`BOOKWEEK_CHROMIUM` names another binary).
fn chromium() -> String {
    std::env::var("BOOKWEEK_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// Each page laid out in a frame `width` px wide in headless Chromium:
/// `(document.documentElement.scrollWidth, innerWidth)` of each. One browser
/// run measures them all: the pages sit in iframes of that width (their own
/// viewport, so their media queries see `width`), and a script in the
/// harness writes the measures into the DOM once everything has loaded.
fn scroll_widths(pages: &[&str], width: u32) -> Vec<(u32, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = String::from("<!DOCTYPE html><html><body style=\"margin:0\">\n");
    for (i, page) in pages.iter().enumerate() {
        harness.push_str(&format!(
            "<iframe id=\"p{i}\" style=\"width:{width}px;height:400px;border:0;display:block\" scrolling=\"no\" srcdoc=\"{}\"></iframe>\n",
            escape_attr(page)
        ));
    }
    harness.push_str(
        "<pre id=\"out\"></pre><script>\nwindow.addEventListener('load', () => {\n  const rows = [];\n  for (const f of document.querySelectorAll('iframe')) {\n    rows.push(f.contentDocument.documentElement.scrollWidth + ' ' + f.contentWindow.innerWidth);\n  }\n  document.getElementById('out').textContent = 'MEASURED\\n' + rows.join('\\n') + '\\nEND';\n});\n</script></body></html>\n",
    );
    let file = dir.path().join("harness.html");
    std::fs::write(&file, harness).unwrap();
    let profile = dir.path().join("profile");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("headless Chromium (apt-get install chromium), or BOOKWEEK_CHROMIUM");
    let dom = String::from_utf8_lossy(&out.stdout);
    let measured = dom
        .split("MEASURED\n")
        .nth(1)
        .and_then(|r| r.split("\nEND").next())
        .unwrap_or_else(|| {
            panic!(
                "no measures from chromium: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let widths: Vec<(u32, u32)> = measured
        .lines()
        .map(|l| {
            let mut n = l.split(' ').map(|x| x.parse::<u32>().unwrap());
            (n.next().unwrap(), n.next().unwrap())
        })
        .collect();
    assert_eq!(widths.len(), pages.len());
    widths
}

// ---------------------------------------------------------------------------
// Colours

/// The WCAG relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap()) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// A `#rrggbb` value of `property` in an inline style.
fn style_colour(style: &str, property: &str) -> Option<String> {
    style
        .split(';')
        .find_map(|decl| {
            let (k, v) = decl.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(property)).then(|| v.trim().to_lowercase())
        })
        .filter(|v| v.len() == 7 && v.starts_with('#'))
}

/// Every visible text of `html` with the colour it is drawn in and the
/// background behind it, both inherited from inline styles as a browser
/// would (a link with no colour of its own is a browser's default blue).
fn text_colours(html: &str) -> Vec<(String, String, String)> {
    const VOID: &[&str] = &["meta", "img", "br", "hr", "link", "input", "!doctype"];
    // (tag, colour, background, hidden)
    let mut stack: Vec<(String, String, String, bool)> =
        vec![("root".into(), "#000000".into(), "#ffffff".into(), false)];
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        let top = stack.last().unwrap().clone();
        let in_head = stack
            .iter()
            .any(|(t, ..)| matches!(t.as_str(), "head" | "style" | "title"));
        if !text.trim().is_empty() && !top.3 && !in_head {
            found.push((text.trim().to_string(), top.1.clone(), top.2.clone()));
        }
        let close = rest[open..].find('>').unwrap() + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_lowercase();
            if let Some(at) = stack.iter().rposition(|(t, ..)| *t == name) {
                stack.truncate(at);
            }
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_lowercase();
        if VOID.contains(&name.as_str()) {
            continue;
        }
        let style = tag
            .split("style=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        let colour = style_colour(style, "color").unwrap_or_else(|| {
            if name == "a" {
                "#0000ee".into()
            } else {
                top.1.clone()
            }
        });
        let background = style_colour(style, "background-color").unwrap_or(top.2.clone());
        let hidden = top.3 || style.replace(' ', "").contains("display:none");
        stack.push((name, colour, background, hidden));
    }
    found
}

// ---------------------------------------------------------------------------
// The checks

/// A line of the text part is at most 78 characters, or it is one word
/// that cannot be broken (a URL) on a line of its own.
fn long_line(line: &str) -> bool {
    line.chars().count() > 78 && line.split_whitespace().count() > 1
}

/// Every check on the digests of `corpus`; `at_least` digests must be there.
fn digests_read_well(corpus: &Path, at_least: usize) {
    let digests = digests_of(corpus, "");
    assert!(digests.len() >= at_least, "only {} digests", digests.len());
    let pages: Vec<&str> = digests.iter().map(|d| d.html.as_str()).collect();
    let widths = scroll_widths(&pages, 375);
    let wide: Vec<(&str, u32)> = digests
        .iter()
        .zip(&widths)
        .filter(|(_, (scroll, _))| *scroll > 375)
        .map(|(d, (scroll, _))| (d.tick.as_str(), *scroll))
        .collect();
    assert!(
        widths.iter().all(|(_, inner)| *inner == 375),
        "the frames are not 375 px wide: {widths:?}"
    );
    assert!(wide.is_empty(), "wider than 375 px: {wide:?}");

    for d in &digests {
        let tick = &d.tick;
        // Subject: short, never the From name ("Book of the Week").
        let subject_len = d.subject.chars().count();
        assert!(
            subject_len <= 78,
            "{tick}: {subject_len} chars: {}",
            d.subject
        );
        assert!(
            !d.subject.contains("Book of the Week"),
            "{tick}: {}",
            d.subject
        );

        // One <h1>, colour-scheme meta, a preheader, a font on every cell.
        assert_eq!(d.html.matches("<h1").count(), 1, "{tick}");
        assert!(
            d.html
                .contains("<meta name=\"color-scheme\" content=\"light\">"),
            "{tick}"
        );
        let preheader = d
            .html
            .split("<body")
            .nth(1)
            .and_then(|b| b.split("<div style=\"display:none;").nth(1))
            .and_then(|p| p.split_once('>'))
            .map(|(_, p)| p.split('&').next().unwrap_or_default().trim())
            .unwrap_or_default();
        assert!(preheader.len() > 20, "{tick}: preheader {preheader:?}");
        for td in d.html.split("<td").skip(1) {
            let attrs = td.split('>').next().unwrap_or_default();
            assert!(attrs.contains("font-family:"), "{tick}: <td{attrs}>");
        }

        // Every text colour at least 4.5:1 against its background.
        let colours = text_colours(&d.html);
        assert!(colours.len() > 10, "{tick}");
        for (text, fg, bg) in &colours {
            let ratio = contrast(fg, bg);
            assert!(
                ratio >= 4.5,
                "{tick}: {fg} on {bg} is {ratio:.2}:1 for {text:?}"
            );
        }

        // The text part: lines within 78 columns, every link's URL kept.
        for line in d.text.lines() {
            assert!(!long_line(line), "{tick}: {line:?}");
        }
        let words: BTreeSet<String> = d
            .text
            .split(|c: char| c.is_whitespace() || "<>()".contains(c))
            .filter_map(|w| {
                url::Url::parse(w.trim_end_matches(['.', ',', ';', ':', '!', '?'])).ok()
            })
            .map(String::from)
            .collect();
        for href in d.html.split("href=\"").skip(1) {
            let href = href.split('"').next().unwrap().replace("&amp;", "&");
            let Ok(url) = url::Url::parse(&href) else {
                panic!("{tick}: a link that is no URL: {href}");
            };
            let shown = href.strip_prefix("mailto:").unwrap_or(&href);
            assert!(
                d.text.contains(shown) || words.contains(url.as_str()),
                "{tick}: {href} is not in the text part"
            );
        }
    }
}

#[test]
fn corpus_sample_digests_fit_a_phone_and_read_well() {
    digests_read_well(&corpus_sample(), 30);
}

#[test]
#[ignore = "needs the whole corpus in BOOKWEEK_CORPUS; run by .ci/run"]
fn whole_corpus_digests_fit_a_phone_and_read_well() {
    digests_read_well(&whole_corpus(), 80);
}

/// A book whose answer carries what pushed digests off a phone's screen: a
/// long bare URL as link text, a `<pre>` block with a long line, a long word.
fn hostile_book() -> String {
    let url = format!(
        "https://example.org/{}",
        "very-long-path-segment/".repeat(12)
    );
    let code = "x".repeat(40) + &" = compute(".repeat(12);
    let word = "Supercalifragilistic".repeat(8);
    format!(
        "---\ntitle: Wide Things\nauthors: [Ann Author]\nstart: 2022-12-05 00:00:00\nend: 2022-12-09 23:59:59\narchive:\n- name: Reader\n  text: How wide can an answer get?\n  replies:\n  - name: Ann Author\n    text: \"See {url} and this:\\n```\\n{code}\\n```\\n{word}\"\n---\nThe book's own text, with [a link]({url}).\n"
    )
}

#[test]
fn a_long_url_a_pre_block_and_a_long_word_do_not_widen_a_digest() {
    let site = Site::empty("");
    site.write("content/books/20221205-wide-things.md", hostile_book());
    let run = site.run(&[
        "--now",
        "2022-12-12T10:00:00+01:00",
        "digest",
        "preview",
        "--out",
        "pv",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let html = site.read("pv/digest.html");
    let text = site.read("pv/digest.txt");
    assert!(html.contains("<pre style=\""), "{html}");
    for width in [375, 320] {
        let measured = scroll_widths(&[&html], width);
        assert!(measured[0].0 <= width, "{width} px: {measured:?}");
    }
    // The URL is shortened where it is the link text, and whole in the text.
    assert!(
        html.contains(">example.org/very-long-path-segment/very…</a>"),
        "{html}"
    );
    let url = format!(
        "https://example.org/{}",
        "very-long-path-segment/".repeat(12)
    );
    assert!(text.lines().any(|l| l.trim() == url), "{text}");
    for line in text.lines() {
        assert!(!long_line(line), "{line:?}");
    }
}

#[test]
fn the_opening_shows_the_books_body_trimmed_with_a_link_to_the_rest() {
    let site = Site::with_content(&repo().join("content"), "");
    // Mid-week: the opening item and the digest of Monday 5 December.
    let (run, feeds) = site.build("2022-12-07T12:00:00+01:00");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = "Whether you're part of a small startup or a multinational corporation";
    let later = "How ML, product, and production teams can communicate effectively";
    for feed in feeds.all() {
        let entry = &feed.entries[0];
        let html = entry
            .content
            .as_ref()
            .and_then(|c| c.body.clone())
            .unwrap_or_default();
        assert!(html.replace("&#39;", "'").contains(first), "{html}");
        assert!(!html.contains(later), "the whole body: {html}");
        assert!(html.contains(">More about the book</a>"), "{html}");
    }
    let run = site.run(&[
        "--now",
        "2022-12-07T12:00:00+01:00",
        "digest",
        "preview",
        "--tick",
        "2022-12-05T09:00:00+01:00",
        "--out",
        "pv",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let html = site.read("pv/digest.html").replace("&#39;", "'");
    let text = site.read("pv/digest.txt");
    assert!(html.contains(first), "{html}");
    assert!(!html.contains(later), "{html}");
    assert!(html.contains(">More about the book</a>"), "{html}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(first), "{text}");
    assert!(
        flat.contains(
            "More about the book: https://example.org/books/20221121-reliable-machine-learning.html"
        ),
        "{text}"
    );
    // The description, which repeats the title line, is not shown.
    assert!(!flat.contains("Book of the Week. Reliable"), "{text}");
}

#[test]
fn feed_titles_and_summaries_come_from_site_title_and_the_book() {
    let site = Site::reading(&corpus_sample(), "site:\n  title: DataTalks.Club Reads\n");
    let (run, feeds) = site.build("2026-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let loaded = bookweek::content::load(&corpus_sample(), chrono_tz::Europe::Berlin).unwrap();
    let mut openings = 0;
    for entry in &feeds.json.entries {
        let title = entry.title.as_ref().unwrap().content.clone();
        let summary = entry.summary.as_ref().unwrap().content.clone();
        assert!(!title.contains("Book of the Week"), "{title}");
        assert!(!summary.contains("Book of the Week"), "{summary}");
        let book = loaded
            .catalog
            .books
            .iter()
            .map(Result::unwrap)
            .find(|b| entry.id.contains(&format!(":{}/", b.slug())))
            .map(|b| loaded.catalog.full(&b).unwrap().into_owned())
            .unwrap();
        if entry.id.ends_with("/opening") {
            openings += 1;
            assert_eq!(title, format!("DataTalks.Club Reads: {}", book.title));
            assert!(
                !summary.to_lowercase().contains(&book.title.to_lowercase()),
                "the summary repeats the title: {summary}"
            );
        } else {
            let whose = if book.authors.len() == 1 {
                "the author's"
            } else {
                "the authors'"
            };
            assert_eq!(title, format!("{}: {whose} answers", book.title));
        }
    }
    assert_eq!(openings, 19);
}

#[test]
fn answers_name_authors_by_their_people_title() {
    let site = Site::with_content(&repo().join("content"), "");
    let run = site.run(&[
        "--now",
        "2022-12-12T09:01:00+01:00",
        "digest",
        "preview",
        "--out",
        "pv",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let text = site.read("pv/digest.txt");
    assert!(text.contains("\nCathy Chen answered:"), "{text}");
    assert!(!text.contains("Cathy Chen (she/her) answered"), "{text}");
    // Askers as they wrote their name.
    assert!(text.contains("\nCarlos Pumar asked:"), "{text}");
}
