//! `bookweek once`: everything due at `--now`, then exit; for cron.
//!
//! A lock file beside the state database keeps two runs from overlapping;
//! the second exits at once. With nothing due, the run only stats the input
//! files and asks the database two questions, so it can run every minute.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use crate::cli::Now;
use crate::config::DEFAULT_PATH;
use crate::digest;
use crate::feeds;
use crate::publish::{inputs_fingerprint, write_feeds};
use crate::site::{self, Reuse};
use crate::state::State;

use super::build::{publish_site, site_summary};
use super::digest::{SendLock, exit_for, send_due};
use super::{EXIT_FATAL, EXIT_LOCKED, EXIT_PROBLEMS, Site, checked_config, exit, site_from};

const FINGERPRINT: &str = "build.fingerprint";
const NEXT_CHANGE: &str = "build.next_change";

pub fn run(config_path: Option<&Path>, out: Option<&Path>, now: Now) -> ExitCode {
    let config = match checked_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let now = now.at(config.timezone);
    let lock = crate::lock::run_lock_path(&config.settings.paths.state);
    let held = match crate::lock::try_acquire(&lock) {
        Ok(Ok(held)) => held,
        Ok(Err(holder)) => {
            eprintln!(
                "bookweek once: {holder} holds {}; this one did nothing",
                lock.display()
            );
            return exit(EXIT_LOCKED);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    let result = work(config, config_path, out, now);
    drop(held);
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        exit(EXIT_FATAL)
    })
}

