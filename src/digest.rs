//! Which digest is due at a given time, what goes in it, and its rendering
//! through the digest templates. Sending is `mail`'s job; recording is
//! `state`'s.
//!
//! The digest for a schedule tick T holds the opening and recap items dated
//! within `digest.lookback` before T that no earlier digest included. A tick
//! older than `digest.max_delay` when bookweek gets to it is recorded as
//! skipped and never sent late; its items stay eligible for the next tick.
//!
//! A preview can also look at any other tick, with no state: the "news" of a
//! tick is then what a schedule that ran at every tick would have sent, each
//! item in the first tick at or after its date ([`news_of_tick`]).

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::answers;
use crate::config::Config;
use crate::feeds::{self, Due, Kind};
use crate::model::{Book, Catalog, Entry, Window};
use crate::state::{DigestStatus, NewDigest, State, StateError};
use crate::templates::{RenderError, Templates, escape_html};
use crate::text;

/// Stands in for the per-subscriber unsubscribe link while the digest is
/// rendered once; replaced for each recipient at send time.
pub const UNSUBSCRIBE_PLACEHOLDER: &str = "https://unsubscribe.bookweek.invalid/link";

/// Stands in for the link to the digest's own web page ("View in your
/// browser") while it is rendered: its number is only known once it is
/// recorded. [`with_view_url`] puts the link in before it is sent.
pub const VIEW_PLACEHOLDER: &str = "https://view.bookweek.invalid/digest";

/// The web page of digest `id` (`digests/{id}.html` under the site).
pub fn page_url(config: &Config, id: i64) -> String {
    config
        .absolute(&format!("digests/{id}.html"))
        .map_or_else(|| format!("digests/{id}.html"), |u| u.to_string())
}

/// A digest's HTML and text with the "View in your browser" link set to
/// `url` (escaped for the HTML).
pub fn with_view_url(html: &str, text: &str, url: &str) -> (String, String) {
    (
        html.replace(VIEW_PLACEHOLDER, &escape_html(url)),
        text.replace(VIEW_PLACEHOLDER, url),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    State(#[from] StateError),
    /// A book that cannot be read back (the error says so).
    #[error(transparent)]
    Book(#[from] std::io::Error),
}

/// The most recent schedule tick at or before `now`, in the site's zone.
pub fn last_tick(config: &Config, now: DateTime<FixedOffset>) -> Option<DateTime<Tz>> {
    // Ticks are whole seconds; a clock with nanoseconds would make them differ.
    let local = now.with_timezone(&config.timezone).with_nanosecond(0)?;
    config.schedule.find_previous_occurrence(&local, true).ok()
}

/// The first schedule tick at or after `t`.
pub fn tick_at_or_after(config: &Config, t: DateTime<Tz>) -> Option<DateTime<Tz>> {
    let t = t.with_nanosecond(0)?;
    config.schedule.find_next_occurrence(&t, true).ok()
}

/// The tick whose digest carries an item dated `date` on a schedule that
/// runs at every tick: the first one at or after it, if the item is still
/// within the lookback then.
fn carrying_tick(config: &Config, date: DateTime<Tz>) -> Option<DateTime<Tz>> {
    tick_at_or_after(config, date).filter(|t| date > *t - config.lookback)
}

/// The news of `tick` on a schedule that ran at every tick, oldest first:
/// the items whose first tick it is. Reads no state, so it works for any
/// tick, past or future; what `digest preview --tick/--book` shows.
pub fn news_of_tick<'a>(catalog: &'a Catalog, config: &Config, tick: DateTime<Tz>) -> Vec<Due<'a>> {
    let mut items: Vec<Due> = feeds::due(catalog, tick.fixed_offset())
        .into_iter()
        .filter(|d| carrying_tick(config, d.date()) == Some(tick))
        .collect();
    items.reverse();
    items
}

/// The most recent tick at or before `now` that had news (in the sense of
/// [`news_of_tick`]): what to preview when nothing is new at `now`.
pub fn last_tick_with_news(
    catalog: &Catalog,
    config: &Config,
    now: DateTime<FixedOffset>,
) -> Option<DateTime<Tz>> {
    feeds::due(catalog, now)
        .iter()
        .filter_map(|d| carrying_tick(config, d.date()))
        .filter(|t| *t <= now)
        .max()
}

/// The tick whose digest carried `book`: the one with its recap, or with its
/// opening while it has no archive (no recap is ever due then). `None` when
/// the lookback is shorter than the wait for the next tick.
pub fn tick_of_book(config: &Config, book: &Entry) -> Option<DateTime<Tz>> {
    let date = if !book.has_archive() {
        book.window.start()
    } else {
        book.window.end()
    };
    carrying_tick(config, date)
}

/// The items for a digest at `tick`: dated within the lookback before it,
/// oldest first, minus those an earlier digest included.
pub fn select<'a>(
    catalog: &'a Catalog,
    config: &Config,
    tick: DateTime<Tz>,
    state: &State,
) -> Result<Vec<Due<'a>>, DigestError> {
    let tick_fixed = tick.fixed_offset();
    // Checked: a lookback of a million years goes past chrono's first date
    // (and `-` would panic); it means "everything".
    let from = tick.checked_sub_signed(config.lookback);
    let candidates: Vec<Due> = feeds::due(catalog, tick_fixed)
        .into_iter()
        .filter(|d| from.is_none_or(|from| d.date() > from))
        .collect();
    let ids = candidates
        .iter()
        .map(|d| Ok(feeds::item_id(config, d.entry(catalog)?.slug(), d.kind)))
        .collect::<std::io::Result<Vec<String>>>()?;
    let included = state.included_items(&ids)?;
    let mut items: Vec<Due> = candidates
        .into_iter()
        .zip(ids)
        .filter(|(_, id)| !included.contains(id))
        .map(|(d, _)| d)
        .collect();
    items.reverse();
    Ok(items)
}

