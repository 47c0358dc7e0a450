//! The domain: books, their window, authors, links and Q&A archive, people,
//! and the catalog that holds them. No IO here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

pub use crate::content::{Aside, AsideFile};

mod books;
pub use books::Books;

/// The years a book's dates may fall in. Feed formats write four-digit
/// years (RFC 2822 and RFC 3339 cannot say year 0 or 10000), and no real
/// Book of the Week is dated outside them.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// True when `t` can be written in every feed format: its year is in
/// [`YEARS`] both in the site's time zone and in UTC.
pub fn representable(t: DateTime<Tz>) -> bool {
    // `t.year()` panics when the local time falls outside chrono's range
    // (DateTime::MAX_UTC in a zone east of UTC): add the offset checked.
    let utc = t.naive_utc();
    let offset = Duration::seconds(i64::from(t.offset().fix().local_minus_utc()));
    utc.checked_add_signed(offset)
        .is_some_and(|local| YEARS.contains(&local.year()))
        && YEARS.contains(&utc.year())
}

/// Why two times do not make a [`Window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("`start` is outside the years 1 to 9999")]
    StartOutOfRange,
    #[error("`end` is outside the years 1 to 9999")]
    EndOutOfRange,
    #[error("`end` is before `start`")]
    EndBeforeStart,
    #[error("`end` is the same as `start`")]
    Empty,
}

/// A person from `content/people/<slug>.md`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Person {
    pub slug: String,
    /// Display name (`title` in the file).
    pub name: String,
    /// Other names the person uses in chat (`aliases:` in the file).
    pub aliases: Vec<String>,
    /// GitHub and Twitter handles: some people chat under them.
    pub handles: Vec<String>,
    pub path: PathBuf,
    /// Picture as written (`picture:`): absolute, or relative to the site.
    pub picture: Option<String>,
    /// The markdown after the front matter: who they are.
    pub bio: String,
    /// Their GitHub, Twitter, LinkedIn and web pages, as links.
    pub links: Vec<Link>,
}

/// An `authors:` entry: a people slug resolved to its person, or a plain name
/// (older books name authors who have no people file).
#[derive(Debug, Clone, PartialEq)]
pub struct Author {
    pub slug: Option<String>,
    pub name: String,
}

/// When a book's week runs: local times of the site's time zone. Held as
/// UTC and the zone (28 bytes, where two `DateTime<Tz>` take 96): the
/// catalog holds one for every book.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: NaiveDateTime,
    end: NaiveDateTime,
    tz: Tz,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("start", &self.start())
            .field("end", &self.end())
            .finish()
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Window {
    /// A window from `start` to `end`: both representable, `end` after `start`.
    pub fn new(start: DateTime<Tz>, end: DateTime<Tz>) -> Result<Self, WindowError> {
        if !representable(start) {
            return Err(WindowError::StartOutOfRange);
        }
        if !representable(end) {
            return Err(WindowError::EndOutOfRange);
        }
        match end.cmp(&start) {
            std::cmp::Ordering::Less => Err(WindowError::EndBeforeStart),
            std::cmp::Ordering::Equal => Err(WindowError::Empty),
            std::cmp::Ordering::Greater => Ok(Self::unchecked(start, end)),
        }
    }

    /// A window from `start` to `end` as given, in `start`'s zone, for
    /// tests that hand over what a bug elsewhere could.
    pub(crate) fn unchecked(start: DateTime<Tz>, end: DateTime<Tz>) -> Self {
        Self {
            start: start.naive_utc(),
            end: end.naive_utc(),
            tz: start.timezone(),
        }
    }

    /// When the window opens.
    pub fn start(&self) -> DateTime<Tz> {
        self.tz.from_utc_datetime(&self.start)
    }

    /// When it closes.
    pub fn end(&self) -> DateTime<Tz> {
        self.tz.from_utc_datetime(&self.end)
    }

    /// Orders windows by when they open, without a look at the zone.
    pub fn start_key(&self) -> NaiveDateTime {
        self.start
    }

    /// Orders windows by when they close, without a look at the zone.
    pub fn end_key(&self) -> NaiveDateTime {
        self.end
    }

    /// The window in words, the way people write it: "5–9 December 2022",
    /// "28 November – 2 December 2022", "28 December 2022 – 3 January 2023".
    pub fn in_words(&self) -> String {
        // Windows from `new` always pass; one built by hand at the edge of
        // chrono's range would panic below (local dates out of range).
        if !(representable(self.start()) && representable(self.end())) {
            return format!(
                "{} – {}",
                self.start().to_rfc3339(),
                self.end().to_rfc3339()
            );
        }
        let start = self.start().date_naive();
        // An end at midnight closes the day before: "until 00:00 on the 10th"
        // means the week ran to the 9th.
        // Checked: a window built by hand (not through `new`) may sit at the
        // very end of chrono's range.
        let end = self
            .end()
            .checked_sub_signed(Duration::seconds(1))
            .map_or(start, |e| e.date_naive().max(start));
        let month = |d: chrono::NaiveDate| MONTHS[d.month0() as usize];
        if start == end {
            format!("{} {} {}", start.day(), month(start), start.year())
        } else if start.year() != end.year() {
            format!(
                "{} {} {} – {} {} {}",
                start.day(),
                month(start),
                start.year(),
                end.day(),
                month(end),
                end.year()
            )
        } else if start.month() != end.month() {
            format!(
                "{} {} – {} {} {}",
                start.day(),
                month(start),
                end.day(),
                month(end),
                end.year()
            )
        } else {
            format!(
                "{}–{} {} {}",
                start.day(),
                end.day(),
                month(end),
                end.year()
            )
        }
    }

    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A link from a book's `links:` list (templates see `text` and `url`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Link {
    pub text: String,
    pub url: String,
}

