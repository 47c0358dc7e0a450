//! `bookweek completions <shell>`: the shell completion script, from the
//! clap definitions (clap_complete), on standard output.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn run(shell: Shell) -> ExitCode {
    let mut script = Vec::new();
    // Into memory first: clap_complete panics when its writer fails (a
    // closed pipe), and writing to a Vec cannot.
    clap_complete::generate(shell, &mut Cli::command(), "bookweek", &mut script);
    super::write_stdout(&script)
}