/// A rendered digest, the same for every subscriber but for the
/// unsubscribe link ([`UNSUBSCRIBE_PLACEHOLDER`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
    /// SHA-256 of subject, HTML and text: shows in `--dry-run` whether two
    /// plans would send the same thing.
    pub body_hash: String,
}

impl Rendered {
    /// The HTML and text bodies for one subscriber.
    pub fn personalize(html: &str, text: &str, unsubscribe_url: &str) -> (String, String) {
        (
            html.replace(UNSUBSCRIBE_PLACEHOLDER, &escape_html(unsubscribe_url)),
            text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url),
        )
    }
}

/// Where a book's week stands at the time of a digest: what the digest's
/// wording follows (it "opens", "is on now", or has "closed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Opens,
    On,
    Closed,
}

impl Stage {
    pub fn of(window: &Window, at: DateTime<Tz>) -> Self {
        if at < window.start() {
            Stage::Opens
        } else if at < window.end() {
            Stage::On
        } else {
            Stage::Closed
        }
    }
}

/// How much of a book's body a digest shows, in characters of text.
const BODY_EXCERPT_CHARS: usize = 600;

/// Longest preheader (the line mail clients show after the subject).
const PREHEADER_CHARS: usize = 140;

/// A subject never longer than this, whatever the titles (the built-in
/// template aims at 78, what a phone's inbox shows).
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Width of the text part's lines.
pub const TEXT_WIDTH: usize = 78;

#[derive(Serialize, Clone)]
struct PartView {
    author: String,
    html: minijinja::Value,
    text: String,
}

#[derive(Serialize, Clone)]
struct AnswerView<'a> {
    asker: &'a str,
    /// The thread on the book's page.
    url: String,
    question_html: minijinja::Value,
    question_text: String,
    parts: Vec<PartView>,
}

/// One book in a digest: its opening, its recap, or both.
#[derive(Serialize, Clone)]
struct BookView<'a> {
    title: &'a str,
    url: String,
    /// Every thread of the week, on the book's page.
    archive_url: String,
    authors: String,
    author_count: usize,
    /// "the author's" or "the authors'".
    authors_possessive: &'static str,
    window: String,
    /// The stage of the week at the digest's tick.
    stage: Stage,
    /// The first day of the week and its last, in words ("Monday 5 December").
    starts: String,
    ends: String,
    /// The start of the book's markdown body, sanitized, and whether more
    /// of it is on the book's page.
    body_html: minijinja::Value,
    body_text: String,
    body_cut: bool,
    description: Option<String>,
    cover: Option<String>,
    links: &'a [crate::model::Link],
    /// Whether this digest carries the book's opening, and its recap.
    opening: bool,
    recap: bool,
    threads: usize,
    answers: Vec<AnswerView<'a>>,
}

