//! What the page templates see beside their own data: the site (`site`),
//! the page's own head (`page`: title, description, canonical URL, image),
//! a book as lists show it ([`Summary`]), and a pager. All plain values:
//! templates escape them; only `*_html` values are (sanitized) HTML.

use chrono::{DateTime, Datelike, FixedOffset, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::Config;
use crate::feeds;
use crate::model::{Book, Catalog, Entry, Window};
use crate::templates::RenderError;

/// The site as every page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub title: String,
    pub description: String,
    pub lang: String,
    /// The home page (`site.base_url`).
    pub home: String,
    /// The archive of every book, and of every digest.
    pub archive: String,
    pub digests: String,
    /// A path, not a URL: the form posts to whichever host served the page
    /// (the CSP allows only that), under the site's base path.
    pub subscribe_action: String,
    pub rss: String,
    pub atom: String,
    pub json: String,
    /// The Content-Security-Policy for the page's `<meta>` element.
    pub csp: &'static str,
}

pub fn site_view(config: &Config) -> SiteView {
    let site = &config.settings.site;
    SiteView {
        title: site.title.clone(),
        description: site.description.clone(),
        lang: site.language.clone(),
        home: config.base_url.to_string(),
        archive: url(config, super::ARCHIVE),
        digests: url(config, super::DIGESTS),
        subscribe_action: config
            .absolute("subscribe")
            .map_or_else(|| "/subscribe".to_string(), |u| u.path().to_string()),
        rss: url(config, feeds::RSS_FILE),
        atom: url(config, feeds::ATOM_FILE),
        json: url(config, feeds::JSON_FILE),
        csp: super::META_CSP,
    }
}

/// `reference` resolved against `site.base_url`.
pub(super) fn url(config: &Config, reference: &str) -> String {
    config
        .absolute(reference)
        .map_or_else(|| reference.to_string(), |u| u.to_string())
}

/// A page's own head: its title, a description, its canonical URL and the
/// image a shared link shows (Open Graph).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageMeta {
    pub title: String,
    pub description: Option<String>,
    /// `None` for pages that are answers to a request (the daemon's
    /// messages): they have no canonical address.
    pub url: Option<String>,
    pub image: Option<String>,
    /// Open Graph's `og:type`: `website`, or `article` for a book or digest.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// Where a book's week stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Upcoming,
    Open,
    Closed,
}

impl State {
    pub fn of(window: &Window, now: DateTime<FixedOffset>) -> Self {
        if now < window.start() {
            Self::Upcoming
        } else if now < window.end() {
            Self::Open
        } else {
            Self::Closed
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Upcoming => "Upcoming",
            Self::Open => "On now",
            Self::Closed => "Closed",
        }
    }
}

/// A book as cards and lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub slug: String,
    pub title: String,
    /// Its page: made by bookweek, or on the site that renders books.
    pub url: String,
    /// Its authors as a sentence lists them.
    pub authors: String,
    /// "5–9 December 2022".
    pub window: String,
    pub state: State,
    pub state_label: &'static str,
    /// Absolute URL of the cover, when it has one that can be shown.
    pub cover: Option<String>,
    /// Plain text.
    pub description: Option<String>,
}

pub fn summary(config: &Config, book: &Book, now: DateTime<FixedOffset>) -> Summary {
    let state = State::of(&book.window, now);
    Summary {
        slug: book.slug.clone(),
        title: book.title.clone(),
        url: config
            .book_url(&book.slug)
            .map_or_else(|| config.base_url.to_string(), |u| u.to_string()),
        authors: book.author_names(),
        window: book.window.in_words(),
        state,
        state_label: state.label(),
        cover: book
            .cover
            .as_deref()
            .and_then(|c| config.absolute(c))
            .map(|u| u.to_string()),
        description: book
            .description
            .as_deref()
            .map(crate::text::markdown_to_plain),
    }
}

/// The summary of a catalog entry: what lists show of it, read back when
/// the load set it aside.
pub fn listed(
    catalog: &Catalog,
    config: &Config,
    entry: &Entry,
    now: DateTime<FixedOffset>,
) -> Result<Summary, RenderError> {
    let book = catalog.meta(entry).map_err(|e| RenderError {
        path: entry.path().display().to_string(),
        line: 0,
        message: format!("cannot read the book back: {e}"),
    })?;
    Ok(summary(config, &book, now))
}

