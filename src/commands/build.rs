//! `bookweek build`: write the three feeds for what is due at `--now`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::Now;
use crate::feeds;
use crate::publish::write_feeds;

use super::{EXIT_FATAL, EXIT_PROBLEMS, Site, exit, load_site};

pub fn run(config_path: Option<&Path>, out: Option<&Path>, now: Now) -> ExitCode {
    let Site {
        config,
        templates,
        content,
    } = match load_site(config_path, now) {
        Ok(site) => site,
        Err(code) => return code,
    };
    let now = now.at(config.timezone);
    let settings = &config.settings;
    let (items, rendered) = match feeds::render_all(&content.catalog, &config, &templates, now) {
        Ok(built) => built,
        Err(feeds::BuildError::Render(e)) => {
            eprintln!("{e}");
            eprintln!("error: nothing was written");
            return exit(EXIT_FATAL);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    let dir = out.unwrap_or(&settings.paths.output);
    match write_feeds(&rendered, dir) {
        Ok(files) => {
            for (path, changed) in files {
                println!(
                    "{}: {} item{}{}",
                    path.display(),
                    items.len(),
                    crate::diag::plural(items.len()),
                    if changed { "" } else { " (unchanged)" }
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    }
    crate::commands::print_problems(&rendered.left_out, true);
    let code = report_broken_books(&content);
    if rendered.left_out.is_empty() {
        code
    } else {
        exit(EXIT_PROBLEMS)
    }
}

/// The closing line about books with errors, and the exit code: 1 when any
/// book has errors, whether it was left out or its last good version was
/// published instead.
pub fn report_broken_books(content: &crate::content::Loaded) -> ExitCode {
    use crate::diag::plural;
    let left_out = content.left_out();
    let kept = content.kept.len();
    if left_out > 0 {
        eprintln!(
            "error: {left_out} book{} left out because of errors",
            plural(left_out)
        );
    }
    if kept > 0 {
        eprintln!(
            "error: {kept} book{} with errors; {} last good version{} still published",
            plural(kept),
            if kept == 1 { "its" } else { "their" },
            plural(kept)
        );
    }
    if content.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit(EXIT_PROBLEMS)
    }
}
