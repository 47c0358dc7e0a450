//! Reading `content/` into a [`Catalog`]: front matter split and YAML parse (the
//! only place that names the YAML crate for content), with every problem
//! reported per file with its line and column. One broken file never stops
//! the others: it is reported and left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_yaml::{Mapping, Value};

use crate::config::is_http_url;
use crate::diag::{self, Problem, did_you_mean};
use crate::model::{Author, Book, Catalog, Link, Message, Person, Thread, Window};
use crate::yamlpos::{Seg, locate};

/// Front matter keys a book may have.
const BOOK_KEYS: &[&str] = &[
    "title",
    "description",
    "authors",
    "start",
    "end",
    "cover",
    "image",
    "links",
    "archive",
    "aliases",
    "pin",
    "hide",
];

/// Front matter keys a people file may have.
const PERSON_KEYS: &[&str] = &[
    "short",
    "title",
    "aliases",
    "picture",
    "github",
    "twitter",
    "linkedin",
    "web",
    "bio_short",
];

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot read content folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The catalog of good books and people, every problem found, and the book
/// files left out because of errors.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub catalog: Catalog,
    pub problems: Vec<Problem>,
    pub rejected: Vec<PathBuf>,
    pub files: usize,
}

/// Loads `dir/people/*.md` and `dir/books/*.md`.
pub fn load(dir: &Path, tz: Tz) -> Result<Loaded, ContentError> {
    load_cached(dir, tz, &mut Cache::default())
}

/// What a long-running process remembers between loads: each file's size and
/// modification time with what parsing it gave, so a reload re-reads only
/// what changed, and a book broken by an edit keeps its last good version.
#[derive(Debug, Default)]
pub struct Cache {
    people: Vec<(PathBuf, u64, Option<std::time::SystemTime>)>,
    books: BTreeMap<PathBuf, CachedBook>,
    /// Files re-read by the last load.
    pub reread: usize,
}

#[derive(Debug)]
struct CachedBook {
    stamp: (u64, Option<std::time::SystemTime>),
    problems: Vec<Problem>,
    /// Whether the current version of the file has errors.
    broken: bool,
    /// The last version that parsed without errors.
    last_good: Option<Book>,
}

fn stamp(path: &Path) -> (u64, Option<std::time::SystemTime>) {
    std::fs::metadata(path).map_or((u64::MAX, None), |m| (m.len(), m.modified().ok()))
}

/// Like [`load`], reusing what `cache` knows about unchanged files.
pub fn load_cached(dir: &Path, tz: Tz, cache: &mut Cache) -> Result<Loaded, ContentError> {
    let mut loaded = Loaded::default();
    cache.reread = 0;
    let people_files = markdown_files(&dir.join("people"))?;
    let people_stamps: Vec<_> = people_files
        .iter()
        .map(|p| {
            let (len, mtime) = stamp(p);
            (p.clone(), len, mtime)
        })
        .collect();
    // Books resolve their authors against the people: when a people file
    // changes, every book is read again.
    if people_stamps != cache.people {
        cache.books.clear();
        cache.people = people_stamps;
    }
    for path in people_files {
        loaded.files += 1;
        match read_text(&path) {
            Ok(text) => match parse_person(&path, &text) {
                Ok((person, problems)) => {
                    loaded.problems.extend(problems);
                    add_person(&mut loaded, person, &text);
                }
                Err(problems) => loaded.problems.extend(problems),
            },
            Err(p) => loaded.problems.push(p),
        }
    }
    let book_files = markdown_files(&dir.join("books"))?;
    cache.books.retain(|p, _| book_files.contains(p));
    for path in &book_files {
        loaded.files += 1;
        let now_stamp = stamp(path);
        let fresh = cache.books.get(path).is_some_and(|c| c.stamp == now_stamp);
        if !fresh {
            cache.reread += 1;
            let (book, problems) = match read_text(path) {
                Ok(text) => parse_book(path, &text, &loaded.catalog.people, tz),
                Err(p) => (None, vec![p]),
            };
            let previous = cache.books.remove(path).and_then(|c| c.last_good);
            let broken = book.is_none();
            cache.books.insert(
                path.clone(),
                CachedBook {
                    stamp: now_stamp,
                    problems,
                    broken,
                    last_good: book.or(previous),
                },
            );
        }
    }
    let mut slugs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, cached) in &cache.books {
        loaded.problems.extend(cached.problems.iter().cloned());
        if cached.broken {
            loaded.rejected.push(path.clone());
        }
        let Some(book) = &cached.last_good else {
            continue;
        };
        // Slugs become URLs and ids; two that differ only in case collide on
        // case-insensitive file systems and web servers.
        let key = book.slug.to_lowercase();
        if let Some(first) = slugs.get(&key) {
            loaded.problems.push(Problem::error(
                path,
                (1, 1),
                format!(
                    "duplicate slug `{}`: {} already uses it",
                    book.slug,
                    first.display()
                ),
            ));
            if !cached.broken {
                loaded.rejected.push(path.clone());
            }
        } else {
            slugs.insert(key, path.clone());
            loaded.catalog.books.push(book.clone());
        }
    }
    loaded
        .catalog
        .books
        .sort_by(|a, b| (a.window.start, &a.slug).cmp(&(b.window.start, &b.slug)));
    warn_overlaps(&mut loaded);
    diag::sort(&mut loaded.problems);
    Ok(loaded)
}

