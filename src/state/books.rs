//! The last good version of every book file: what `build`, `once` and the
//! daemon publish while an edit has broken the file. Rows change only when a
//! book's good text changes or its file is deleted, so a run over thousands
//! of unchanged books reads one small index and writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{OptionalExtension, params};

use crate::content::{Store, StoreError, Version};

use super::{State, StateError};

impl State {
    /// Key → (hash, read_at) of the kept book versions whose key is
    /// between `first` and `last`, both included (a load asks for each
    /// chunk of files it reads, not for every book at once).
    pub fn book_hashes(
        &self,
        first: &str,
        last: &str,
    ) -> Result<BTreeMap<String, (String, String)>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, hash, read_at FROM books WHERE key BETWEEN ?1 AND ?2")?;
        let rows = stmt.query_map(params![first, last], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The keys of kept book versions that `present` says no to, read one
    /// at a time.
    pub fn book_keys_gone(
        &self,
        present: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<String>, StateError> {
        let mut stmt = self.conn.prepare_cached("SELECT key FROM books")?;
        let mut rows = stmt.query([])?;
        let mut gone = Vec::new();
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            if !present(&key) {
                gone.push(key);
            }
        }
        Ok(gone)
    }

    /// One kept book version.
    pub fn book_version(&self, key: &str) -> Result<Option<Version>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT key, text, hash, read_at FROM books WHERE key = ?1",
                params![key],
                |r| {
                    Ok(Version {
                        key: r.get(0)?,
                        text: r.get(1)?,
                        hash: r.get(2)?,
                        read_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Keeps `changed` and forgets `gone` in one transaction.
    pub fn save_books(&mut self, changed: &[Version], gone: &[String]) -> Result<(), StateError> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO books (key, hash, read_at, text) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET hash = excluded.hash,
                     read_at = excluded.read_at, text = excluded.text",
            )?;
            for v in changed {
                put.execute(params![v.key, v.hash, v.read_at, v.text])?;
            }
            let mut delete = tx.prepare_cached("DELETE FROM books WHERE key = ?1")?;
            for key in gone {
                delete.execute(params![key])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for State {
    fn location(&self) -> &Path {
        self.path()
    }

    fn hashes(
        &mut self,
        first: &str,
        last: &str,
    ) -> Result<BTreeMap<String, (String, String)>, StoreError> {
        Ok(self.book_hashes(first, last)?)
    }

    fn gone(&mut self, present: &mut dyn FnMut(&str) -> bool) -> Result<Vec<String>, StoreError> {
        Ok(self.book_keys_gone(present)?)
    }

    fn version(&mut self, key: &str) -> Result<Option<Version>, StoreError> {
        Ok(self.book_version(key)?)
    }

    fn save(&mut self, changed: &[Version], gone: &[String]) -> Result<(), StoreError> {
        Ok(self.save_books(changed, gone)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(key: &str, text: &str) -> Version {
        Version {
            key: key.into(),
            text: text.into(),
            hash: format!("h-{text}"),
            read_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn keeps_replaces_and_forgets_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("state.db")).unwrap();
        s.save_books(&[v("books/a.md", "one"), v("books/b.md", "two")], &[])
            .unwrap();
        s.save_books(&[v("books/a.md", "three")], &["books/b.md".into()])
            .unwrap();
        s.save_books(&[v("books/c.md", "four"), v("books/d.md", "five")], &[])
            .unwrap();
        let hashes = s.book_hashes("books/a.md", "books/c.md").unwrap();
        let keys: Vec<&str> = hashes.keys().map(String::as_str).collect();
        assert_eq!(keys, ["books/a.md", "books/c.md"]);
        assert_eq!(hashes["books/a.md"].0, "h-three");
        assert!(
            s.book_hashes("books/e.md", "books/z.md")
                .unwrap()
                .is_empty()
        );
        let gone = s.book_keys_gone(&mut |k| k != "books/c.md").unwrap();
        assert_eq!(gone, ["books/c.md"]);
        assert_eq!(
            s.book_version("books/a.md").unwrap(),
            Some(v("books/a.md", "three"))
        );
        assert_eq!(s.book_version("books/b.md").unwrap(), None);
    }
}
