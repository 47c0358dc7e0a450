//! `bookweek subscribers …`: add, remove, list, import and export the
//! newsletter's subscribers. Glue only: the rules live in `state::subscribers`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use crate::cli::{Now, SubscribersCommand};
use crate::diag::plural;
use crate::state::{AddOutcome, State, StateError, Status, Subscriber};

use super::{EXIT_FATAL, EXIT_PROBLEMS, exit, load_config, print_problems};

pub fn run(config_path: Option<&Path>, command: SubscribersCommand, now: Now) -> ExitCode {
    let loaded = load_config(config_path);
    print_problems(&loaded.problems, true);
    if loaded.has_errors() {
        eprintln!("error: the config has errors; nothing was done");
        return exit(EXIT_FATAL);
    }
    let now = now.at(loaded.config.timezone);
    let state = match State::open(&loaded.config.settings.paths.state) {
        Ok(s) => s.with_smtputf8(loaded.config.settings.mail.smtputf8),
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    match command {
        SubscribersCommand::Add {
            email,
            name,
            pending,
        } => add(&state, &email, name.as_deref(), pending, now),
        SubscribersCommand::Remove { email } => remove(&state, &email, now),
        SubscribersCommand::List { status } => list(&state, status.map(Status::from)),
        SubscribersCommand::Import { file, pending } => import(&state, &file, pending, now),
        SubscribersCommand::Export => export(&state),
    }
}

/// An invalid address is the user's input (1); anything else means the
/// ledger could not be used (2).
fn fail(e: StateError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        StateError::Invalid(_) => exit(EXIT_PROBLEMS),
        _ => exit(EXIT_FATAL),
    }
}

fn add(
    state: &State,
    email: &str,
    name: Option<&str>,
    pending: bool,
    now: DateTime<FixedOffset>,
) -> ExitCode {
    let status = if pending {
        Status::Pending
    } else {
        Status::Active
    };
    match state.add_subscriber(email, name, status, now) {
        Ok(AddOutcome::Added(s)) if s.status == Status::Pending => {
            println!("added {} (pending: awaits confirmation)", s.email);
        }
        Ok(AddOutcome::Added(s)) => println!("added {}", s.email),
        Ok(AddOutcome::Activated(s)) => println!("{} was pending; now active", s.email),
        Ok(AddOutcome::Exists(s)) => match s.status {
            Status::Active => println!("{} is already subscribed", s.email),
            Status::Pending => println!("{} is already pending (awaits confirmation)", s.email),
            Status::Unsubscribed | Status::Bounced => {
                eprintln!(
                    "error: {} is {} (since {}); not changed",
                    s.email,
                    s.status,
                    s.since_date()
                );
                return exit(EXIT_PROBLEMS);
            }
        },
        Err(e) => return fail(e),
    }
    ExitCode::SUCCESS
}

fn remove(state: &State, email: &str, now: DateTime<FixedOffset>) -> ExitCode {
    match state.remove_subscriber(email, now) {
        Ok(Some(before)) if before.status == Status::Unsubscribed => println!(
            "{} was already unsubscribed (since {})",
            before.email,
            before.since_date()
        ),
        Ok(Some(before)) => println!("unsubscribed {}", before.email),
        Ok(None) => {
            eprintln!("error: no subscriber {}", email.trim());
            return exit(EXIT_PROBLEMS);
        }
        Err(e) => return fail(e),
    }
    ExitCode::SUCCESS
}

fn list(state: &State, status: Option<Status>) -> ExitCode {
    match state.list_subscribers(status) {
        Ok(subscribers) if subscribers.is_empty() => match status {
            Some(s) => eprintln!("no {s} subscribers"),
            None => eprintln!("no subscribers"),
        },
        Ok(subscribers) => print!("{}", render_table(&subscribers)),
        Err(e) => return fail(e),
    }
    ExitCode::SUCCESS
}

/// One aligned line per subscriber: email, name (`-` for none), status, and
/// the date (UTC) since which they have had that status.
fn render_table(subscribers: &[Subscriber]) -> String {
    let width = |f: fn(&Subscriber) -> usize| subscribers.iter().map(f).max().unwrap_or(0);
    let email_w = width(|s| s.email.chars().count());
    let name_w = width(|s| s.name.as_deref().map_or(1, |n| n.chars().count()));
    let status_w = width(|s| s.status.as_str().len());
    let mut out = String::new();
    for s in subscribers {
        let _ = writeln!(
            out,
            "{:<email_w$}  {:<name_w$}  {:<status_w$}  {}",
            s.email,
            s.name.as_deref().unwrap_or("-"),
            s.status.as_str(),
            s.since_date()
        );
    }
    out
}

fn import(state: &State, file: &Path, pending: bool, now: DateTime<FixedOffset>) -> ExitCode {
    let status = if pending {
        Status::Pending
    } else {
        Status::Active
    };
    let reader = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return exit(EXIT_FATAL);
        }
    };
    let report = match state.import_csv(reader, status, now) {
        Ok(r) => r,
        Err(e @ StateError::Invalid(_)) => {
            eprintln!("error: {}: {e}; nothing was imported", file.display());
            return exit(EXIT_FATAL);
        }
        Err(e) => {
            eprintln!("error: {e}; nothing was imported");
            return exit(EXIT_FATAL);
        }
    };
    for (line, message) in &report.errors {
        eprintln!("{}:{line}: {message}", file.display());
    }
    let duplicates = if report.duplicates > 0 {
        format!(
            " ({} repeated address{} counted once)",
            report.duplicates,
            if report.duplicates == 1 { "" } else { "es" }
        )
    } else {
        String::new()
    };
    println!(
        "imported {}, already there {}, {} bad row{}{duplicates}",
        report.added,
        report.existing,
        report.errors.len(),
        plural(report.errors.len())
    );
    if report.pending > 0 {
        println!(
            "{} new subscriber{} await{} confirmation",
            report.pending,
            plural(report.pending),
            if report.pending == 1 { "s" } else { "" }
        );
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit(EXIT_PROBLEMS)
    }
}

fn export(state: &State) -> ExitCode {
    // export_csv flushes, so a failed write (a full disk) is reported.
    match state.export_csv(std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            exit(EXIT_FATAL)
        }
    }
}
