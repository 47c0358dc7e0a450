//! `bookweek check`: report every problem in config, templates and content.
//!
//! Beyond what loading finds, it tries what sending and publishing will do
//! later, with the same code: it reads the DKIM key as the signer does, and
//! renders every template with a sample book (a misspelt variable compiles
//! but fails at render time). Nothing is sent, written or connected to.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use crate::answers::Resolver;
use crate::config::{Config, Loaded};
use crate::content;
use crate::diag::{self, Problem};
use crate::model::Catalog;
use crate::templates::{RenderError, Templates};
use crate::yamlpos::Seg;

use super::{EXIT_FATAL, EXIT_PROBLEMS, exit, load_config, print_problems};

pub fn run(config_path: Option<&Path>) -> ExitCode {
    let loaded = load_config(config_path);
    let settings = &loaded.config.settings;
    // Problems that stop `build` and `digest send` altogether (exit 2)...
    let mut setup: Vec<Problem> = loaded.problems.clone();
    setup.extend(dkim_key_problems(&loaded));
    let (templates, template_problems) = Templates::load(&settings.paths.templates);
    setup.extend(template_problems);
    setup.extend(template_trials(&loaded.config, &templates));
    let mut content = match content::load_with(&loaded.config) {
        Ok(c) => c,
        Err(e) => {
            print_problems(&setup, false);
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    // ...and those that only keep a book out (exit 1).
    let mut books: Vec<Problem> = std::mem::take(&mut content.problems);
    books.extend(author_hints(&content.catalog, loaded.config.max_file_size));
    // An image that is not there is left out of pages, feeds and mails.
    crate::site::assets::resolve(&mut content.catalog, &loaded.config, &mut |p| {
        books.extend(p);
    });
    diag::sort(&mut books);
    let problems: Vec<Problem> = setup.iter().cloned().chain(books).collect();
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
    if setup.iter().any(Problem::is_error) {
        exit(EXIT_FATAL)
    } else if problems.iter().any(Problem::is_error) {
        exit(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

/// The DKIM key read by the code that signs: a missing file or a key lettre
/// cannot sign with is an error at the config's `private_key` line.
fn dkim_key_problems(loaded: &Loaded) -> Option<Problem> {
    let dkim = loaded.config.settings.mail.dkim.as_ref()?;
    if dkim.private_key.as_os_str().is_empty() {
        return None; // reported by the config check
    }
    let e = crate::mail::dkim_config(dkim).err()?;
    Some(loaded.error_at(&["mail", "dkim", "private_key"], e.to_string()))
}

/// A book with every field filled, so that rendering it walks every branch
/// a template is likely to have.
const SAMPLE_BOOK: &str = "---
title: A Sample Book
description: The book `bookweek check` renders every template with.
authors: [Ann Author, Bob Writer]
start: 2022-12-05 00:00:00
end: 2022-12-09 23:59:59
cover: images/sample/cover.jpg
links:
- text: The book's page
  link: https://example.org/sample
archive:
- name: A Reader
  text: What is the *book* about, and who is it for? I read <https://example.org|the preface>.
  replies:
  - name: Ann Author
    text: It is about writing templates that render. It is for everyone who edits them, and the second chapter walks through an example from start to end; see https://example.org/chapter-2 for a preview.
  - name: A Reader
    text: Thank you!
---
Some *markdown* about the book.
";

/// Renders every template with the sample book: the feed items (opening and
/// recap), the digest (subject, HTML, text), the confirmation mail, and
/// every page of the site (with one author who has a people file, and the
/// sample digest as sent) and the daemon's message page.
fn template_trials(config: &Config, templates: &Templates) -> Vec<Problem> {
    let (book, problems) = content::parse_book(
        Path::new("(sample book)"),
        SAMPLE_BOOK,
        &BTreeMap::new(),
        config.timezone,
    );
    let Some(mut book) = book else {
        // A bug, not the user's input: say so rather than pass silently.
        return problems;
    };
    let opened = book.window.start().fixed_offset();
    let closed = (book.window.end() + chrono::Duration::days(1)).fixed_offset();
    let ann = crate::model::Person {
        slug: "ann-author".into(),
        name: "Ann Author".into(),
        path: "(sample person)".into(),
        picture: Some("images/sample/ann.jpg".into()),
        bio: "Ann *writes* books.".into(),
        links: vec![crate::model::Link {
            text: "Website".into(),
            url: "https://example.org/ann".into(),
        }],
        ..Default::default()
    };
    if let Some(first) = book.authors.first_mut() {
        first.slug = Some(ann.slug.clone());
    }
    // A slug a page can be named after (the path above is only for messages).
    book.slug = "sample-book".into();
    let catalog = Catalog::new(vec![book], BTreeMap::from([(ann.slug.clone(), ann)]));
    let mut out: Vec<Problem> = Vec::new();
    let mut report = |p: Problem| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    // Opening alone, then both: a failing recap must not hide a failing opening.
    for now in [opened, closed] {
        if let Err(e) = crate::feeds::items(&catalog, config, templates, now) {
            report(render_problem(&e));
        }
    }
    let due = crate::feeds::due(&catalog, closed);
    let tick = closed.with_timezone(&config.timezone);
    let digest = match crate::digest::render(&catalog, config, templates, tick, &due) {
        Ok(d) => Some(d),
        Err(e) => {
            report(render_problem(&e));
            None
        }
    };
    let sent: Vec<crate::state::DigestRecord> = digest
        .into_iter()
        .map(|d| crate::state::DigestRecord {
            id: 1,
            tick: tick.to_rfc3339(),
            created: tick.to_rfc3339(),
            status: crate::state::DigestStatus::Sent,
            subject: d.subject,
            html: d.html,
            text: d.text,
            body_hash: d.body_hash,
        })
        .collect();
    // The book on now, then closed with its archive and a digest sent.
    for (now, digests) in [(opened, &[][..]), (closed, &sent[..])] {
        let inputs = crate::site::Inputs {
            catalog: &catalog,
            config,
            templates,
            digests,
            now,
        };
        if let Err(crate::site::SiteError::Render(e)) = crate::site::render_all(&inputs) {
            report(render_problem(&e));
        }
    }
    let message = crate::site::message::Message::new("A sample message")
        .paragraph("What the daemon says.")
        .button("Confirm")
        .with_form();
    if let Err(e) = crate::site::message::render(config, templates, &message) {
        report(render_problem(&e));
    }
    if let Err(message) = crate::mail::confirmation(
        config,
        templates,
        "reader@example.com",
        "https://example.org/confirm/sample",
        closed,
    ) {
        report(confirmation_problem(config, &message));
    }
    out
}

fn render_problem(e: &RenderError) -> Problem {
    Problem::error(
        Path::new(&e.path),
        (e.line, 1),
        format!("template failed: {}", e.message),
    )
}

/// `mail::confirmation` reports a failed template as the text of its
/// [`RenderError`] (`path:line:1: error: template failed: …`); take the place
/// back out of it so the problem sorts and reads like every other one.
fn confirmation_problem(config: &Config, message: &str) -> Problem {
    if let Some((place, rest)) = message.split_once(": error: ") {
        let mut parts = place.rsplitn(3, ':');
        if let (Some(_col), Some(Ok(line)), Some(path)) =
            (parts.next(), parts.next().map(str::parse), parts.next())
        {
            return Problem::error(Path::new(path), (line, 1), rest);
        }
    }
    Problem::error(
        &config.settings.paths.templates,
        (1, 1),
        format!("the confirmation mail cannot be built: {message}"),
    )
}

/// Warnings for authors who never appear in their book's archive while a
/// name there is close to theirs: usually a nickname that needs an alias.
fn author_hints(catalog: &Catalog, max_bytes: u64) -> Vec<Problem> {
    let mut out = Vec::new();
    for i in 0..catalog.books.len() {
        let book = match catalog.full_at(i) {
            Ok(book) => book,
            Err(e) => {
                let path = catalog.books.get(i).map(|b| b.path().to_path_buf());
                out.push(Problem::warning(
                    &path.unwrap_or_default(),
                    (1, 1),
                    format!("cannot read its archive back: {e}; its authors are not checked"),
                ));
                continue;
            }
        };
        let book = book.as_ref();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::parse(Path::new("bookweek.yaml"), "").config
    }

    #[test]
    fn builtin_templates_render_the_sample_book() {
        let (templates, problems) = Templates::load(Path::new("/nonexistent"));
        assert!(problems.is_empty());
        assert_eq!(template_trials(&config(), &templates), vec![]);
    }

    #[test]
    fn a_misspelt_variable_in_a_page_template_is_an_error_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("page")).unwrap();
        // Inside the loop over threads: only a closed book with an archive
        // reaches it.
        std::fs::write(
            dir.path().join("page/book.html.j2"),
            "{% for t in threads %}\n{{ t.askr }}{% endfor %}",
        )
        .unwrap();
        std::fs::write(dir.path().join("page/message.html.j2"), "{{ heding }}").unwrap();
        let (templates, problems) = Templates::load(dir.path());
        assert!(problems.is_empty());
        let found: Vec<String> = template_trials(&config(), &templates)
            .iter()
            .map(|p| p.to_string())
            .collect();
        let page = |name: &str, line: usize| {
            format!(
                "{}:{line}:1: error: template failed: undefined value",
                dir.path().join(name).display()
            )
        };
        assert_eq!(
            found,
            [
                page("page/book.html.j2", 2),
                page("page/message.html.j2", 1)
            ]
        );
    }

    #[test]
    fn a_misspelt_variable_is_an_error_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recap.html.j2"), "<p>\n{{ titel }}</p>\n").unwrap();
        std::fs::write(dir.path().join("confirm.txt.j2"), "{{ confirm_link }}\n").unwrap();
        // Inside the loop over answers: the sample book has one to show.
        std::fs::write(
            dir.path().join("digest.txt.j2"),
            "{% for c in closed %}{% for a in c.answers %}\n{{ a.askr }}{% endfor %}{% endfor %}",
        )
        .unwrap();
        let (templates, problems) = Templates::load(dir.path());
        assert!(problems.is_empty());
        let found: Vec<String> = template_trials(&config(), &templates)
            .iter()
            .map(|p| p.to_string())
            .collect();
        let recap = dir.path().join("recap.html.j2");
        let confirm = dir.path().join("confirm.txt.j2");
        let digest = dir.path().join("digest.txt.j2");
        assert_eq!(
            found,
            [
                format!(
                    "{}:2:1: error: template failed: undefined value",
                    recap.display()
                ),
                format!(
                    "{}:2:1: error: template failed: undefined value",
                    digest.display()
                ),
                format!(
                    "{}:1:1: error: template failed: undefined value",
                    confirm.display()
                ),
            ]
        );
    }
}