fn add_person(loaded: &mut Loaded, person: Person, text: &str) {
    if let Some(first) = loaded.catalog.people.get(&person.slug) {
        let pos = front_matter(text)
            .ok()
            .and_then(|fm| fm.locate(&[Seg::Key("short")]))
            .unwrap_or((1, 1));
        loaded.problems.push(Problem::error(
            &person.path,
            pos,
            format!(
                "duplicate person slug `{}`: {} already uses it",
                person.slug,
                first.path.display()
            ),
        ));
        return;
    }
    loaded.catalog.people.insert(person.slug.clone(), person);
}

/// Windows of two books that overlap are usually a wrong date; warn on the
/// later one, where the fix usually is.
fn warn_overlaps(loaded: &mut Loaded) {
    let books = &loaded.catalog.books;
    for (i, a) in books.iter().enumerate() {
        for b in books[i + 1..]
            .iter()
            .take_while(|b| b.window.start < a.window.end)
        {
            if a.window.overlaps(&b.window) {
                loaded.problems.push(Problem::warning(
                    &b.path,
                    start_pos(b),
                    format!(
                        "window {} – {} overlaps `{}` ({} – {})",
                        b.window.start.format("%Y-%m-%d %H:%M"),
                        b.window.end.format("%Y-%m-%d %H:%M"),
                        a.slug,
                        a.window.start.format("%Y-%m-%d %H:%M"),
                        a.window.end.format("%Y-%m-%d %H:%M"),
                    ),
                ));
            }
        }
    }
}

fn start_pos(book: &Book) -> (usize, usize) {
    locate_in_file(&book.path, &[Seg::Key("start")])
}

/// The file position of a front matter key, for problems found after
/// loading (overlaps, author hints); (1, 1) when it cannot be found.
pub fn locate_in_file(path: &Path, at: &[Seg]) -> (usize, usize) {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| front_matter(&t).ok().and_then(|fm| fm.locate(at)))
        .unwrap_or((1, 1))
}

/// The `.md` files of a folder in name order, skipping templates (`_x.md`),
/// hidden files and editors' backup and swap files.
fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>, ContentError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // A site may have no people files at all.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.ends_with("people") => {
            return Ok(Vec::new());
        }
        Err(source) => {
            return Err(ContentError::Folder {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_content_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// True for a content file: `*.md`, not a template (`_x.md`) or hidden file.
pub fn is_content_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.extension().is_some_and(|e| e == "md")
        && !name.starts_with('_')
        && !name.starts_with('.')
        && path.is_file()
}

/// Reads a file as UTF-8 text; a file in another encoding is an error at the
/// first byte that is not UTF-8.
pub fn read_text(path: &Path) -> Result<String, Problem> {
    let bytes = std::fs::read(path)
        .map_err(|e| Problem::error(path, (1, 1), format!("cannot read file: {e}")))?;
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..'\u{feff}'.len_utf8());
            }
            Ok(s)
        }
        Err(e) => {
            let bytes = e.as_bytes();
            let valid = e.utf8_error().valid_up_to();
            let before = String::from_utf8_lossy(&bytes[..valid]);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(Problem::error(
                path,
                (line, col),
                format!(
                    "file is not valid UTF-8 (byte 0x{:02X}); save it as UTF-8 text",
                    bytes[valid]
                ),
            ))
        }
    }
}

