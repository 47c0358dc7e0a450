//! `bookweek archive import`: glue between the CLI, the Slack export reader
//! ([`crate::slack`]) and the front matter writer
//! ([`crate::frontmatter_edit`]); and the Slack fetch step `once` runs.

use std::borrow::Cow;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use super::{EXIT_FATAL, EXIT_PROBLEMS, checked_config, exit, print_problems};
use crate::cli::{ArchiveCommand, Now};
use crate::config::Config;
use crate::diag::did_you_mean;
use crate::frontmatter_edit::{archive_yaml, write_archive};
use crate::model::Entry;
use crate::slack::export::Export;
use crate::slack::select::Range;
use crate::slack::{self, Summary};

pub fn run(config_path: Option<&Path>, command: ArchiveCommand, now: Now) -> ExitCode {
    match command {
        ArchiveCommand::Import {
            export,
            channel,
            books,
            replace,
            dry_run,
        } => import(
            config_path,
            &Import {
                export: &export,
                channel,
                books,
                replace,
                dry_run,
            },
            now,
        ),
    }
}

struct Import<'a> {
    export: &'a Path,
    channel: Option<String>,
    books: Vec<String>,
    replace: bool,
    dry_run: bool,
}

fn import(config_path: Option<&Path>, args: &Import, now: Now) -> ExitCode {
    let config = match checked_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let now = now.at(config.timezone);
    let content = match crate::content::load(&config.settings.paths.content, config.timezone) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    print_problems(&content.problems, true);
    let Some(channel) = args
        .channel
        .clone()
        .or_else(|| config.archive.channel.clone())
    else {
        eprintln!(
            "error: which channel? pass --channel NAME or set `archive.channel` in the config"
        );
        return exit(EXIT_FATAL);
    };
    let mut code = ExitCode::SUCCESS;
    let entries = match super::entries(&content.catalog) {
        Ok(entries) => entries,
        Err(code) => return code,
    };
    let books = match chosen_books(&content, &entries, args, now) {
        Ok(b) => b,
        Err(()) => {
            code = exit(EXIT_PROBLEMS);
            Vec::new()
        }
    };
    if books.is_empty() {
        if args.books.is_empty() {
            println!("no closed book without an archive at {now}; nothing to import");
        }
        return code;
    }
    let mut export = match Export::open(args.export) {
        Ok(e) => e,
        Err(e) => return fatal(&e),
    };
    let directory = match export.directory() {
        Ok(d) => d,
        Err(e) => return fatal(&e),
    };
    let ranges: Vec<Range> = books
        .iter()
        .map(|b| Range::of(&b.window, &config.archive))
        .collect();
    let from = ranges
        .iter()
        .filter_map(|r| r.from.to_utc())
        .min()
        .map_or(chrono::NaiveDate::MIN, |t| t.date_naive());
    let messages = match export.channel_messages(&directory, &channel, from) {
        Ok(m) => m,
        Err(e) => return fatal(&e),
    };
    for (book, range) in books.iter().zip(ranges) {
        if import_book(&config, &content, book, range, &messages, &directory, args).is_err() {
            code = exit(EXIT_PROBLEMS);
        }
    }
    code
}

fn fatal(e: &slack::SlackError) -> ExitCode {
    eprintln!("error: {e}");
    exit(EXIT_FATAL)
}

