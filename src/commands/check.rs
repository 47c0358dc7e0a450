//! `bookweek check`: report every problem in config, templates and content.

use std::path::Path;
use std::process::ExitCode;

use crate::content;
use crate::diag::{self, Problem};
use crate::templates::Templates;

use super::{EXIT_FATAL, EXIT_PROBLEMS, exit, load_config, print_problems};

pub fn run(config_path: Option<&Path>) -> ExitCode {
    let loaded = load_config(config_path);
    let settings = &loaded.config.settings;
    let mut problems: Vec<Problem> = loaded.problems.clone();
    let (_, template_problems) = Templates::load(&settings.paths.templates);
    problems.extend(template_problems);
    let content = match content::load(&settings.paths.content, loaded.config.timezone) {
        Ok(c) => c,
        Err(e) => {
            print_problems(&problems, false);
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    problems.extend(content.problems);
    print_problems(&problems, false);
    let what = format!(
        "checked {} file{} ({} book{} ok, {} left out)",
        content.files,
        diag::plural(content.files),
        content.catalog.books.len(),
        diag::plural(content.catalog.books.len()),
        content.rejected.len()
    );
    println!("{}", diag::summary(&problems, &what));
    if problems.iter().any(Problem::is_error) {
        exit(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}
