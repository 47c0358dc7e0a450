//! Reading `content/` into a [`Catalog`]: front matter split and YAML parse (the
//! only place that names the YAML crate for content), with every problem
//! reported per file with its line and column. One broken file never stops
//! the others: it is reported and left out, or, when an edit broke a book
//! that was good before, its last good version (remembered by a [`Store`]) is
//! published instead. Limits (file size, authors, aliases, problems per
//! file, YAML expansion) keep any one file from stalling a run.

mod aside;
mod files;
mod yaml;

pub(crate) use aside::ASIDE_BYTES;
pub use aside::{Aside, AsideFile};
pub use files::{decode_text, human_size, is_content_name, markdown_files, read_text};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset,
    SecondsFormat, TimeZone, Utc,
};
use chrono_tz::Tz;
use rayon::prelude::*;
use serde_yaml::{Mapping, Value};

use crate::config::{Config, is_http_url};
use crate::diag::{self, Problem, did_you_mean};
use crate::model::{
    Author, Book, Books, Catalog, Entry, Link, Message, Person, Thread, Window, WindowError, YEARS,
    representable,
};
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

/// Authors a book may name. Real books name one to five; matching chat names
/// to authors costs authors × names, so a machine-written list of thousands
/// would stall `check` and `build`.
pub const MAX_AUTHORS: usize = 20;

/// Aliases a person or a book may give, for the same reason; more are
/// ignored with a warning.
pub const MAX_ALIASES: usize = 20;

/// Problems reported per file. A machine-written file can have a problem on
/// every line; past this many the rest are counted, not listed (and not
/// located, which costs a scan of the file each).
pub const MAX_PROBLEMS_PER_FILE: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot read content folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The catalog of good books and people, every problem found, and the book
/// files with errors.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub catalog: Catalog,
    pub problems: Vec<Problem>,
    /// Book files with errors: left out, or published at their last good
    /// version when one is known (those are also in `kept`).
    pub rejected: Vec<PathBuf>,
    /// Book files with errors whose last good version is published instead.
    pub kept: Vec<PathBuf>,
    pub files: usize,
}

impl Loaded {
    /// Book files with errors and no good version to fall back on.
    pub fn left_out(&self) -> usize {
        self.rejected.len() - self.kept.len()
    }
}

/// Loads `dir/people/*.md` and `dir/books/*.md` with the built-in file size
/// limit, remembering nothing between runs.
pub fn load(dir: &Path, tz: Tz) -> Result<Loaded, ContentError> {
    let source = Source {
        dir,
        tz,
        max_bytes: crate::config::DEFAULT_MAX_FILE_SIZE,
    };
    load_from(&source, &mut Cache::default(), None, epoch())
}

/// Loads the config's content folder with its time zone and limits,
/// remembering nothing between runs (`check`, `answers`), archives set
/// aside ([`Cache::one_run`]).
pub fn load_with(config: &Config) -> Result<Loaded, ContentError> {
    load_cached(config, &mut Cache::one_run(), None, epoch())
}

/// A time for loads that keep nothing: no version read then is ever shown.
fn epoch() -> DateTime<FixedOffset> {
    DateTime::<Utc>::UNIX_EPOCH.fixed_offset()
}

/// Where content is read from and how.
struct Source<'a> {
    dir: &'a Path,
    tz: Tz,
    max_bytes: u64,
}

/// A version of a book file that parsed without errors, as kept between
/// runs: the text (parsing it again gives the book back), its SHA-256 and
/// when bookweek first read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The file's path inside the content folder: `books/x.md`.
    pub key: String,
    pub text: String,
    pub hash: String,
    /// RFC 3339, UTC.
    pub read_at: String,
}

/// Error of a [`Store`]: shown as a warning, never stops a load.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where the last good version of every book is kept between runs (the state
/// database), so that `build` and `once` publish it while an edit has broken
/// the file, as the daemon does. The loader asks and hands over changes; it
/// never decides how they are stored.
/// `Send`: versions are saved while the next books are parsed.
pub trait Store: Send {
    /// Where the store is, for messages.
    fn location(&self) -> &Path;
    /// The key, hash and read time of every kept version whose key is
    /// between `first` and `last`, both included. Asked for each span of
    /// files a load reads (keys sort as the files do; see
    /// `LOOKUP_SPAN`): a long catalog's hashes are never all in memory
    /// at once.
    fn hashes(
        &mut self,
        first: &str,
        last: &str,
    ) -> Result<BTreeMap<String, (String, String)>, StoreError>;
    /// The keys of kept versions whose file is gone: those `present` says
    /// no to.
    fn gone(&mut self, present: &mut dyn FnMut(&str) -> bool) -> Result<Vec<String>, StoreError>;
    /// One kept version.
    fn version(&mut self, key: &str) -> Result<Option<Version>, StoreError>;
    /// Keeps `changed` (new or edited good versions) and forgets `gone`
    /// (files that no longer exist), together.
    fn save(&mut self, changed: &[Version], gone: &[String]) -> Result<(), StoreError>;
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
    /// Whether books are set aside in a temporary file (see [`AsideFile`]),
    /// all but their catalog entry, instead of held in memory.
    set_aside: bool,
    /// Whether the load hands its books straight to the catalog and keeps
    /// no per-file cache (a command that loads once).
    one_run: bool,
    aside: Option<Arc<AsideFile>>,
    /// See [`STALE_SLACK`].
    stale_slack: u64,
    /// See [`LOOKUP_SPAN`]; 0 for that.
    lookup_span: usize,
}

impl Cache {
    /// For a command that loads once and exits (`build`, `once`, `digest`):
    /// books are set aside but for their catalog entry, so memory does not
    /// grow with their length; what shows a book reads it back with
    /// [`Catalog::full`] or [`Catalog::meta`]. Nothing is kept per file:
    /// the load hands each book to the catalog as it parses it, and the
    /// catalog files its entries too (see [`Books::filed`]).
    pub fn one_run() -> Self {
        Self {
            set_aside: true,
            one_run: true,
            ..Self::default()
        }
    }

    /// For the daemon: books are set aside as for [`Cache::one_run`], and
    /// each file's stamp and catalog entry are kept, so that a reload reads
    /// only what changed. Records of versions no longer current are
    /// dropped when they outgrow the current ones (see `compact`).
    pub fn long_running() -> Self {
        Self {
            set_aside: true,
            stale_slack: STALE_SLACK,
            ..Self::default()
        }
    }
}

/// Bytes of stale records the daemon's temporary file may hold beyond
/// twice the current ones before they are dropped.
const STALE_SLACK: u64 = 64 << 20;

/// Copies the current records of a long-running cache into a new
/// temporary file when the old one is mostly versions no longer current
/// (each edit, and each re-read after a people file changes, appends a
/// record). All or nothing: on any error the old file stays in use.
fn compact(cache: &mut Cache) {
    let Some(old) = cache.aside.clone() else {
        return;
    };
    let live: u64 = cache
        .books
        .values()
        .filter_map(|c| c.last_good.as_ref()?.book.aside_len())
        .sum();
    if old.written() <= 2 * live + cache.stale_slack {
        return;
    }
    let Ok(new) = AsideFile::new() else {
        return;
    };
    let mut moved = Vec::new();
    for (path, cached) in &cache.books {
        if let Some(aside) = cached.last_good.as_ref().and_then(|g| g.book.aside()) {
            match new.copy(&old, aside) {
                Ok(at) => moved.push((path.clone(), at)),
                Err(e) => {
                    tracing::warn!("cannot copy books to a new temporary file: {e}");
                    return;
                }
            }
        }
    }
    for (path, at) in moved {
        if let Some(good) = cache
            .books
            .get_mut(&path)
            .and_then(|c| c.last_good.as_mut())
        {
            good.book.moved(at);
        }
    }
    tracing::info!(
        before = old.written(),
        after = new.written(),
        "temporary file of books compacted"
    );
    cache.aside = Some(Arc::new(new));
}