#[derive(Serialize)]
struct DigestView<'a> {
    site_title: &'a str,
    site_url: String,
    feed_url: String,
    language: &'a str,
    tick: String,
    subject: String,
    /// The week's gist in one line, shown by mail clients after the subject.
    preheader: String,
    participate: &'a str,
    participate_url: Option<&'a str>,
    unsubscribe_url: &'a str,
    /// The digest's web page ([`VIEW_PLACEHOLDER`] until it is recorded).
    view_url: &'a str,
    /// Every book of the digest once: weeks on now or coming first, then
    /// closed ones, each group in item order.
    books: Vec<BookView<'a>>,
    /// The books whose opening, and whose recap, this digest carries.
    opened: Vec<BookView<'a>>,
    closed: Vec<BookView<'a>>,
}

fn book_url(config: &Config, book: &Book) -> String {
    config
        .book_url(&book.slug)
        .map_or_else(|| config.base_url.to_string(), |u| u.to_string())
}

/// "Monday 12 December 2022".
fn day_in_words(t: DateTime<Tz>) -> String {
    format!("{} {}", weekday(t), t.format("%-d %B %Y"))
}

fn weekday(t: DateTime<Tz>) -> &'static str {
    match t.weekday() {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// "Friday 9 December": the last day of a window (an end at midnight
/// closes the day before, as in [`crate::model::Window::in_words`]).
fn last_day(book: &Book) -> String {
    let end = book.window.end() - chrono::Duration::seconds(1);
    let end = end.max(book.window.start());
    format!("{} {}", weekday(end), end.format("%-d %B"))
}

/// "the author's" or "the authors'".
pub fn authors_possessive(count: usize) -> &'static str {
    if count == 1 {
        "the author's"
    } else {
        "the authors'"
    }
}

/// The sanitized HTML of archive or body text with the inline styles mail
/// clients need: links and code wrap anywhere, `<pre>` wraps, lists and
/// quotes keep a narrow indent. The input is `text`'s sanitized output, so
/// its tags have no attributes but `href`, `rel` and `start`.
fn styled(html: &str) -> String {
    const WRAP: &str = "overflow-wrap:anywhere;word-break:break-word;";
    const MONO: &str = "font-family:Menlo,Consolas,'Courier New',monospace;";
    html.replace("<p>", "<p style=\"margin:0 0 10px 0;\">")
        .replace(
            "<pre>",
            &format!(
                "<pre style=\"margin:0 0 10px 0;padding:8px 10px;background-color:#f3f4f6;color:#1f2937;font-size:13px;line-height:1.45;white-space:pre-wrap;{WRAP}{MONO}\">"
            ),
        )
        .replace("<code>", &format!("<code style=\"{MONO}{WRAP}\">"))
        .replace(
            "<a href=",
            &format!("<a style=\"color:#1d4ed8;{WRAP}\" href="),
        )
        .replace(
            "<blockquote>",
            "<blockquote style=\"margin:0 0 10px 0;padding:0 0 0 10px;border-left:3px solid #d1d5db;color:#374151;\">",
        )
        .replace("<ul>", "<ul style=\"margin:0 0 10px 0;padding:0 0 0 20px;\">")
        .replace("<ol>", "<ol style=\"margin:0 0 10px 0;padding:0 0 0 20px;\">")
        .replace("<ol start=", "<ol style=\"margin:0 0 10px 0;padding:0 0 0 20px;\" start=")
}

fn safe(html: String) -> minijinja::Value {
    minijinja::Value::from_safe_string(html)
}

