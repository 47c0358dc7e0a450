//! Books set aside: while a command (`build`, `once`, `digest`) or the
//! daemon holds thousands of books, all of each book but what its catalog
//! entry keeps (slug, window, authors' people, cover) waits in an unnamed
//! temporary file instead of in memory, and is read back, one book at a
//! time, by whatever shows it (a list, a book's page, a feed item, a
//! digest). The catalog then costs a couple of hundred bytes a book,
//! however long the books' archives, bodies, descriptions and links are;
//! a command that loads once files the catalog's entries here too, and
//! keeps 48 bytes a book (see `model::Books`).
//!
//! The file is created unlinked ([`tempfile::tempfile`], in `TMPDIR`), so
//! nothing is left behind whatever way the process ends. (Where `/tmp` is
//! a tmpfs, its pages are memory too: a very large site sets `TMPDIR` to
//! a folder on disk.) Records are a plain length-prefixed
//! encoding, written and read by this module only: first what lists show
//! (title, description, authors, links, aliases, pins), which can be read
//! alone, then the markdown body and the [`Thread`]s.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use crate::model::{Author, Book, Link, Message, Thread};

/// Where a book was set aside: enough to read it back, all of it or only
/// what lists show, and the first half of the SHA-256 of the file text it
/// came from (128 bits tell versions of a book apart as well as 256; the
/// catalog holds one of these for every book).
#[derive(Clone, PartialEq, Eq)]
pub struct Aside {
    source: [u8; 16],
    at: u64,
    /// The length of the part lists show, then of the whole record: a book
    /// file is far smaller than 4 GiB, and so is its record.
    meta: u32,
    len: u32,
}

/// What a book's `Debug` (and so a page's key, see `site::key`) shows of
/// what was set aside: its content, by the text's hash, and never where it
/// happens to sit in the file, which changes from run to run while an
/// edit that keeps the length would not change it.
impl std::fmt::Debug for Aside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.source.iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("Aside").field("source", &hex).finish()
    }
}

impl Aside {
    /// The length of the record.
    pub fn bytes(&self) -> u64 {
        u64::from(self.len)
    }

    /// How a filed catalog entry keeps it (see `model::Books`).
    pub(crate) fn to_bytes(&self) -> [u8; ASIDE_BYTES] {
        let mut out = [0; ASIDE_BYTES];
        out[..16].copy_from_slice(&self.source);
        out[16..24].copy_from_slice(&self.at.to_le_bytes());
        out[24..28].copy_from_slice(&self.meta.to_le_bytes());
        out[28..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    /// What [`Aside::to_bytes`] wrote.
    pub(crate) fn from_bytes(b: &[u8; ASIDE_BYTES]) -> Self {
        let mut source = [0; 16];
        source.copy_from_slice(&b[..16]);
        let mut at = [0; 8];
        at.copy_from_slice(&b[16..24]);
        let (mut meta, mut len) = ([0; 4], [0; 4]);
        meta.copy_from_slice(&b[24..28]);
        len.copy_from_slice(&b[28..]);
        Self {
            source,
            at: u64::from_le_bytes(at),
            meta: u32::from_le_bytes(meta),
            len: u32::from_le_bytes(len),
        }
    }
}

/// The length of [`Aside::to_bytes`].
pub(crate) const ASIDE_BYTES: usize = 32;

/// What comes back of a book from [`AsideFile::get`]: the fields its
/// catalog entry does not hold. `archive` and `body` are empty when only
/// what lists show was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rest {
    pub title: String,
    pub description: Option<String>,
    pub authors: Vec<Author>,
    pub links: Vec<Link>,
    pub aliases: Vec<(String, String)>,
    pub pin: Vec<usize>,
    pub hide: Vec<usize>,
    pub body: String,
    pub archive: Vec<Thread>,
}

/// The temporary file books are set aside in.
#[derive(Debug)]
pub struct AsideFile {
    file: File,
    /// Where the next record goes; appends take the lock, reads do not.
    end: Mutex<u64>,
}

impl AsideFile {
    /// A new, already unlinked, file in the temporary folder (`TMPDIR`).
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            file: tempfile::tempfile()?,
            end: Mutex::new(0),
        })
    }

    /// Writes what `book`'s catalog entry does not hold, read from a text
    /// whose SHA-256 is `source`, and says where it went.
    pub fn put(&self, book: &Book, source: [u8; 32]) -> io::Result<Aside> {
        let (bytes, meta) = encode(book);
        let meta =
            u32::try_from(meta).map_err(|_| io::Error::other("a book's lists are too long"))?;
        let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("a book is too long"))?;
        let at = self.append(&bytes)?;
        let mut first = [0; 16];
        first.copy_from_slice(&source[..16]);
        Ok(Aside {
            source: first,
            at,
            meta,
            len,
        })
    }

    /// Bytes written so far, current records and stale ones.
    pub fn written(&self) -> u64 {
        self.end.lock().map_or(0, |end| *end)
    }

    /// Copies the record `aside` of `from` to the end of this file, and
    /// says where it went.
    pub fn copy(&self, from: &AsideFile, aside: &Aside) -> io::Result<Aside> {
        let mut bytes = vec![0; aside.len as usize];
        from.file.read_exact_at(&mut bytes, aside.at)?;
        Ok(Aside {
            at: self.append(&bytes)?,
            ..aside.clone()
        })
    }

    /// Writes `bytes` as a record of their own (a filed catalog entry,
    /// see `model::Books`); says where it starts.
    pub(crate) fn put_raw(&self, bytes: &[u8]) -> io::Result<u64> {
        self.append(bytes)
    }

    /// Reads back `len` bytes that [`AsideFile::put_raw`] wrote at `at`.
    pub(crate) fn get_raw(&self, at: u64, len: u32) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; len as usize];
        self.file.read_exact_at(&mut bytes, at)?;
        Ok(bytes)
    }

    /// Writes `bytes` at the end of the file; says where they start.
    fn append(&self, bytes: &[u8]) -> io::Result<u64> {
        let mut end = self
            .end
            .lock()
            .map_err(|_| io::Error::other("a thread writing the archive file panicked"))?;
        let at = *end;
        self.file.write_all_at(bytes, at)?;
        *end += bytes.len() as u64;
        Ok(at)
    }

    /// Reads back what [`AsideFile::put`] wrote: all of it when `whole`,
    /// else what lists show (`body` and `archive` empty).
    pub fn get(&self, aside: &Aside, whole: bool) -> io::Result<Rest> {
        let len = if whole { aside.len } else { aside.meta };
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let mut bytes = vec![0; len];
        self.file.read_exact_at(&mut bytes, aside.at)?;
        decode(&bytes, whole)
    }
}

