//! `bookweek digest send|preview`: create the due digest and deliver it.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, FixedOffset};

use crate::cli::{DigestCommand, Now};
use crate::diag::did_you_mean;
use crate::digest::{self, Prepared, Rendered};
use crate::feeds;
use crate::lock::Holder;
use crate::mail::{self, Composer, Policy, Summary, Transport};
use crate::publish::write_if_changed;
use crate::state::{Delivery, DigestRecord, DigestStatus, State};
use crate::token::Signer;

use super::{EXIT_FATAL, EXIT_PROBLEMS, EXIT_TEMPFAIL, Site, exit, load_site};

pub fn run(config_path: Option<&Path>, command: DigestCommand, now: Now) -> ExitCode {
    let site = match load_site(config_path, now) {
        Ok(site) => site,
        Err(code) => return code,
    };
    let now = now.at(site.config.timezone);
    let mut state = match State::open(&site.config.settings.paths.state) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    let result = match command {
        DigestCommand::Send { dry_run: true } => dry_run(&site, &state, now),
        DigestCommand::Send { dry_run: false } => send(&site, &mut state, now),
        DigestCommand::Preview { out, tick, book } => {
            let tick = tick.map(|t| t.at(site.config.timezone));
            preview(&site, &state, &out, now, Pick::from(tick, book))
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        exit(EXIT_FATAL)
    })
}