/// One chat message: who wrote it (chat display name) and its raw text.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub name: String,
    pub text: String,
}

/// A top-level post and the replies to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub post: Message,
    pub replies: Vec<Message>,
}

/// One Book of the Week event, from `content/books/<slug>.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    /// The file stem; it names the book's page and its feed ids.
    pub slug: String,
    pub path: PathBuf,
    pub title: String,
    pub description: Option<String>,
    pub authors: Vec<Author>,
    pub window: Window,
    /// Cover image as written: absolute, or relative to the site.
    pub cover: Option<String>,
    pub links: Vec<Link>,
    pub archive: Vec<Thread>,
    /// The markdown after the front matter.
    pub body: String,
    /// One-off chat names of this book's authors: (chat name, author slug or name).
    pub aliases: Vec<(String, String)>,
    /// Editor overrides of the answer ranking: 1-based thread numbers.
    pub pin: Vec<usize>,
    pub hide: Vec<usize>,
}

impl Book {
    /// How many threads the archive has.
    pub fn thread_count(&self) -> usize {
        self.archive.len()
    }

    /// Whether the archive is in (it has a thread).
    pub fn has_archive(&self) -> bool {
        !self.archive.is_empty()
    }

    /// The authors' display names joined the way a sentence lists them.
    pub fn author_names(&self) -> String {
        let names: Vec<&str> = self.authors.iter().map(|a| a.name.as_str()).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => (*one).to_string(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }
}

/// A book as the catalog keeps it: what choosing, ordering and linking
/// books needs (slug, file, window, authors' people, cover, how many
/// threads), and the rest of the book, either in memory or set aside in a
/// temporary file (see [`AsideFile`]) and read back by [`Catalog::full`] or
/// [`Catalog::meta`] for the few books a run shows. An entry held in
/// memory is about 250 bytes: 96 inline, the strings in one allocation
/// (`Names`); a command that loads once files even that (see [`Books`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    names: Names,
    pub window: Window,
    threads: u32,
    /// Line and column of `cover:` in the file; (0, 0) when not known.
    cover_at: (u32, u32),
    kept: Kept,
}

/// Where the rest of a catalog entry is.
#[derive(Debug, Clone, PartialEq)]
enum Kept {
    Here(Box<Book>),
    Aside(Aside),
}

impl Entry {
    /// An entry holding `book` in memory.
    pub fn new(book: Book) -> Self {
        Self {
            names: Names::of(&book),
            window: book.window,
            threads: thread_count(&book),
            cover_at: (0, 0),
            kept: Kept::Here(Box::new(book)),
        }
    }

