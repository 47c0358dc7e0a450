//! The books of a catalog, in catalog order (start, then slug): held in
//! memory, or filed, each entry written to the temporary file of books
//! (see [`AsideFile`]) with only what ordering and choosing need (window,
//! thread count, where the rest is) in memory: 48 bytes a book, where an
//! entry with its strings takes a few hundred. A command that loads once
//! files them, so its memory hardly grows with the number of books; what
//! shows a book reads its entry back with [`Books::get`].

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use rayon::prelude::*;

use super::{AsideFile, Entry, Window};

/// The books of a catalog; see the module's comment.
#[derive(Debug, Clone, Default)]
pub struct Books {
    slots: Vec<Slot>,
    /// Where entries are filed; none: every entry is held in memory.
    file: Option<Arc<AsideFile>>,
}

/// One book of [`Books`].
#[derive(Debug, Clone)]
struct Slot {
    window: Window,
    threads: u32,
    kept: Kept,
}

#[derive(Debug, Clone)]
enum Kept {
    Here(Box<Entry>),
    /// The entry's record in the file.
    Filed {
        at: u64,
        len: u32,
    },
}

impl Books {
    /// Books held in memory, in the order given.
    pub fn here(entries: Vec<Entry>) -> Self {
        let mut books = Self::default();
        books.slots.reserve_exact(entries.len());
        for entry in entries {
            books.push(entry);
        }
        books
    }

    /// No books yet; those pushed are filed in `file` (all but an entry
    /// whose book is in memory, or one that cannot be written there).
    pub fn filed(file: Arc<AsideFile>) -> Self {
        Self {
            slots: Vec::new(),
            file: Some(file),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Room for `n` more books, exactly.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve_exact(n);
    }

    /// The window of book `i` (no read).
    pub fn window(&self, i: usize) -> &Window {
        &self.slots[i].window
    }

    /// Every book's window and whether its archive is in, in order, without
    /// reading an entry.
    pub fn windows(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&Window, bool)> + ExactSizeIterator + '_ {
        self.slots.iter().map(|s| (&s.window, s.threads > 0))
    }

    /// The entry of book `i`: borrowed when in memory, read back when filed
    /// (an error says so: callers add only what is left out).
    pub fn get(&self, i: usize) -> io::Result<Cow<'_, Entry>> {
        self.entry(&self.slots[i])
    }

    /// Every entry in order (see [`Books::get`]).
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = io::Result<Cow<'_, Entry>>> + ExactSizeIterator + '_ {
        self.slots.iter().map(|s| self.entry(s))
    }

    /// Every entry in order, or the first error reading one back.
    pub fn all(&self) -> io::Result<Vec<Cow<'_, Entry>>> {
        self.iter().collect()
    }

    fn entry<'a>(&self, slot: &'a Slot) -> io::Result<Cow<'a, Entry>> {
        read(self.file.as_deref(), slot)
    }

    /// Adds `entry` at the end: filed when the list files its entries and
    /// the entry's book is set aside; in memory otherwise, and when it
    /// cannot be written (larger, never lost).
    pub fn push(&mut self, entry: Entry) {
        let slot = self.slot(entry);
        self.slots.push(slot);
    }

    fn slot(&self, entry: Entry) -> Slot {
        let (window, threads) = (entry.window, entry.threads);
        let filed = self.file.as_ref().and_then(|file| {
            let record = entry.record()?;
            let len = u32::try_from(record.len()).ok()?;
            let at = file.put_raw(&record).ok()?;
            Some(Kept::Filed { at, len })
        });
        Slot {
            window,
            threads,
            kept: filed.unwrap_or_else(|| Kept::Here(Box::new(entry))),
        }
    }

    /// Puts the books in catalog order: by start, then by slug (unique in
    /// a catalog). Only books that start at the same time have their
    /// slugs read; one that cannot be read sorts first among them.
    pub fn sort(&mut self) {
        // Unstable: a stable sort would take a buffer as large as half
        // the list.
        self.slots.sort_unstable_by_key(|s| s.window.start_key());
        let mut from = 0;
        while from < self.slots.len() {
            let start = self.slots[from].window.start_key();
            let to = from
                + self.slots[from..]
                    .iter()
                    .take_while(|s| s.window.start_key() == start)
                    .count();
            if to - from > 1 {
                // Each slug read once, and the run sorted where it is.
                let file = self.file.as_deref();
                self.slots[from..to].sort_by_cached_key(|s| {
                    read(file, s)
                        .map(|e| e.slug().to_owned())
                        .unwrap_or_default()
                });
            }
            from = to;
        }
    }

    /// Calls `change` on every entry, in parallel, a batch of books at a
    /// time; an entry it changed (returned `Some`) is kept changed: written
    /// again when filed. Hands what it returned to `done`, batch by batch
    /// in order (a warning for each of 50,000 books is not all in memory at
    /// once), or stops at the first error reading back or writing an entry.
    pub fn update<T: Send>(
        &mut self,
        change: impl Fn(&mut Entry) -> Option<T> + Sync,
        mut done: impl FnMut(Vec<T>),
    ) -> io::Result<()> {
        let file = self.file.as_deref();
        for batch in self.slots.chunks_mut(UPDATE_BATCH) {
            let changed = batch
                .par_iter_mut()
                .map(|slot| change_one(file, slot, &change))
                .filter_map(Result::transpose)
                .collect::<io::Result<Vec<T>>>()?;
            done(changed);
        }
        Ok(())
    }
}

/// Books [`Books::update`] changes between two hand-overs of what it
/// found.
const UPDATE_BATCH: usize = 4096;

