//! RSS 2.0, Atom 1.0 and JSON Feed 1.1 from the catalog at a given `now`.
//!
//! A book gives an *opening* item at its window's start and, once the window
//! has closed and the archive is in, a *recap* item with the authors' answers.
//! Items not yet due never appear; feed dates are event dates, never the
//! build time, so a rebuild with nothing new is byte-identical.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use url::Url;

use crate::answers;
use crate::config::Config;
use crate::diag::Problem;
use std::borrow::Cow;

use crate::model::{Book, Catalog, Entry, Window, representable};
use crate::templates::{RenderError, Templates, escape_html};
use crate::text;

/// The year in item ids (`tag:host,2020:slug/opening`). RFC 4151 tag URIs
/// need a date; a constant keeps ids stable whatever changes in the book.
const TAG_YEAR: &str = "2020";

/// File names of the feeds in the output folder, also their URL paths.
pub const RSS_FILE: &str = "feed.xml";
pub const ATOM_FILE: &str = "atom.xml";
pub const JSON_FILE: &str = "feed.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Opening,
    Recap,
}

/// One feed entry, format-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: Kind,
    pub slug: String,
    pub id: String,
    pub title: String,
    pub url: Url,
    pub date: DateTime<Tz>,
    pub authors: Vec<String>,
    /// Plain text, for summary fields.
    pub summary: String,
    /// Sanitized HTML.
    pub content_html: String,
    pub image: Option<Url>,
}

#[derive(Serialize)]
struct OpeningView<'a> {
    site_title: &'a str,
    title: &'a str,
    authors: String,
    author_count: usize,
    window: String,
    description: Option<&'a str>,
    /// The start of the book's markdown body, and whether more of it is on
    /// the book's page (`url`).
    body_html: minijinja::Value,
    body_cut: bool,
    cover: Option<String>,
    links: &'a [crate::model::Link],
    url: String,
    participate: &'a str,
    participate_url: Option<&'a str>,
}

#[derive(Serialize)]
struct PartView<'a> {
    author: &'a str,
    html: minijinja::Value,
}

#[derive(Serialize)]
struct AnswerView<'a> {
    thread: usize,
    /// The thread on the book's page.
    url: String,
    asker: &'a str,
    question_html: minijinja::Value,
    /// The answering authors, as a sentence lists them.
    authors: String,
    /// One entry per answering author.
    parts: Vec<PartView<'a>>,
}

#[derive(Serialize)]
struct RecapView<'a> {
    title: &'a str,
    authors: String,
    window: String,
    url: String,
    /// Every thread of the week, on the book's page.
    archive_url: String,
    threads: usize,
    answers: Vec<AnswerView<'a>>,
}

/// An item that is due, before rendering: what feeds and digests select on.
/// A few words: a long catalog has two of these a book, and their entries
/// are read back (see [`Books`](crate::model::Books)) only for the items
/// chosen.
#[derive(Debug, Clone, Copy)]
pub struct Due<'a> {
    pub kind: Kind,
    /// The book's place in the catalog.
    pub index: usize,
    window: &'a Window,
}

impl Due<'_> {
    /// When the item is due: the window's start or end.
    pub fn date(&self) -> DateTime<Tz> {
        match self.kind {
            Kind::Opening => self.window.start(),
            Kind::Recap => self.window.end(),
        }
    }

    /// [`Due::date`] for ordering, without a look at the time zone.
    fn key(&self) -> (chrono::NaiveDateTime, Kind) {
        let at = match self.kind {
            Kind::Opening => self.window.start_key(),
            Kind::Recap => self.window.end_key(),
        };
        (at, self.kind)
    }

    /// The book's catalog entry.
    pub fn entry<'c>(&self, catalog: &'c Catalog) -> std::io::Result<Cow<'c, Entry>> {
        catalog.books.get(self.index)
    }
}

/// Every item due at `now` (date ≤ now), newest first. A recap is due once
/// the window has closed and the archive is in. Items of the same date and
/// kind go by slug (descending, as the rest), so output never depends on
/// file order.
pub fn due(catalog: &Catalog, now: DateTime<FixedOffset>) -> Vec<Due<'_>> {
    let mut due = Vec::new();
    each_due(catalog, now, |d| due.push(d));
    order(catalog, &mut due);
    due
}

