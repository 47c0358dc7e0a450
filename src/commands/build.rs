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
    } = match load_site(config_path) {
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
    if content.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} book{} left out because of errors",
            content.rejected.len(),
            crate::diag::plural(content.rejected.len())
        );
        exit(EXIT_PROBLEMS)
    }
}
