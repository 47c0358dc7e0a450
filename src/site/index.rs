//! The pages that list books: the home page (the book on now, the next one,
//! the latest weeks and the subscribe form), the archive of every book (on
//! now, upcoming, then past ones newest first, [`super::PER_PAGE`] to a
//! page) and a page per person who authored a book.

use minijinja::context;
use serde::Serialize;

use super::books::author_view;
use super::view::{self, PageMeta, Pager, State, Summary};
use super::{ARCHIVE, Context, Inputs, key};
use crate::model::Person;
use crate::templates::{RenderError, Templates};

/// Closed books the home page shows.
const RECENT: usize = 4;

#[derive(Debug, Serialize)]
pub(super) struct HomeView {
    current: Option<Summary>,
    upcoming: Option<Summary>,
    recent: Vec<Summary>,
    books: usize,
    participate: String,
    participate_url: Option<String>,
}

pub(super) fn home_view(inputs: &Inputs) -> Result<HomeView, RenderError> {
    let (config, now) = (inputs.config, inputs.now);
    let books = &inputs.catalog.books;
    let summary = |i: usize| view::listed_at(inputs.catalog, config, i, now);
    // By window: only the books shown are read back.
    let first = |state: State| (0..books.len()).find(|&i| State::of(books.window(i), now) == state);
    let site = &config.settings.site;
    Ok(HomeView {
        current: first(State::Open).map(summary).transpose()?,
        upcoming: first(State::Upcoming).map(summary).transpose()?,
        recent: (0..books.len())
            .rev()
            .filter(|&i| State::of(books.window(i), now) == State::Closed)
            .take(RECENT)
            .map(summary)
            .collect::<Result<_, _>>()?,
        books: books.len(),
        participate: site.participate.clone(),
        participate_url: site.participate_url.clone(),
    })
}

pub(super) fn home(ctx: &Context, templates: &Templates) -> Result<String, RenderError> {
    let config = ctx.inputs.config;
    let v = home_view(ctx.inputs)?;
    let meta = PageMeta {
        title: config.settings.site.title.clone(),
        description: Some(config.settings.site.description.clone()),
        url: Some(config.base_url.to_string()),
        image: v
            .current
            .as_ref()
            .or(v.upcoming.as_ref())
            .and_then(|b| b.cover.clone()),
        kind: "website",
    };
    templates.render(
        "page/home.html.j2",
        context! {
            site => &ctx.site,
            page => meta,
            current => v.current,
            upcoming => v.upcoming,
            recent => v.recent,
            books => v.books,
            participate => v.participate,
            participate_url => v.participate_url,
        },
    )
}

/// Every book in archive order, by place in the catalog: the one on now,
/// the upcoming ones (the next first), then the past ones, newest first.
/// Computed once per build (each page of the archive takes its slice of
/// it, and reads back only its books).
pub(super) fn archive_order(inputs: &Inputs) -> Vec<usize> {
    let now = inputs.now;
    let books = &inputs.catalog.books;
    let of = |state: State| {
        books
            .windows()
            .enumerate()
            .filter(move |(_, (w, _))| State::of(w, now) == state)
            .map(|(i, _)| i)
    };
    of(State::Open)
        .chain(of(State::Upcoming))
        .chain(of(State::Closed).rev())
        .collect()
}

pub(super) fn archive_pages(catalog: &crate::model::Catalog) -> usize {
    view::page_count(catalog.books.len())
}

/// `archive.html`, then `archive/page-2.html`, …
pub(super) fn archive_path(page: usize) -> String {
    if page == 1 {
        ARCHIVE.to_string()
    } else {
        format!("archive/page-{page}.html")
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Group {
    id: &'static str,
    heading: &'static str,
    books: Vec<Summary>,
}

#[derive(Debug, Serialize)]
pub(super) struct ArchiveView {
    total: usize,
    groups: Vec<Group>,
    pager: Pager,
}

pub(super) fn archive_view(
    inputs: &Inputs,
    ordered: &[usize],
    page: usize,
) -> Result<ArchiveView, RenderError> {
    let config = inputs.config;
    let pages = view::page_count(ordered.len());
    let mut groups: Vec<Group> = Vec::new();
    for book in ordered
        .iter()
        .skip((page - 1) * super::PER_PAGE)
        .take(super::PER_PAGE)
    {
        let s = view::listed_at(inputs.catalog, config, *book, inputs.now)?;
        let (id, heading) = match s.state {
            State::Open => ("on-now", "On now"),
            State::Upcoming => ("upcoming", "Upcoming"),
            State::Closed => ("past", "Past weeks"),
        };
        match groups.last_mut() {
            Some(g) if g.id == id => g.books.push(s),
            _ => groups.push(Group {
                id,
                heading,
                books: vec![s],
            }),
        }
    }
    Ok(ArchiveView {
        total: ordered.len(),
        groups,
        pager: view::pager(page, pages, |n| view::url(config, &archive_path(n))),
    })
}

pub(super) fn archive(
    ctx: &Context,
    templates: &Templates,
    page: usize,
) -> Result<String, RenderError> {
    let config = ctx.inputs.config;
    let v = archive_view(ctx.inputs, &ctx.archive, page)?;
    let meta = PageMeta {
        title: if v.pager.pages > 1 {
            format!("All books, page {page}")
        } else {
            "All books".into()
        },
        description: Some(format!(
            "Every Book of the Week of {}: on now, upcoming and past.",
            config.settings.site.title
        )),
        url: Some(view::url(config, &archive_path(page))),
        image: None,
        kind: "website",
    };
    templates.render(
        "page/books.html.j2",
        context! {
            site => &ctx.site,
            page => meta,
            total => v.total,
            groups => v.groups,
            pager => v.pager,
        },
    )
}

/// A person's books (by place in the catalog, see `Context::authors`),
/// newest first.
fn books_of(inputs: &Inputs, books: &[usize]) -> Result<Vec<Summary>, RenderError> {
    books
        .iter()
        .rev()
        .map(|&i| view::listed_at(inputs.catalog, inputs.config, i, inputs.now))
        .collect()
}

/// The key of a person's page: their people file and their books as the
/// page lists them.
pub(super) fn person_key(
    common: &str,
    inputs: &Inputs,
    person: &Person,
    books: &[usize],
) -> Result<String, RenderError> {
    let books = books_of(inputs, books)?;
    Ok(key::of_debug(common, "person", &[person, &books]))
}

pub(super) fn person(
    ctx: &Context,
    templates: &Templates,
    slug: &str,
) -> Result<String, RenderError> {
    let inputs = ctx.inputs;
    let config = inputs.config;
    let (Some(person), Some(books)) = (inputs.catalog.people.get(slug), ctx.authors.get(slug))
    else {
        // Planned from the same catalog: a person with a page exists.
        return Ok(String::new());
    };
    let books = books_of(inputs, books)?;
    let author = author_view(ctx, person);
    let titles: Vec<&str> = books.iter().map(|b| b.title.as_str()).collect();
    let meta = PageMeta {
        title: person.name.clone(),
        description: Some(format!(
            "{} answered the questions of {} about {}.",
            person.name,
            config.settings.site.title,
            titles.join(", ")
        )),
        url: author.url.clone(),
        image: author.picture.clone(),
        kind: "profile",
    };
    templates.render(
        "page/person.html.j2",
        context! {
            site => &ctx.site,
            page => meta,
            person => author,
            books => books,
        },
    )
}