/// The first `n` of [`due`], and any after them of the same date and kind:
/// what a feed of `n` items shows, found without a list of every item a
/// long catalog has due (two a book).
pub fn newest_due(catalog: &Catalog, now: DateTime<FixedOffset>, n: usize) -> Vec<Due<'_>> {
    if n == 0 {
        return Vec::new();
    }
    // The date and kind of the n-th newest item: no item before it is
    // among the first n.
    let mut newest = std::collections::BinaryHeap::with_capacity(n + 1);
    each_due(catalog, now, |d| {
        newest.push(std::cmp::Reverse(d.key()));
        if newest.len() > n {
            newest.pop();
        }
    });
    let floor = match newest.len() == n {
        true => newest.peek().map(|r| r.0),
        false => None,
    };
    drop(newest);
    let mut due = Vec::new();
    each_due(catalog, now, |d| {
        if floor.is_none_or(|f| d.key() >= f) {
            due.push(d);
        }
    });
    order(catalog, &mut due);
    due
}

/// Calls `found` with every item due at `now`, in catalog order.
fn each_due<'a>(catalog: &'a Catalog, now: DateTime<FixedOffset>, mut found: impl FnMut(Due<'a>)) {
    for (index, (window, archive)) in catalog.books.windows().enumerate() {
        if window.start() <= now {
            found(Due {
                kind: Kind::Opening,
                index,
                window,
            });
        }
        if window.end() <= now && archive {
            found(Due {
                kind: Kind::Recap,
                index,
                window,
            });
        }
    }
}

/// Puts items in [`due`]'s order: newest first; one date and kind by
/// slug, descending.
fn order(catalog: &Catalog, due: &mut [Due]) {
    // The catalog orders books that start together by slug: openings of
    // one date are in slug order by index. Recaps of one date are not, and
    // have their slugs read (a slug that cannot be read sorts last).
    due.sort_unstable_by_key(|d| std::cmp::Reverse((d.key(), d.index)));
    let mut from = 0;
    while from < due.len() {
        let key = due[from].key();
        let to = from + due[from..].iter().take_while(|d| d.key() == key).count();
        if key.1 == Kind::Recap && to - from > 1 {
            let slug = |d: &Due| {
                d.entry(catalog)
                    .map(|e| e.slug().to_owned())
                    .unwrap_or_default()
            };
            due[from..to].sort_by_cached_key(|d| std::cmp::Reverse(slug(d)));
        }
        from = to;
    }
}

/// The next instant after `now` at which the feeds change by themselves (a
/// window opens, or closes with its archive in): when to rebuild next.
pub fn next_change(catalog: &Catalog, now: DateTime<FixedOffset>) -> Option<DateTime<Tz>> {
    catalog
        .books
        .windows()
        .flat_map(|(w, archive)| {
            let recap = archive.then_some(w.end());
            std::iter::once(w.start()).chain(recap)
        })
        .filter(|t| *t > now)
        .min()
}

/// The stable id of an item: `tag:host,2020:slug/kind`.
pub fn item_id(config: &Config, slug: &str, kind: Kind) -> String {
    let kind = match kind {
        Kind::Opening => "opening",
        Kind::Recap => "recap",
    };
    format!("tag:{},{TAG_YEAR}:{slug}/{kind}", config.id_host())
}

/// Every item due at `now`, rendered, newest first, at most `feeds.limit`,
/// and a problem for each item left out because no feed format can write its
/// date (books are checked for this when loaded; this keeps a book built by
/// other means from failing the whole feed).
pub fn items(
    catalog: &Catalog,
    config: &Config,
    templates: &Templates,
    now: DateTime<FixedOffset>,
) -> Result<(Vec<Item>, Vec<Problem>), RenderError> {
    let limit = config.settings.feeds.limit;
    let mut left_out = Vec::new();
    let mut items = Vec::new();
    // The newest `limit` items, and more only when some are left out (the
    // order is total: a longer list starts with the shorter one).
    let mut want = limit;
    let mut seen = 0;
    loop {
        let due = newest_due(catalog, now, want);
        let every = due.len() < want;
        let more = due.len();
        for d in due.into_iter().skip(seen) {
            if items.len() == limit {
                break;
            }
            seen += 1;
            let entry = match d.entry(catalog) {
                Ok(entry) => entry,
                Err(e) => {
                    left_out.push(Problem::error(
                        &config.settings.paths.content,
                        (1, 1),
                        format!("{e}; its item is left out"),
                    ));
                    continue;
                }
            };
            if feed_date(d.date()).is_none() {
                left_out.push(Problem::error(
                entry.path(),
                (1, 1),
                format!(
                    "the {} date {} cannot be written in a feed (years 1 to 9999 only); the item is left out",
                    match d.kind {
                        Kind::Opening => "opening",
                        Kind::Recap => "recap",
                    },
                    d.date().to_rfc3339()
                ),
            ));
                continue;
            }
            // A recap quotes the archive, which a long catalog sets aside.
            let book = match catalog.full(&entry) {
                Ok(book) => book,
                Err(e) => {
                    left_out.push(Problem::error(
                        entry.path(),
                        (1, 1),
                        format!("cannot read its archive back: {e}; the item is left out"),
                    ));
                    continue;
                }
            };
            items.push(item(catalog, config, templates, &book, d.kind, d.date())?);
        }
        if items.len() == limit || every {
            break;
        }
        want = more + (limit - items.len());
    }
    Ok((items, left_out))
}