fn book_view<'a>(
    catalog: &Catalog,
    config: &Config,
    book: &'a Book,
    tick: DateTime<Tz>,
    opening: bool,
    recap: bool,
) -> BookView<'a> {
    let excerpt = text::markdown_excerpt(&book.body, BODY_EXCERPT_CHARS);
    let answers = if recap {
        answers::best(book, &catalog.people, config.settings.digest.answers)
    } else {
        Vec::new()
    };
    BookView {
        title: &book.title,
        url: book_url(config, book),
        archive_url: config
            .archive_url(&book.slug)
            .map_or_else(|| book_url(config, book), |u| u.to_string()),
        authors: book.author_names(),
        author_count: book.authors.len(),
        authors_possessive: authors_possessive(book.authors.len()),
        window: book.window.in_words(),
        stage: Stage::of(&book.window, tick),
        starts: format!(
            "{} {}",
            weekday(book.window.start()),
            book.window.start().format("%-d %B")
        ),
        ends: last_day(book),
        body_html: safe(styled(&excerpt.html)),
        body_text: excerpt.text,
        body_cut: excerpt.cut,
        description: book.description.as_deref().map(text::chat_to_plain),
        cover: book
            .cover
            .as_deref()
            .and_then(|c| config.absolute(c))
            .map(|u| u.to_string()),
        links: &book.links,
        opening,
        recap,
        threads: book.thread_count(),
        answers: answers
            .into_iter()
            .map(|a| AnswerView {
                asker: &a.question.name,
                url: config
                    .thread_url(&book.slug, a.thread)
                    .map_or_else(|| book_url(config, book), |u| u.to_string()),
                question_html: safe(styled(&text::chat_to_html(&a.question.text))),
                question_text: text::chat_to_text(&a.question.text),
                parts: a
                    .parts
                    .into_iter()
                    .map(|p| PartView {
                        html: safe(styled(&text::chat_to_html(&p.text))),
                        text: text::chat_to_text(&p.text),
                        author: p.author,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The digest's gist in a line: who answers now, and what the recaps hold.
fn preheader(books: &[BookView]) -> String {
    let verb = |b: &BookView, one: &str, many: &str| {
        if b.author_count == 1 {
            one.to_string()
        } else {
            many.to_string()
        }
    };
    let sentences: Vec<String> = books
        .iter()
        .map(|b| {
            let who = if b.authors.is_empty() {
                "The authors".to_string()
            } else {
                b.authors.clone()
            };
            if b.recap {
                let answerers: Vec<&str> = {
                    let mut names: Vec<&str> = b
                        .answers
                        .iter()
                        .flat_map(|a| a.parts.iter().map(|p| p.author.as_str()))
                        .collect();
                    names.sort_unstable();
                    names.dedup();
                    names
                };
                let by = match answerers.as_slice() {
                    [] => who,
                    [one] => (*one).to_string(),
                    [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                };
                format!(
                    "The best {} of {} questions on {}, answered by {by}.",
                    b.answers.len(),
                    b.threads,
                    b.title
                )
            } else {
                match b.stage {
                    Stage::Opens => format!(
                        "{who} will answer your questions about {} from {}.",
                        b.title, b.starts
                    ),
                    Stage::On => format!(
                        "{who} {} your questions about {} until {}.",
                        verb(b, "answers", "answer"),
                        b.title,
                        b.ends
                    ),
                    Stage::Closed => format!(
                        "{who} answered the community's questions about {}, {}.",
                        b.title, b.window
                    ),
                }
            }
        })
        .collect();
    text::truncate_words(&sentences.join(" "), PREHEADER_CHARS)
}

/// Renders the digest for `items` at `tick`.
pub fn render(
    catalog: &Catalog,
    config: &Config,
    templates: &Templates,
    tick: DateTime<Tz>,
    items: &[Due],
) -> Result<Rendered, RenderError> {
    let site = &config.settings.site;
    // Each book once, where its first item is; a book whose opening and
    // recap arrive together is one section.
    let mut firsts: Vec<&Due> = Vec::new();
    for d in items {
        if !firsts.iter().any(|f| f.index == d.index) {
            firsts.push(d);
        }
    }
    // A recap quotes the archive, which a long catalog sets aside; a digest
    // is sent once, so one that cannot read it is not made now.
    let full = firsts
        .iter()
        .map(|d| {
            let book = catalog.full_at(d.index).map_err(|e| RenderError {
                path: d
                    .entry(catalog)
                    .map(|b| b.path().display().to_string())
                    .unwrap_or_default(),
                line: 0,
                message: format!("cannot read the archive back: {e}"),
            })?;
            Ok((d.index, book))
        })
        .collect::<Result<Vec<_>, RenderError>>()?;
    let mut books: Vec<BookView> = Vec::new();
    for (index, book) in &full {
        let has = |kind: Kind| items.iter().any(|i| i.kind == kind && i.index == *index);
        books.push(book_view(
            catalog,
            config,
            book,
            tick,
            has(Kind::Opening),
            has(Kind::Recap),
        ));
    }
    // The week that is on (or coming) first: it is what readers can still
    // take part in; then the recaps.
    books.sort_by_key(|b| b.stage == Stage::Closed);
    let opened = books.iter().filter(|b| b.opening).cloned().collect();
    let closed = books.iter().filter(|b| b.recap).cloned().collect();
    let mut view = DigestView {
        site_title: &site.title,
        site_url: config.base_url.to_string(),
        feed_url: config
            .absolute(feeds::ATOM_FILE)
            .map_or_else(String::new, |u| u.to_string()),
        language: &site.language,
        tick: day_in_words(tick),
        subject: String::new(),
        preheader: preheader(&books),
        participate: &site.participate,
        participate_url: site.participate_url.as_deref(),
        unsubscribe_url: UNSUBSCRIBE_PLACEHOLDER,
        books,
        view_url: VIEW_PLACEHOLDER,
        opened,
        closed,
    };
    let subject = text::truncate_words(
        &one_line(&templates.render("digest.subject.j2", &view)?),
        MAX_SUBJECT_CHARS,
    );
    view.subject = subject.clone();
    let html = templates.render("digest.html.j2", &view)?;
    let text = text::wrap(&templates.render("digest.txt.j2", &view)?, TEXT_WIDTH);
    let mut hash = Sha256::new();
    for part in [&subject, &html, &text] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let body_hash = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Rendered {
        subject,
        html,
        text,
        body_hash,
    })
}

/// A subject is one header line: no CR/LF or other control characters from
/// content can reach it, and whitespace runs collapse.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `prepare` decided for the tick due at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The schedule has no tick at or before `now`.
    NoTick,
    /// This tick was handled before (by an earlier run or another process).
    AlreadyRecorded { tick: String, status: DigestStatus },
    /// The tick was stale: recorded as skipped, never sent.
    Skipped {
        tick: DateTime<Tz>,
        late_by: chrono::Duration,
    },
    /// Nothing new: recorded, not sent.
    Empty { tick: DateTime<Tz> },
    /// There is news but nobody to send it to: nothing is recorded, so the
    /// items stay eligible (within the lookback) for the first subscriber.
    NoSubscribers { tick: DateTime<Tz>, items: usize },
    Created {
        id: i64,
        tick: DateTime<Tz>,
        recipients: usize,
        items: Vec<String>,
        subject: String,
        body_hash: String,
    },
}

/// The plan for the tick due at `now`, without recording anything: what
/// `digest send --dry-run` and `digest preview` show.
pub struct Plan<'a> {
    pub tick: DateTime<Tz>,
    pub stale: bool,
    pub existing: Option<DigestStatus>,
    pub items: Vec<Due<'a>>,
    pub rendered: Option<Rendered>,
}

pub fn plan<'a>(
    catalog: &'a Catalog,
    config: &Config,
    templates: &Templates,
    state: &State,
    now: DateTime<FixedOffset>,
) -> Result<Option<Plan<'a>>, DigestError> {
    let Some(tick) = last_tick(config, now) else {
        return Ok(None);
    };
    let existing = state
        .digest_for_tick(tick.fixed_offset())?
        .map(|d| d.status);
    let stale = now.signed_duration_since(tick) > config.max_delay;
    let items = select(catalog, config, tick, state)?;
    let rendered = if items.is_empty() {
        None
    } else {
        Some(render(catalog, config, templates, tick, &items)?)
    };
    Ok(Some(Plan {
        tick,
        stale,
        existing,
        items,
        rendered,
    }))
}

/// Creates the digest due at `now`, if any, with its delivery rows, or
/// records why there is none.
pub fn prepare(
    catalog: &Catalog,
    config: &Config,
    templates: &Templates,
    state: &mut State,
    now: DateTime<FixedOffset>,
) -> Result<Prepared, DigestError> {
    let Some(plan) = plan(catalog, config, templates, state, now)? else {
        return Ok(Prepared::NoTick);
    };
    let tick = plan.tick;
    if let Some(status) = plan.existing {
        return Ok(Prepared::AlreadyRecorded {
            tick: tick.to_rfc3339(),
            status,
        });
    }
    if plan.stale {
        state.record_unsent(tick.fixed_offset(), DigestStatus::Skipped, now)?;
        return Ok(Prepared::Skipped {
            tick,
            late_by: now.signed_duration_since(tick),
        });
    }
    let Some(rendered) = plan.rendered else {
        state.record_unsent(tick.fixed_offset(), DigestStatus::Empty, now)?;
        return Ok(Prepared::Empty { tick });
    };
    if state.active_subscribers()? == 0 {
        return Ok(Prepared::NoSubscribers {
            tick,
            items: plan.items.len(),
        });
    }
    let items = plan
        .items
        .iter()
        .map(|d| {
            Ok((
                feeds::item_id(config, d.entry(catalog)?.slug(), d.kind),
                d.date().fixed_offset(),
            ))
        })
        .collect::<std::io::Result<Vec<(String, DateTime<FixedOffset>)>>>()?;
    let new = NewDigest {
        tick: tick.fixed_offset(),
        subject: rendered.subject.clone(),
        html: rendered.html,
        text: rendered.text,
        body_hash: rendered.body_hash.clone(),
        items: items.clone(),
    };
    let Some((id, recipients)) = state.create_digest(&new, now)? else {
        // Another process recorded this tick first: it is theirs.
        let status = state
            .digest_for_tick(tick.fixed_offset())?
            .map_or(DigestStatus::Sending, |d| d.status);
        return Ok(Prepared::AlreadyRecorded {
            tick: tick.to_rfc3339(),
            status,
        });
    };
    Ok(Prepared::Created {
        id,
        tick,
        recipients,
        items: items.into_iter().map(|(id, _)| id).collect(),
        subject: rendered.subject,
        body_hash: rendered.body_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        crate::config::parse(std::path::Path::new("bookweek.yaml"), yaml).config
    }

    fn book(slug: &str, start: &str, end: &str, archive: bool) -> Book {
        let text = format!(
            "---\ntitle: {slug}\nauthors: [Ann Author]\nstart: {start}\nend: {end}\n{}---\n",
            if archive {
                "archive:\n- name: R\n  text: Q?\n  replies:\n  - name: Ann Author\n    text: A.\n"
            } else {
                ""
            }
        );
        let path = std::path::PathBuf::from(format!("{slug}.md"));
        let (book, problems) = crate::content::parse_book(
            &path,
            &text,
            &Default::default(),
            chrono_tz::Europe::Berlin,
        );
        book.unwrap_or_else(|| panic!("{problems:?}"))
    }

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    /// Mondays 09:00 are ticks: a opens 2022-12-05 00:00 (tick 12-05),
    /// closes 12-09 (tick 12-12); b opens 12-12 08:00 (tick 12-12), runs
    /// until 12-16 and has no archive yet.
    fn books() -> Vec<Book> {
        vec![
            book("a", "2022-12-05 00:00:00", "2022-12-09 23:59:59", true),
            book("b", "2022-12-12 08:00:00", "2022-12-16 23:59:59", false),
        ]
    }

    fn catalog() -> Catalog {
        Catalog::new(books(), Default::default())
    }

    fn news(c: &Catalog, config: &Config, tick: &str) -> Vec<String> {
        let tick = at(tick).with_timezone(&config.timezone);
        news_of_tick(c, config, tick)
            .iter()
            .map(|d| format!("{}/{:?}", d.entry(c).unwrap().slug(), d.kind))
            .collect()
    }

    #[test]
    fn each_item_is_news_in_the_first_tick_at_or_after_its_date() {
        let config = config("");
        let c = catalog();
        assert_eq!(
            news(&c, &config, "2022-12-05T09:00:00+01:00"),
            ["a/Opening"]
        );
        assert_eq!(
            news(&c, &config, "2022-12-12T09:00:00+01:00"),
            ["a/Recap", "b/Opening"]
        );
        assert!(news(&c, &config, "2022-12-19T09:00:00+01:00").is_empty());
    }

    #[test]
    fn the_last_tick_with_news_is_found_from_any_later_time() {
        let config = config("");
        let c = catalog();
        let last = |now: &str| last_tick_with_news(&c, &config, at(now)).map(|t| t.to_rfc3339());
        assert_eq!(
            last("2026-11-30T09:00:00+01:00").as_deref(),
            Some("2022-12-12T09:00:00+01:00")
        );
        // Not a tick that is still ahead of `now`.
        assert_eq!(
            last("2022-12-12T08:59:59+01:00").as_deref(),
            Some("2022-12-05T09:00:00+01:00")
        );
        assert_eq!(last("2022-12-05T08:00:00+01:00"), None);
    }

    #[test]
    fn a_book_is_previewed_at_its_recap_or_else_its_opening() {
        let config = config("");
        let c = catalog();
        let tick =
            |i: usize| tick_of_book(&config, &c.books.get(i).unwrap()).map(|t| t.to_rfc3339());
        assert_eq!(tick(0).as_deref(), Some("2022-12-12T09:00:00+01:00"));
        assert_eq!(tick(1).as_deref(), Some("2022-12-12T09:00:00+01:00"));
        // With a lookback shorter than the wait for the tick, no digest
        // ever carries the item.
        let short = crate::config::parse(
            std::path::Path::new("bookweek.yaml"),
            "digest:\n  lookback: 1h\n",
        )
        .config;
        assert_eq!(tick_of_book(&short, &c.books.get(0).unwrap()), None);
    }

    #[test]
    fn the_stage_follows_the_window() {
        let c = catalog();
        let at = |s: &str| at(s).with_timezone(&chrono_tz::Europe::Berlin);
        let b = c.books.window(0);
        assert_eq!(Stage::of(b, at("2022-12-04T23:00:00+01:00")), Stage::Opens);
        assert_eq!(Stage::of(b, at("2022-12-05T09:00:00+01:00")), Stage::On);
        assert_eq!(Stage::of(b, at("2022-12-12T09:00:00+01:00")), Stage::Closed);
    }

    fn subject_of(c: &Catalog, templates: &Templates, tick: &str) -> String {
        let config = config("");
        let tick = at(tick).with_timezone(&config.timezone);
        let items = news_of_tick(c, &config, tick);
        render(c, &config, templates, tick, &items)
            .map(|r| r.subject)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn subjects_are_short_and_never_longer_than_100_characters() {
        let builtin = Templates::load(std::path::Path::new("/nonexistent")).0;
        let c = catalog();
        assert_eq!(
            subject_of(&c, &builtin, "2022-12-05T09:00:00+01:00"),
            "This week: a"
        );
        assert_eq!(
            subject_of(&c, &builtin, "2022-12-12T09:00:00+01:00"),
            "This week: b; answers from a"
        );
        let long = "A Very Long Title About Machine Learning Systems in Production ".repeat(5);
        let mut books = books();
        for b in &mut books {
            b.title = long.clone();
        }
        let c = Catalog::new(books, Default::default());
        for tick in ["2022-12-05T09:00:00+01:00", "2022-12-12T09:00:00+01:00"] {
            let s = subject_of(&c, &builtin, tick);
            assert!(s.chars().count() <= 78, "{s}");
            assert!(s.ends_with('…'), "{s}");
        }
        // Whatever a template makes of it, no subject passes 100 characters.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("digest.subject.j2"),
            "{{ site_title }}: {% for b in books %}{{ b.title }} {% endfor %}",
        )
        .unwrap();
        let own = Templates::load(dir.path()).0;
        let s = subject_of(&c, &own, "2022-12-12T09:00:00+01:00");
        assert!((90..=100).contains(&s.chars().count()), "{s}");
        assert!(s.ends_with('…'), "{s}");
    }

    #[test]
    fn subject_never_carries_line_breaks_from_content() {
        assert_eq!(
            one_line("Book:\r\nBcc: evil@example.com\n  x\u{7}"),
            "Book: Bcc: evil@example.com x"
        );
    }

    #[test]
    fn personalize_escapes_the_link_for_html_only() {
        let (html, text) = Rendered::personalize(
            &format!("<a href=\"{UNSUBSCRIBE_PLACEHOLDER}\">"),
            &format!("Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}"),
            "https://x.org/u/1.a&b",
        );
        assert_eq!(html, "<a href=\"https://x.org/u/1.a&amp;b\">");
        assert_eq!(text, "Unsubscribe: https://x.org/u/1.a&b");
    }
}
