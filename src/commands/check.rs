//! `bookweek check`: report every problem in config, templates and content.

use std::path::Path;
use std::process::ExitCode;

use crate::answers::Resolver;
use crate::content;
use crate::diag::{self, Problem};
use crate::model::Catalog;
use crate::templates::Templates;
use crate::yamlpos::Seg;

use super::{EXIT_FATAL, EXIT_PROBLEMS, exit, load_config, print_problems};

pub fn run(config_path: Option<&Path>) -> ExitCode {
    let loaded = load_config(config_path);
    let settings = &loaded.config.settings;
    let mut problems: Vec<Problem> = loaded.problems.clone();
    let (_, template_problems) = Templates::load(&settings.paths.templates);
    problems.extend(template_problems);
    let content = match content::load_with(&loaded.config) {
        Ok(c) => c,
        Err(e) => {
            print_problems(&problems, false);
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    problems.extend(content.problems);
    problems.extend(author_hints(&content.catalog, loaded.config.max_file_size));
    crate::diag::sort(&mut problems[loaded.problems.len()..]);
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

/// Warnings for authors who never appear in their book's archive while a
/// name there is close to theirs: usually a nickname that needs an alias.
fn author_hints(catalog: &Catalog, max_bytes: u64) -> Vec<Problem> {
    let mut out = Vec::new();
    for book in &catalog.books {
        for hint in Resolver::new(book, &catalog.people).missing_author_hints(book) {
            let author = &book.authors[hint.author];
            let fix = match &author.slug {
                Some(slug) => format!(
                    "`aliases: [\"{}\"]` in the people file of {slug}",
                    hint.alias
                ),
                None => format!(
                    "`aliases: {{ \"{}\": {} }}` to this book",
                    hint.alias, author.name
                ),
            };
            out.push(Problem::warning(
                &book.path,
                content::locate_in_file(
                    &book.path,
                    &[Seg::Key("authors"), Seg::Index(hint.author)],
                    max_bytes,
                ),
                format!(
                    "author `{}` never appears in the archive, but `{}` wrote {} message{} there: did you mean to add alias '{}' for {}? (add {fix})",
                    hint.author_display,
                    hint.alias,
                    hint.messages,
                    diag::plural(hint.messages),
                    hint.alias,
                    hint.author_display,
                ),
            ));
        }
    }
    out
}