/// A date as the feeds write it: in the site's time zone, or in UTC when
/// the zone's offset then was not a whole number of minutes (local mean
/// time before standard time, +00:53:28 in Berlin until 1893), which RFC 2822
/// and RFC 3339 offsets cannot say. `None` when the year cannot be written.
pub fn feed_date(d: DateTime<Tz>) -> Option<DateTime<FixedOffset>> {
    if !representable(d) {
        return None;
    }
    let fixed = d.fixed_offset();
    Some(if fixed.offset().local_minus_utc() % 60 == 0 {
        fixed
    } else {
        d.with_timezone(&Utc).fixed_offset()
    })
}

/// RFC 2822 for RSS. chrono's `to_rfc2822` panics outside the years 0 to
/// 9999; this returns an error instead.
fn rfc2822(d: DateTime<Tz>) -> Result<String, FeedError> {
    match feed_date(d) {
        Some(f) if (0..=9999).contains(&f.year()) => Ok(f.to_rfc2822()),
        _ => Err(FeedError::Date(d.to_rfc3339())),
    }
}

/// RFC 3339 for Atom and JSON Feed (never fails, but a year outside 0 to
/// 9999 would not be RFC 3339).
fn rfc3339(d: DateTime<Tz>) -> Result<DateTime<FixedOffset>, FeedError> {
    feed_date(d).ok_or_else(|| FeedError::Date(d.to_rfc3339()))
}

