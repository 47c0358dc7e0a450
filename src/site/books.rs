//! A book's page (`site.book_path`): title, cover, authors with picture,
//! bio and links, the window in the site's time zone with its state, the
//! book's links and body; once the archive is in, its best answers, then
//! every thread under a stable anchor, `#q{n}`, numbered as `pin:` and
//! `bookweek answers` count, so a digest or a recap item can link to the
//! very thread it quotes. Archive text is rendered by [`crate::text`].

use minijinja::{Value, context};
use serde::Serialize;

use super::view::{self, PageMeta, State, Summary};
use super::{Context, Inputs, key};
use crate::answers::{self, Resolver};
use crate::model::{Book, Entry, Link, Person};
use crate::templates::{RenderError, Templates};
use crate::text;

#[derive(Serialize)]
struct BookView {
    #[serde(flatten)]
    summary: Summary,
    start_iso: String,
    end_iso: String,
    start_words: String,
    end_words: String,
    timezone: String,
    body_html: Value,
    links: Vec<Link>,
}

/// An author as the book's page and a person's page show them.
#[derive(Serialize)]
pub(super) struct AuthorView {
    pub name: String,
    /// Their page on this site, if they have one.
    pub url: Option<String>,
    pub picture: Option<String>,
    pub bio_html: Value,
    pub links: Vec<Link>,
}

#[derive(Serialize)]
struct PartView {
    author: String,
    html: Value,
}

#[derive(Serialize)]
struct AnswerView {
    thread: usize,
    asker: String,
    question_html: Value,
    parts: Vec<PartView>,
}

#[derive(Serialize)]
struct ReplyView {
    name: String,
    html: Value,
    /// Written by one of the book's authors.
    author: bool,
}

#[derive(Serialize)]
struct ThreadView {
    number: usize,
    asker: String,
    html: Value,
    replies: Vec<ReplyView>,
}

/// The key of a book's page: the book itself, its authors' people files
/// and its state now.
pub(super) fn key(common: &str, inputs: &Inputs, book: &Entry) -> String {
    let people: Vec<Option<&Person>> = book
        .people()
        .map(|s| inputs.catalog.people.get(s))
        .collect();
    let state = State::of(&book.window, inputs.now);
    key::of_debug(common, "book", &[book, &people, &state])
}

pub(super) fn author_view(ctx: &Context, person: &Person) -> AuthorView {
    let config = ctx.inputs.config;
    AuthorView {
        name: person.name.clone(),
        url: super::person_path(&person.slug).map(|p| view::url(config, &p)),
        picture: person
            .picture
            .as_deref()
            .and_then(|p| config.absolute(p))
            .map(|u| u.to_string()),
        bio_html: Value::from_safe_string(text::markdown_to_html(&person.bio)),
        links: person.links.clone(),
    }
}

pub(super) fn page(
    ctx: &Context,
    templates: &Templates,
    book: &Book,
) -> Result<String, RenderError> {
    let inputs = ctx.inputs;
    let config = inputs.config;
    let catalog = inputs.catalog;
    let summary = view::summary(config, book, inputs.now);
    let authors: Vec<AuthorView> = book
        .authors
        .iter()
        .map(
            |a| match a.slug.as_deref().and_then(|s| catalog.people.get(s)) {
                Some(person) => author_view(ctx, person),
                None => AuthorView {
                    name: a.name.clone(),
                    url: None,
                    picture: None,
                    bio_html: Value::from_safe_string(String::new()),
                    links: Vec::new(),
                },
            },
        )
        .collect();
    let best: Vec<AnswerView> =
        answers::best(book, &catalog.people, config.settings.digest.answers)
            .into_iter()
            .map(|a| AnswerView {
                thread: a.thread,
                asker: a.question.name.clone(),
                question_html: Value::from_safe_string(text::chat_to_html(&a.question.text)),
                parts: a
                    .parts
                    .into_iter()
                    .map(|p| PartView {
                        html: Value::from_safe_string(text::chat_to_html(&p.text)),
                        author: p.author,
                    })
                    .collect(),
            })
            .collect();
    let resolver = Resolver::new(book, &catalog.people);
    let threads: Vec<ThreadView> = book
        .archive
        .iter()
        .enumerate()
        .map(|(i, t)| ThreadView {
            number: i + 1,
            asker: t.post.name.clone(),
            html: Value::from_safe_string(text::chat_to_html(&t.post.text)),
            replies: t
                .replies
                .iter()
                .map(|r| ReplyView {
                    name: r.name.clone(),
                    html: Value::from_safe_string(text::chat_to_html(&r.text)),
                    author: resolver.author_of(&r.name).is_some(),
                })
                .collect(),
        })
        .collect();
    let description = summary.description.clone().or_else(|| {
        Some(format!(
            "{}{}, {}",
            book.title,
            if book.authors.is_empty() {
                String::new()
            } else {
                format!(" by {}", book.author_names())
            },
            summary.window
        ))
    });
    let meta = PageMeta {
        title: book.title.clone(),
        description,
        url: Some(summary.url.clone()),
        image: summary.cover.clone(),
        kind: "article",
    };
    let site = &config.settings.site;
    let book_view = BookView {
        start_iso: book.window.start().to_rfc3339(),
        end_iso: book.window.end().to_rfc3339(),
        start_words: view::time_in_words(book.window.start()),
        end_words: view::time_in_words(book.window.end()),
        timezone: config.timezone.name().to_string(),
        body_html: Value::from_safe_string(text::markdown_to_html(&book.body)),
        links: book.links.clone(),
        summary,
    };
    templates.render(
        "page/book.html.j2",
        context! {
            site => &ctx.site,
            page => meta,
            book => book_view,
            authors => authors,
            answers => best,
            threads => threads,
            participate => &site.participate,
            participate_url => &site.participate_url,
        },
    )
}
