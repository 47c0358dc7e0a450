//! The web site bookweek publishes beside the feeds: a page per book (when
//! `site.book_path` is a path under `site.base_url`), the home page, the
//! archive of every book, a page per author, every digest sent and their
//! archive, the images these show, `sitemap.xml` and `robots.txt`. Every
//! page comes from a `page/*.j2` template (built in, overridable from
//! `paths.templates`); `build`, `once` and the daemon write the files with
//! [`publish`], and the daemon serves the very bytes it wrote.
//!
//! - Pages depend on `now` only through each book's state (upcoming, on
//!   now, closed), so a rebuild between two window boundaries gives the
//!   same bytes ([`next_change`] says when the next boundary is).
//! - Incremental: each file has an input key (what it is made from, the
//!   templates, the settings and this binary). A [`Manifest`] remembers the
//!   keys of the last build; a file whose key has not changed is neither
//!   rendered nor written again, and a file the last build made that is no
//!   longer part of the site is removed. Files bookweek did not make are
//!   never touched.
//! - Archive and body text go through [`crate::text`] like the feeds, and
//!   every page carries a Content-Security-Policy that runs no script.
//!
//! One file per concern: [`view`] (what every page shows: the site, a book
//! as a card), [`books`] (a book's page), [`index`] (home, archive, people),
//! [`digests`] (the digests' pages), [`assets`] (images), [`sitemap`]
//! (`sitemap.xml`, `robots.txt`), [`key`] (input keys).

pub mod assets;
mod books;
mod digests;
mod index;
mod key;
pub mod message;
mod sitemap;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::diag::Problem;
use crate::model::{self, Catalog};
use crate::publish::{WriteError, write_if_changed};
use crate::state::DigestRecord;
use crate::templates::{RenderError, Templates};

pub use view::{PageMeta, SiteView, site_view};

/// The Content-Security-Policy of every page: no script, no frame, styles
/// only inline, images from the site and https, forms only back to it.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The same policy as a page carries it in a `<meta>` element, for web
/// servers that send no header (`frame-ancestors` works only as a header).
pub const META_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; \
                            form-action 'self'; base-uri 'none'";

/// Books on a page of the archive, digests on a page of theirs.
pub const PER_PAGE: usize = 30;

/// The output paths of the pages that are not books, people or digests.
pub const HOME: &str = "index.html";
pub const ARCHIVE: &str = "archive.html";
pub const DIGESTS: &str = "digests.html";
pub const SITEMAP: &str = "sitemap.xml";
pub const ROBOTS: &str = "robots.txt";

/// What the site is made of.
pub struct Inputs<'a> {
    pub catalog: &'a Catalog,
    pub config: &'a Config,
    pub templates: &'a Templates,
    /// The digests sent, newest first ([`crate::state::State::published_digests`]).
    pub digests: &'a [DigestRecord],
    pub now: DateTime<FixedOffset>,
}

/// One file of the site as written and served: its path under the output
/// folder (also its path under `site.base_url`), its type and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub path: String,
    pub content_type: &'static str,
    pub bytes: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A template failed (its message names the file and line).
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// What the last build made, so the next one redoes only what changed:
/// each file's input key and type, and (in the daemon, which serves them)
/// its bytes. Saved between runs with [`Manifest::to_json`].
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    out: PathBuf,
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    content_type: &'static str,
    bytes: Option<Bytes>,
}

#[derive(Serialize, Deserialize)]
struct SavedManifest {
    out: PathBuf,
    keys: BTreeMap<String, String>,
}

