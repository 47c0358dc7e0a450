//! One module per subcommand: glue between the CLI and the library.

pub mod answers;
pub mod archive;
pub mod build;
pub mod check;
pub mod completions;
pub mod digest;
pub mod dkim;
pub mod man;
pub mod once;
pub mod subscribers;

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use crate::config::{self, Loaded};
use crate::diag::Problem;

/// Exit code when some input had errors but the rest was done.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code when nothing could be done.
pub const EXIT_FATAL: u8 = 2;
/// Exit code when work was left for a later run (the mail server was
/// unreachable): EX_TEMPFAIL from sysexits.h, which cron wrappers know.
pub const EXIT_TEMPFAIL: u8 = 75;
/// Exit code when another run holds the lock and this one did nothing.
pub const EXIT_LOCKED: u8 = 3;

/// Loads the config named by `--config`, or the default one if present.
pub fn load_config(path: Option<&Path>) -> Loaded {
    match path {
        Some(p) => config::load(p, true),
        None => config::load(Path::new(config::DEFAULT_PATH), false),
    }
}

/// Config, templates and content loaded for a command that publishes or
/// sends: problems are printed to stderr; a broken config or template stops
/// the command (nothing is published with the wrong settings), a broken book
/// only leaves that book out, or keeps its last good version published when
/// the state database remembers one.
pub struct Site {
    pub config: crate::config::Config,
    pub templates: crate::templates::Templates,
    pub content: crate::content::Loaded,
}

pub fn load_site(config_path: Option<&Path>, now: crate::cli::Now) -> Result<Site, ExitCode> {
    let config = checked_config(config_path)?;
    let now = now.at(config.timezone);
    site_from(config, now)
}

/// The config, or the exit code when it has errors (printed to stderr).
pub fn checked_config(config_path: Option<&Path>) -> Result<crate::config::Config, ExitCode> {
    let loaded = load_config(config_path);
    print_problems(&loaded.problems, true);
    if loaded.has_errors() {
        eprintln!("error: the config has errors; nothing was done");
        return Err(exit(EXIT_FATAL));
    }
    Ok(loaded.config)
}

/// Templates and content for an already checked config, at `now` (when
/// good versions of books are read).
pub fn site_from(
    config: crate::config::Config,
    now: DateTime<FixedOffset>,
) -> Result<Site, ExitCode> {
    let (templates, problems) = crate::templates::Templates::load(&config.settings.paths.templates);
    print_problems(&problems, true);
    if !problems.is_empty() {
        eprintln!("error: the templates have errors; nothing was done");
        return Err(exit(EXIT_FATAL));
    }
    // The state database keeps the last good version of every book; without
    // it (it cannot be opened) broken books are only left out.
    let mut state = match crate::state::State::open(&config.settings.paths.state) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("warning: {e}; books broken by an edit are left out");
            None
        }
    };
    let store = state.as_mut().map(|s| s as &mut dyn crate::content::Store);
    let loaded =
        crate::content::load_cached(&config, &mut crate::content::Cache::one_run(), store, now);
    let mut content = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(exit(EXIT_FATAL));
        }
    };
    print_problems(&content.problems, true);
    // Images that are not there are left out of pages, feeds and mails:
    // said as they are found.
    crate::site::assets::resolve(&mut content.catalog, &config, &mut |p| {
        print_problems(&p, true);
    });
    Ok(Site {
        config,
        templates,
        content,
    })
}

/// The key of subscriber links: BOOKWEEK_SECRET, or the one kept in the state.
pub fn signer(
    config: &crate::config::Config,
    state: &crate::state::State,
) -> Result<crate::token::Signer, crate::state::StateError> {
    Ok(match &config.secret {
        Some(key) => crate::token::Signer::new(key),
        None => crate::token::Signer::new(&state.stored_secret()?),
    })
}

/// One problem a line, through one buffer: standard error is unbuffered,
/// and a site whose covers are all elsewhere has a warning for each of
/// thousands of books (each `eprintln!` would be several writes).
pub fn print_problems(problems: &[Problem], to_stderr: bool) {
    use std::io::Write as _;
    fn write_all(out: impl std::io::Write, problems: &[Problem]) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
        for p in problems {
            writeln!(out, "{p}")?;
        }
        out.flush()
    }
    // Like `eprintln!`, a closed stream is not an error worth stopping for.
    let _ = match to_stderr {
        true => write_all(std::io::stderr().lock(), problems),
        false => write_all(std::io::stdout().lock(), problems),
    };
}

/// Every book of `catalog`, in order, read back where the load filed them
/// (a command that looks books up by slug); `Err` after saying why not.
pub(crate) fn entries(
    catalog: &crate::model::Catalog,
) -> Result<Vec<std::borrow::Cow<'_, crate::model::Entry>>, ExitCode> {
    catalog.books.all().map_err(|e| {
        eprintln!("error: {e}");
        exit(EXIT_FATAL)
    })
}

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// Writes generated text (a completion script, a man page) to standard
/// output; a reader that stops early (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            exit(EXIT_FATAL)
        }
    }
}