fn item(
    catalog: &Catalog,
    config: &Config,
    templates: &Templates,
    book: &Book,
    kind: Kind,
    date: DateTime<Tz>,
) -> Result<Item, RenderError> {
    let page = config
        .book_url(&book.slug)
        .unwrap_or_else(|| config.base_url.clone());
    let authors: Vec<String> = book.authors.iter().map(|a| a.name.clone()).collect();
    let image = book.cover.as_deref().and_then(|c| config.absolute(c));
    let window = book.window.in_words();
    let site = &config.settings.site;
    let (title, summary, content_html, url) = match kind {
        Kind::Opening => {
            let excerpt = text::markdown_excerpt(&book.body, BODY_EXCERPT_CHARS);
            let view = OpeningView {
                site_title: &site.title,
                title: &book.title,
                authors: book.author_names(),
                author_count: book.authors.len(),
                window: window.clone(),
                description: book.description.as_deref(),
                body_html: minijinja::Value::from_safe_string(excerpt.html),
                body_cut: excerpt.cut,
                cover: image.as_ref().map(Url::to_string),
                links: &book.links,
                url: page.to_string(),
                participate: &site.participate,
                participate_url: site.participate_url.as_deref(),
            };
            let summary = opening_summary(book, &window);
            (
                titled(&site.title, &book.title),
                summary,
                templates.render("opening.html.j2", view)?,
                page.clone(),
            )
        }
        Kind::Recap => {
            let picked = answers::best(book, &catalog.people, config.settings.digest.answers);
            let view = RecapView {
                title: &book.title,
                authors: book.author_names(),
                window: window.clone(),
                url: page.to_string(),
                archive_url: config
                    .archive_url(&book.slug)
                    .unwrap_or_else(|| page.clone())
                    .to_string(),
                threads: book.thread_count(),
                answers: picked
                    .iter()
                    .map(|a| AnswerView {
                        thread: a.thread,
                        url: config
                            .thread_url(&book.slug, a.thread)
                            .unwrap_or_else(|| page.clone())
                            .to_string(),
                        asker: &a.question.name,
                        question_html: minijinja::Value::from_safe_string(text::chat_to_html(
                            &a.question.text,
                        )),
                        authors: a.authors(),
                        parts: a
                            .parts
                            .iter()
                            .map(|p| PartView {
                                author: &p.author,
                                html: minijinja::Value::from_safe_string(text::chat_to_html(
                                    &p.text,
                                )),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            let summary = match picked.first().and_then(|a| a.parts.first()) {
                Some(p) => format!(
                    "{} answered: {}",
                    p.author,
                    text::truncate_words(&text::chat_to_plain(&p.text), 280)
                ),
                None => format!("The questions and answers of {}, {window}.", book.title),
            };
            let mut url = page.clone();
            // A different link than the opening's: some readers merge items
            // that share a link.
            url.set_fragment(Some("answers"));
            (
                format!(
                    "{}: {} answers",
                    book.title,
                    crate::digest::authors_possessive(book.authors.len())
                ),
                summary,
                templates.render("recap.html.j2", view)?,
                url,
            )
        }
    };
    Ok(Item {
        kind,
        slug: book.slug.clone(),
        id: item_id(config, &book.slug, kind),
        // Readers often render these fields as HTML: no tags in them.
        title: text::plain_field(&title),
        url,
        date,
        authors: authors.iter().map(|a| text::plain_field(a)).collect(),
        summary: text::plain_field(&summary),
        content_html,
        image,
    })
}

/// How much of a book's body an opening item shows, in characters of text.
const BODY_EXCERPT_CHARS: usize = 600;

/// An opening item's title: the site's name and the book's, e.g. "Book of
/// the Week: Reliable Machine Learning" (just the book's without a site title).
fn titled(site_title: &str, book_title: &str) -> String {
    if site_title.trim().is_empty() {
        book_title.to_string()
    } else {
        format!("{site_title}: {book_title}")
    }
}

/// An opening item's summary: who answers when, then the start of the
/// book's body. It never repeats the title: a `description` such as "Book
/// of the Week. X by Y" is used only when there is no body and it does not
/// name the book, and sentences of the body that name it are left out.
fn opening_summary(book: &Book, window: &str) -> String {
    let who = match book.authors.len() {
        0 => "Questions are open".to_string(),
        1 => format!("{} answers the community's questions", book.author_names()),
        _ => format!("{} answer the community's questions", book.author_names()),
    };
    let lead = format!("{who}, {window}.");
    let more = if book.body.trim().is_empty() {
        book.description
            .as_deref()
            .map(text::chat_to_plain)
            .filter(|d| !d.to_lowercase().contains(&book.title.to_lowercase()))
            .unwrap_or_default()
    } else {
        // Sentences of the body that name the book ("In X, you'll learn")
        // would repeat the title: the rest says what the book is.
        let body = text::markdown_to_plain(&book.body);
        let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let title = book.title.to_lowercase();
        let kept: Vec<&str> = body
            .split_inclusive(". ")
            .filter(|s| !s.to_lowercase().contains(&title))
            .collect();
        text::truncate_words(kept.concat().trim(), 280)
    };
    if more.is_empty() {
        lead
    } else {
        format!("{lead} {more}")
    }
}

/// The feeds' self URLs.
fn feed_url(config: &Config, file: &str) -> String {
    config
        .absolute(file)
        .map_or_else(|| file.to_string(), |u| u.to_string())
}

/// The date of the newest item: what the feed's own updated date is.
fn newest(items: &[Item]) -> Option<DateTime<Tz>> {
    items.iter().map(|i| i.date).max()
}

/// RSS 2.0 with the atom (self link), content and Dublin Core extensions.
pub fn rss(config: &Config, items: &[Item]) -> Result<String, FeedError> {
    use rss::extension::atom::{AtomExtension, Link};
    use rss::extension::dublincore::DublinCoreExtension;

    let site = &config.settings.site;
    let rss_items = items
        .iter()
        .map(|i| {
            Ok(rss::Item {
                title: Some(i.title.clone()),
                link: Some(i.url.to_string()),
                description: Some(escape_html(&i.summary)),
                guid: Some(rss::Guid {
                    value: i.id.clone(),
                    permalink: false,
                }),
                pub_date: Some(rfc2822(i.date)?),
                content: Some(i.content_html.clone()),
                // `<author>` must be an email address; names go in dc:creator.
                dublin_core_ext: (!i.authors.is_empty()).then(|| DublinCoreExtension {
                    creators: i.authors.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect::<Result<Vec<rss::Item>, FeedError>>()?;
    let mut namespaces = std::collections::BTreeMap::new();
    namespaces.insert(
        "atom".to_string(),
        "http://www.w3.org/2005/Atom".to_string(),
    );
    let channel = rss::Channel {
        title: site.title.clone(),
        link: config.base_url.to_string(),
        description: site.description.clone(),
        language: Some(site.language.clone()),
        last_build_date: newest(items).map(rfc2822).transpose()?,
        generator: Some(format!("bookweek {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        atom_ext: Some(AtomExtension {
            links: vec![Link {
                href: feed_url(config, RSS_FILE),
                rel: "self".into(),
                mime_type: Some("application/rss+xml".into()),
                ..Default::default()
            }],
        }),
        items: rss_items,
        namespaces,
        ..Default::default()
    };
    let mut out = Vec::new();
    channel
        .pretty_write_to(&mut out, b' ', 2)
        .map_err(|e| FeedError::Rss(e.to_string()))?;
    Ok(finish_xml(out))
}

/// Atom 1.0.
pub fn atom(config: &Config, items: &[Item]) -> Result<String, FeedError> {
    use atom_syndication::{Content, Entry, Feed, Generator, Link, Person, Text};

    let site = &config.settings.site;
    let link = |href: String, rel: &str, mime: &str| Link {
        href,
        rel: rel.into(),
        mime_type: Some(mime.into()),
        ..Default::default()
    };
    let entries = items
        .iter()
        .map(|i| {
            let date = rfc3339(i.date)?;
            Ok(Entry {
                id: i.id.clone(),
                title: Text::plain(i.title.clone()),
                updated: date,
                published: Some(date),
                authors: i
                    .authors
                    .iter()
                    .map(|a| Person {
                        name: a.clone(),
                        ..Default::default()
                    })
                    .collect(),
                links: vec![link(i.url.to_string(), "alternate", "text/html")],
                summary: Some(Text::plain(i.summary.clone())),
                content: Some(Content {
                    value: Some(i.content_html.clone()),
                    content_type: Some("html".into()),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect::<Result<Vec<Entry>, FeedError>>()?;
    // An empty feed still needs an `updated`; the epoch says "nothing yet"
    // without making the file change on every build.
    let updated = newest(items).map(rfc3339).transpose()?.unwrap_or_default();
    let feed = Feed {
        title: Text::plain(site.title.clone()),
        id: format!("tag:{},{TAG_YEAR}:feed", config.id_host()),
        updated,
        authors: vec![Person {
            name: site.title.clone(),
            uri: Some(config.base_url.to_string()),
            ..Default::default()
        }],
        links: vec![
            link(feed_url(config, ATOM_FILE), "self", "application/atom+xml"),
            link(config.base_url.to_string(), "alternate", "text/html"),
        ],
        subtitle: Some(Text::plain(site.description.clone())),
        generator: Some(Generator {
            value: "bookweek".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Default::default()
        }),
        lang: Some(site.language.clone()),
        entries,
        ..Default::default()
    };
    let mut out = Vec::new();
    let config = atom_syndication::WriteConfig {
        write_document_declaration: true,
        indent_size: Some(2),
    };
    feed.write_with_config(&mut out, config)
        .map_err(|e| FeedError::Atom(e.to_string()))?;
    Ok(finish_xml(out))
}

/// The XML as text with a final newline.
fn finish_xml(bytes: Vec<u8>) -> String {
    let mut s = String::from_utf8_lossy(&bytes).into_owned();
    s.push('\n');
    s
}

#[derive(Serialize)]
struct JsonAuthor {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct JsonItem {
    id: String,
    url: String,
    title: String,
    content_html: String,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    date_published: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor>,
    tags: Vec<String>,
}

#[derive(Serialize)]
struct JsonFeed {
    version: &'static str,
    title: String,
    home_page_url: String,
    feed_url: String,
    description: String,
    language: String,
    authors: Vec<JsonAuthor>,
    items: Vec<JsonItem>,
}

/// JSON Feed 1.1.
pub fn json(config: &Config, items: &[Item]) -> Result<String, FeedError> {
    let site = &config.settings.site;
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: site.title.clone(),
        home_page_url: config.base_url.to_string(),
        feed_url: feed_url(config, JSON_FILE),
        description: site.description.clone(),
        language: site.language.clone(),
        authors: vec![JsonAuthor {
            name: site.title.clone(),
            url: Some(config.base_url.to_string()),
        }],
        items: items
            .iter()
            .map(|i| {
                Ok(JsonItem {
                    id: i.id.clone(),
                    url: i.url.to_string(),
                    title: i.title.clone(),
                    content_html: i.content_html.clone(),
                    summary: i.summary.clone(),
                    image: i.image.as_ref().map(Url::to_string),
                    date_published: rfc3339(i.date)?.to_rfc3339_opts(SecondsFormat::Secs, false),
                    authors: i
                        .authors
                        .iter()
                        .map(|a| JsonAuthor {
                            name: a.clone(),
                            url: None,
                        })
                        .collect(),
                    tags: vec![match i.kind {
                        Kind::Opening => "opening".into(),
                        Kind::Recap => "recap".into(),
                    }],
                })
            })
            .collect::<Result<_, FeedError>>()?,
    };
    let mut out =
        serde_json::to_string_pretty(&feed).map_err(|e| FeedError::Json(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

/// Serializing a feed failed (a bug, not bad input: inputs are plain text).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot write the RSS feed: {0}")]
    Rss(String),
    #[error("cannot write the Atom feed: {0}")]
    Atom(String),
    #[error("cannot write the JSON feed: {0}")]
    Json(String),
    #[error("a feed cannot write the date {0} (years 1 to 9999 only)")]
    Date(String),
}

/// Why the feeds could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A template failed (its message names the file and line).
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// The items due at `now` and the three feeds made of them: what `build`,
/// `once` and the daemon publish.
pub fn render_all(
    catalog: &Catalog,
    config: &Config,
    templates: &Templates,
    now: DateTime<FixedOffset>,
) -> Result<(Vec<Item>, Rendered), BuildError> {
    let (items, left_out) = items(catalog, config, templates, now)?;
    let mut rendered = Rendered::new(config, &items)?;
    rendered.left_out = left_out;
    Ok((items, rendered))
}

/// The three feeds, rendered.
pub struct Rendered {
    pub rss: String,
    pub atom: String,
    pub json: String,
    /// Items left out because no feed can write them (see [`items`]).
    pub left_out: Vec<Problem>,
}

impl Rendered {
    pub fn new(config: &Config, items: &[Item]) -> Result<Self, FeedError> {
        Ok(Self {
            rss: rss(config, items)?,
            atom: atom(config, items)?,
            json: json(config, items)?,
            left_out: Vec::new(),
        })
    }

    /// (file name, bytes) of each feed.
    pub fn files(&self) -> [(&'static str, &str); 3] {
        [
            (RSS_FILE, self.rss.as_str()),
            (ATOM_FILE, self.atom.as_str()),
            (JSON_FILE, self.json.as_str()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Window;
    use chrono::TimeZone;
    use chrono_tz::Europe::Berlin;
    use std::path::Path;

    fn book(slug: &str, start: DateTime<Tz>, end: DateTime<Tz>) -> Book {
        Book {
            slug: slug.into(),
            path: format!("content/books/{slug}.md").into(),
            title: slug.into(),
            description: None,
            authors: vec![],
            // Built by hand, not through `Window::new`: what a bug elsewhere
            // could hand over.
            window: Window::unchecked(start, end),
            cover: None,
            links: vec![],
            archive: vec![crate::model::Thread {
                post: crate::model::Message {
                    name: "Reader".into(),
                    text: "Why?".into(),
                },
                replies: vec![],
            }],
            body: String::new(),
            aliases: vec![],
            pin: vec![],
            hide: vec![],
        }
    }

    #[test]
    fn an_item_no_feed_can_date_is_left_out_and_the_rest_published() {
        let config = crate::config::parse(Path::new("c.yaml"), "").config;
        let (templates, problems) = Templates::load(Path::new("no-such-folder"));
        assert!(problems.is_empty());
        let at = |y, m, d| Berlin.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        let min = DateTime::<Utc>::MIN_UTC.with_timezone(&Berlin);
        let catalog = Catalog::new(
            vec![
                book("edge", min, at(-1, 1, 1)),
                book("zero", at(0, 1, 1), at(0, 1, 5)),
                book("good", at(2022, 12, 5), at(2022, 12, 9)),
            ],
            Default::default(),
        );
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let (items, rendered) = render_all(&catalog, &config, &templates, now).unwrap();
        let slugs: Vec<&str> = items.iter().map(|i| i.slug.as_str()).collect();
        assert_eq!(slugs, ["good", "good"]);
        assert_eq!(rendered.left_out.len(), 4, "{:?}", rendered.left_out);
        assert!(
            rendered.left_out[0].to_string().starts_with(
                "content/books/zero.md:1:1: error: the recap date 0000-01-05T00:00:00+00:53"
            ),
            "{}",
            rendered.left_out[0]
        );
        assert!(
            rendered
                .rss
                .contains("<pubDate>Mon, 5 Dec 2022 00:00:00 +0100</pubDate>")
        );
    }

    #[test]
    fn dates_in_local_mean_time_are_written_in_utc() {
        // Berlin kept local mean time (+00:53:28) until 1893: no RFC 2822 or
        // RFC 3339 offset can say it, so the instant is written in UTC.
        let d = Berlin.with_ymd_and_hms(1850, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(rfc2822(d).unwrap(), "Mon, 31 Dec 1849 23:06:32 +0000");
        assert_eq!(
            rfc3339(d).unwrap().to_rfc3339(),
            "1849-12-31T23:06:32+00:00"
        );
        let d = Berlin.with_ymd_and_hms(2022, 12, 5, 0, 0, 0).unwrap();
        assert_eq!(rfc2822(d).unwrap(), "Mon, 5 Dec 2022 00:00:00 +0100");
    }

    #[test]
    fn unwritable_years_are_errors_not_panics() {
        for year in [-1, 0, 10000] {
            let d = Berlin.with_ymd_and_hms(year, 6, 1, 0, 0, 0).unwrap();
            assert!(rfc2822(d).is_err(), "{year}");
            assert!(rfc3339(d).is_err(), "{year}");
        }
        let max = DateTime::<Utc>::MAX_UTC.with_timezone(&Berlin);
        assert!(rfc2822(max).is_err());
    }

    #[test]
    fn items_of_one_date_go_by_slug_whether_the_catalog_is_filed_or_held() {
        let at = |d| Berlin.with_ymd_and_hms(2022, 12, d, 0, 0, 0).unwrap();
        // Two recaps at one instant whose books start on different days
        // (catalog order is not slug order), and two openings at another.
        let books = vec![
            book("b-late", at(1), at(10)),
            book("a-early", at(2), at(10)),
            book("d", at(12), at(20)),
            book("c", at(12), at(21)),
        ];
        let held = Catalog::new(books.clone(), Default::default());
        let file = std::sync::Arc::new(crate::model::AsideFile::new().unwrap());
        let mut filed = Catalog {
            books: crate::model::Books::filed(file.clone()),
            aside: Some(file.clone()),
            ..Catalog::default()
        };
        for b in books {
            filed.books.push(Entry::set_aside(b, [1; 32], &file));
        }
        filed.books.sort();
        let now = Berlin
            .with_ymd_and_hms(2023, 1, 1, 0, 0, 0)
            .unwrap()
            .fixed_offset();
        let order = |c: &Catalog| -> Vec<String> {
            due(c, now)
                .iter()
                .map(|d| format!("{}/{:?}", d.entry(c).unwrap().slug(), d.kind))
                .collect()
        };
        let expected = [
            "c/Recap",
            "d/Recap",
            "d/Opening",
            "c/Opening",
            "b-late/Recap",
            "a-early/Recap",
            "a-early/Opening",
            "b-late/Opening",
        ];
        assert_eq!(order(&held), expected);
        assert_eq!(order(&filed), expected);
        // The newest n are the first n, ties at the cut included.
        let ids = |due: Vec<Due>| -> Vec<(usize, Kind)> {
            due.iter().map(|d| (d.index, d.kind)).collect()
        };
        let every = ids(due(&filed, now));
        for n in 0..=every.len() + 1 {
            let newest = ids(newest_due(&filed, now, n));
            let shown = n.min(every.len());
            assert!(newest.len() >= shown, "{n}");
            assert_eq!(newest[..], every[..newest.len()], "{n}");
        }
        // Cut between the two openings of one instant: both are kept.
        assert_eq!(newest_due(&filed, now, 3).len(), 4);
        assert!(matches!(filed.books.get(0).unwrap(), Cow::Owned(_)));
    }
}