    /// An entry for `book`, read from a text whose SHA-256 is `source`,
    /// with all but what the entry itself holds written to `file`; the book
    /// stays in memory when the write fails.
    pub fn set_aside(book: Book, source: [u8; 32], file: &AsideFile) -> Self {
        match file.put(&book, source) {
            Ok(aside) => Self {
                names: Names::of(&book),
                window: book.window,
                threads: thread_count(&book),
                cover_at: (0, 0),
                kept: Kept::Aside(aside),
            },
            Err(_) => Self::new(book),
        }
    }

    /// The file stem; it names the book's page and its feed ids.
    pub fn slug(&self) -> &str {
        self.names.slug()
    }

    /// The file the book was read from.
    pub fn path(&self) -> &Path {
        self.names.path()
    }

    /// The people slugs of its authors (plain-name authors have none).
    pub fn people(&self) -> impl Iterator<Item = &str> {
        self.names.people()
    }

    /// How many threads the archive has, set aside or not.
    pub fn thread_count(&self) -> usize {
        self.threads as usize
    }

    /// Whether the archive is in (it has a thread).
    pub fn has_archive(&self) -> bool {
        self.threads > 0
    }

    /// Cover image as written, unless it was found not to be shown.
    pub fn cover(&self) -> Option<&str> {
        self.names.cover()
    }

    /// Where `cover:` is written in the file (line, column), when known.
    pub fn cover_at(&self) -> Option<(usize, usize)> {
        let (line, col) = self.cover_at;
        (line > 0).then_some((line as usize, col as usize))
    }

    /// Says where `cover:` is written (see [`Entry::cover_at`]); a position
    /// past four billion is left unknown.
    pub fn set_cover_at(&mut self, (line, col): (usize, usize)) {
        if let (Ok(line), Ok(col)) = (u32::try_from(line), u32::try_from(col)) {
            self.cover_at = (line, col);
        }
    }

    /// Whether one of the authors is the person `slug`.
    pub fn by(&self, slug: &str) -> bool {
        // As bytes: a person's page asks this of every book.
        self.names.people_bytes().any(|p| p == slug.as_bytes())
    }

    /// Where the rest of the book was set aside, if it was.
    pub fn aside(&self) -> Option<&Aside> {
        match &self.kept {
            Kept::Here(_) => None,
            Kept::Aside(aside) => Some(aside),
        }
    }

    /// The length of the record the rest of the book was set aside in.
    pub fn aside_len(&self) -> Option<u64> {
        self.aside().map(Aside::bytes)
    }

    /// The rest of the book was copied to `aside` (in a new file; see
    /// `content::compact`).
    pub fn moved(&mut self, aside: Aside) {
        self.kept = Kept::Aside(aside);
    }

    /// The entry as a record of a file, for [`Books`] to keep it there:
    /// all but its window and thread count, which the list keeps in
    /// memory. `None` for an entry whose book is in memory.
    fn record(&self) -> Option<Vec<u8>> {
        let Kept::Aside(aside) = &self.kept else {
            return None;
        };
        let mut out = Vec::with_capacity(RECORD_HEAD + self.names.0.len());
        out.extend_from_slice(&aside.to_bytes());
        out.extend_from_slice(&self.cover_at.0.to_le_bytes());
        out.extend_from_slice(&self.cover_at.1.to_le_bytes());
        out.extend_from_slice(&self.names.0);
        Some(out)
    }

    /// The entry [`Entry::record`] wrote, with its window and thread count.
    fn from_record(window: Window, threads: u32, bytes: &[u8]) -> std::io::Result<Self> {
        use crate::content::ASIDE_BYTES;
        let damaged = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the temporary file of books is damaged (catalog entry)",
            )
        };
        let (aside, rest) = bytes
            .split_first_chunk::<ASIDE_BYTES>()
            .ok_or_else(damaged)?;
        let (line, rest) = rest.split_first_chunk::<4>().ok_or_else(damaged)?;
        let (col, names) = rest.split_first_chunk::<4>().ok_or_else(damaged)?;
        if names.is_empty() {
            return Err(damaged());
        }
        Ok(Self {
            names: Names(names.into()),
            window,
            threads,
            cover_at: (u32::from_le_bytes(*line), u32::from_le_bytes(*col)),
            kept: Kept::Aside(Aside::from_bytes(aside)),
        })
    }

    /// The cover cannot be shown: leave it out of everything made from
    /// this entry.
    pub fn drop_cover(&mut self) {
        self.names = Names::new(self.slug(), self.path(), None, self.people());
        if let Kept::Here(book) = &mut self.kept {
            book.cover = None;
        }
    }
}