/// The YAML between the `---` lines and the body after them.
struct FrontMatter<'t> {
    yaml: &'t str,
    /// The file line on which the YAML's first line stands.
    first_line: usize,
    body: &'t str,
}

impl FrontMatter<'_> {
    /// The file position of a key, found in the YAML text.
    fn locate(&self, path: &[Seg]) -> Option<(usize, usize)> {
        locate(self.yaml, path).map(|(l, c)| (l + self.first_line - 1, c))
    }
}

fn front_matter(text: &str) -> Result<FrontMatter<'_>, ((usize, usize), String)> {
    if text.trim().is_empty() {
        return Err((
            (1, 1),
            "file is empty; it needs front matter between two `---` lines".into(),
        ));
    }
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err((
            (1, 1),
            "missing front matter: the file must start with a `---` line".into(),
        ));
    }
    let yaml_start = first.len();
    let mut offset = yaml_start;
    for line in lines {
        if matches!(line.trim_end(), "---" | "...") {
            return Ok(FrontMatter {
                yaml: &text[yaml_start..offset],
                first_line: 2,
                body: &text[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    Err((
        (1, 1),
        "front matter is not closed: add a `---` line after it".into(),
    ))
}

/// Parses the front matter into a mapping; a syntax error names its real line
/// in the file.
fn parse_yaml<'t>(path: &Path, text: &'t str) -> Result<(FrontMatter<'t>, Mapping), Problem> {
    let fm = front_matter(text).map_err(|(pos, msg)| Problem::error(path, pos, msg))?;
    let value: Value = serde_yaml::from_str(fm.yaml).map_err(|e| {
        let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        Problem::error(
            path,
            (line + fm.first_line - 1, col),
            format!("invalid YAML: {}", crate::config::strip_location(&e)),
        )
    })?;
    match value {
        Value::Mapping(m) => Ok((fm, m)),
        Value::Null => Ok((fm, Mapping::new())),
        _ => Err(Problem::error(
            path,
            (fm.first_line, 1),
            "front matter must be a mapping of `key: value` lines",
        )),
    }
}

/// A scalar as text: YAML reads `title: 1984` as a number, which is still a
/// fine title.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Collects a file's problems with their positions.
struct Report<'a, 't> {
    path: &'a Path,
    fm: &'a FrontMatter<'t>,
    problems: Vec<Problem>,
}

impl Report<'_, '_> {
    fn pos(&self, at: &[Seg]) -> (usize, usize) {
        self.fm.locate(at).unwrap_or((1, 1))
    }
    fn error(&mut self, at: &[Seg], msg: impl Into<String>) {
        let pos = self.pos(at);
        self.problems.push(Problem::error(self.path, pos, msg));
    }
    fn warning(&mut self, at: &[Seg], msg: impl Into<String>) {
        let pos = self.pos(at);
        self.problems.push(Problem::warning(self.path, pos, msg));
    }
    fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
    fn unknown_keys(&mut self, map: &Mapping, known: &[&str]) {
        for k in map.keys() {
            let key = scalar_text(k).unwrap_or_default();
            if !known.contains(&key.as_str()) {
                let hint = did_you_mean(&key, known.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                self.warning(
                    &[Seg::Key(&key)],
                    format!("unknown key `{key}`{hint}; it is ignored"),
                );
            }
        }
    }
    /// A required, non-empty text field.
    fn required_text(&mut self, map: &Mapping, key: &str) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => {
                self.error(&[], format!("missing `{key}`"));
                None
            }
            Some(v) => match scalar_text(v) {
                Some(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Some(_) => {
                    self.error(&[Seg::Key(key)], format!("`{key}` is empty"));
                    None
                }
                None => {
                    self.error(&[Seg::Key(key)], format!("`{key}` must be text"));
                    None
                }
            },
        }
    }
    /// An optional text field; a wrongly typed value is a warning and ignored.
    fn optional_text(&mut self, map: &Mapping, key: &str) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => match scalar_text(v) {
                Some(s) if s.trim().is_empty() => None,
                Some(s) => Some(s.trim().to_string()),
                None => {
                    self.warning(
                        &[Seg::Key(key)],
                        format!("`{key}` must be text; it is ignored"),
                    );
                    None
                }
            },
        }
    }
}

/// Parses a people file. `Err` when the person cannot be used at all.
pub fn parse_person(path: &Path, text: &str) -> Result<(Person, Vec<Problem>), Vec<Problem>> {
    let (fm, map) = parse_yaml(path, text).map_err(|p| vec![p])?;
    let mut r = Report {
        path,
        fm: &fm,
        problems: Vec::new(),
    };
    r.unknown_keys(&map, PERSON_KEYS);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let slug = r.optional_text(&map, "short").unwrap_or(stem);
    let name = r.required_text(&map, "title");
    let aliases = string_list(&mut r, &map, "aliases");
    let handles = ["github", "twitter"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(scalar_text))
        .map(|h| h.trim().trim_start_matches('@').to_string())
        .filter(|h| !h.is_empty())
        .collect();
    match name {
        Some(name) if !r.has_errors() => Ok((
            Person {
                slug,
                name,
                aliases,
                handles,
                path: path.to_path_buf(),
            },
            r.problems,
        )),
        _ => Err(r.problems),
    }
}

/// A list of strings, accepting a single string as a one-item list.
fn string_list(r: &mut Report, map: &Mapping, key: &str) -> Vec<String> {
    match map.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match scalar_text(v) {
                Some(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                _ => {
                    r.warning(
                        &[Seg::Key(key), Seg::Index(i)],
                        format!("`{key}` entry {} must be text; it is ignored", i + 1),
                    );
                    None
                }
            })
            .collect(),
        Some(v) => match scalar_text(v) {
            Some(s) => vec![s.trim().to_string()],
            None => {
                r.warning(
                    &[Seg::Key(key)],
                    format!("`{key}` must be a list of text; it is ignored"),
                );
                Vec::new()
            }
        },
    }
}

