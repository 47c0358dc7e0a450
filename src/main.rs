//! The `bookweek` binary: parses the command line and hands over to a command.

use std::process::ExitCode;

use bookweek::cli::{Cli, Command};
use bookweek::commands;
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    }
}