#[derive(Debug)]
struct CachedBook {
    stamp: (u64, Option<std::time::SystemTime>),
    problems: Vec<Problem>,
    /// Whether the current version of the file has errors.
    broken: bool,
    /// The last version that parsed without errors. Boxed: the map keeps
    /// its values inline, and a one-run load has thousands of entries whose
    /// book has been handed over.
    last_good: Option<Box<Good>>,
}

#[derive(Debug, Clone)]
struct Good {
    book: Entry,
    /// When this version was first read (RFC 3339, UTC).
    read_at: String,
}

/// The key of a book in a [`Store`]: its path inside the content folder, so
/// the same state works whichever folder bookweek runs from.
fn store_key(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Like [`load`], reusing what `cache` knows about unchanged files, and
/// with `store` (when given) keeping the last good version of every book
/// across runs. `now` is when good versions are read.
pub fn load_cached(
    config: &Config,
    cache: &mut Cache,
    store: Option<&mut dyn Store>,
    now: DateTime<FixedOffset>,
) -> Result<Loaded, ContentError> {
    let source = Source {
        dir: &config.settings.paths.content,
        tz: config.timezone,
        max_bytes: config.max_file_size,
    };
    load_from(&source, cache, store, now)
}

fn load_from(
    source: &Source,
    cache: &mut Cache,
    mut store: Option<&mut dyn Store>,
    now: DateTime<FixedOffset>,
) -> Result<Loaded, ContentError> {
    let Source { dir, tz, max_bytes } = *source;
    let read_at = now
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut loaded = Loaded::default();
    cache.reread = 0;
    let people_files = markdown_files(&dir.join("people"))?;
    let people_stamps: Vec<_> = people_files
        .paths()
        .map(|p| {
            let (len, mtime) = files::stamp(&p);
            (p, len, mtime)
        })
        .collect();
    // Books resolve their authors against the people: when a people file
    // changes, every book is read again.
    if people_stamps != cache.people {
        for cached in cache.books.values_mut() {
            cached.stamp = (u64::MAX, None);
        }
        cache.people = people_stamps;
    }
    for path in people_files.paths() {
        loaded.files += 1;
        match read_text(&path, max_bytes) {
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
    // `markdown_files` sorts: a lookup, not a scan (a daemon reloading
    // 10,000 books would compare paths 50 million times).
    cache.books.retain(|p, _| book_files.contains(p));
    // A deleted file takes its book with it. `book_files` is sorted: a
    // lookup per kept key, not a set of every key.
    let gone = match store.as_deref_mut().map(|s| {
        let gone = s.gone(&mut |k| book_files.contains(&dir.join(k)));
        (gone, s.location().to_path_buf())
    }) {
        Some((Ok(gone), _)) => gone,
        Some((Err(e), at)) => {
            loaded.problems.push(store_problem(&at, "read", &e));
            store = None;
            Vec::new()
        }
        None => Vec::new(),
    };
    if cache.set_aside && cache.aside.is_none() {
        // Without a temporary file the books stay in memory: larger,
        // never wrong.
        cache.aside = AsideFile::new().ok().map(Arc::new);
    }
    let mut changed: Vec<Version> = Vec::new();
    let mut changed_bytes = 0;
    // A one-run load hands each book to the catalog as it is parsed; a
    // long-running one keeps them in its cache and hands copies over below.
    let hand_over = cache.one_run;
    // By index into `book_files`: a copy of each path would cost as much
    // again. A one-run load has no cache to compare stamps with: it reads
    // every file, and asks for each one's size as it comes to it.
    let todo: Vec<(usize, files::Stamp)> = if hand_over {
        Vec::new()
    } else {
        book_files
            .paths()
            .enumerate()
            .filter_map(|(i, path)| {
                let stamp = files::stamp(&path);
                let cached = cache.books.get(&path);
                cached
                    .is_none_or(|c| c.stamp != stamp)
                    .then_some((i, stamp))
            })
            .collect()
    };
    let count = if hand_over {
        book_files.len()
    } else {
        todo.len()
    };
    loaded.files += book_files.len();
    cache.reread += count;
    // Sized once: a map that doubles while books are parsed leaves holes
    // among their texts that the allocator keeps.
    let mut catalog_add = Handover {
        slugs: HashMap::with_capacity(book_files.len()),
    };
    if let (true, Some(file)) = (hand_over, &cache.aside) {
        // A one-run load files its catalog's entries too: its memory then
        // hardly grows with the number of books (see `Books`). The
        // daemon's copies of its cache's entries stay in memory.
        loaded.catalog.books = Books::filed(file.clone());
    }
    loaded.catalog.books.reserve(book_files.len());
    let location = store.as_deref().map(|s| s.location().to_path_buf());
    // The store is shared by the thread that saves new versions and this
    // one, which reads the last good version of a broken book.
    let store = store.map(Mutex::new);
    let saved = std::thread::scope(|scope| {
        // New versions go to the store as they come, not all at the end (a
        // first run over thousands of books would hold every text at once),
        // on a thread of their own, so parsing never waits for a write.
        // One batch may wait while another is written: memory stays bounded.
        let (to_saver, batches) = std::sync::mpsc::sync_channel::<Vec<Version>>(1);
        // No thread for a reload that reads nothing again.
        let saver = store.as_ref().filter(|_| count > 0).map(|m| {
            scope.spawn(move || -> Result<(), StoreError> {
                for batch in batches {
                    lock(m).save(&batch, &[])?;
                }
                Ok(())
            })
        });
        let mut saving = saver.is_some();
        // Read and parse in parallel, a chunk at a time, so that no more
        // than a chunk of whole archives is ever in memory at once.
        let index = |at: usize| if hand_over { at } else { todo[at].0 };
        // What the store has of the files from position `next` to
        // `span_end`: their keys sort as the files do, so one range query
        // answers for a whole span. Spans, not every key at once (a long
        // catalog's hashes would all be in memory) nor one query a chunk
        // (each would wait for the saver's write in progress).
        let mut kept = BTreeMap::new();
        let mut span_end = 0;
        let mut next = 0;
        while next < count {
            if next >= span_end {
                let span = match cache.lookup_span {
                    0 => LOOKUP_SPAN,
                    n => n,
                };
                span_end = count.min(next + span);
                kept = match &store {
                    Some(m) => {
                        let first = store_key(dir, &book_files.path(index(next)));
                        let last = store_key(dir, &book_files.path(index(span_end - 1)));
                        let found = lock(m).hashes(&first, &last);
                        found.unwrap_or_else(|e| {
                            if let Some(at) = &location {
                                loaded.problems.push(store_problem(at, "read", &e));
                            }
                            BTreeMap::new()
                        })
                    }
                    None => BTreeMap::new(),
                };
            }
            // A chunk ends at PARSE_CHUNK files or PARSE_BYTES of text,
            // whichever comes first (a folder of books at the size limit
            // must not hold hundreds of them at once), and with its span.
            let mut chunk: Vec<(usize, files::Stamp)> = Vec::new();
            let mut bytes = 0;
            while next < span_end && chunk.len() < PARSE_CHUNK && bytes < PARSE_BYTES {
                let item = if hand_over {
                    (next, files::stamp(&book_files.path(next)))
                } else {
                    todo[next]
                };
                // A file that cannot be read is refused without being read.
                bytes += item.1.0.min(max_bytes).min(PARSE_BYTES);
                chunk.push(item);
                next += 1;
            }
            let parsed: Vec<Parsed> = chunk
                .par_iter()
                .map(|(i, _)| {
                    let path = &book_files.path(*i);
                    let key = store_key(dir, path);
                    let known = kept.get(&key);
                    parse_one(
                        path,
                        source,
                        &loaded.catalog.people,
                        known,
                        cache.aside.as_deref(),
                    )
                })
                .collect();
            for ((i, now_stamp), parsed) in chunk.iter().zip(parsed) {
                let path = book_files.path(*i);
                let key = store_key(dir, &path);
                let Parsed {
                    book,
                    mut problems,
                    hash,
                    text,
                } = parsed;
                let previous = cache.books.remove(&path).and_then(|c| c.last_good);
                let (broken, last_good) = match (book, hash) {
                    (Some(book), Some(hash)) => {
                        let read_at = match kept.get(&key) {
                            Some((h, at)) if *h == hash => at.clone(),
                            _ => {
                                if let (true, Some(text)) = (saving, text) {
                                    changed_bytes += text.len();
                                    changed.push(Version {
                                        key,
                                        text,
                                        hash,
                                        read_at: read_at.clone(),
                                    });
                                    if changed_bytes >= SAVE_BYTES {
                                        changed_bytes = 0;
                                        // A send fails only when the saver
                                        // stopped at an error, which joining
                                        // it reports.
                                        saving =
                                            to_saver.send(std::mem::take(&mut changed)).is_ok();
                                    }
                                }
                                read_at.clone()
                            }
                        };
                        (false, Some(Box::new(Good { book, read_at })))
                    }
                    _ => {
                        let good = previous.or_else(|| {
                            let store = store.as_ref()?;
                            kept.get(&key)?;
                            let found = lock(store).version(&key);
                            match found {
                                Ok(Some(v)) => {
                                    let (book, _) =
                                        parse_book(&path, &v.text, &loaded.catalog.people, tz);
                                    book.map(|book| {
                                        Box::new(Good {
                                            book: entry(
                                                book,
                                                &v.text,
                                                sha256(&v.text),
                                                cache.aside.as_deref(),
                                            ),
                                            read_at: v.read_at,
                                        })
                                    })
                                }
                                Ok(None) => None,
                                Err(e) => {
                                    if let Some(at) = &location {
                                        loaded.problems.push(store_problem(at, "read", &e));
                                    }
                                    None
                                }
                            }
                        });
                        if let Some(good) = &good {
                            for p in problems.iter_mut().filter(|p| p.is_error()) {
                                p.message.push_str(&format!(
                                    "; the last good version (read {}) is still published",
                                    good.read_at
                                ));
                            }
                        }
                        (true, good)
                    }
                };
                if hand_over {
                    // Straight into the catalog, in file order as below:
                    // a one-run load keeps no per-file cache.
                    catalog_add.add(
                        &mut loaded,
                        &path,
                        broken,
                        problems,
                        last_good.map(|g| g.book),
                    );
                } else {
                    cache.books.insert(
                        path,
                        CachedBook {
                            stamp: *now_stamp,
                            problems,
                            broken,
                            last_good,
                        },
                    );
                }
            }
        }
        drop(to_saver);
        match saver.map(|s| s.join()) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(()),
        }
    });
    let store = match (saved, &location) {
        (Err(e), Some(at)) => {
            loaded.problems.push(store_problem(at, "write", &e));
            None
        }
        _ => store.map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner)),
    };
    if let Some(store) = store
        && (!changed.is_empty() || !gone.is_empty())
        && let Err(e) = store.save(&changed, &gone)
    {
        loaded
            .problems
            .push(store_problem(store.location(), "write", &e));
    }
    drop(book_files);
    if !hand_over {
        compact(cache);
    }
    for (path, cached) in &cache.books {
        catalog_add.add(
            &mut loaded,
            path,
            cached.broken,
            cached.problems.clone(),
            cached.last_good.as_ref().map(|g| g.book.clone()),
        );
    }
    drop(catalog_add);
    loaded.catalog.books.sort();
    loaded.catalog.aside = cache.aside.clone();
    warn_overlaps(&mut loaded, max_bytes);
    diag::sort(&mut loaded.problems);
    Ok(loaded)
}

