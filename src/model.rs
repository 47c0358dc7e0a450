//! The domain: books, their window, authors, links and Q&A archive, people,
//! and the catalog that holds them. No IO here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Datelike, Duration};
use chrono_tz::Tz;

/// A person from `content/people/<slug>.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub slug: String,
    /// Display name (`title` in the file).
    pub name: String,
    /// Other names the person uses in chat (`aliases:` in the file).
    pub aliases: Vec<String>,
    /// GitHub and Twitter handles: some people chat under them.
    pub handles: Vec<String>,
    pub path: PathBuf,
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
    /// The window in words, the way people write it: "5–9 December 2022",
    /// "28 November – 2 December 2022", "28 December 2022 – 3 January 2023".
    pub fn in_words(&self) -> String {
        let start = self.start.date_naive();
        // An end at midnight closes the day before: "until 00:00 on the 10th"
        // means the week ran to the 9th.
        let end = (self.end - Duration::seconds(1)).date_naive().max(start);
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

/// Everything loaded from `content/`: the good books (sorted by start, then
/// slug) and the people by slug.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub books: Vec<Book>,
    pub people: BTreeMap<String, Person>,
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