/// The record of `book`, and how long its first part (what lists show) is.
fn encode(book: &Book) -> (Vec<u8>, usize) {
    let threads: usize = book
        .archive
        .iter()
        .map(|t| {
            16 + t.post.name.len()
                + t.post.text.len()
                + t.replies
                    .iter()
                    .map(|r| 16 + r.name.len() + r.text.len())
                    .sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(1024 + threads + book.body.len());
    put_string(&mut out, &book.title);
    put_option(&mut out, book.description.as_deref());
    put_len(&mut out, book.authors.len());
    for a in &book.authors {
        put_option(&mut out, a.slug.as_deref());
        put_string(&mut out, &a.name);
    }
    put_len(&mut out, book.links.len());
    for l in &book.links {
        put_string(&mut out, &l.text);
        put_string(&mut out, &l.url);
    }
    put_len(&mut out, book.aliases.len());
    for (chat, author) in &book.aliases {
        put_string(&mut out, chat);
        put_string(&mut out, author);
    }
    for numbers in [&book.pin, &book.hide] {
        put_len(&mut out, numbers.len());
        for n in numbers {
            put_len(&mut out, *n);
        }
    }
    let meta = out.len();
    put_string(&mut out, &book.body);
    put_len(&mut out, book.archive.len());
    for t in &book.archive {
        put_message(&mut out, &t.post);
        put_len(&mut out, t.replies.len());
        for r in &t.replies {
            put_message(&mut out, r);
        }
    }
    (out, meta)
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// An absent text is a length no text can have.
fn put_option(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => put_len(out, usize::MAX),
    }
}

fn put_message(out: &mut Vec<u8>, m: &Message) {
    put_string(out, &m.name);
    put_string(out, &m.text);
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the archive file is damaged ({what})"),
    )
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn raw(&mut self) -> io::Result<u64> {
        let (head, rest) = self.0.split_at_checked(8).ok_or_else(|| bad("length"))?;
        self.0 = rest;
        let mut n = [0; 8];
        n.copy_from_slice(head);
        Ok(u64::from_le_bytes(n))
    }

    fn len(&mut self) -> io::Result<usize> {
        usize::try_from(self.raw()?).map_err(|_| bad("length"))
    }

    fn bytes(&mut self, n: usize) -> io::Result<String> {
        let (head, rest) = self.0.split_at_checked(n).ok_or_else(|| bad("text"))?;
        self.0 = rest;
        String::from_utf8(head.to_vec()).map_err(|_| bad("UTF-8"))
    }

    fn string(&mut self) -> io::Result<String> {
        let n = self.len()?;
        self.bytes(n)
    }

    fn option(&mut self) -> io::Result<Option<String>> {
        match self.raw()? {
            u64::MAX => Ok(None),
            n => self
                .bytes(usize::try_from(n).map_err(|_| bad("length"))?)
                .map(Some),
        }
    }

    fn message(&mut self) -> io::Result<Message> {
        Ok(Message {
            name: self.string()?,
            text: self.string()?,
        })
    }

    /// A count of items of at least `min` bytes each, checked against what
    /// is left so that a damaged count cannot reserve memory it never fills.
    fn count(&mut self, min: usize) -> io::Result<usize> {
        let n = self.len()?;
        if n > self.0.len() / min {
            return Err(bad("count"));
        }
        Ok(n)
    }

    fn list<T>(
        &mut self,
        min: usize,
        mut item: impl FnMut(&mut Self) -> io::Result<T>,
    ) -> io::Result<Vec<T>> {
        let n = self.count(min)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
}

fn decode(bytes: &[u8], whole: bool) -> io::Result<Rest> {
    let mut r = Reader(bytes);
    let mut rest = Rest {
        title: r.string()?,
        description: r.option()?,
        authors: r.list(16, |r| {
            Ok(Author {
                slug: r.option()?,
                name: r.string()?,
            })
        })?,
        links: r.list(16, |r| {
            Ok(Link {
                text: r.string()?,
                url: r.string()?,
            })
        })?,
        aliases: r.list(16, |r| Ok((r.string()?, r.string()?)))?,
        pin: r.list(8, Reader::len)?,
        hide: r.list(8, Reader::len)?,
        body: String::new(),
        archive: Vec::new(),
    };
    if whole {
        rest.body = r.string()?;
        rest.archive = r.list(24, |r| {
            Ok(Thread {
                post: r.message()?,
                replies: r.list(16, Reader::message)?,
            })
        })?;
    }
    if !r.0.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Window;
    use chrono::TimeZone;

    fn msg(name: &str, text: &str) -> Message {
        Message {
            name: name.into(),
            text: text.into(),
        }
    }

    fn book(archive: Vec<Thread>, body: &str) -> Book {
        let t = |d| {
            chrono_tz::UTC
                .with_ymd_and_hms(2024, 1, d, 0, 0, 0)
                .unwrap()
        };
        Book {
            slug: "x".into(),
            path: "books/x.md".into(),
            title: "Title ✓".into(),
            description: Some("About <it> & more".into()),
            authors: vec![
                Author {
                    slug: Some("ann".into()),
                    name: "Ann".into(),
                },
                Author {
                    slug: None,
                    name: "".into(),
                },
            ],
            window: Window::new(t(1), t(5)).unwrap(),
            cover: Some("images/x.jpg".into()),
            links: vec![Link {
                text: "Buy".into(),
                url: "https://example.org/x".into(),
            }],
            archive,
            body: body.into(),
            aliases: vec![("annie".into(), "ann".into())],
            pin: vec![2],
            hide: vec![1, 3],
        }
    }

    fn rest_of(b: &Book, whole: bool) -> Rest {
        Rest {
            title: b.title.clone(),
            description: b.description.clone(),
            authors: b.authors.clone(),
            links: b.links.clone(),
            aliases: b.aliases.clone(),
            pin: b.pin.clone(),
            hide: b.hide.clone(),
            body: if whole { b.body.clone() } else { String::new() },
            archive: if whole { b.archive.clone() } else { Vec::new() },
        }
    }

    #[test]
    fn books_come_back_as_they_went_in_whole_or_as_lists_show_them() {
        let file = AsideFile::new().unwrap();
        let a = book(
            vec![
                Thread {
                    post: msg("Ann", "Why?\n😀 <b>&"),
                    replies: vec![msg("Bob", "Because."), msg("", "")],
                },
                Thread {
                    post: msg("Cy", ""),
                    replies: vec![],
                },
            ],
            "# Body\n\ntext ✓",
        );
        let mut b = book(Vec::new(), "");
        b.description = None;
        b.authors.clear();
        b.links.clear();
        let at_a = file.put(&a, [1; 32]).unwrap();
        let at_b = file.put(&b, [2; 32]).unwrap();
        for whole in [true, false] {
            assert_eq!(file.get(&at_b, whole).unwrap(), rest_of(&b, whole));
            assert_eq!(file.get(&at_a, whole).unwrap(), rest_of(&a, whole));
        }
        // Its key shows the text's hash, not where the record sits.
        assert_eq!(
            format!("{at_b:?}"),
            format!("Aside {{ source: {:?} }}", "02".repeat(16))
        );
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let b = book(
            vec![Thread {
                post: msg("Ann", "Q"),
                replies: vec![msg("Bob", "A")],
            }],
            "body",
        );
        let (bytes, meta) = encode(&b);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], true).is_err(), "cut at {cut}");
        }
        for cut in 0..meta {
            assert!(decode(&bytes[..cut], false).is_err(), "cut at {cut}");
        }
        assert!(decode(&bytes[..meta], false).is_ok());
        // The title's length, then the authors' count.
        for at in [0, 8 + 9 + 8 + 17] {
            let mut huge = bytes.clone();
            huge[at..at + 8].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
            assert!(decode(&huge, true).is_err(), "{at}");
        }
        // In the title, then in the description.
        for at in [8, 8 + 9 + 8] {
            let mut not_utf8 = bytes.clone();
            not_utf8[at] = 0xff;
            assert!(decode(&not_utf8, true).is_err(), "{at}");
        }
    }
}