impl Manifest {
    /// The output folder and the key of every file, as JSON (no bytes).
    pub fn to_json(&self) -> String {
        let saved = SavedManifest {
            out: self.out.clone(),
            keys: self
                .entries
                .iter()
                .map(|(p, e)| (p.clone(), e.key.clone()))
                .collect(),
        };
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// A manifest saved by [`Manifest::to_json`]; an unreadable one is empty
    /// (the next build then renders everything).
    pub fn from_json(json: &str) -> Self {
        let Ok(saved) = serde_json::from_str::<SavedManifest>(json) else {
            return Self::default();
        };
        Self {
            out: saved.out,
            entries: saved
                .keys
                .into_iter()
                .map(|(path, key)| {
                    let content_type = content_type(&path);
                    (
                        path,
                        Entry {
                            key,
                            content_type,
                            bytes: None,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Every file whose bytes the manifest holds (all of them after a
    /// [`publish`] with `keep_bytes`), by path.
    pub fn files(&self) -> Vec<File> {
        self.entries
            .iter()
            .filter_map(|(path, e)| {
                e.bytes.as_ref().map(|b| File {
                    path: path.clone(),
                    content_type: e.content_type,
                    bytes: b.clone(),
                })
            })
            .collect()
    }

    /// The paths of the files the build made.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// What a [`publish`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub pages: usize,
    pub images: usize,
    /// Files whose key changed (or that were missing), rendered or read again.
    pub rendered: usize,
    /// Files whose bytes changed on disk.
    pub written: usize,
    /// Files of the previous build that are no longer part of the site.
    pub removed: usize,
    /// Files that could not be made (two pages at one path, an image that
    /// cannot be read: warnings) or written (errors); the rest were.
    pub problems: Vec<Problem>,
}

/// How much of the previous build a [`publish`] may reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Render every page (`build`); the previous manifest only says which
    /// files are gone.
    Nothing,
    /// Skip files whose key is unchanged and that are still on disk.
    Unchanged,
}

/// Builds the site and writes it into `out`: only the files whose inputs
/// changed since `previous` (with [`Reuse::Unchanged`]), each only when its
/// bytes changed, atomically. With `keep_bytes` the returned manifest holds
/// every file's bytes (the daemon serves them, written or not). Stops at a
/// template that fails; a file that cannot be written is an error in the
/// report, and is made again next time.
pub fn publish(
    inputs: &Inputs,
    out: &Path,
    previous: &Manifest,
    reuse: Reuse,
    keep_bytes: bool,
) -> Result<(Manifest, Report), SiteError> {
    let ctx = Context::new(inputs)?;
    let (jobs, mut problems) = plan(&ctx);
    // Temp files a killed run left in any folder the site writes to.
    let folders: BTreeSet<PathBuf> = jobs
        .iter()
        .filter_map(|j| out.join(&j.path).parent().map(Path::to_path_buf))
        .collect();
    for folder in &folders {
        crate::publish::remove_leftovers(folder);
    }
    let same_out = previous.out == out;
    let mut report = Report::default();
    let mut manifest = Manifest {
        out: out.to_path_buf(),
        entries: BTreeMap::new(),
    };
    // Pages are made and written in parallel; a template that fails stops
    // the rest as soon as the workers see it.
    let made: Vec<Outcome> = jobs
        .par_iter()
        .map(|job| {
            let before = previous
                .entries
                .get(&job.path)
                .filter(|e| same_out && reuse == Reuse::Unchanged && e.key == job.key);
            let dest = out.join(&job.path);
            if let Some(e) = before
                && (e.bytes.is_some() || !keep_bytes)
                && dest.is_file()
            {
                return Ok(Outcome::Kept(e.clone()));
            }
            let bytes = match render(&ctx, job) {
                Ok(b) => b,
                Err(Made::Problem(p)) => return Ok(Outcome::Problem(p)),
                Err(Made::Error(e)) => return Err(e),
            };
            Ok(match write_if_changed(&dest, &bytes) {
                Ok(changed) => Outcome::Made {
                    entry: Entry {
                        key: job.key.clone(),
                        content_type: job.content_type,
                        bytes: keep_bytes.then_some(bytes),
                    },
                    written: changed,
                },
                Err(e) => Outcome::Failed {
                    entry: Entry {
                        // No key: the next build makes it again.
                        key: String::new(),
                        content_type: job.content_type,
                        bytes: keep_bytes.then_some(bytes),
                    },
                    problem: write_problem(&e),
                },
            })
        })
        .collect::<Result<_, SiteError>>()?;
    for (job, outcome) in jobs.iter().zip(made) {
        if job.content_type.starts_with("image/") {
            report.images += 1;
        } else {
            report.pages += 1;
        }
        let entry = match outcome {
            Outcome::Kept(entry) => entry,
            Outcome::Problem(p) => {
                problems.push(p);
                continue;
            }
            Outcome::Made { entry, written } => {
                report.rendered += 1;
                report.written += usize::from(written);
                entry
            }
            Outcome::Failed { entry, problem } => {
                report.rendered += 1;
                problems.push(problem);
                entry
            }
        };
        manifest.entries.insert(job.path.clone(), entry);
    }
    // Only what bookweek made before is removed, and only when it would
    // have been in this folder.
    if same_out {
        for path in previous.entries.keys() {
            if !manifest.entries.contains_key(path) && remove(&out.join(path)) {
                report.removed += 1;
            }
        }
    }
    report.problems = problems;
    Ok((manifest, report))
}

/// Renders every file in memory, writing nothing: what `check` tries.
pub fn render_all(inputs: &Inputs) -> Result<Vec<File>, SiteError> {
    let ctx = Context::new(inputs)?;
    let (jobs, _) = plan(&ctx);
    let mut files = Vec::new();
    for job in jobs {
        match render(&ctx, &job) {
            Ok(bytes) => files.push(File {
                path: job.path,
                content_type: job.content_type,
                bytes,
            }),
            Err(Made::Error(e)) => return Err(e),
            Err(Made::Problem(_)) => {}
        }
    }
    Ok(files)
}

fn write_problem(e: &WriteError) -> Problem {
    Problem::error(
        Path::new(&e.path),
        (0, 0),
        format!("cannot write: {}", e.source),
    )
}

fn remove(path: &Path) -> bool {
    std::fs::remove_file(path).is_ok()
}

/// The next instant after `now` at which a page changes by itself: a
/// window opens or closes (the book's state on its page, the home page and
/// the archive).
pub fn next_change(catalog: &Catalog, now: DateTime<FixedOffset>) -> Option<DateTime<Tz>> {
    catalog
        .books
        .windows()
        .flat_map(|(w, _)| [w.start(), w.end()])
        .filter(|t| *t > now)
        .min()
}

/// The type a site file is served with, from its name.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "xml" => "application/xml; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        other => assets::image_type(other).unwrap_or("application/octet-stream"),
    }
}

/// The output path of a person's page, when their slug makes a safe file
/// name (`short:` is free text).
pub fn person_path(slug: &str) -> Option<String> {
    safe_name(slug).then(|| format!("people/{slug}.html"))
}

/// The output path of a book's page, when bookweek makes book pages.
pub fn book_path(config: &Config, book: &model::Entry) -> Option<String> {
    if !config.makes_book_pages() || !safe_name(book.slug()) {
        return None;
    }
    config
        .book_url(book.slug())
        .and_then(|u| config.output_path(&u))
}

/// A file name with no path in it: letters, digits, `-`, `_` and `.`, not
/// starting with a dot.
fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One file to make.
struct Job {
    path: String,
    content_type: &'static str,
    key: String,
    what: What,
}

enum What {
    Home,
    Archive { page: usize },
    Book { index: usize },
    Person { slug: String },
    Digest { index: usize },
    Digests { page: usize },
    Image { source: PathBuf },
    Sitemap { urls: Vec<String> },
    Robots,
}

/// Everything a page is rendered from, computed once per build.
struct Context<'a> {
    inputs: &'a Inputs<'a>,
    site: SiteView,
    /// Every book in the archive's order, by place in the catalog.
    archive: Vec<usize>,
    /// The people who authored a book, by slug, with a page: their books,
    /// by place in the catalog, in its order.
    authors: BTreeMap<&'a str, Vec<usize>>,
    /// The path of each book's page, when the site makes them.
    book_pages: Vec<(String, usize)>,
    /// Every cover, as written.
    covers: BTreeSet<String>,
}

impl<'a> Context<'a> {
    /// What the pages share, from one pass over the catalog's books (a
    /// long catalog's entries are read back from its file: once, not once
    /// a page).
    fn new(inputs: &'a Inputs<'a>) -> Result<Self, SiteError> {
        let (catalog, config) = (inputs.catalog, inputs.config);
        let mut authors: BTreeMap<&'a str, Vec<usize>> = BTreeMap::new();
        let mut book_pages = Vec::new();
        let mut covers = BTreeSet::new();
        for (i, entry) in catalog.books.iter().enumerate() {
            let entry = entry.map_err(|e| view::read_back(config, &e))?;
            for slug in entry.people() {
                if let Some(person) = catalog.people.get(slug)
                    && person_path(&person.slug).is_some()
                {
                    let books = authors.entry(person.slug.as_str()).or_default();
                    // An author named twice lists the book once.
                    if books.last() != Some(&i) {
                        books.push(i);
                    }
                }
            }
            if let Some(path) = book_path(config, &entry) {
                book_pages.push((path, i));
            }
            if let Some(cover) = entry.cover() {
                covers.insert(cover.to_owned());
            }
        }
        Ok(Self {
            inputs,
            site: site_view(config),
            archive: index::archive_order(inputs),
            authors,
            book_pages,
            covers,
        })
    }
}

/// Why a file was not made: a problem that leaves only it out, or an
/// error that stops the build.
enum Made {
    Problem(Problem),
    Error(SiteError),
}

/// What became of one file of a [`publish`].
enum Outcome {
    /// Unchanged since the last build: not made again.
    Kept(Entry),
    /// Made, and written when its bytes changed.
    Made { entry: Entry, written: bool },
    /// Made, but it could not be written.
    Failed { entry: Entry, problem: Problem },
    /// Not made (an image that cannot be read, an archive that cannot be
    /// read back).
    Problem(Problem),
}

impl From<RenderError> for Made {
    fn from(e: RenderError) -> Self {
        Made::Error(SiteError::Render(e))
    }
}

/// Every file of the site with its key, in a stable order; a problem for
/// each file that would land where another already is.
fn plan(ctx: &Context) -> (Vec<Job>, Vec<Problem>) {
    let inputs = ctx.inputs;
    let config = inputs.config;
    let mut files: Vec<(String, What)> = vec![(HOME.into(), What::Home)];
    for page in 1..=index::archive_pages(inputs.catalog) {
        files.push((index::archive_path(page), What::Archive { page }));
    }
    for (path, index) in &ctx.book_pages {
        files.push((path.clone(), What::Book { index: *index }));
    }
    for &slug in ctx.authors.keys() {
        if let Some(path) = person_path(slug) {
            files.push((
                path,
                What::Person {
                    slug: slug.to_string(),
                },
            ));
        }
    }
    for (index, d) in inputs.digests.iter().enumerate() {
        files.push((digests::path(d.id), What::Digest { index }));
    }
    for page in 1..=digests::list_pages(inputs.digests) {
        files.push((digests::list_path(page), What::Digests { page }));
    }
    let pictures = ctx.authors.keys().filter_map(|slug| {
        let person = inputs.catalog.people.get(*slug)?;
        person.picture.as_deref()
    });
    let covers = ctx.covers.iter().map(String::as_str);
    for (path, source) in assets::referenced(covers.chain(pictures), config) {
        files.push((path, What::Image { source }));
    }
    // A key is a hash of everything its page shows: made in parallel, as
    // the pages are.
    let common = key::common(inputs);
    let mut jobs: Vec<Job> = files
        .into_par_iter()
        .map(|(path, what)| Job {
            content_type: content_type(&path),
            key: job_key(ctx, &common, &what),
            path,
            what,
        })
        .collect();
    // Two files at one path (a book named `index` with `book_path:
    // /{slug}.html`): the first stays, the other is a problem.
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    jobs.retain(|j| {
        if seen.insert(j.path.clone()) {
            return true;
        }
        let at = match &j.what {
            What::Book { index } => inputs
                .catalog
                .books
                .get(*index)
                .map_or_else(|_| PathBuf::new(), |b| b.path().to_path_buf()),
            What::Person { slug } => inputs
                .catalog
                .people
                .get(slug)
                .map_or_else(PathBuf::new, |p| p.path.clone()),
            _ => PathBuf::from(&j.path),
        };
        problems.push(Problem::warning(
            &at,
            (1, 1),
            format!(
                "its page would be {}, which another page of the site already is; it is left out",
                j.path
            ),
        ));
        false
    });
    let urls = sitemap::urls(
        config,
        jobs.iter().map(|j| (j.path.as_str(), j.content_type)),
    );
    jobs.push(Job {
        path: SITEMAP.into(),
        content_type: content_type(SITEMAP),
        key: key::of(&common, "sitemap", &urls),
        what: What::Sitemap { urls },
    });
    jobs.push(Job {
        path: ROBOTS.into(),
        content_type: content_type(ROBOTS),
        key: key::of(&common, "robots", &()),
        what: What::Robots,
    });
    (jobs, problems)
}

/// The key of a file (see [`key`]): it changes whenever what the file
/// shows changes. A book that cannot be read back gives a key no page
/// has, so the page is made again and its error reported.
fn job_key(ctx: &Context, common: &str, what: &What) -> String {
    let inputs = ctx.inputs;
    let or_error = |k: Result<String, RenderError>| k.unwrap_or_else(|e| format!("error: {e}"));
    match what {
        What::Home => or_error(index::home_view(inputs).map(|v| key::of(common, "home", &v))),
        What::Archive { page } => or_error(
            index::archive_view(inputs, &ctx.archive, *page)
                .map(|v| key::of(common, "archive", &v)),
        ),
        What::Book { index } => match inputs.catalog.books.get(*index) {
            Ok(book) => books::key(common, inputs, &book),
            Err(e) => format!("error: {e}"),
        },
        What::Person { slug } => match (
            inputs.catalog.people.get(slug),
            ctx.authors.get(slug.as_str()),
        ) {
            (Some(person), Some(books)) => {
                or_error(index::person_key(common, inputs, person, books))
            }
            _ => String::new(),
        },
        What::Digest { index } => digests::key(common, inputs, *index),
        What::Digests { page } => key::of(common, "digests", &digests::list_view(inputs, *page)),
        What::Image { source } => key::of_file(source),
        // Made after the others, from their paths.
        What::Sitemap { .. } | What::Robots => String::new(),
    }
}

fn render(ctx: &Context, job: &Job) -> Result<Bytes, Made> {
    let inputs = ctx.inputs;
    let templates = inputs.templates;
    let text = match &job.what {
        What::Home => index::home(ctx, templates)?,
        What::Archive { page } => index::archive(ctx, templates, *page)?,
        What::Book { index } => {
            // Its threads: a long catalog sets archives aside.
            let full = inputs.catalog.full_at(*index).map_err(|e| {
                let path = inputs
                    .catalog
                    .books
                    .get(*index)
                    .map(|b| b.path().to_path_buf());
                Made::Problem(Problem::error(
                    &path.unwrap_or_default(),
                    (1, 1),
                    format!("cannot read its archive back: {e}; its page is left out"),
                ))
            })?;
            books::page(ctx, templates, &full)?
        }
        What::Person { slug } => index::person(ctx, templates, slug)?,
        What::Digest { index } => digests::page(ctx, templates, *index)?,
        What::Digests { page } => digests::list(ctx, templates, *page)?,
        What::Sitemap { urls } => sitemap::sitemap(templates, urls)?,
        What::Robots => sitemap::robots(inputs.config, templates)?,
        What::Image { source } => {
            return std::fs::read(source).map(Bytes::from).map_err(|e| {
                Made::Problem(Problem::warning(
                    source,
                    (1, 1),
                    format!("cannot read image: {e}; it is left out of the site"),
                ))
            });
        }
    };
    Ok(Bytes::from(text.into_bytes()))
}