/// Hands good books to the catalog in file order: the first book to use a
/// slug keeps it, in any case (slugs become URLs and ids; two that differ
/// only in case collide on case-insensitive file systems and web servers).
struct Handover {
    /// Hash of a lower-cased slug → the index in the catalog of the first
    /// book with it: a few bytes a book, not a copy of every slug.
    slugs: HashMap<u64, usize>,
}

impl Handover {
    fn add(
        &mut self,
        loaded: &mut Loaded,
        path: &Path,
        broken: bool,
        mut problems: Vec<Problem>,
        good: Option<Entry>,
    ) {
        loaded.problems.append(&mut problems);
        if broken {
            loaded.rejected.push(path.to_path_buf());
        }
        let Some(book) = good else {
            return;
        };
        let books = &loaded.catalog.books;
        let key = slug_hash(book.slug());
        // The file of the book that has this slug, if one has. (A filed
        // entry that cannot be read back counts as another slug: the
        // error is the temporary file's, not the book's.)
        let user = |i: usize| {
            let other = books.get(i).ok()?;
            same_slug(other.slug(), book.slug()).then(|| other.path().to_path_buf())
        };
        let first = match self.slugs.get(&key) {
            None => None,
            // Two slugs with one hash: look the hard way.
            Some(&i) => user(i).or_else(|| (0..books.len()).find_map(user)),
        };
        if let Some(first) = first {
            loaded.problems.push(Problem::error(
                path,
                (1, 1),
                format!(
                    "duplicate slug `{}`: {} already uses it",
                    book.slug(),
                    first.display()
                ),
            ));
            if !broken {
                loaded.rejected.push(path.to_path_buf());
            }
        } else {
            self.slugs.entry(key).or_insert(books.len());
            if broken {
                loaded.kept.push(path.to_path_buf());
            }
            loaded.catalog.books.push(book);
        }
    }
}

/// A slug lower-cased, for [`Handover`].
fn lower(slug: &str) -> impl Iterator<Item = char> + '_ {
    slug.chars().flat_map(char::to_lowercase)
}

fn same_slug(a: &str, b: &str) -> bool {
    lower(a).eq(lower(b))
}

/// The hash of a lower-cased slug; the same in every run (std's
/// `DefaultHasher::new` has fixed keys), not that anything depends on it.
fn slug_hash(slug: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for c in lower(slug) {
        c.hash(&mut h);
    }
    h.finish()
}

/// Book files parsed in parallel at a time, at most (see [`load_from`]).
const PARSE_CHUNK: usize = 256;

/// Book files whose kept hashes a load asks the store for at once: a few
/// hundred bytes each.
const LOOKUP_SPAN: usize = 4096;

/// Bytes of book files parsed in parallel at a time: past this, a chunk
/// ends early. Their texts, what parsing them takes, and their records on
/// the way to the temporary file are what a load holds of them at once.
const PARSE_BYTES: u64 = 16 << 20;

/// New versions of books held before they are handed to the store: at
/// most three such batches are in memory (one filling, one waiting, one
/// being written).
const SAVE_BYTES: usize = 4 << 20;

/// One book file read and parsed: the book's catalog entry (the rest set
/// aside when the load sets books aside), the problems, and for a good book the SHA-256
/// of its text, with the text itself when the store does not have it yet.
struct Parsed {
    book: Option<Entry>,
    problems: Vec<Problem>,
    hash: Option<String>,
    text: Option<String>,
}