/// Bytes of an entry's record before its names: where the book is set
/// aside, and where its cover is written.
const RECORD_HEAD: usize = crate::content::ASIDE_BYTES + 8;

/// Threads of a book, as an entry counts them: a book file cannot hold
/// four billion threads (it is smaller than that), but say so rather than
/// wrap.
fn thread_count(book: &Book) -> u32 {
    u32::try_from(book.archive.len()).unwrap_or(u32::MAX)
}

/// The strings of a catalog entry in one allocation: slug, path, cover
/// and the authors' people slugs, each prefixed by its length (LEB128),
/// after a byte saying whether there is a cover. Five allocations a book
/// (and their headers and rounding) would cost as much again as the
/// strings themselves.
#[derive(Clone, PartialEq, Eq)]
struct Names(Box<[u8]>);

impl Names {
    fn of(book: &Book) -> Self {
        let people = book.authors.iter().filter_map(|a| a.slug.as_deref());
        Self::new(&book.slug, &book.path, book.cover.as_deref(), people)
    }

    fn new<'a>(
        slug: &str,
        path: &Path,
        cover: Option<&str>,
        people: impl Iterator<Item = &'a str>,
    ) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let mut out = vec![u8::from(cover.is_some())];
        put(&mut out, slug.as_bytes());
        put(&mut out, path.as_os_str().as_bytes());
        if let Some(cover) = cover {
            put(&mut out, cover.as_bytes());
        }
        for person in people {
            put(&mut out, person.as_bytes());
        }
        Self(out.into_boxed_slice())
    }

    /// Every part in order: slug, path, cover (when there is one), people.
    fn parts(&self) -> Parts<'_> {
        Parts(self.0.get(1..).unwrap_or_default())
    }

    fn has_cover(&self) -> bool {
        self.0.first() == Some(&1)
    }

    fn slug(&self) -> &str {
        text(self.parts().next())
    }

    fn path(&self) -> &Path {
        use std::os::unix::ffi::OsStrExt;
        Path::new(std::ffi::OsStr::from_bytes(
            self.parts().nth(1).unwrap_or_default(),
        ))
    }

    fn cover(&self) -> Option<&str> {
        self.has_cover().then(|| text(self.parts().nth(2)))
    }

    fn people(&self) -> impl Iterator<Item = &str> {
        self.people_bytes().map(|p| text(Some(p)))
    }

    fn people_bytes(&self) -> impl Iterator<Item = &[u8]> {
        let skip = if self.has_cover() { 3 } else { 2 };
        self.parts().skip(skip)
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names")
            .field("slug", &self.slug())
            .field("path", &self.path())
            .field("cover", &self.cover())
            .field("people", &self.people().collect::<Vec<_>>())
            .finish()
    }
}

/// Appends `bytes` after their length.
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut n = bytes.len();
    while n >= 0x80 {
        // Truncation intended: the low seven bits, then the rest.
        out.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

/// The parts of [`Names`], as [`put`] wrote them.
struct Parts<'a>(&'a [u8]);

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let mut n = 0usize;
        let mut shift = 0;
        loop {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            n |= usize::from(b & 0x7f).checked_shl(shift)?;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        let (part, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(part)
    }
}

/// A part that was written from a `&str`.
fn text(part: Option<&[u8]>) -> &str {
    part.and_then(|p| std::str::from_utf8(p).ok())
        .unwrap_or_default()
}

/// Everything loaded from `content/`: the good books (sorted by start, then
/// slug) and the people by slug.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub books: Books,
    pub people: BTreeMap<String, Person>,
    /// Where the books wait when the load set them aside.
    pub aside: Option<Arc<AsideFile>>,
}

impl Catalog {
    /// A catalog of `books` held in memory, in catalog order (start, then
    /// slug).
    pub fn new(mut books: Vec<Book>, people: BTreeMap<String, Person>) -> Self {
        books.sort_by(|a, b| (a.window.start_key(), &a.slug).cmp(&(b.window.start_key(), &b.slug)));
        Self {
            books: Books::here(books.into_iter().map(Entry::new).collect()),
            people,
            aside: None,
        }
    }