/// One book: its threads, then the YAML printed or the file written, and
/// the summary line. `Err` when nothing could be written for it.
fn import_book(
    config: &Config,
    content: &crate::content::Loaded,
    entry: &Entry,
    range: Range,
    messages: &[slack::RawMessage],
    directory: &slack::Directory,
    args: &Import,
) -> Result<(), ()> {
    let slug = &entry.slug();
    let book = match content.catalog.full(entry) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "error: {slug}: cannot read the book back: {e}; nothing written for this book"
            );
            return Err(());
        }
    };
    let book = book.as_ref();
    let threads = match slack::threads_for_book(messages, directory, book, &config.archive) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {slug}: {e}; nothing written for this book");
            return Err(());
        }
    };
    if threads.is_empty() {
        let at = |ts: slack::select::Ts| {
            ts.to_utc()
                .map(|t| {
                    t.with_timezone(&config.timezone)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        };
        println!(
            "{slug}: no threads in the export from {} to {}; nothing written",
            at(range.from),
            at(range.to)
        );
        return Ok(());
    }
    let summary = Summary::of(book, &threads, &content.catalog.people);
    if args.dry_run {
        println!("# {slug}: {}", summary.line());
        print!("{}", archive_yaml(&threads));
    } else {
        match write_archive(&book.path, &threads, args.replace) {
            Ok(changed) => println!(
                "{slug}: {}{}",
                summary.line(),
                if changed { "" } else { " (file unchanged)" }
            ),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(());
            }
        }
    }
    for w in summary.warnings() {
        eprintln!("warning: {slug}: {w}");
    }
    Ok(())
}

/// The books named with `--book`, or every book whose window has closed and
/// that has no archive (with `--replace`: every closed book). `Err` after
/// reporting a name that is not a usable book.
fn chosen_books<'c>(
    content: &crate::content::Loaded,
    books: &'c [Cow<'_, Entry>],
    args: &Import,
    now: DateTime<FixedOffset>,
) -> Result<Vec<&'c Entry>, ()> {
    if args.books.is_empty() {
        return Ok(books
            .iter()
            .filter(|b| b.window.end() <= now && (args.replace || !b.has_archive()))
            .map(|b| &**b)
            .collect());
    }
    let mut out = Vec::new();
    let mut ok = true;
    for slug in &args.books {
        let slug = slug.trim_end_matches(".md");
        match books.iter().find(|b| b.slug() == slug) {
            Some(b) => {
                if b.window.end() > now {
                    eprintln!(
                        "warning: {slug}: its window is still open at {now}; importing what there is"
                    );
                }
                out.push(&**b);
            }
            None => {
                let rejected = content
                    .rejected
                    .iter()
                    .any(|p| p.file_stem().and_then(|s| s.to_str()) == Some(slug));
                if rejected {
                    eprintln!("error: book `{slug}` has errors (see above); fix them first");
                } else {
                    let hint = did_you_mean(slug, books.iter().map(|b| b.slug()))
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    eprintln!(
                        "error: no book `{slug}` in {}{hint}",
                        content_books_dir(books)
                    );
                }
                ok = false;
            }
        }
    }
    if ok { Ok(out) } else { Err(()) }
}

fn content_books_dir(books: &[Cow<'_, Entry>]) -> String {
    books.first().and_then(|b| b.path().parent()).map_or_else(
        || "the content folder".to_string(),
        |p| p.display().to_string(),
    )
}

/// `once`'s first step: fetch the threads of books whose window closed
/// (`archive.slack`), so the feeds built next carry their recap. Returns the
/// parts of the summary line and whether a fetch failed; nothing when the
/// fetch is not set up or nothing is due.
pub fn fetch_step(config: &Config, now: DateTime<FixedOffset>) -> Option<(Vec<String>, bool)> {
    let slack_settings = slack::fetch::configured(config)?;
    // Problems in the books are reported by the feeds step.
    let content = crate::content::load(&config.settings.paths.content, config.timezone).ok()?;
    if slack::fetch::due(&content.catalog, slack_settings, now).is_empty() {
        return None;
    }
    let report = slack::fetch::fetch_due(config, &content.catalog, now, None);
    let mut parts = Vec::new();
    for (slug, summary) in &report.written {
        parts.push(format!(
            "archive of {slug} fetched ({} threads, {} replies)",
            summary.threads, summary.replies
        ));
        for w in summary.warnings() {
            eprintln!("warning: {slug}: {w}");
        }
    }
    for slug in &report.empty {
        parts.push(format!("no threads yet for {slug}"));
    }
    for (slug, e) in &report.failed {
        eprintln!("error: archive of {slug}: {e}; it is tried again on the next run");
        parts.push(format!("archive of {slug} failed"));
    }
    Some((parts, !report.failed.is_empty()))
}