fn dry_run(site: &Site, state: &State, now: DateTime<FixedOffset>) -> anyhow::Result<ExitCode> {
    let catalog = &site.content.catalog;
    let Some(plan) = digest::plan(catalog, &site.config, &site.templates, state, now)? else {
        println!("no schedule tick at or before {now}");
        return Ok(ExitCode::SUCCESS);
    };
    let existing = state.digest_for_tick(plan.tick.fixed_offset())?;
    let id = existing.as_ref().map_or(state.next_digest_id()?, |d| d.id);
    println!("digest:     {id}");
    println!("tick:       {}", plan.tick.to_rfc3339());
    let decision = match (&existing, plan.stale, &plan.rendered) {
        (Some(d), _, _) => format!(
            "already recorded ({}); nothing new would be created",
            d.status.as_str()
        ),
        (None, true, _) => format!(
            "stale (older than digest.max_delay {}): would be recorded as skipped, not sent",
            site.config.settings.digest.max_delay
        ),
        (None, false, None) => "nothing new: would be recorded as empty, not sent".into(),
        (None, false, Some(_)) if state.active_subscribers()? == 0 => {
            "no active subscribers: nothing would be created; the items stay eligible".into()
        }
        (None, false, Some(_)) => "would be created and sent".into(),
    };
    println!("decision:   {decision}");
    println!("items:      {}", plan.items.len());
    for d in &plan.items {
        println!(
            "  {}  {}",
            d.date().format("%Y-%m-%d %H:%M"),
            feeds::item_id(&site.config, d.entry(&site.content.catalog)?.slug(), d.kind)
        );
    }
    println!("recipients: {}", state.active_subscribers()?);
    if let Some(r) = &plan.rendered {
        println!("subject:    {}", r.subject);
        println!("body hash:  {}", r.body_hash);
    }
    let pending: Vec<DigestRecord> = state.sending_digests()?;
    for d in pending {
        let c = state.delivery_counts(d.id)?;
        println!(
            "unfinished: digest {} (tick {}): {} deliveries pending",
            d.id, d.tick, c.pending
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn send(site: &Site, state: &mut State, now: DateTime<FixedOffset>) -> anyhow::Result<ExitCode> {
    // Asked for by hand: wait for another sender rather than give up, then
    // deliver whatever it left (usually nothing). A new digest's web page
    // is written before its mails go out, so "View in your browser" works.
    let out = site.config.settings.paths.output.clone();
    let mut publish = |state: &State, _id: i64| {
        use crate::site::Reuse;
        match super::build::publish_site(site, Some(state), &out, now, Reuse::Unchanged) {
            Ok(report) => println!("{}", super::build::site_line(&out, &report)),
            Err(e) => eprintln!("warning: the digest's web page was not written: {e:#}"),
        }
    };
    let total = send_due(site, state, now, true, SendLock::Wait(None), &mut publish)?;
    if total.digests == 0 {
        println!("nothing to send");
    }
    Ok(exit_for(&total))
}

/// What a `send_due` does when another process holds the send lock.
pub(crate) enum SendLock {
    /// Leave the work to it (`once`: the next cron run checks again).
    Skip,
    /// Wait for it; a set flag (a daemon shutting down) ends the wait and,
    /// once sending, stops handing out new messages.
    Wait(Option<Arc<AtomicBool>>),
}

/// What a `send_due` did, over every digest it delivered.
#[derive(Debug, Default)]
pub(crate) struct SendReport {
    pub digests: usize,
    pub created: Option<i64>,
    pub summary: Summary,
    /// Another process was sending, so this one did nothing.
    pub busy: Option<Holder>,
}

/// The exit code for a delivery report, with the error line explaining it.
pub(crate) fn exit_for(report: &SendReport) -> ExitCode {
    let total = &report.summary;
    if total.left_pending > 0 {
        eprintln!(
            "error: {} deliveries are still pending (mail server unreachable); run again later",
            total.left_pending
        );
        exit(EXIT_TEMPFAIL)
    } else if total.failed > 0 {
        eprintln!("error: {} deliveries failed", total.failed);
        exit(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

/// Creates the digest due at `now` (or records why there is none), then
/// delivers every digest with pending deliveries; all under the send lock,
/// so processes sharing the state file never send one delivery twice.
/// `created` is called with a new digest's id once it is recorded and
/// before any of its mails is sent (to publish its web page).
pub(crate) fn send_due(
    site: &Site,
    state: &mut State,
    now: DateTime<FixedOffset>,
    print_each: bool,
    lock: SendLock,
    created: &mut dyn FnMut(&State, i64),
) -> anyhow::Result<SendReport> {
    let mut report = SendReport::default();
    let config = &site.config;
    let lock_path = crate::lock::send_lock_path(&config.settings.paths.state);
    let stop = match &lock {
        SendLock::Skip => None,
        SendLock::Wait(stop) => stop.clone(),
    };
    let _held = match lock {
        SendLock::Skip => match crate::lock::try_acquire(&lock_path)? {
            Ok(held) => held,
            Err(holder) => {
                tracing::info!("{holder} is sending digests; leaving them to it");
                report.busy = Some(holder);
                return Ok(report);
            }
        },
        SendLock::Wait(stop) => {
            let give_up = || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
            let waiting = &mut |holder: Holder| {
                tracing::info!("{holder} is sending digests; waiting for it to finish")
            };
            match crate::lock::acquire_waiting(&lock_path, &give_up, waiting)? {
                Some(held) => held,
                None => return Ok(report),
            }
        }
    };
    // A transport or DKIM key that cannot work fails the run before a
    // digest is recorded, not after.
    let transport = Transport::from_url(&config.mail_url)?;
    if let Some(dkim) = &config.settings.mail.dkim {
        mail::dkim_config(dkim)?;
    }
    match digest::prepare(&site.content.catalog, config, &site.templates, state, now)? {
        Prepared::NoTick => tracing::info!("no schedule tick yet"),
        Prepared::AlreadyRecorded { tick, status } => {
            tracing::info!(%tick, status = status.as_str(), "digest for this tick already recorded")
        }
        Prepared::Skipped { tick, late_by } => tracing::warn!(
            tick = %tick.to_rfc3339(),
            late_by = %crate::human::span(late_by),
            "digest tick is older than digest.max_delay: recorded as skipped, not sent"
        ),
        Prepared::Empty { tick } => {
            tracing::info!(tick = %tick.to_rfc3339(), "nothing new: digest recorded as empty")
        }
        Prepared::NoSubscribers { tick, items } => tracing::warn!(
            tick = %tick.to_rfc3339(),
            items,
            "no active subscribers: no digest created; its items stay eligible for the next run within digest.lookback"
        ),
        Prepared::Created {
            id,
            tick,
            recipients,
            items,
            subject,
            ..
        } => {
            report.created = Some(id);
            created(state, id);
            tracing::info!(
            digest = id,
            tick = %tick.to_rfc3339(),
            recipients,
            items = items.len(),
            %subject,
            "digest created"
            )
        }
    }
    let digests = state.sending_digests()?;
    if digests.is_empty() {
        return Ok(report);
    }
    let signer = super::signer(&site.config, state)?;
    let mut policy = Policy::from_config(config);
    policy.stop = stop;
    let total = &mut report.summary;
    for d in &digests {
        report.digests += 1;
        let tick = DateTime::parse_from_rfc3339(&d.tick)?;
        if now.signed_duration_since(tick) > config.max_delay {
            // Resuming days later would send news late: never.
            let n =
                state.skip_pending(d.id, "too late: the tick is older than digest.max_delay")?;
            state.finish_if_done(d.id)?;
            tracing::warn!(digest = d.id, tick = %d.tick, skipped = n, "digest is older than digest.max_delay: its pending deliveries are skipped");
            total.skipped += n;
            continue;
        }
        // The link to the digest's web page, known now that it has a number.
        let (html, text) = digest::with_view_url(&d.html, &d.text, &digest::page_url(config, d.id));
        let d = &DigestRecord {
            html,
            text,
            ..d.clone()
        };
        let composer = Composer::new(config, &signer, d, now)?;
        tracing::info!(digest = d.id, via = %mail::redact(&config.mail_url), "delivering");
        let s = mail::deliver(state, &composer, &transport, policy.clone(), now)?;
        tracing::info!(
            digest = d.id,
            sent = s.sent,
            skipped = s.skipped,
            retried = s.retried,
            failed = s.failed,
            left_pending = s.left_pending,
            "delivered"
        );
        if print_each {
            println!(
                "digest {} ({}): sent {}, skipped {}, retried {}, failed {}{}",
                d.id,
                d.tick,
                s.sent,
                s.skipped,
                s.retried,
                s.failed,
                if s.left_pending > 0 {
                    format!(", left pending {}", s.left_pending)
                } else {
                    String::new()
                }
            );
        }
        total.sent += s.sent;
        total.skipped += s.skipped;
        total.retried += s.retried;
        total.failed += s.failed;
        total.left_pending += s.left_pending;
        total.bounced += s.bounced;
        if s.left_pending > 0 {
            // The server is unreachable: later digests would fail the same way.
            break;
        }
    }
    Ok(report)
}

/// Which digest `digest preview` shows.
pub(crate) enum Pick {
    /// The one `digest send` would create at `--now`; when nothing is new
    /// then, the last one that had news.
    Due,
    /// The digest of the last schedule tick at or before this time.
    Tick(DateTime<FixedOffset>),
    /// The digest that carried this book (its recap, else its opening).
    Book(String),
}

impl Pick {
    fn from(tick: Option<DateTime<FixedOffset>>, book: Option<String>) -> Self {
        match (tick, book) {
            (Some(t), _) => Self::Tick(t),
            (None, Some(b)) => Self::Book(b),
            (None, None) => Self::Due,
        }
    }
}

/// Renders a digest for a sample subscriber into `out`. Records nothing: no
/// digest, no secret (links are signed with a throwaway key unless
/// BOOKWEEK_SECRET is set), so a later `digest send` is unaffected.
fn preview(
    site: &Site,
    state: &State,
    out: &Path,
    now: DateTime<FixedOffset>,
    pick: Pick,
) -> anyhow::Result<ExitCode> {
    let catalog = &site.content.catalog;
    let config = &site.config;
    let (tick, items) = match pick {
        Pick::Due => {
            let plan = digest::plan(catalog, config, &site.templates, state, now)?;
            match plan {
                Some(plan) if !plan.items.is_empty() => {
                    println!(
                        "the digest due at --now: the tick {}",
                        plan.tick.to_rfc3339()
                    );
                    (plan.tick, plan.items)
                }
                plan => {
                    let nothing = match &plan {
                        Some(p) => format!("nothing new for the tick {}", p.tick.to_rfc3339()),
                        None => format!("no schedule tick at or before {now}"),
                    };
                    let Some(tick) = digest::last_tick_with_news(catalog, config, now) else {
                        println!("{nothing}, and no earlier tick had news: no digest to preview");
                        return Ok(ExitCode::SUCCESS);
                    };
                    match plan {
                        Some(p) if p.tick == tick => println!(
                            "nothing new for the tick {}: its digest is already recorded ({}); previewing it again",
                            tick.to_rfc3339(),
                            p.existing.map_or("recorded", |s| s.as_str()),
                        ),
                        _ => println!(
                            "{nothing}; previewing the digest of {} instead (the last one with news)",
                            tick.to_rfc3339()
                        ),
                    }
                    (tick, digest::news_of_tick(catalog, config, tick))
                }
            }
        }
        Pick::Tick(at) => {
            let Some(tick) = digest::last_tick(config, at) else {
                eprintln!("error: no schedule tick at or before {at}");
                return Ok(exit(EXIT_FATAL));
            };
            let items = digest::news_of_tick(catalog, config, tick);
            if items.is_empty() {
                println!(
                    "the tick {} had nothing new: no digest to preview",
                    tick.to_rfc3339()
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("the digest of the tick {}", tick.to_rfc3339());
            (tick, items)
        }
        Pick::Book(slug) => {
            let entries = catalog.books.all()?;
            let Some(book) = entries.iter().find(|b| b.slug() == slug) else {
                let slugs = || entries.iter().map(|b| b.slug());
                // Slugs start with a date: a title word is what people remember.
                let hint = did_you_mean(&slug, slugs())
                    .or_else(|| slugs().find(|s| s.contains(slug.as_str())))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                eprintln!(
                    "error: no book `{slug}` in {}{hint}",
                    config.settings.paths.content.join("books").display()
                );
                return Ok(exit(EXIT_FATAL));
            };
            let Some(tick) = digest::tick_of_book(config, book) else {
                eprintln!(
                    "error: no digest carries `{slug}`: the next schedule tick after it is more than digest.lookback ({}) away",
                    config.settings.digest.lookback
                );
                return Ok(exit(EXIT_FATAL));
            };
            println!(
                "the digest of the tick {}, which carried {} of `{slug}`",
                tick.to_rfc3339(),
                if !book.has_archive() {
                    "the opening"
                } else {
                    "the recap"
                }
            );
            (tick, digest::news_of_tick(catalog, config, tick))
        }
    };
    println!("items:   {}", items.len());
    for d in &items {
        println!(
            "  {}  {}",
            d.date().format("%Y-%m-%d %H:%M"),
            feeds::item_id(config, d.entry(catalog)?.slug(), d.kind)
        );
    }
    let mut rendered = digest::render(catalog, config, &site.templates, tick, &items)?;
    // "View in your browser": the page of the digest sent at that tick, if
    // one was; else the digests' archive, since a preview has no number.
    let view = match state.digest_for_tick(tick.fixed_offset())? {
        Some(d) if !d.html.is_empty() => digest::page_url(config, d.id),
        _ => crate::site::site_view(config).digests,
    };
    (rendered.html, rendered.text) = digest::with_view_url(&rendered.html, &rendered.text, &view);
    // A stored secret would have to be created to sign with it: a preview's
    // links are samples, signed with a key of their own.
    let signer = match &config.secret {
        Some(key) => Signer::new(key),
        None => Signer::new(b"bookweek digest preview: a sample link"),
    };
    let record = DigestRecord {
        id: 0,
        tick: tick.to_rfc3339(),
        created: now.to_rfc3339(),
        status: DigestStatus::Sending,
        subject: rendered.subject.clone(),
        html: rendered.html.clone(),
        text: rendered.text.clone(),
        body_hash: rendered.body_hash.clone(),
    };
    let composer = Composer::new(config, &signer, &record, now)?;
    let sample = Delivery {
        digest_id: 0,
        subscriber_id: 0,
        email: "reader@example.com".into(),
        name: Some("Sample Reader".into()),
        subscriber_active: true,
        attempts: 0,
    };
    let message = composer
        .message(&sample)
        .map_err(|e| anyhow::anyhow!("cannot build the message: {e:?}"))?;
    let (html, text) =
        Rendered::personalize(&rendered.html, &rendered.text, &composer.unsubscribe_url(0));
    println!("subject: {}", rendered.subject);
    crate::publish::remove_leftovers(out);
    for (name, bytes) in [
        ("digest.eml", message.formatted()),
        ("digest.html", html.into_bytes()),
        ("digest.txt", text.into_bytes()),
    ] {
        let path = out.join(name);
        write_if_changed(&path, &bytes)?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