/// Parses a book file. The book is `None` when an error keeps it out; the
/// problems (errors and warnings) are returned either way.
pub fn parse_book(
    path: &Path,
    text: &str,
    people: &BTreeMap<String, Person>,
    tz: Tz,
) -> (Option<Book>, Vec<Problem>) {
    let (fm, map) = match parse_yaml(path, text) {
        Ok(x) => x,
        Err(p) => return (None, vec![p]),
    };
    let mut r = Report {
        path,
        fm: &fm,
        problems: Vec::new(),
    };
    r.unknown_keys(&map, BOOK_KEYS);
    let title = r.required_text(&map, "title");
    let description = r.optional_text(&map, "description");
    let start = time_field(&mut r, &map, "start", tz, false);
    let end = time_field(&mut r, &map, "end", tz, true);
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            r.error(
                &[Seg::Key("end")],
                format!(
                    "`end` is before `start` ({} < {})",
                    e.format("%Y-%m-%d %H:%M:%S"),
                    s.format("%Y-%m-%d %H:%M:%S")
                ),
            );
        } else if e == s {
            r.error(
                &[Seg::Key("end")],
                format!(
                    "`end` is the same as `start` ({})",
                    e.format("%Y-%m-%d %H:%M:%S")
                ),
            );
        }
    }
    let authors = authors(&mut r, &map, people);
    let cover = r.optional_text(&map, "cover").filter(|c| {
        let ok = !has_scheme(c) || is_http_url(c);
        if !ok {
            r.warning(
                &[Seg::Key("cover")],
                format!("`cover` is not an http(s) URL or a site path: `{c}`; it is left out"),
            );
        }
        ok
    });
    let links = links(&mut r, &map);
    let archive = archive(&mut r, &map);
    let aliases = book_aliases(&mut r, &map, &authors);
    let pin = thread_numbers(&mut r, &map, "pin", archive.len());
    let hide = thread_numbers(&mut r, &map, "hide", archive.len());
    let book = match (title, start, end) {
        (Some(title), Some(start), Some(end)) if !r.has_errors() => Some(Book {
            slug: path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string(),
            path: path.to_path_buf(),
            title,
            description,
            authors,
            window: Window { start, end },
            cover,
            links,
            archive,
            body: fm.body.trim().to_string(),
            aliases,
            pin,
            hide,
        }),
        _ => None,
    };
    (book, r.problems)
}