fn work(
    config: crate::config::Config,
    config_path: Option<&Path>,
    out: Option<&Path>,
    now: DateTime<FixedOffset>,
) -> anyhow::Result<ExitCode> {
    let mut state = State::open(&config.settings.paths.state)?;
    let settings = &config.settings;
    let output = out.unwrap_or(&settings.paths.output).to_path_buf();
    let config_file = config_path.unwrap_or(Path::new(DEFAULT_PATH));
    // Every input, and the outputs too: a deleted feed file is rebuilt.
    // The walk follows no links inside folders, but the loader reads
    // `books/` and `people/` wherever they link to: they are roots too.
    let books = settings.paths.content.join("books");
    let people = settings.paths.content.join("people");
    let assets = config.assets_dir().to_path_buf();
    // The site's files are those the last build made (its manifest), and
    // its digests' pages change when a digest is recorded.
    let fingerprint = |state: &State| -> anyhow::Result<String> {
        let mut files = vec![
            config_file.to_path_buf(),
            output.join(feeds::RSS_FILE),
            output.join(feeds::ATOM_FILE),
            output.join(feeds::JSON_FILE),
        ];
        let made = state
            .meta(super::build::MANIFEST)?
            .map(|json| site::Manifest::from_json(&json))
            .unwrap_or_default();
        files.extend(made.paths().map(|p| output.join(p)));
        let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let inputs = inputs_fingerprint(
            &files,
            &[
                &settings.paths.content,
                &books,
                &people,
                &settings.paths.templates,
                &assets,
            ],
        );
        Ok(format!("{inputs} {}", state.published_digests_mark()?))
    };
    // Threads due from Slack first: a book file written here is rebuilt below.
    let archive = super::archive::fetch_step(&config, now);
    let next_change = state
        .meta(NEXT_CHANGE)?
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
    let feeds_fresh = state.meta(FINGERPRINT)?.as_deref() == Some(fingerprint(&state)?.as_str())
        && next_change.is_none_or(|t| now < t);

    let tick = digest::last_tick(&config, now);
    let tick_open = match tick {
        Some(t) => state.digest_for_tick(t.fixed_offset())?.is_none(),
        None => false,
    };
    // Nobody to send to: leave the tick unrecorded (its items stay eligible
    // for the first subscriber) without loading and rendering anything.
    let nobody = tick_open && state.active_subscribers()? == 0;
    let digest_due = tick_open && !nobody;
    let unfinished = !state.sending_digests()?.is_empty();

    let mut site: Option<Site> = None;
    let mut site_failed = false;
    let mut parts: Vec<String> = Vec::new();
    let mut code = ExitCode::SUCCESS;
    if let Some((archive_parts, failed)) = archive {
        parts.extend(archive_parts);
        if failed {
            code = exit(EXIT_PROBLEMS);
        }
    }
    if feeds_fresh {
        parts.push("feeds unchanged".into());
    } else {
        let s = site_from(config.clone(), now).map_err(|_| anyhow::anyhow!("nothing was done"))?;
        let (items, rendered) =
            feeds::render_all(&s.content.catalog, &s.config, &s.templates, now)?;
        let changed = write_feeds(&rendered, &output)?
            .iter()
            .filter(|(_, c)| *c)
            .count();
        // Only the pages whose inputs changed are made again.
        let pages = publish_site(&s, Some(&state), &output, now, Reuse::Unchanged)?;
        super::print_problems(&pages.problems, true);
        site_failed = pages.problems.iter().any(crate::diag::Problem::is_error);
        // Taken after writing, since the outputs are part of it; a site not
        // fully written is tried again by the next run.
        if !site_failed {
            state.set_meta(FINGERPRINT, &fingerprint(&state)?)?;
        }
        // Feeds change when a window opens or a recap is due; pages also
        // when a window closes.
        let next = [
            feeds::next_change(&s.content.catalog, now),
            site::next_change(&s.content.catalog, now),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.to_rfc3339());
        state.set_meta(NEXT_CHANGE, next.as_deref().unwrap_or(""))?;
        parts.push(if changed > 0 {
            format!(
                "feeds rebuilt ({} items, {changed} files changed)",
                items.len()
            )
        } else {
            format!("feeds unchanged ({} items)", items.len())
        });
        if s.content.left_out() > 0 {
            parts.push(format!("{} books left out", s.content.left_out()));
        }
        if !s.content.kept.is_empty() {
            let n = s.content.kept.len();
            parts.push(if n == 1 {
                "1 broken book kept at its last good version".to_string()
            } else {
                format!("{n} broken books kept at their last good version")
            });
        }
        parts.push(format!("site: {}", site_summary(&pages)));
        super::print_problems(&rendered.left_out, true);
        if !s.content.rejected.is_empty() || !rendered.left_out.is_empty() {
            code = exit(EXIT_PROBLEMS);
        }
        site = Some(s);
    }

    if digest_due || unfinished {
        let s = match site {
            Some(s) => s,
            None => {
                site_from(config.clone(), now).map_err(|_| anyhow::anyhow!("nothing was done"))?
            }
        };
        // A new digest's page is written before its mails go out.
        let mut site_problem = None;
        let mut publish = |state: &State, _id: i64| {
            if let Err(e) = publish_site(&s, Some(state), &output, now, Reuse::Unchanged) {
                site_problem = Some(e);
            }
        };
        let report = send_due(&s, &mut state, now, false, SendLock::Skip, &mut publish)?;
        if let Some(e) = site_problem {
            eprintln!("warning: the digest's web page was not written: {e:#}");
        }
        if report.created.is_some() && !site_failed {
            // The new digest's pages are part of what a next run compares.
            state.set_meta(FINGERPRINT, &fingerprint(&state)?)?;
        }
        let t = &report.summary;
        parts.push(match (report.created, report.digests, report.busy) {
            (_, _, Some(holder)) => format!("digest left to {holder}, which is sending"),
            (_, 0, None) => "no digest to send".into(),
            (Some(id), _, None) => format!(
                "digest {id} created: sent {}, skipped {}, retried {}, failed {}",
                t.sent, t.skipped, t.retried, t.failed
            ),
            (None, _, None) => format!(
                "resumed: sent {}, skipped {}, retried {}, failed {}",
                t.sent, t.skipped, t.retried, t.failed
            ),
        });
        if t.left_pending > 0 {
            parts.push(format!(
                "{} deliveries pending for the next run",
                t.left_pending
            ));
        }
        let digest_code = exit_for(&report);
        if digest_code != ExitCode::SUCCESS {
            code = digest_code;
        }
    } else if nobody {
        parts.push("no digest: no active subscribers".into());
    } else {
        parts.push("no digest due".into());
    }
    println!("{}", parts.join("; "));
    if site_failed {
        eprintln!("error: some files of the site were not written");
        return Ok(exit(EXIT_FATAL));
    }
    Ok(code)
}
