//! `bookweek digest send|preview`: create the due digest and deliver it.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use crate::cli::DigestCommand;
use crate::digest::{self, Prepared, Rendered};
use crate::feeds;
use crate::mail::{self, Composer, Policy, Summary, Transport};
use crate::publish::write_if_changed;
use crate::state::{Delivery, DigestRecord, DigestStatus, State};

use super::{EXIT_FATAL, EXIT_PROBLEMS, EXIT_TEMPFAIL, Site, exit, load_site};

pub fn run(
    config_path: Option<&Path>,
    command: DigestCommand,
    now: DateTime<FixedOffset>,
) -> ExitCode {
    let site = match load_site(config_path, now) {
        Ok(site) => site,
        Err(code) => return code,
    };
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
        DigestCommand::Preview { out } => preview(&site, &state, &out, now),
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
        (None, false, Some(_)) => "would be created and sent".into(),
    };
    println!("decision:   {decision}");
    println!("items:      {}", plan.items.len());
    for d in &plan.items {
        println!(
            "  {}  {}",
            d.date.format("%Y-%m-%d %H:%M"),
            feeds::item_id(&site.config, &d.book.slug, d.kind)
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
    let total = send_due(site, state, now, true, None)?;
    if total.digests == 0 {
        println!("nothing to send");
    }
    Ok(exit_for(&total))
}

/// What a `send_due` did, over every digest it delivered.
#[derive(Debug, Default)]
pub(crate) struct SendReport {
    pub digests: usize,
    pub created: Option<i64>,
    pub summary: Summary,
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
/// delivers every digest with pending deliveries.
pub(crate) fn send_due(
    site: &Site,
    state: &mut State,
    now: DateTime<FixedOffset>,
    print_each: bool,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> anyhow::Result<SendReport> {
    let mut report = SendReport::default();
    let config = &site.config;
    match digest::prepare(&site.content.catalog, config, &site.templates, state, now)? {
        Prepared::NoTick => tracing::info!("no schedule tick yet"),
        Prepared::AlreadyRecorded { tick, status } => {
            tracing::info!(%tick, status = status.as_str(), "digest for this tick already recorded")
        }
        Prepared::Skipped { tick, late_by } => tracing::warn!(
            tick = %tick.to_rfc3339(),
            late_by = %humantime::format_duration(late_by.to_std().unwrap_or_default()),
            "digest tick is older than digest.max_delay: recorded as skipped, not sent"
        ),
        Prepared::Empty { tick } => {
            tracing::info!(tick = %tick.to_rfc3339(), "nothing new: digest recorded as empty")
        }
        Prepared::Created {
            id,
            tick,
            recipients,
            items,
            subject,
            ..
        } => {
            report.created = Some(id);
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
    let transport = Transport::from_url(&config.mail_url)?;
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
    }
    Ok(report)
}

fn preview(
    site: &Site,
    state: &State,
    out: &Path,
    now: DateTime<FixedOffset>,
) -> anyhow::Result<ExitCode> {
    let catalog = &site.content.catalog;
    let Some(plan) = digest::plan(catalog, &site.config, &site.templates, state, now)? else {
        println!("no schedule tick at or before {now}");
        return Ok(ExitCode::SUCCESS);
    };
    let Some(rendered) = plan.rendered else {
        println!(
            "nothing new for the tick {}: no digest would be sent",
            plan.tick.to_rfc3339()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let signer = super::signer(&site.config, state)?;
    let record = DigestRecord {
        id: 0,
        tick: plan.tick.to_rfc3339(),
        created: now.to_rfc3339(),
        status: DigestStatus::Sending,
        subject: rendered.subject.clone(),
        html: rendered.html.clone(),
        text: rendered.text.clone(),
        body_hash: rendered.body_hash.clone(),
    };
    let composer = Composer::new(&site.config, &signer, &record, now)?;
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
    for (name, bytes) in [
        ("digest.eml", message.formatted()),
        ("digest.html", html.into_bytes()),
        ("digest.txt", text.into_bytes()),
    ] {
        let path = out.join(name);
        write_if_changed(&path, &bytes)?;
        println!("{}", path.display());
    }
    println!("subject: {}", rendered.subject);
    Ok(ExitCode::SUCCESS)
}