fn has_scheme(s: &str) -> bool {
    url::Url::parse(s).is_ok()
}

/// Reads `start` or `end`: a naive local time in the site's time zone
/// (`2022-12-05 00:00:00`), or a time with an explicit offset.
fn time_field(
    r: &mut Report,
    map: &Mapping,
    key: &str,
    tz: Tz,
    is_end: bool,
) -> Option<DateTime<Tz>> {
    let raw = match map.get(key) {
        None | Some(Value::Null) => {
            r.error(&[], format!("missing `{key}`"));
            return None;
        }
        Some(v) => scalar_text(v).unwrap_or_default(),
    };
    match parse_local_time(raw.trim(), tz, is_end) {
        Ok((t, note)) => {
            if let Some(note) = note {
                r.warning(&[Seg::Key(key)], format!("`{key}` {note}"));
            }
            Some(t)
        }
        Err(BadTime) => {
            r.error(
                &[Seg::Key(key)],
                format!("`{key}` is not a date and time: `{raw}`; expected `YYYY-MM-DD HH:MM:SS`"),
            );
            None
        }
    }
}

/// A `start`/`end` value that is not a time bookweek can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a date and time")]
pub struct BadTime;

/// Parses a local time; returns a note when the time had to be adjusted (a
/// time inside a daylight-saving gap does not exist).
pub fn parse_local_time(
    s: &str,
    tz: Tz,
    is_end: bool,
) -> Result<(DateTime<Tz>, Option<String>), BadTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok((t.with_timezone(&tz), None));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        // A bare date means the whole day: from its first second to its last.
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        if is_end {
            d.and_hms_opt(23, 59, 59)
        } else {
            d.and_hms_opt(0, 0, 0)
        }
    })
    .ok_or(BadTime)?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok((t, None)),
        LocalResult::Ambiguous(earliest, _) => Ok((earliest, None)),
        LocalResult::None => {
            let shifted = naive + chrono::Duration::hours(1);
            let t = tz.from_local_datetime(&shifted).earliest().ok_or(BadTime)?;
            Ok((
                t,
                Some(format!(
                    "{} does not exist in {} (clocks go forward); using {}",
                    naive.format("%Y-%m-%d %H:%M:%S"),
                    tz.name(),
                    shifted.format("%H:%M:%S")
                )),
            ))
        }
    }
}

/// A plausible plain name ("Valliappa Lakshmanan"), as opposed to a slug with
/// a typo ("michaelmun"): names have a space or capital letters.
fn is_plain_name(s: &str) -> bool {
    s.contains(char::is_whitespace) || s.chars().any(char::is_uppercase)
}

fn authors(r: &mut Report, map: &Mapping, people: &BTreeMap<String, Person>) -> Vec<Author> {
    let entries = string_list(r, map, "authors");
    if entries.is_empty() {
        r.warning(
            &[Seg::Key("authors")],
            "no `authors`: items will name no author",
        );
    }
    let mut out = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if let Some(p) = people.get(&entry) {
            out.push(Author {
                slug: Some(p.slug.clone()),
                name: p.name.clone(),
            });
        } else if is_plain_name(&entry) {
            out.push(Author {
                slug: None,
                name: entry,
            });
        } else {
            let hint = did_you_mean(&entry, people.keys().map(String::as_str))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            r.error(
                &[Seg::Key("authors"), Seg::Index(i)],
                format!(
                    "unknown author `{entry}`: there is no people file with `short: {entry}`{hint}; add one or write the author's full name"
                ),
            );
        }
    }
    out
}

