//! The `bookweek` binary: parses the command line and hands over to a command.

use std::process::ExitCode;

use bookweek::cli::{Cli, Command};
use bookweek::commands;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr, filtered by RUST_LOG (default: info).
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The HTTP client's debug and trace logs would show the wire, the Slack
    // token included: it speaks up only to warn.
    for cap in ["ureq=warn", "ureq_proto=warn"] {
        if let Ok(d) = cap.parse() {
            filter = filter.add_directive(d);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    // A command killed mid-write must not leave a temp file in a served
    // folder; the daemon handles its own signals.
    if !matches!(cli.command, Command::Run)
        && let Err(e) = bookweek::publish::remove_temp_files_on_signals()
    {
        tracing::warn!("cannot watch for signals: {e}");
    }
    // The only place that reads the clock: everything below takes `now`.
    let now = cli.now.unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    let config = cli.config.as_deref();
    match cli.command {
        Command::Check => commands::check::run(config),
        Command::Build { out } => commands::build::run(config, out.as_deref(), now),
        Command::Answers {
            slug,
            limit,
            explain,
            format,
        } => commands::answers::run(config, &slug, limit, explain, format),
        Command::Run => bookweek::daemon::run(config, cli.now),
        Command::Once { out } => commands::once::run(config, out.as_deref(), now),
        Command::Digest { command } => commands::digest::run(config, command, now),
        Command::Subscribers { command } => commands::subscribers::run(config, command, now),
        Command::Dkim { command } => commands::dkim::run(config, command),
        Command::Archive { command } => commands::archive::run(config, command, now),
    }
}
