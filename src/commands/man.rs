//! `bookweek man [--out DIR]`: the man pages, from the clap definitions
//! (clap_mangen). bookweek(1) adds EXIT STATUS and ENVIRONMENT sections, from
//! the same lists `--help` shows.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, ENVIRONMENT, EXIT_CODES};

use super::{EXIT_FATAL, exit};

pub fn run(out: Option<&Path>) -> ExitCode {
    let result = match out {
        None => page(Cli::command().disable_help_subcommand(true))
            .map(|page| super::write_stdout(&page)),
        Some(dir) => write_all(dir).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        exit(EXIT_FATAL)
    })
}

/// bookweek.1 and one page per subcommand (bookweek-digest-send.1, …).
fn write_all(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its display name (bookweek-digest-send).
    cmd.build();
    let top = dir.join("bookweek.1");
    std::fs::write(&top, page(cmd.clone())?)
        .with_context(|| format!("cannot write {}", top.display()))?;
    let mut written = vec![top];
    let mut stack: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    while let Some(sub) = stack.pop() {
        stack.extend(sub.get_subcommands().cloned());
        let man = Man::new(sub);
        let path = dir.join(man.get_filename());
        let mut bytes = Vec::new();
        man.render(&mut bytes)?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    written.sort();
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}

/// bookweek(1): clap_mangen's sections, then exit status and environment
/// as lists (clap_mangen would run `--help`'s list into one paragraph).
fn page(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let man = Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for (code, meaning) in EXIT_CODES {
        out.extend_from_slice(format!(".TP\n\\fB{code}\\fR\n{}\n", roff_text(meaning)).as_bytes());
    }
    out.extend_from_slice(b".SH ENVIRONMENT\n");
    for (name, meaning) in ENVIRONMENT {
        out.extend_from_slice(
            format!(".TP\n\\fB{}\\fR\n{}\n", roff_text(name), roff_text(meaning)).as_bytes(),
        );
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Plain text as a roff text line: backslashes escaped, and a leading `.`
/// or `'` kept from being read as a request.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with(['.', '\'']) {
        format!("\\&{s}")
    } else {
        s
    }
}
