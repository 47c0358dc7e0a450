//! `bookweek build`: write the three feeds for what is due at `--now`.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use crate::content;
use crate::feeds::{self, Rendered};
use crate::publish::write_if_changed;
use crate::templates::Templates;

use super::{EXIT_FATAL, EXIT_PROBLEMS, exit, load_config, print_problems};

pub fn run(config_path: Option<&Path>, out: Option<&Path>, now: DateTime<FixedOffset>) -> ExitCode {
    let loaded = load_config(config_path);
    print_problems(&loaded.problems, true);
    if loaded.has_errors() {
        eprintln!("error: the config has errors; nothing was written");
        return exit(EXIT_FATAL);
    }
    let config = loaded.config;
    let settings = &config.settings;
    let (templates, problems) = Templates::load(&settings.paths.templates);
    print_problems(&problems, true);
    if !problems.is_empty() {
        eprintln!("error: the templates have errors; nothing was written");
        return exit(EXIT_FATAL);
    }
    let content = match content::load(&settings.paths.content, config.timezone) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    print_problems(&content.problems, true);
    let items = match feeds::items(&content.catalog, &config, &templates, now) {
        Ok(items) => items,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("error: nothing was written");
            return exit(EXIT_FATAL);
        }
    };
    let rendered = match Rendered::new(&config, &items) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    let dir = out.unwrap_or(&settings.paths.output);
    for (name, bytes) in rendered.files() {
        let path = dir.join(name);
        match write_if_changed(&path, bytes.as_bytes()) {
            Ok(changed) => println!(
                "{}: {} item{}{}",
                path.display(),
                items.len(),
                crate::diag::plural(items.len()),
                if changed { "" } else { " (unchanged)" }
            ),
            Err(e) => {
                eprintln!("error: {e}");
                return exit(EXIT_FATAL);
            }
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