    /// The whole book of `entry`, archive and body included: in memory,
    /// or read back from where the load set it aside (the one place the
    /// domain does IO: a temporary file of this run).
    pub fn full<'a>(&self, entry: &'a Entry) -> std::io::Result<Cow<'a, Book>> {
        self.read(entry, true)
    }

    /// [`Catalog::full`] of the catalog's book `i`.
    pub fn full_at(&self, i: usize) -> std::io::Result<Cow<'_, Book>> {
        self.read_at(i, true)
    }

    /// [`Catalog::meta`] of the catalog's book `i`.
    pub fn meta_at(&self, i: usize) -> std::io::Result<Cow<'_, Book>> {
        self.read_at(i, false)
    }

    fn read_at(&self, i: usize, whole: bool) -> std::io::Result<Cow<'_, Book>> {
        match self.books.get(i)? {
            Cow::Borrowed(entry) => self.read(entry, whole),
            // Read back from the file: the book is owned already.
            Cow::Owned(entry) => self.read(&entry, whole).map(|b| Cow::Owned(b.into_owned())),
        }
    }

    /// The book of `entry` as lists show it: everything but its archive
    /// and body, which may be left empty (they are when set aside, and
    /// reading them back would cost the whole archive).
    pub fn meta<'a>(&self, entry: &'a Entry) -> std::io::Result<Cow<'a, Book>> {
        self.read(entry, false)
    }

    fn read<'a>(&self, entry: &'a Entry, whole: bool) -> std::io::Result<Cow<'a, Book>> {
        let aside = match &entry.kept {
            Kept::Here(book) => return Ok(Cow::Borrowed(book)),
            Kept::Aside(aside) => aside,
        };
        let file = self
            .aside
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the archive file is gone"))?;
        let rest = file.get(aside, whole)?;
        Ok(Cow::Owned(Book {
            slug: entry.slug().to_owned(),
            path: entry.path().to_path_buf(),
            window: entry.window,
            cover: entry.cover().map(str::to_owned),
            title: rest.title,
            description: rest.description,
            authors: rest.authors,
            links: rest.links,
            archive: rest.archive,
            body: rest.body,
            aliases: rest.aliases,
            pin: rest.pin,
            hide: rest.hide,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Berlin;

    fn w(s: (i32, u32, u32), e: (i32, u32, u32, u32)) -> Window {
        Window::unchecked(
            Berlin.with_ymd_and_hms(s.0, s.1, s.2, 0, 0, 0).unwrap(),
            Berlin.with_ymd_and_hms(e.0, e.1, e.2, e.3, 59, 59).unwrap(),
        )
    }

    #[test]
    fn window_in_one_month() {
        assert_eq!(
            w((2022, 12, 5), (2022, 12, 9, 23)).in_words(),
            "5–9 December 2022"
        );
    }

    #[test]
    fn window_across_months_and_years() {
        assert_eq!(
            w((2022, 11, 28), (2022, 12, 2, 22)).in_words(),
            "28 November – 2 December 2022"
        );
        assert_eq!(
            w((2022, 12, 28), (2023, 1, 3, 22)).in_words(),
            "28 December 2022 – 3 January 2023"
        );
    }

    #[test]
    fn window_ending_at_midnight_ends_the_day_before() {
        let win = Window::unchecked(
            Berlin.with_ymd_and_hms(2022, 12, 5, 0, 0, 0).unwrap(),
            Berlin.with_ymd_and_hms(2022, 12, 10, 0, 0, 0).unwrap(),
        );
        assert_eq!(win.in_words(), "5–9 December 2022");
    }

    #[test]
    fn window_refuses_years_feeds_cannot_write() {
        let t = |y| Berlin.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            Window::new(t(0), t(2020)),
            Err(WindowError::StartOutOfRange)
        );
        assert_eq!(
            Window::new(t(2020), t(10000)),
            Err(WindowError::EndOutOfRange)
        );
        assert_eq!(
            Window::new(t(-1), t(2020)),
            Err(WindowError::StartOutOfRange)
        );
        assert_eq!(
            Window::new(t(2021), t(2020)),
            Err(WindowError::EndBeforeStart)
        );
        assert_eq!(Window::new(t(2020), t(2020)), Err(WindowError::Empty));
        assert!(Window::new(t(2), t(9999)).is_ok());
        // Midnight on 1 January of year 1 in Berlin (local mean time,
        // +00:53:28) is still year 0 in UTC.
        assert!(!representable(t(1)));
        assert!(representable(
            Berlin.with_ymd_and_hms(1, 1, 1, 1, 0, 0).unwrap()
        ));
    }

    #[test]
    fn window_in_words_does_not_overflow_at_the_edge_of_time() {
        let max = DateTime::<chrono::Utc>::MAX_UTC.with_timezone(&Berlin);
        let min = DateTime::<chrono::Utc>::MIN_UTC.with_timezone(&Berlin);
        let win = Window::unchecked(min, max);
        assert!(!win.in_words().is_empty());
        let win = Window::unchecked(min, min);
        assert!(!win.in_words().is_empty());
    }

    pub(super) fn a_book(slug: &str, path: &str, cover: Option<&str>, people: &[&str]) -> Book {
        let mut authors: Vec<Author> = people
            .iter()
            .map(|p| Author {
                slug: Some(p.to_string()),
                name: p.to_uppercase(),
            })
            .collect();
        authors.insert(
            0,
            Author {
                slug: None,
                name: "Plain Name".into(),
            },
        );
        Book {
            slug: slug.into(),
            path: path.into(),
            title: "T".into(),
            description: None,
            authors,
            window: w((2022, 12, 5), (2022, 12, 9, 23)),
            cover: cover.map(String::from),
            links: vec![],
            archive: vec![],
            body: String::new(),
            aliases: vec![],
            pin: vec![],
            hide: vec![],
        }
    }

    #[test]
    fn an_entry_gives_back_its_strings_and_drops_only_the_cover() {
        let long = "x".repeat(300);
        let cases = [
            a_book("a", "books/a.md", None, &[]),
            a_book("", "", Some(""), &[""]),
            a_book(
                &long,
                &format!("books/{long}.md"),
                Some(&long),
                &["p", &long, "ü"],
            ),
        ];
        for book in cases {
            let people: Vec<String> = book.authors.iter().filter_map(|a| a.slug.clone()).collect();
            let mut e = Entry::new(book.clone());
            assert_eq!(e.slug(), book.slug);
            assert_eq!(e.path(), book.path);
            assert_eq!(e.cover(), book.cover.as_deref());
            assert_eq!(e.people().collect::<Vec<_>>(), people);
            assert!(people.iter().all(|p| e.by(p)));
            assert!(!e.by("nobody"));
            e.drop_cover();
            assert_eq!(e.cover(), None);
            assert_eq!(e.slug(), book.slug);
            assert_eq!(e.path(), book.path);
            assert_eq!(e.people().collect::<Vec<_>>(), people);
            let catalog = Catalog::default();
            assert_eq!(catalog.full(&e).unwrap().cover, None);
        }
    }

    #[test]
    fn a_path_that_is_not_utf8_comes_back_as_it_was() {
        use std::os::unix::ffi::OsStrExt;
        let mut book = a_book("a", "", None, &[]);
        book.path = PathBuf::from(std::ffi::OsStr::from_bytes(b"books/\xff\xfe.md"));
        assert_eq!(Entry::new(book.clone()).path(), book.path);
    }

    #[test]
    fn a_catalog_entry_stays_small() {
        // The catalog holds one for every book: a field that grows it is a
        // choice to make, not an accident (see `Entry`).
        assert!(
            std::mem::size_of::<Entry>() <= 96,
            "{}",
            std::mem::size_of::<Entry>()
        );
        assert!(std::mem::size_of::<Window>() <= 28);
    }

    #[test]
    fn a_window_keeps_its_zone_and_order() {
        let a = w((2022, 12, 5), (2022, 12, 9, 23));
        assert_eq!(a.start().to_rfc3339(), "2022-12-05T00:00:00+01:00");
        assert_eq!(a.end().to_rfc3339(), "2022-12-09T23:59:59+01:00");
        let b = w((2022, 12, 6), (2022, 12, 7, 1));
        assert!(a.start_key() < b.start_key() && b.end_key() < a.end_key());
        assert!(a.overlaps(&b) && b.overlaps(&a));
    }

    #[test]
    fn lists_authors_in_a_sentence() {
        let mut b = a_book("x", "x.md", None, &[]);
        b.authors.clear();
        for n in ["A", "B", "C"] {
            b.authors.push(Author {
                slug: None,
                name: n.into(),
            });
        }
        assert_eq!(b.author_names(), "A, B and C");
    }
}