fn parse_one(
    path: &Path,
    source: &Source,
    people: &BTreeMap<String, Person>,
    known: Option<&(String, String)>,
    aside: Option<&AsideFile>,
) -> Parsed {
    let text = match read_text(path, source.max_bytes) {
        Ok(text) => text,
        Err(p) => {
            return Parsed {
                book: None,
                problems: vec![p],
                hash: None,
                text: None,
            };
        }
    };
    let (book, problems) = parse_book(path, &text, people, source.tz);
    let Some(book) = book else {
        return Parsed {
            book: None,
            problems,
            hash: None,
            text: None,
        };
    };
    let source = sha256(&text);
    let hash = hex(&source);
    let stored = known.is_some_and(|(h, _)| *h == hash);
    Parsed {
        book: Some(entry(book, &text, source, aside)),
        problems,
        hash: Some(hash),
        text: (!stored).then_some(text),
    }
}

/// The catalog entry of `book`, read from `text`, whose SHA-256 is
/// `source`: set aside in `aside` when there is one (see
/// [`Entry::set_aside`]), else held in memory. It knows where its cover
/// is written, for the warning when the image is missing (found now, the
/// text at hand, rather than by reading the file again then).
fn entry(book: Book, text: &str, source: [u8; 32], aside: Option<&AsideFile>) -> Entry {
    let cover_at = book
        .cover
        .as_ref()
        .and_then(|_| front_matter(text).ok()?.locate(&[Seg::Key("cover")]));
    let mut entry = match aside {
        Some(file) => Entry::set_aside(book, source, file),
        None => Entry::new(book),
    };
    if let Some(at) = cover_at {
        entry.set_cover_at(at);
    }
    entry
}

/// A store that cannot be read or written is a warning: the run goes on
/// with what the files say, as it did before there was a store.
/// The store behind its lock; a thread that panicked holding it left
/// nothing half-done that SQLite would not roll back.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store_problem(at: &Path, what: &str, e: &StoreError) -> Problem {
    Problem::warning(
        at,
        (1, 1),
        format!("cannot {what} the last good versions of books: {e}"),
    )
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
/// later one, where the fix usually is: once per book, naming the first
/// book it overlaps (a thousand copies of one template would otherwise give
/// half a million warnings, each locating its line in a file).
fn warn_overlaps(loaded: &mut Loaded, max_bytes: u64) {
    let books = &loaded.catalog.books;
    // Index of a later book → (the first earlier book it overlaps, how many).
    // By windows alone: no entry is read back until one overlaps.
    let mut found: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (i, (a, _)) in books.windows().enumerate() {
        for (j, (b, _)) in books
            .windows()
            .enumerate()
            .skip(i + 1)
            .take_while(|(_, (b, _))| b.start() < a.end())
        {
            if a.overlaps(b) {
                found.entry(j).or_insert((i, 0)).1 += 1;
            }
        }
    }
    for (j, (i, count)) in found {
        let (Ok(a), Ok(b)) = (books.get(i), books.get(j)) else {
            continue;
        };
        let others = match count - 1 {
            0 => String::new(),
            n => format!(" and {n} other book{}", diag::plural(n)),
        };
        loaded.problems.push(Problem::warning(
            b.path(),
            locate_in_file(b.path(), &[Seg::Key("start")], max_bytes),
            format!(
                "window {} – {} overlaps `{}` ({} – {}){others}",
                b.window.start().format("%Y-%m-%d %H:%M"),
                b.window.end().format("%Y-%m-%d %H:%M"),
                a.slug(),
                a.window.start().format("%Y-%m-%d %H:%M"),
                a.window.end().format("%Y-%m-%d %H:%M"),
            ),
        ));
    }
}

/// The file position of a front matter key, for problems found after
/// loading (overlaps, author hints); (1, 1) when it cannot be found.
pub fn locate_in_file(path: &Path, at: &[Seg], max_bytes: u64) -> (usize, usize) {
    read_text(path, max_bytes)
        .ok()
        .and_then(|t| front_matter(&t).ok().and_then(|fm| fm.locate(at)))
        .unwrap_or((1, 1))
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
    let first = text.split_inclusive('\n').next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err((
            (1, 1),
            "missing front matter: the file must start with a `---` line".into(),
        ));
    }
    let yaml_start = first.len();
    match closing_line(text, yaml_start) {
        Some((at, len)) => Ok(FrontMatter {
            yaml: &text[yaml_start..at],
            first_line: 2,
            body: &text[at + len..],
        }),
        None => Err((
            (1, 1),
            "front matter is not closed: add a `---` line after it".into(),
        )),
    }
}

/// The first line at or after `from` (a line start) that is `---` or `...`
/// with only trailing whitespace: its start and length with its newline.
/// Found by searching for the markers, not by walking every line of a long
/// archive.
fn closing_line(text: &str, from: usize) -> Option<(usize, usize)> {
    let closes = |at: usize| {
        let rest = &text[at..];
        let line = rest.find('\n').map_or(rest, |i| &rest[..=i]);
        matches!(line.trim_end(), "---" | "...").then_some(line.len())
    };
    if let Some(len) = closes(from) {
        return Some((from, len));
    }
    let bytes = &text.as_bytes()[from..];
    let first = |marker: &[u8], until: usize| {
        memchr::memmem::find_iter(&bytes[..until], marker)
            .map(|i| from + i + 1)
            .find_map(|at| closes(at).map(|len| (at, len)))
    };
    let dashes = first(b"\n---", bytes.len());
    // A `...` line counts only before the first `---` line.
    let until = dashes.map_or(bytes.len(), |(at, _)| at - from);
    first(b"\n...", until).or(dashes)
}