fn links(r: &mut Report, map: &Mapping) -> Vec<Link> {
    let items = match map.get("links") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            r.warning(
                &[Seg::Key("links")],
                "`links` must be a list of `text`/`link` entries; it is ignored",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = [Seg::Key("links"), Seg::Index(i)];
        let Value::Mapping(m) = item else {
            r.warning(
                &at,
                format!("link {} must have `text` and `link`; it is left out", i + 1),
            );
            continue;
        };
        let text = m.get("text").and_then(scalar_text);
        let Some(url) = m
            .get("link")
            .and_then(scalar_text)
            .filter(|u| !u.trim().is_empty())
        else {
            let others: Vec<String> = m
                .keys()
                .filter_map(scalar_text)
                .filter(|k| k != "text" && k != "link")
                .collect();
            let hint = others
                .iter()
                .find(|k| {
                    did_you_mean("link", [k.as_str()]).is_some()
                        || m.get(k.as_str())
                            .and_then(scalar_text)
                            .is_some_and(|v| is_http_url(&v))
                })
                .map(|k| format!(" (found `{k}`; did you mean `link`?)"))
                .unwrap_or_default();
            let at_key = match others.first() {
                Some(k) => vec![Seg::Key("links"), Seg::Index(i), Seg::Key(k)],
                None => at.to_vec(),
            };
            r.warning(
                &at_key,
                format!("link {} has no `link`{hint}; it is left out", i + 1),
            );
            continue;
        };
        let url = url.trim().to_string();
        if !is_http_url(&url) {
            r.warning(
                &[Seg::Key("links"), Seg::Index(i), Seg::Key("link")],
                format!(
                    "link {} is not an http(s) URL: `{url}`; it is left out",
                    i + 1
                ),
            );
            continue;
        }
        let text = text
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| url.clone());
        out.push(Link { text, url });
    }
    out
}

/// `aliases: { "Mike Munn": michaelmunn }`: chat names of this book's
/// authors, each naming an author by slug or by name.
fn book_aliases(r: &mut Report, map: &Mapping, authors: &[Author]) -> Vec<(String, String)> {
    let entries = match map.get("aliases") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            r.warning(
                &[Seg::Key("aliases")],
                "`aliases` must map chat names to authors, like `\"Mike Munn\": michaelmunn`; it is ignored",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let (Some(name), Some(author)) = (scalar_text(k), scalar_text(v)) else {
            r.warning(
                &[Seg::Key("aliases")],
                "an `aliases` entry must be `chat name: author`; it is ignored",
            );
            continue;
        };
        let known = authors
            .iter()
            .any(|a| a.slug.as_deref() == Some(author.as_str()) || a.name == author);
        if !known {
            let names = authors
                .iter()
                .flat_map(|a| a.slug.iter().map(String::as_str).chain([a.name.as_str()]));
            let hint = did_you_mean(&author, names)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            r.warning(
                &[Seg::Key("aliases"), Seg::Key(&name)],
                format!("alias `{name}` names `{author}`, who is not an author of this book{hint}; it is ignored"),
            );
            continue;
        }
        out.push((name, author));
    }
    out
}

/// `pin:`/`hide:` thread numbers, as `bookweek answers` shows them.
fn thread_numbers(r: &mut Report, map: &Mapping, key: &str, threads: usize) -> Vec<usize> {
    let items: Vec<Value> = match map.get(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(s)) => s.clone(),
        Some(v) => vec![v.clone()],
    };
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=threads).contains(&n) => out.push(n),
            _ => r.warning(
                &[Seg::Key(key), Seg::Index(i)],
                format!(
                    "`{key}` entry {} must be a thread number from 1 to {threads} (see `bookweek answers`); it is ignored",
                    scalar_text(v).unwrap_or_default()
                ),
            ),
        }
    }
    out
}

fn message(v: &Mapping) -> Option<Message> {
    let name = v.get("name").and_then(scalar_text).unwrap_or_default();
    let text = v.get("text").and_then(scalar_text)?;
    Some(Message {
        name: name.trim().to_string(),
        text,
    })
}

