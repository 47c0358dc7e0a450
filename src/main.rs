//! The `bookweek` binary: parses the command line, sets up the logs, reads
//! the clock once and hands over to a command.

use std::io::IsTerminal;
use std::process::ExitCode;

use bookweek::cli::{Cli, Command, Now};
use bookweek::commands;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// bookweek's own lines from info up; other crates' (the scheduler, the HTTP
/// stack) only when something is wrong.
const DEFAULT_LOG_FILTER: &str = "warn,bookweek=info";

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    // A command killed mid-write must not leave a temp file in a served
    // folder; the daemon handles its own signals.
    if !matches!(cli.command, Command::Run)
        && let Err(e) = bookweek::publish::remove_temp_files_on_signals()
    {
        tracing::warn!("cannot watch for signals: {e}");
    }
    // The only place that reads the clock: everything below takes `now`
    // (a local `--now` is read in site.timezone once the config is loaded).
    let now = Now {
        arg: cli.now,
        clock: chrono::Utc::now(),
    };
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
        Command::Run => bookweek::daemon::run(config, now),
        Command::Once { out } => commands::once::run(config, out.as_deref(), now),
        Command::Digest { command } => commands::digest::run(config, command, now),
        Command::Subscribers { command } => commands::subscribers::run(config, command, now),
        Command::Dkim { command } => commands::dkim::run(config, command),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Man { out } => commands::man::run(out.as_deref()),
        Command::Archive { command } => commands::archive::run(config, command, now),
    }
}

/// Logs go to stderr, filtered by RUST_LOG (default: [`DEFAULT_LOG_FILTER`]),
/// with colours only when stderr is a terminal and NO_COLOR is not set
/// (https://no-color.org), so `once >> cron.log 2>&1` stays plain text.
fn init_logs() {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // The HTTP client's debug and trace logs would show the wire, the Slack
    // token included: it speaks up only to warn, whatever RUST_LOG says.
    for cap in ["ureq=warn", "ureq_proto=warn"] {
        if let Ok(d) = cap.parse() {
            filter = filter.add_directive(d);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_target(false)
        .init();
}
