//! The domain: books, their window, authors, links and Q&A archive, people,
//! and the catalog that holds them. No IO here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Offset};
use chrono_tz::Tz;

pub use crate::content::{Aside, AsideFile};

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

/// When a book's week runs: local times of the site's time zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: DateTime<Tz>,
    pub end: DateTime<Tz>,
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
            std::cmp::Ordering::Greater => Ok(Self { start, end }),
        }
    }

    /// The window in words, the way people write it: "5–9 December 2022",
    /// "28 November – 2 December 2022", "28 December 2022 – 3 January 2023".
    pub fn in_words(&self) -> String {
        // Windows from `new` always pass; one built by hand at the edge of
        // chrono's range would panic below (local dates out of range).
        if !(representable(self.start) && representable(self.end)) {
            return format!("{} – {}", self.start.to_rfc3339(), self.end.to_rfc3339());
        }
        let start = self.start.date_naive();
        // An end at midnight closes the day before: "until 00:00 on the 10th"
        // means the week ran to the 9th.
        // Checked: a window built by hand (not through `new`) may sit at the
        // very end of chrono's range.
        let end = self
            .end
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
/// [`Catalog::meta`] for the few books a run shows. A one-run command over
/// tens of thousands of books then holds a few hundred bytes a book.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The file stem; it names the book's page and its feed ids.
    pub slug: String,
    pub path: PathBuf,
    pub window: Window,
    /// The people slugs of its authors (plain-name authors have none).
    pub people: Vec<String>,
    /// Cover image as written; `None` also when it cannot be shown (see
    /// [`Entry::drop_cover`]).
    cover: Option<String>,
    threads: usize,
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
            slug: book.slug.clone(),
            path: book.path.clone(),
            window: book.window,
            people: people_of(&book),
            cover: book.cover.clone(),
            threads: book.archive.len(),
            kept: Kept::Here(Box::new(book)),
        }
    }

    /// An entry for `book`, read from a text whose SHA-256 is `source`,
    /// with all but what the entry itself holds written to `file`; the book
    /// stays in memory when the write fails.
    pub fn set_aside(book: Book, source: [u8; 32], file: &AsideFile) -> Self {
        match file.put(&book, source) {
            Ok(aside) => Self {
                people: people_of(&book),
                threads: book.archive.len(),
                slug: book.slug,
                path: book.path,
                window: book.window,
                cover: book.cover,
                kept: Kept::Aside(aside),
            },
            Err(_) => Self::new(book),
        }
    }

    /// How many threads the archive has, set aside or not.
    pub fn thread_count(&self) -> usize {
        self.threads
    }

    /// Whether the archive is in (it has a thread).
    pub fn has_archive(&self) -> bool {
        self.threads > 0
    }

    /// Cover image as written, unless it was found not to be shown.
    pub fn cover(&self) -> Option<&str> {
        self.cover.as_deref()
    }

    /// Whether one of the authors is the person `slug`.
    pub fn by(&self, slug: &str) -> bool {
        self.people.iter().any(|p| p == slug)
    }

    /// The cover cannot be shown: leave it out of everything made from
    /// this entry.
    pub fn drop_cover(&mut self) {
        self.cover = None;
        if let Kept::Here(book) = &mut self.kept {
            book.cover = None;
        }
    }
}

fn people_of(book: &Book) -> Vec<String> {
    let mut people: Vec<String> = book.authors.iter().filter_map(|a| a.slug.clone()).collect();
    // Held for every book of the catalog: no room to spare.
    people.shrink_to_fit();
    people
}

/// Everything loaded from `content/`: the good books (sorted by start, then
/// slug) and the people by slug.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub books: Vec<Entry>,
    pub people: BTreeMap<String, Person>,
    /// Where the books wait when the load set them aside.
    pub aside: Option<Arc<AsideFile>>,
}

impl Catalog {
    /// A catalog of `books` held in memory, in catalog order (start, then
    /// slug).
    pub fn new(mut books: Vec<Book>, people: BTreeMap<String, Person>) -> Self {
        books.sort_by(|a, b| (a.window.start, &a.slug).cmp(&(b.window.start, &b.slug)));
        Self {
            books: books.into_iter().map(Entry::new).collect(),
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
            slug: entry.slug.clone(),
            path: entry.path.clone(),
            window: entry.window,
            cover: entry.cover.clone(),
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
        Window {
            start: Berlin.with_ymd_and_hms(s.0, s.1, s.2, 0, 0, 0).unwrap(),
            end: Berlin.with_ymd_and_hms(e.0, e.1, e.2, e.3, 59, 59).unwrap(),
        }
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
        let win = Window {
            start: Berlin.with_ymd_and_hms(2022, 12, 5, 0, 0, 0).unwrap(),
            end: Berlin.with_ymd_and_hms(2022, 12, 10, 0, 0, 0).unwrap(),
        };
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
        let win = Window {
            start: min,
            end: max,
        };
        assert!(!win.in_words().is_empty());
        let win = Window {
            start: min,
            end: min,
        };
        assert!(!win.in_words().is_empty());
    }

    #[test]
    fn lists_authors_in_a_sentence() {
        let mut b = Book {
            slug: "x".into(),
            path: "x.md".into(),
            title: "X".into(),
            description: None,
            authors: vec![],
            window: w((2022, 12, 5), (2022, 12, 9, 23)),
            cover: None,
            links: vec![],
            archive: vec![],
            body: String::new(),
            aliases: vec![],
            pin: vec![],
            hide: vec![],
        };
        for n in ["A", "B", "C"] {
            b.authors.push(Author {
                slug: None,
                name: n.into(),
            });
        }
        assert_eq!(b.author_names(), "A, B and C");
    }
}