/// [`Books::update`] of one book.
fn change_one<T>(
    file: Option<&AsideFile>,
    slot: &mut Slot,
    change: &impl Fn(&mut Entry) -> Option<T>,
) -> io::Result<Option<T>> {
    let (t, window, threads) = match &mut slot.kept {
        Kept::Here(entry) => {
            let t = change(entry);
            (t, entry.window, entry.threads)
        }
        Kept::Filed { at, len } => {
            let file = file.ok_or_else(|| read_back(gone()))?;
            let bytes = file.get_raw(*at, *len).map_err(read_back)?;
            let mut entry =
                Entry::from_record(slot.window, slot.threads, &bytes).map_err(read_back)?;
            let Some(t) = change(&mut entry) else {
                return Ok(None);
            };
            let record = entry
                .record()
                .ok_or_else(|| io::Error::other("a filed entry lost its record"))?;
            let new_len = u32::try_from(record.len())
                .map_err(|_| io::Error::other("a catalog entry is too long"))?;
            *at = file.put_raw(&record).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot write a book to the temporary file of books: {e}"),
                )
            })?;
            *len = new_len;
            (Some(t), entry.window, entry.threads)
        }
    };
    slot.window = window;
    slot.threads = threads;
    Ok(t)
}

/// The entry of `slot`, read back from `file` when filed there.
fn read<'a>(file: Option<&AsideFile>, slot: &'a Slot) -> io::Result<Cow<'a, Entry>> {
    let (at, len) = match &slot.kept {
        Kept::Here(entry) => return Ok(Cow::Borrowed(&**entry)),
        Kept::Filed { at, len } => (*at, *len),
    };
    file.ok_or_else(gone)
        .and_then(|f| f.get_raw(at, len))
        .and_then(|b| Entry::from_record(slot.window, slot.threads, &b))
        .map(Cow::Owned)
        .map_err(read_back)
}

/// An error reading an entry back, saying so.
fn read_back(e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot read a book back from the temporary file of books: {e}"),
    )
}

fn gone() -> io::Error {
    io::Error::other("the temporary file of books is gone")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Book;

    #[test]
    fn a_slot_stays_small() {
        // The list holds one for every book, filed or not.
        assert!(
            std::mem::size_of::<Slot>() <= 48,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    fn book(slug: &str, day: u32) -> Book {
        use chrono::TimeZone;
        let t = |d| {
            chrono_tz::Europe::Berlin
                .with_ymd_and_hms(2022, 12, d, 0, 0, 0)
                .unwrap()
        };
        let mut b =
            crate::model::tests::a_book(slug, &format!("books/{slug}.md"), Some("c.jpg"), &["p"]);
        b.window = Window::unchecked(t(day), t(day + 5));
        b
    }

    #[test]
    fn filed_entries_come_back_as_they_went_in_and_in_order() {
        let file = Arc::new(AsideFile::new().unwrap());
        let mut filed = Books::filed(file.clone());
        let mut here = Vec::new();
        for (slug, day) in [("b", 2), ("a", 2), ("c", 1), ("d", 3)] {
            let e = Entry::set_aside(book(slug, day), [7; 32], &file);
            here.push(e.clone());
            filed.push(e);
        }
        filed.sort();
        let slugs: Vec<String> = filed.iter().map(|e| e.unwrap().slug().to_owned()).collect();
        assert_eq!(slugs, ["c", "a", "b", "d"]);
        // Filed, not held: each comes back owned, equal to what went in.
        let a = filed.get(1).unwrap();
        assert!(matches!(a, Cow::Owned(_)));
        assert_eq!(*a, here[1]);
        assert_eq!(filed.window(1), &here[1].window);

        let mut dropped = Vec::new();
        filed
            .update(
                |e| (e.slug() == "b").then(|| e.drop_cover()),
                |d| dropped.extend(d),
            )
            .unwrap();
        assert_eq!(dropped.len(), 1);
        let covers: Vec<Option<String>> = filed
            .iter()
            .map(|e| e.unwrap().cover().map(str::to_owned))
            .collect();
        assert_eq!(
            covers,
            [
                Some("c.jpg".into()),
                Some("c.jpg".into()),
                None,
                Some("c.jpg".into())
            ]
        );
    }

    #[test]
    fn entries_of_books_in_memory_stay_in_memory() {
        let file = Arc::new(AsideFile::new().unwrap());
        let mut books = Books::filed(file.clone());
        books.push(Entry::new(book("a", 1)));
        assert!(matches!(books.get(0).unwrap(), Cow::Borrowed(_)));
        assert_eq!(file.written(), 0);
    }

    #[test]
    fn a_filed_list_sorts_as_a_list_in_memory_does() {
        // Many books on few days: long runs of one start, sorted by slug.
        let file = Arc::new(AsideFile::new().unwrap());
        let mut filed = Books::filed(file.clone());
        let mut expected = Vec::new();
        for i in 0..200u32 {
            let slug = format!("s{}", (i * 7919) % 1000);
            let day = 1 + (i * 31) % 5;
            expected.push((day, slug.clone()));
            filed.push(Entry::set_aside(book(&slug, day), [0; 32], &file));
        }
        filed.sort();
        expected.sort();
        let got: Vec<String> = filed.iter().map(|e| e.unwrap().slug().to_owned()).collect();
        let want: Vec<String> = expected.into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_entry_that_cannot_be_read_back_says_so() {
        let file = Arc::new(AsideFile::new().unwrap());
        let mut books = Books::filed(file.clone());
        books.push(Entry::set_aside(book("a", 1), [0; 32], &file));
        books.file = None;
        let said = books.get(0).unwrap_err().to_string();
        assert!(
            said.starts_with("cannot read a book back from the temporary file of books: "),
            "{said}"
        );
        let said = books.update(|_| Some(()), |_| {}).unwrap_err().to_string();
        assert!(said.starts_with("cannot read a book back"), "{said}");
    }
}
