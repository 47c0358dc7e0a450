//! The automatic fetch: once a book's window has been closed for
//! `archive.slack.after` and it has no archive, its threads are read over the
//! Web API and written into its file. `run` and `once` call [`fetch_due`];
//! the file change is what makes the recap and the digest follow.
//!
//! A failure (an `ok: false` answer, a rate limit beyond the run's patience,
//! an unreachable API) is reported and the book stays due, so the next run
//! tries again. A book is given up on [`GIVE_UP_AFTER`] after it became due:
//! older weeks are imported from an export (`bookweek archive import`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, FixedOffset};

use super::api::Client;
use super::select::{self, Range, Ts};
use super::{Directory, SlackError, Summary, convert, text};
use crate::config::{ArchiveRules, Config, SlackFetch};
use crate::model::{Book, Catalog, Thread};

/// How long after a book became due it is still fetched automatically.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(7);

/// What one fetch did, book by book (slugs).
#[derive(Debug, Default)]
pub struct Report {
    pub written: Vec<(String, Summary)>,
    /// Due books whose week has no threads (yet): nothing written.
    pub empty: Vec<String>,
    /// Books whose fetch or write failed, with the reason; due again next run.
    pub failed: Vec<(String, String)>,
}

/// Whether the automatic fetch is set up: `archive.slack` and a token.
pub fn configured(config: &Config) -> Option<&SlackFetch> {
    config.archive.slack.as_ref().filter(|s| s.token.is_some())
}

/// The books due for a fetch at `now`, by their place in the catalog.
pub fn due(catalog: &Catalog, slack: &SlackFetch, now: DateTime<FixedOffset>) -> Vec<usize> {
    catalog
        .books
        .windows()
        .enumerate()
        .filter(|(_, (window, archive))| {
            let at = window.end() + slack.after;
            !archive && at <= now && now < at + GIVE_UP_AFTER
        })
        .map(|(i, _)| i)
        .collect()
}

/// Fetches and writes the threads of every due book. `stop`, when set
/// (the daemon shutting down), ends the run early.
pub fn fetch_due(
    config: &Config,
    catalog: &Catalog,
    now: DateTime<FixedOffset>,
    stop: Option<Arc<AtomicBool>>,
) -> Report {
    let mut report = Report::default();
    let Some(slack) = configured(config) else {
        return report;
    };
    let Some(token) = slack.token.clone() else {
        return report;
    };
    let books = due(catalog, slack, now);
    if books.is_empty() {
        return report;
    }
    let client = Client::new(&slack.api_url, token, stop.clone());
    for entry in books {
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let book = match catalog.meta_at(entry) {
            Ok(b) => b,
            Err(e) => {
                let slug = catalog.books.get(entry).map(|b| b.slug().to_owned());
                report.failed.push((
                    slug.unwrap_or_default(),
                    format!("cannot read the book back: {e}"),
                ));
                continue;
            }
        };
        let book = book.as_ref();
        let result =
            fetch_book(&client, slack, &config.archive, book, now).map_err(|e| e.to_string());
        match result {
            Ok(threads) if threads.is_empty() => report.empty.push(book.slug.clone()),
            Ok(threads) => {
                match crate::frontmatter_edit::write_archive(&book.path, &threads, false) {
                    Ok(_) => report.written.push((
                        book.slug.clone(),
                        Summary::of(book, &threads, &catalog.people),
                    )),
                    Err(e) => report.failed.push((book.slug.clone(), e.to_string())),
                }
            }
            Err(e) => report.failed.push((book.slug.clone(), e)),
        }
    }
    report
}

/// One book's threads from the channel's history and its threads' replies.
fn fetch_book(
    client: &Client,
    slack: &SlackFetch,
    rules: &ArchiveRules,
    book: &Book,
    now: DateTime<FixedOffset>,
) -> Result<Vec<Thread>, SlackError> {
    let range = Range::of(&book.window, rules);
    let latest = range.to.min(Ts::of(&now));
    let history = client.history(&slack.channel, range.from, latest)?;
    let mut messages = history.clone();
    for parent in select::parents(&history) {
        if range.contains(parent) {
            messages.extend(client.replies(&slack.channel, parent)?);
        }
    }
    let raw = select::threads(&messages, &range);
    let mut directory = Directory::default();
    let mut ids: Vec<String> = raw
        .iter()
        .flat_map(|t| std::iter::once(&t.post).chain(&t.replies))
        .flat_map(text::mentioned_users)
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        directory.add_user(&client.user(&id)?);
    }
    convert(&raw, &directory, rules)
}