/// Parses the front matter into a mapping; a syntax error names its real line
/// in the file.
fn parse_yaml<'t>(path: &Path, text: &'t str) -> Result<(FrontMatter<'t>, Mapping), Problem> {
    let fm = front_matter(text).map_err(|(pos, msg)| Problem::error(path, pos, msg))?;
    let value: Value = yaml::parse(fm.yaml).map_err(|e| {
        let mut message = crate::config::strip_location(&e);
        // Reader errors (a control character, say) carry a byte offset
        // instead of a line: turn it into one.
        let at_offset = message.rfind(" at position ").and_then(|i| {
            let offset: usize = message[i + " at position ".len()..].parse().ok()?;
            let pos = position_of(fm.yaml, offset);
            message.truncate(i);
            Some(pos)
        });
        // Their location, if any, is the start of the document.
        let (line, col) = at_offset
            .or_else(|| e.location().map(|l| (l.line(), l.column())))
            .unwrap_or((1, 1));
        Problem::error(
            path,
            (line + fm.first_line - 1, col),
            format!("invalid YAML: {message}"),
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

/// The 1-based line and column (in characters) of a byte offset in `text`.
fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
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

/// Collects a file's problems with their positions, the first
/// [`MAX_PROBLEMS_PER_FILE`] of them; the rest are only counted.
struct Report<'a, 't> {
    path: &'a Path,
    fm: &'a FrontMatter<'t>,
    problems: Vec<Problem>,
    more_errors: usize,
    more_warnings: usize,
}

impl<'a, 't> Report<'a, 't> {
    fn new(path: &'a Path, fm: &'a FrontMatter<'t>) -> Self {
        Self {
            path,
            fm,
            problems: Vec::new(),
            more_errors: 0,
            more_warnings: 0,
        }
    }
    /// True once further problems are only counted: callers skip work that
    /// only makes a message better (hints).
    fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS_PER_FILE
    }
    fn pos(&self, at: &[Seg]) -> (usize, usize) {
        self.fm.locate(at).unwrap_or((1, 1))
    }
    fn error(&mut self, at: &[Seg], msg: impl Into<String>) {
        if self.full() {
            self.more_errors += 1;
            return;
        }
        let pos = self.pos(at);
        self.problems.push(Problem::error(self.path, pos, msg));
    }
    fn warning(&mut self, at: &[Seg], msg: impl Into<String>) {
        if self.full() {
            self.more_warnings += 1;
            return;
        }
        let pos = self.pos(at);
        self.problems.push(Problem::warning(self.path, pos, msg));
    }
    fn has_errors(&self) -> bool {
        self.more_errors > 0 || self.problems.iter().any(Problem::is_error)
    }
    /// The problems, with one line for those left unlisted.
    fn finish(mut self) -> Vec<Problem> {
        let more = self.more_errors + self.more_warnings;
        if more > 0 {
            let msg = format!(
                "{more} more problem{} in this file ({} error{}, {} warning{}) not shown; fix the ones above first",
                diag::plural(more),
                self.more_errors,
                diag::plural(self.more_errors),
                self.more_warnings,
                diag::plural(self.more_warnings),
            );
            let last = self.problems.last().map_or((1, 1), |p| (p.line, p.col));
            self.problems.push(if self.more_errors > 0 {
                Problem::error(self.path, last, msg)
            } else {
                Problem::warning(self.path, last, msg)
            });
        }
        self.problems
    }
    fn unknown_keys(&mut self, map: &Mapping, known: &[&str]) {
        for k in map.keys() {
            let key = scalar_text(k).unwrap_or_default();
            if !known.contains(&key.as_str()) {
                if self.full() {
                    self.more_warnings += 1;
                    continue;
                }
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
    let mut r = Report::new(path, &fm);
    r.unknown_keys(&map, PERSON_KEYS);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let slug = r.optional_text(&map, "short").unwrap_or(stem);
    let name = r.required_text(&map, "title");
    let mut aliases = string_list(&mut r, &map, "aliases");
    if aliases.len() > MAX_ALIASES {
        r.warning(
            &[Seg::Key("aliases")],
            format!(
                "`aliases` has {} entries; only the first {MAX_ALIASES} are used",
                aliases.len()
            ),
        );
        aliases.truncate(MAX_ALIASES);
    }
    let handles = ["github", "twitter"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(scalar_text))
        .map(|h| h.trim().trim_start_matches('@').to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let picture = r.optional_text(&map, "picture").filter(|p| {
        let ok = !has_scheme(p) || is_http_url(p);
        if !ok {
            r.warning(
                &[Seg::Key("picture")],
                format!("`picture` is not an http(s) URL or a site path: `{p}`; it is left out"),
            );
        }
        ok
    });
    let links = person_links(&mut r, &map);
    match name {
        Some(name) if !r.has_errors() => Ok((
            Person {
                slug,
                name,
                aliases,
                handles,
                path: path.to_path_buf(),
                picture,
                bio: fm.body.trim().to_string(),
                links,
            },
            r.finish(),
        )),
        _ => Err(r.finish()),
    }
}

/// A person's pages as links: `github`, `twitter` and `linkedin` are
/// handles (a full http(s) URL is taken as it is), `web` is a URL. A value
/// that makes no link is a warning and left out.
fn person_links(r: &mut Report, map: &Mapping) -> Vec<Link> {
    const SITES: [(&str, &str, &str); 4] = [
        ("github", "GitHub", "https://github.com/"),
        ("twitter", "Twitter", "https://twitter.com/"),
        ("linkedin", "LinkedIn", "https://www.linkedin.com/in/"),
        ("web", "Website", ""),
    ];
    let mut out = Vec::new();
    for (key, text, prefix) in SITES {
        let Some(value) = map.get(key).and_then(scalar_text) else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let handle = value.trim_start_matches('@');
        let url = if is_http_url(value) {
            Some(value.to_string())
        } else if !prefix.is_empty()
            && handle
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            Some(format!("{prefix}{handle}"))
        } else {
            None
        };
        match url {
            Some(url) => out.push(Link {
                text: text.to_string(),
                url,
            }),
            None => r.warning(
                &[Seg::Key(key)],
                format!("`{key}` is not a handle or an http(s) URL: `{value}`; it is left out"),
            ),
        }
    }
    out
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
    let (fm, mut map) = match parse_yaml(path, text) {
        Ok(x) => x,
        Err(p) => return (None, vec![p]),
    };
    let mut r = Report::new(path, &fm);
    r.unknown_keys(&map, BOOK_KEYS);
    let title = r.required_text(&map, "title");
    let description = r.optional_text(&map, "description");
    let start = time_field(&mut r, &map, "start", tz, false);
    let end = time_field(&mut r, &map, "end", tz, true);
    let window = match (start, end) {
        (Some(s), Some(e)) => match Window::new(s, e) {
            Ok(w) => Some(w),
            Err(err) => {
                let detail = match err {
                    WindowError::EndBeforeStart => format!(
                        " ({} < {})",
                        e.format("%Y-%m-%d %H:%M:%S"),
                        s.format("%Y-%m-%d %H:%M:%S")
                    ),
                    WindowError::Empty => format!(" ({})", e.format("%Y-%m-%d %H:%M:%S")),
                    // time_field refuses these first; kept for the invariant.
                    WindowError::StartOutOfRange | WindowError::EndOutOfRange => String::new(),
                };
                let key = if err == WindowError::StartOutOfRange {
                    "start"
                } else {
                    "end"
                };
                r.error(&[Seg::Key(key)], format!("{err}{detail}"));
                None
            }
        },
        _ => None,
    };
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
    let archive = archive(&mut r, &mut map);
    let aliases = book_aliases(&mut r, &map, &authors);
    let pin = thread_numbers(&mut r, &map, "pin", archive.len());
    let hide = thread_numbers(&mut r, &map, "hide", archive.len());
    let book = match (title, window) {
        (Some(title), Some(window)) if !r.has_errors() => Some(Book {
            slug: path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string(),
            path: path.to_path_buf(),
            title,
            description,
            authors,
            window,
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
    (book, r.finish())
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
        Err(BadTime::Unreadable) => {
            r.error(
                &[Seg::Key(key)],
                format!("`{key}` is not a date and time: `{raw}`; expected `YYYY-MM-DD HH:MM:SS`"),
            );
            None
        }
        Err(BadTime::OutOfRange) => {
            r.error(
                &[Seg::Key(key)],
                format!(
                    "`{key}` is outside the years {} to {}: `{raw}`",
                    YEARS.start(),
                    YEARS.end()
                ),
            );
            None
        }
    }
}

/// A `start`/`end` value that is not a time bookweek can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadTime {
    #[error("not a date and time")]
    Unreadable,
    /// Feeds cannot write years outside [`YEARS`] (in the site's time zone
    /// and in UTC).
    #[error("outside the years 1 to 9999")]
    OutOfRange,
}

/// Parses a local time; returns a note when the time had to be adjusted (a
/// time inside a daylight-saving gap does not exist).
pub fn parse_local_time(
    s: &str,
    tz: Tz,
    is_end: bool,
) -> Result<(DateTime<Tz>, Option<String>), BadTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.with_timezone(&tz)).map(|t| (t, None));
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
    .ok_or_else(|| {
        // chrono reads at most four digits of an unsigned year: `10000-01-01`
        // is a date, only one bookweek cannot use.
        let year = s
            .trim_start_matches(['+', '-'])
            .split('-')
            .next()
            .unwrap_or("");
        if year.len() > 4 && year.bytes().all(|b| b.is_ascii_digit()) {
            BadTime::OutOfRange
        } else {
            BadTime::Unreadable
        }
    })?;
    // Refused before any time zone arithmetic, which has edges near
    // chrono's own limits (about year ±262,000).
    if !YEARS.contains(&naive.year()) {
        return Err(BadTime::OutOfRange);
    }
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => in_range(t).map(|t| (t, None)),
        LocalResult::Ambiguous(earliest, _) => in_range(earliest).map(|t| (t, None)),
        LocalResult::None => {
            let t = in_range(after_gap(tz, naive).ok_or(BadTime::Unreadable)?)?;
            Ok((
                t,
                Some(format!(
                    "{} does not exist in {} (clocks go forward); using {}",
                    naive.format("%Y-%m-%d %H:%M:%S"),
                    tz.name(),
                    if t.date_naive() == naive.date() {
                        t.format("%H:%M:%S").to_string()
                    } else {
                        t.format("%Y-%m-%d %H:%M:%S").to_string()
                    }
                )),
            ))
        }
    }
}

fn in_range(t: DateTime<Tz>) -> Result<DateTime<Tz>, BadTime> {
    if representable(t) {
        Ok(t)
    } else {
        Err(BadTime::OutOfRange)
    }
}

/// The instant a local time inside a gap (clocks went forward) stands for:
/// read with the offset in force before the gap, as a clock that was not
/// put forward would show it. 02:30 in a one-hour gap is 03:30; a day
/// skipped by a time zone (Samoa, 30 December 2011) lands on the next day.
fn after_gap(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Tz>> {
    // A day earlier, read as UTC, is before the gap in every zone.
    let before = naive.checked_sub_signed(Duration::days(1))?;
    let offset = tz.offset_from_utc_datetime(&before).fix();
    let utc = naive.checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))?;
    Some(tz.from_utc_datetime(&utc))
}

/// A plausible plain name ("Valliappa Lakshmanan"), as opposed to a slug with
/// a typo ("michaelmun"): names have a space or capital letters.
fn is_plain_name(s: &str) -> bool {
    s.contains(char::is_whitespace) || s.chars().any(char::is_uppercase)
}

fn authors(r: &mut Report, map: &Mapping, people: &BTreeMap<String, Person>) -> Vec<Author> {
    let entries = string_list(r, map, "authors");
    if entries.len() > MAX_AUTHORS {
        r.error(
            &[Seg::Key("authors")],
            format!(
                "`authors` lists {} entries; a book may name at most {MAX_AUTHORS}",
                entries.len()
            ),
        );
        return Vec::new();
    }
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
            // The hint compares with every person: skipped once problems
            // are only counted.
            let hint = (!r.full())
                .then(|| did_you_mean(&entry, people.keys().map(String::as_str)))
                .flatten()
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
    if entries.len() > MAX_ALIASES {
        r.warning(
            &[Seg::Key("aliases")],
            format!(
                "`aliases` has {} entries; only the first {MAX_ALIASES} are used",
                entries.len()
            ),
        );
    }
    let mut out = Vec::new();
    // A set, not a scan per entry.
    let names: BTreeSet<&str> = authors
        .iter()
        .flat_map(|a| a.slug.iter().map(String::as_str).chain([a.name.as_str()]))
        .collect();
    for (k, v) in entries.iter().take(MAX_ALIASES) {
        let (Some(name), Some(author)) = (scalar_text(k), scalar_text(v)) else {
            r.warning(
                &[Seg::Key("aliases")],
                "an `aliases` entry must be `chat name: author`; it is ignored",
            );
            continue;
        };
        if !names.contains(author.as_str()) {
            let hint = (!r.full())
                .then(|| did_you_mean(&author, names.iter().copied()))
                .flatten()
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

/// A value without its tags (`!tag value`), as `Value::as_mapping` sees it.
fn untagged(mut v: Value) -> Value {
    while let Value::Tagged(tagged) = v {
        v = tagged.value;
    }
    v
}

/// [`scalar_text`] of a value taken out of its mapping: a string is moved,
/// not copied (archives are most of a book's text).
fn owned_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        other => scalar_text(&other),
    }
}

/// A thread's post or a reply, taken out of its mapping.
fn message(v: Value) -> Option<(Message, Mapping)> {
    let Value::Mapping(mut m) = untagged(v) else {
        return None;
    };
    let name = m.remove("name").and_then(owned_text).unwrap_or_default();
    let text = m.remove("text").and_then(owned_text)?;
    let name = match name.trim() {
        trimmed if trimmed.len() == name.len() => name,
        trimmed => trimmed.to_string(),
    };
    Some((Message { name, text }, m))
}

/// The `archive:` list, taken out of `map` (its strings are moved).
fn archive(r: &mut Report, map: &mut Mapping) -> Vec<Thread> {
    let items = match map.get_mut("archive").map(std::mem::take) {
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
    for (i, item) in items.into_iter().enumerate() {
        let at = [Seg::Key("archive"), Seg::Index(i)];
        let Some((post, mut m)) = message(item) else {
            r.warning(
                &at,
                format!("archive thread {} has no `text`; it is left out", i + 1),
            );
            continue;
        };
        let replies = match m.remove("replies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(rs)) => rs
                .into_iter()
                .enumerate()
                .filter_map(|(j, rv)| {
                    let msg = message(rv).map(|(msg, _)| msg);
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

    #[test]
    fn front_matter_closes_at_the_first_marker_line() {
        // Every line walked, as the search must agree with.
        fn walked(text: &str) -> Option<(&str, &str)> {
            let mut lines = text.split_inclusive('\n');
            let start = lines.next()?.len();
            let mut offset = start;
            for line in lines {
                if matches!(line.trim_end(), "---" | "...") {
                    return Some((&text[start..offset], &text[offset + line.len()..]));
                }
                offset += line.len();
            }
            None
        }
        let cases = [
            "---\n---\nbody",
            "---\ntitle: x\n---\nbody\n---\nmore",
            "---\ntitle: x\n...\nbody\n---\n",
            "---\ntitle: x\n---  \r\nbody",
            "---\ntitle: x\n----\n--- x\n ---\n...",
            "---\ntext: \"a\n  ... b\"\n...more\n---",
            "---\ntitle: x\n---",
            "---\r\ntitle: x\r\n---\r\nbody",
            "---\ntitle: x\nno end\n",
            "---\n...\n---\n",
        ];
        for text in cases {
            let found = front_matter(text).ok().map(|fm| (fm.yaml, fm.body));
            assert_eq!(found, walked(text), "{text:?}");
        }
    }

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
                ..Default::default()
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
        assert_eq!(b.window.start().to_rfc3339(), "2022-12-05T00:00:00+01:00");
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
    fn a_control_character_is_an_error_at_its_line() {
        let (b, p) = book(&GOOD.replace("end: 2022", "end: \u{1}2022"));
        assert!(b.is_none());
        assert_eq!(
            p,
            ["b.md:5:6: error: invalid YAML: control characters are not allowed"]
        );
    }

    #[test]
    fn dates_outside_years_1_to_9999_are_errors_at_their_line() {
        for (date, msg) in [
            ("-0001-01-01 00:00:00", "outside the years 1 to 9999"),
            ("0000-01-01 00:00:00", "outside the years 1 to 9999"),
            ("10000-01-01 00:00:00", "outside the years 1 to 9999"),
            ("+262143-12-31 23:59:59", "outside the years 1 to 9999"),
            ("0001-01-01T00:00:00+23:59", "outside the years 1 to 9999"),
            ("2022-02-30 00:00:00", "is not a date and time"),
            ("2022-12-05 24:00:00", "is not a date and time"),
            ("2022-12-32", "is not a date and time"),
        ] {
            let (b, p) = book(&GOOD.replace("2022-12-05 00:00:00", date));
            assert!(b.is_none(), "{date}");
            assert_eq!(p.len(), 1, "{date}: {p:?}");
            assert!(
                p[0].starts_with("b.md:4:1: error: `start` ") && p[0].contains(msg),
                "{date}: {p:?}"
            );
        }
        let (b, _) = book(&GOOD.replace("2022-12-09 23:59:59", "9999-12-31 23:59:59"));
        assert!(b.is_some());
    }

    #[test]
    fn a_skipped_day_moves_to_the_next_one() {
        // Samoa skipped 30 December 2011 (from UTC-10 to UTC+14).
        let (t, note) =
            parse_local_time("2011-12-30 12:00:00", chrono_tz::Pacific::Apia, false).unwrap();
        assert_eq!(t.to_rfc3339(), "2011-12-31T12:00:00+14:00");
        assert!(note.unwrap().ends_with("using 2011-12-31 12:00:00"));
        // An ambiguous hour (clocks go back) is its first occurrence.
        let (t, note) = parse_local_time("2022-10-30 02:30:00", Berlin, false).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-10-30T02:30:00+02:00");
        assert!(note.is_none());
    }

    #[test]
    fn problems_past_the_limit_are_counted_not_listed() {
        let links: String = (0..500)
            .map(|i| format!("- text: L{i}\n  link: ftp://x/{i}\n"))
            .collect();
        let (b, p) = book(&GOOD.replace("- text: A\n  link: https://a.org/\n", &links));
        assert!(b.is_some(), "warnings only");
        assert_eq!(p.len(), MAX_PROBLEMS_PER_FILE + 1);
        assert!(
            p.last().unwrap().ends_with(
                "warning: 450 more problems in this file (0 errors, 450 warnings) not shown; fix the ones above first"
            ),
            "{p:?}"
        );
    }

    #[test]
    fn a_person_has_a_picture_a_bio_and_links_to_their_pages() {
        let text = "---\nshort: ann\ntitle: Ann Author\npicture: images/authors/ann.jpg\n\
                    github: annauthor\ntwitter: \"@ann_a\"\nlinkedin: https://www.linkedin.com/in/ann\n\
                    web: not a url\n---\nAnn *writes*.\n";
        let (person, problems) = parse_person(Path::new("people/ann.md"), text).unwrap();
        assert_eq!(person.picture.as_deref(), Some("images/authors/ann.jpg"));
        assert_eq!(person.bio, "Ann *writes*.");
        let links: Vec<(&str, &str)> = person
            .links
            .iter()
            .map(|l| (l.text.as_str(), l.url.as_str()))
            .collect();
        assert_eq!(
            links,
            [
                ("GitHub", "https://github.com/annauthor"),
                ("Twitter", "https://twitter.com/ann_a"),
                ("LinkedIn", "https://www.linkedin.com/in/ann"),
            ]
        );
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "people/ann.md:8:1: warning: `web` is not a handle or an http(s) URL: `not a url`; it is left out"
            ]
        );
        let bad = "---\ntitle: B\npicture: \"javascript:alert(1)\"\n---\n";
        let (person, problems) = parse_person(Path::new("b.md"), bad).unwrap();
        assert_eq!(person.picture, None);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn too_many_authors_is_an_error() {
        let names: Vec<String> = (0..=MAX_AUTHORS).map(|i| format!("Author {i}")).collect();
        let (b, p) = book(&GOOD.replace(
            "[niallmurphy, Sara Robinson]",
            &format!("[{}]", names.join(", ")),
        ));
        assert!(b.is_none());
        assert_eq!(
            p,
            ["b.md:3:1: error: `authors` lists 21 entries; a book may name at most 20"]
        );
    }

    /// A store in memory that counts what it is asked to write.
    #[derive(Default)]
    struct MemoryStore {
        kept: BTreeMap<String, Version>,
        written: usize,
        forgotten: usize,
        /// Calls to `save`, and whether they fail (a full disk).
        saves: usize,
        failing: bool,
        /// Calls to `hashes`: one a chunk of files.
        ranges: usize,
    }

    impl Store for MemoryStore {
        fn location(&self) -> &Path {
            Path::new("state.db")
        }
        fn hashes(
            &mut self,
            first: &str,
            last: &str,
        ) -> Result<BTreeMap<String, (String, String)>, StoreError> {
            self.ranges += 1;
            Ok(self
                .kept
                .range(first.to_string()..=last.to_string())
                .map(|(k, v)| (k.clone(), (v.hash.clone(), v.read_at.clone())))
                .collect())
        }
        fn gone(
            &mut self,
            present: &mut dyn FnMut(&str) -> bool,
        ) -> Result<Vec<String>, StoreError> {
            Ok(self.kept.keys().filter(|k| !present(k)).cloned().collect())
        }
        fn version(&mut self, key: &str) -> Result<Option<Version>, StoreError> {
            Ok(self.kept.get(key).cloned())
        }
        fn save(&mut self, changed: &[Version], gone: &[String]) -> Result<(), StoreError> {
            self.saves += 1;
            if self.failing {
                return Err("disk full".into());
            }
            self.written += changed.len();
            self.forgotten += gone.len();
            for v in changed {
                self.kept.insert(v.key.clone(), v.clone());
            }
            for k in gone {
                self.kept.remove(k);
            }
            Ok(())
        }
    }

    /// A content folder with `books/` (where tests write), its config,
    /// and a good book without people.
    fn store_site() -> (tempfile::TempDir, PathBuf, Config, String) {
        let dir = tempfile::tempdir().unwrap();
        let books = dir.path().join("books");
        std::fs::create_dir_all(&books).unwrap();
        let config = crate::config::parse(
            Path::new("c.yaml"),
            &format!("paths:\n  content: {}\n", dir.path().display()),
        )
        .config;
        (dir, books, config, GOOD.replace("niallmurphy, ", ""))
    }

    #[test]
    fn long_books_are_saved_in_batches_and_a_failing_store_only_warns() {
        let (_dir, books, config, good) = store_site();
        // Long bodies: more text than one batch of the store holds.
        let body = "A long week.\n".repeat(SAVE_BYTES / 13 / 2);
        for i in 0..5 {
            let text = good.replace("title: T", &format!("title: T{i}"));
            std::fs::write(books.join(format!("b{i}.md")), format!("{text}{body}")).unwrap();
        }
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut store = MemoryStore::default();
        let loaded = load_cached(&config, &mut Cache::one_run(), Some(&mut store), now).unwrap();
        // The books share a week: only overlap warnings are expected.
        let others = |loaded: &Loaded| -> Vec<String> {
            loaded
                .problems
                .iter()
                .filter(|p| !p.message.contains("overlaps"))
                .map(|p| p.to_string())
                .collect()
        };
        assert_eq!(loaded.catalog.books.len(), 5);
        assert_eq!(others(&loaded), Vec::<String>::new());
        assert_eq!(store.written, 5);
        assert!(
            store.saves >= 2,
            "one batch while parsing, the rest at the end"
        );
        // The store fails from its first write: every book is still loaded,
        // and the failure is one warning, not one per batch.
        let mut full = MemoryStore {
            failing: true,
            ..MemoryStore::default()
        };
        let loaded = load_cached(&config, &mut Cache::one_run(), Some(&mut full), now).unwrap();
        assert_eq!(loaded.catalog.books.len(), 5);
        assert_eq!(
            others(&loaded),
            ["state.db:1:1: warning: cannot write the last good versions of books: disk full"]
        );
        assert_eq!(full.saves, 1, "nothing more is handed to a failed store");
    }

    #[test]
    fn a_broken_edit_keeps_the_last_good_version_across_runs() {
        let (_dir, books, config, good) = store_site();
        std::fs::write(books.join("a.md"), &good).unwrap();
        std::fs::write(books.join("b.md"), good.replace("title: T", "title: B")).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        let mut store = MemoryStore::default();
        // Each run starts with an empty cache, as `build` and `once` do.
        let run = |store: &mut MemoryStore, now: &str| {
            load_cached(&config, &mut Cache::default(), Some(store), at(now)).unwrap()
        };
        let first = run(&mut store, "2026-01-01T00:00:00Z");
        assert_eq!((first.catalog.books.len(), store.written), (2, 2));
        // Two files, one span: the store is asked once.
        assert_eq!(store.ranges, 1);
        // Nothing changed: nothing is written.
        run(&mut store, "2026-01-02T00:00:00Z");
        assert_eq!(store.written, 2);
        // A broken edit: the last good version is published and said so.
        std::fs::write(
            books.join("a.md"),
            good.replace("2022-12-05 00:00:00", "2022-12-32"),
        )
        .unwrap();
        let broken = run(&mut store, "2026-01-03T00:00:00Z");
        assert_eq!(broken.catalog.books.len(), 2);
        assert_eq!(broken.kept, [books.join("a.md")]);
        assert_eq!(broken.left_out(), 0);
        let line = broken
            .problems
            .iter()
            .find(|p| p.is_error())
            .unwrap()
            .to_string();
        assert!(
            line.ends_with(
                "; the last good version (read 2026-01-01T00:00:00Z) is still published"
            ),
            "{line}"
        );
        assert_eq!(store.written, 2);
        // Without a store (`check`), the book is left out.
        let checked = load_with(&config).unwrap();
        assert_eq!((checked.catalog.books.len(), checked.left_out()), (1, 1));
        // A deleted file takes its book and its kept version with it.
        std::fs::remove_file(books.join("a.md")).unwrap();
        let gone = run(&mut store, "2026-01-04T00:00:00Z");
        assert_eq!(gone.catalog.books.len(), 1);
        assert_eq!((store.kept.len(), store.forgotten), (1, 1));
    }

    #[test]
    fn the_store_is_asked_a_span_at_a_time_and_knows_every_book() {
        let (_dir, books, config, good) = store_site();
        // Spans of 3 files, and chunks that would straddle them.
        let n = 3 * 3 + 2;
        for i in 0..n {
            std::fs::write(books.join(format!("b{i:02}.md")), &good).unwrap();
        }
        let run = |store: &mut MemoryStore, now: &str| {
            let mut cache = Cache::one_run();
            cache.lookup_span = 3;
            let now = DateTime::parse_from_rfc3339(now).unwrap();
            load_cached(&config, &mut cache, Some(store), now).unwrap()
        };
        let mut store = MemoryStore::default();
        let first = run(&mut store, "2026-01-01T00:00:00Z");
        assert_eq!((first.catalog.books.len(), store.written), (n, n));
        assert_eq!(store.ranges, 4);
        // Every book is found in its span: nothing is written again, and no
        // book's read time moves.
        run(&mut store, "2026-02-01T00:00:00Z");
        assert_eq!((store.written, store.ranges), (n, 8));
        assert!(
            store
                .kept
                .values()
                .all(|v| v.read_at == "2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn an_entry_knows_where_its_cover_is_written() {
        let (_dir, books, config, good) = store_site();
        let with_cover = good.replace("start:", "cover: images/c.jpg\nstart:");
        std::fs::write(books.join("a.md"), &with_cover).unwrap();
        std::fs::write(books.join("b.md"), &good).unwrap();
        for mut cache in [Cache::one_run(), Cache::long_running(), Cache::default()] {
            let one_run = cache.one_run;
            let loaded = load_cached(&config, &mut cache, None, epoch()).unwrap();
            // Only a one-run load files its entries: they come back owned.
            let filed = matches!(loaded.catalog.books.get(0), Ok(std::borrow::Cow::Owned(_)));
            assert_eq!(filed, one_run);
            let at: Vec<_> = loaded
                .catalog
                .books
                .iter()
                .map(|e| e.unwrap().cover_at())
                .collect();
            assert_eq!(at, [Some((4, 1)), None]);
        }
    }

    #[test]
    fn the_daemon_sets_books_aside_and_drops_stale_records() {
        let (_dir, books, config, good) = store_site();
        let archive = "archive:\n- name: R\n  text: Why?\n  replies:\n  - name: Sara Robinson\n    text: Because.\n";
        let with = |title: &str, pad: usize| {
            good.replace("title: T", &format!("title: {title}"))
                .replacen(
                    "---\nBody",
                    &format!("{archive}---\nBody{}", " ".repeat(pad)),
                    1,
                )
        };
        std::fs::write(books.join("a.md"), with("A0", 0)).unwrap();
        std::fs::write(books.join("b.md"), with("B", 0)).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut cache = Cache::long_running();
        // Any stale record is too many: every reload compacts.
        cache.stale_slack = 0;
        let titles = |loaded: &Loaded| -> Vec<(String, usize)> {
            let c = &loaded.catalog;
            (0..c.books.len())
                .map(|i| {
                    let b = c.full_at(i).unwrap();
                    (b.title.clone(), b.archive.len())
                })
                .collect()
        };
        let first = load_cached(&config, &mut cache, None, now).unwrap();
        assert!(
            first
                .catalog
                .books
                .iter()
                .all(|e| e.unwrap().aside().is_some())
        );
        assert_eq!(titles(&first), [("A0".into(), 1), ("B".into(), 1)]);
        let file = |cache: &Cache| cache.aside.as_ref().unwrap().written();
        let live = file(&cache);
        for n in 1..=4 {
            // A longer file each time: the stamp changes whatever the clock.
            std::fs::write(books.join("a.md"), with(&format!("A{n}"), n)).unwrap();
            let loaded = load_cached(&config, &mut cache, None, now).unwrap();
            assert_eq!(cache.reread, 1);
            assert_eq!(titles(&loaded), [(format!("A{n}"), 1), ("B".into(), 1)]);
            assert!(
                file(&cache) <= 2 * live + 8,
                "{} > 2 × {live}",
                file(&cache)
            );
            // A catalog from before the copy still reads its own file.
            assert_eq!(titles(&first)[0].0, "A0");
        }
        // A broken edit keeps the last good version, wherever it was moved.
        std::fs::write(books.join("a.md"), "---\ntitle: [\n---\n").unwrap();
        let broken = load_cached(&config, &mut cache, None, now).unwrap();
        assert_eq!(broken.kept, [books.join("a.md")]);
        assert_eq!(titles(&broken), [("A4".into(), 1), ("B".into(), 1)]);
    }

    #[test]
    fn time_in_dst_gap_moves_forward_with_warning() {
        let (t, note) = parse_local_time("2022-03-27 02:30:00", Berlin, false).unwrap();
        assert_eq!(t.to_rfc3339(), "2022-03-27T03:30:00+02:00");
        assert!(note.is_some());
    }

    #[test]
    fn slugs_that_differ_only_in_case_keep_the_first_book_set_aside_or_not() {
        let (_dir, books, config, good) = store_site();
        let later = good
            .replace("title: T", "title: Later")
            .replace("2022-12", "2023-12");
        for (name, text) in [("Same.md", &good), ("same.md", &good), ("z.md", &later)] {
            std::fs::write(books.join(name), text).unwrap();
        }
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        for mut cache in [Cache::default(), Cache::one_run()] {
            let loaded = load_cached(&config, &mut cache, None, now).unwrap();
            let slugs: Vec<String> = loaded
                .catalog
                .books
                .iter()
                .map(|b| b.unwrap().slug().to_owned())
                .collect();
            assert_eq!(slugs, ["Same", "z"]);
            let errors: Vec<String> = loaded
                .problems
                .iter()
                .filter(|p| p.is_error())
                .map(|p| p.message.clone())
                .collect();
            assert_eq!(
                errors,
                [format!(
                    "duplicate slug `same`: {} already uses it",
                    books.join("Same.md").display()
                )]
            );
            assert_eq!(loaded.rejected, [books.join("same.md")]);
            // What lists and pages show comes back from where it was kept.
            let z = loaded.catalog.meta_at(1).unwrap();
            assert_eq!(z.title, "Later");
            let z = loaded.catalog.full_at(1).unwrap();
            assert_eq!((z.title.as_str(), z.slug.as_str()), ("Later", "z"));
        }
    }
}
