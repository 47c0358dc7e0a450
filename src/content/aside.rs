//! Archives set aside: while a one-run command (`build`, `once`, `digest`)
//! holds thousands of books, each book's Q&A archive and markdown body wait
//! in an unnamed temporary file instead of in memory, and are read back,
//! one book at a time, by whatever shows them (a book's page, a feed item,
//! a digest). The catalog then costs memory per book for its title, dates
//! and links only, however long the archives and bodies are.
//!
//! The file is created unlinked ([`tempfile::tempfile`]), so nothing is left
//! behind whatever way the process ends. Records are a plain length-prefixed
//! encoding of the body and the [`Thread`]s, written and read by this module
//! only.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use crate::model::{Message, Thread};

/// Where an archive was set aside: enough to read it back, how many
/// threads it has (what lists and feeds need without reading it), and the
/// SHA-256 of the file text it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Aside {
    pub threads: usize,
    source: String,
    at: u64,
    len: u64,
}

/// What a book's `Debug` (and so a page's key, see `site::key`) shows of
/// its archive: its content, by the text's hash, and never where it
/// happens to sit in the file, which changes from run to run while an
/// edit that keeps the length would not change it.
impl std::fmt::Debug for Aside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aside")
            .field("threads", &self.threads)
            .field("source", &self.source)
            .finish()
    }
}

/// The temporary file archives are set aside in.
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

    /// Writes `archive` and `body`, read from a text whose SHA-256 is
    /// `source`, and says where they went.
    pub fn put(&self, archive: &[Thread], body: &str, source: &str) -> io::Result<Aside> {
        let bytes = encode(archive, body);
        let len = bytes.len() as u64;
        let mut end = self
            .end
            .lock()
            .map_err(|_| io::Error::other("a thread writing the archive file panicked"))?;
        let at = *end;
        self.file.write_all_at(&bytes, at)?;
        *end += len;
        Ok(Aside {
            threads: archive.len(),
            source: source.to_string(),
            at,
            len,
        })
    }

    /// Reads back the archive and the body [`AsideFile::put`] wrote.
    pub fn get(&self, aside: &Aside) -> io::Result<(Vec<Thread>, String)> {
        let len = usize::try_from(aside.len).map_err(io::Error::other)?;
        let mut bytes = vec![0; len];
        self.file.read_exact_at(&mut bytes, aside.at)?;
        let (archive, body) = decode(&bytes)?;
        if archive.len() != aside.threads {
            return Err(bad("thread count"));
        }
        Ok((archive, body))
    }
}

fn encode(archive: &[Thread], body: &str) -> Vec<u8> {
    let size: usize = archive
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
    let mut out = Vec::with_capacity(size + 16 + body.len());
    put_string(&mut out, body);
    put_len(&mut out, archive.len());
    for t in archive {
        put_message(&mut out, &t.post);
        put_len(&mut out, t.replies.len());
        for r in &t.replies {
            put_message(&mut out, r);
        }
    }
    out
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
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
    fn len(&mut self) -> io::Result<usize> {
        let (head, rest) = self.0.split_at_checked(8).ok_or_else(|| bad("length"))?;
        self.0 = rest;
        let mut n = [0; 8];
        n.copy_from_slice(head);
        usize::try_from(u64::from_le_bytes(n)).map_err(|_| bad("length"))
    }

    fn string(&mut self) -> io::Result<String> {
        let n = self.len()?;
        let (head, rest) = self.0.split_at_checked(n).ok_or_else(|| bad("text"))?;
        self.0 = rest;
        String::from_utf8(head.to_vec()).map_err(|_| bad("UTF-8"))
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
}

fn decode(bytes: &[u8]) -> io::Result<(Vec<Thread>, String)> {
    let mut r = Reader(bytes);
    let body = r.string()?;
    let n = r.count(24)?;
    let mut archive = Vec::with_capacity(n);
    for _ in 0..n {
        let post = r.message()?;
        let replies = r.count(16)?;
        let mut list = Vec::with_capacity(replies);
        for _ in 0..replies {
            list.push(r.message()?);
        }
        archive.push(Thread {
            post,
            replies: list,
        });
    }
    if !r.0.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok((archive, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(name: &str, text: &str) -> Message {
        Message {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn archives_come_back_as_they_went_in() {
        let file = AsideFile::new().unwrap();
        let a = vec![
            Thread {
                post: msg("Ann", "Why?\n😀 <b>&"),
                replies: vec![msg("Bob", "Because."), msg("", "")],
            },
            Thread {
                post: msg("Cy", ""),
                replies: vec![],
            },
        ];
        let b: Vec<Thread> = Vec::new();
        let at_a = file.put(&a, "# Body\n\ntext ✓", "a").unwrap();
        let at_b = file.put(&b, "", "b").unwrap();
        assert_eq!(at_a.threads, 2);
        assert_eq!(at_b.threads, 0);
        assert_eq!(file.get(&at_b).unwrap(), (b, String::new()));
        assert_eq!(file.get(&at_a).unwrap(), (a, "# Body\n\ntext ✓".into()));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let a = vec![Thread {
            post: msg("Ann", "Q"),
            replies: vec![msg("Bob", "A")],
        }];
        let bytes = encode(&a, "body");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        let mut huge = bytes.clone();
        huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        // In the body, then in the first name.
        for at in [8, 28] {
            let mut not_utf8 = bytes.clone();
            not_utf8[at] = 0xff;
            assert!(decode(&not_utf8).is_err(), "{at}");
        }
    }
}