fn archive(r: &mut Report, map: &Mapping) -> Vec<Thread> {
    let items = match map.get("archive") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            r.warning(
                &[Seg::Key("archive")],
                "`archive` must be a list of threads; it is ignored",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = [Seg::Key("archive"), Seg::Index(i)];
        let Some((post, m)) = item.as_mapping().and_then(|m| Some((message(m)?, m))) else {
            r.warning(
                &at,
                format!("archive thread {} has no `text`; it is left out", i + 1),
            );
            continue;
        };
        let replies = match m.get("replies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(rs)) => rs
                .iter()
                .enumerate()
                .filter_map(|(j, rv)| {
                    let msg = rv.as_mapping().and_then(message);
                    if msg.is_none() {
                        r.warning(
                            &[
                                Seg::Key("archive"),
                                Seg::Index(i),
                                Seg::Key("replies"),
                                Seg::Index(j),
                            ],
                            format!(
                                "reply {} of archive thread {} has no `text`; it is left out",
                                j + 1,
                                i + 1
                            ),
                        );
                    }
                    msg
                })
                .collect(),
            Some(_) => {
                r.warning(
                    &[Seg::Key("archive"), Seg::Index(i), Seg::Key("replies")],
                    format!(
                        "`replies` of archive thread {} must be a list; they are left out",
                        i + 1
                    ),
                );
                Vec::new()
            }
        };
        out.push(Thread { post, replies });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn book(text: &str) -> (Option<Book>, Vec<String>) {
        let mut people = BTreeMap::new();
        people.insert(
            "niallmurphy".to_string(),
            Person {
                slug: "niallmurphy".into(),
                name: "Niall Murphy".into(),
                aliases: vec![],
                handles: vec![],
                path: "people/niallmurphy.md".into(),
            },
        );
        let (b, p) = parse_book(Path::new("b.md"), text, &people, Berlin);
        (b, p.iter().map(ToString::to_string).collect())
    }

    const GOOD: &str = "---\ntitle: T\nauthors: [niallmurphy, Sara Robinson]\nstart: 2022-12-05 00:00:00\nend: 2022-12-09 23:59:59\nlinks:\n- text: A\n  link: https://a.org/\n---\nBody\n";

    #[test]
    fn parses_a_good_book() {
        let (b, p) = book(GOOD);
        assert!(p.is_empty(), "{p:?}");
        let b = b.unwrap();
        assert_eq!(b.author_names(), "Niall Murphy and Sara Robinson");
        assert_eq!(b.window.start.to_rfc3339(), "2022-12-05T00:00:00+01:00");
        assert_eq!(b.body, "Body");
    }

    #[test]
    fn errors_on_end_before_start_at_the_end_line() {
        let (b, p) = book(&GOOD.replace("2022-12-09 23:59:59", "2022-12-01 00:00:00"));
        assert!(b.is_none());
        assert_eq!(
            p,
            [
                "b.md:5:1: error: `end` is before `start` (2022-12-01 00:00:00 < 2022-12-05 00:00:00)"
            ]
        );
    }

    #[test]
    fn yaml_errors_name_the_file_line() {
        let (b, p) = book("---\ntitle: T\nstart: [2022\n---\n");
        assert!(b.is_none());
        assert!(p[0].starts_with("b.md:4:1: error: invalid YAML"), "{p:?}");
    }

    #[test]
    fn link_with_list_key_is_a_warning_with_hint() {
        let (b, p) = book(&GOOD.replace("  link: https://a.org/", "  list: https://a.org/"));
        assert!(b.is_some());
        assert_eq!(
            p,
            [
                "b.md:8:3: warning: link 1 has no `link` (found `list`; did you mean `link`?); it is left out"
            ]
        );
    }

    #[test]
    fn unknown_slug_is_an_error_with_hint() {
        let (b, p) = book(&GOOD.replace("niallmurphy,", "niallmurpy,"));
        assert!(b.is_none());
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("b.md:3:1: error: unknown author `niallmurpy`"),
            "{p:?}"
        );
        assert!(p[0].contains("did you mean `niallmurphy`?"), "{p:?}");
    }

    #[test]
    fn time_in_dst_gap_moves_forward_with_warning() {
        let (t, note) = parse_local_time("2022-03-27 02:30:00", Berlin, false).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-03-27T03:30:00+02:00");
        assert!(note.is_some());
    }
}