/// [`listed`] for the catalog's book `i`.
pub fn listed_at(
    catalog: &Catalog,
    config: &Config,
    i: usize,
    now: DateTime<FixedOffset>,
) -> Result<Summary, RenderError> {
    let entry = catalog.books.get(i).map_err(|e| read_back(config, &e))?;
    listed(catalog, config, &entry, now)
}

/// A book that cannot be read back, as a render error of the content
/// folder (the entry that would name its file is what failed).
pub fn read_back(config: &Config, e: &std::io::Error) -> RenderError {
    RenderError {
        path: config.settings.paths.content.display().to_string(),
        line: 0,
        message: e.to_string(),
    }
}

/// "Monday 5 December 2022, 00:00".
pub fn time_in_words(t: DateTime<Tz>) -> String {
    format!(
        "{} {}, {}",
        weekday(t.weekday()),
        t.format("%-d %B %Y"),
        t.format("%H:%M")
    )
}

/// "Monday 12 December 2022".
pub fn day_in_words(t: DateTime<Tz>) -> String {
    format!("{} {}", weekday(t.weekday()), t.format("%-d %B %Y"))
}

fn weekday(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Page `page` of `pages`, with links to the others.
#[derive(Debug, Clone, Serialize)]
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub links: Vec<PageLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageLink {
    pub number: usize,
    pub url: String,
    pub current: bool,
    /// Pages between this link and the one before it are not listed (the
    /// template shows "…").
    pub gap_before: bool,
}

/// Pages listed on each side of the current one; the first and the last
/// are always listed.
const PAGER_WINDOW: usize = 2;

/// `url_of(n)` is the address of page `n` (1-based). The links are the
/// first page, the last, and [`PAGER_WINDOW`] on each side of `page`: a row
/// of every page would be hundreds of numbers on a phone at a few thousand
/// books, and would make every page's size grow with the number of pages.
pub fn pager(page: usize, pages: usize, url_of: impl Fn(usize) -> String) -> Pager {
    let near = page.saturating_sub(PAGER_WINDOW)..=page.saturating_add(PAGER_WINDOW);
    let mut links: Vec<PageLink> = Vec::new();
    for n in (1..=pages).filter(|&n| n == 1 || n == pages || near.contains(&n)) {
        links.push(PageLink {
            number: n,
            url: url_of(n),
            current: n == page,
            gap_before: links.last().is_some_and(|l| l.number + 1 != n),
        });
    }
    Pager {
        page,
        pages,
        prev: (page > 1).then(|| url_of(page - 1)),
        next: (page < pages).then(|| url_of(page + 1)),
        links,
    }
}

/// How many pages `n` items fill, [`super::PER_PAGE`] to a page (one at least).
pub fn page_count(n: usize) -> usize {
    n.div_ceil(super::PER_PAGE).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_to_their_neighbours() {
        let p = pager(2, 3, |n| format!("p{n}"));
        assert_eq!(p.prev.as_deref(), Some("p1"));
        assert_eq!(p.next.as_deref(), Some("p3"));
        assert_eq!(p.links.iter().filter(|l| l.current).count(), 1);
        let numbers = |p: &Pager| -> Vec<(usize, bool)> {
            p.links.iter().map(|l| (l.number, l.gap_before)).collect()
        };
        assert_eq!(numbers(&p), [(1, false), (2, false), (3, false)]);
        // Many pages: the first, the last and two on each side, with gaps.
        let middle = pager(50, 333, |n| format!("p{n}"));
        assert_eq!(
            numbers(&middle),
            [
                (1, false),
                (48, true),
                (49, false),
                (50, false),
                (51, false),
                (52, false),
                (333, true)
            ]
        );
        assert_eq!(middle.links[3].url, "p50");
        assert!(middle.links[3].current);
        let near_start = pager(2, 333, |n| format!("p{n}"));
        assert_eq!(
            numbers(&near_start),
            [(1, false), (2, false), (3, false), (4, false), (333, true)]
        );
        let last = pager(333, 333, |n| format!("p{n}"));
        assert_eq!(
            numbers(&last),
            [(1, false), (331, true), (332, false), (333, false)]
        );
        let first = pager(1, 1, |n| format!("p{n}"));
        assert!(first.prev.is_none() && first.next.is_none());
        assert_eq!(page_count(0), 1);
        assert_eq!(page_count(super::super::PER_PAGE), 1);
        assert_eq!(page_count(super::super::PER_PAGE + 1), 2);
    }
}
