//! One module per subcommand: glue between the CLI and the library.

pub mod answers;
pub mod build;
pub mod check;

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Loaded};
use crate::diag::Problem;

/// Exit code when some input had errors but the rest was done.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code when nothing could be done.
pub const EXIT_FATAL: u8 = 2;

/// Loads the config named by `--config`, or the default one if present.
pub fn load_config(path: Option<&Path>) -> Loaded {
    match path {
        Some(p) => config::load(p, true),
        None => config::load(Path::new(config::DEFAULT_PATH), false),
    }
}

pub fn print_problems(problems: &[Problem], to_stderr: bool) {
    for p in problems {
        if to_stderr {
            eprintln!("{p}");
        } else {
            println!("{p}");
        }
    }
}

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
