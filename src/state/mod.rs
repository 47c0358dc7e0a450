//! The SQLite ledger at `paths.state`: subscribers, digests, the items each
//! digest included, one delivery row per (digest, subscriber), and the last
//! good version of every book. Opened in WAL mode and migrated
//! automatically; nothing here knows about SMTP or HTTP.

mod books;
mod digests;
mod subscribers;

pub use digests::{Counts, Delivery, DigestRecord, DigestStatus, NewDigest};
pub use subscribers::{
    AddOutcome, ImportReport, MAX_NAME_CHARS, Status, Subscriber, UnknownStatus, check_new_address,
    normalize_email, normalize_name,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state database {path} was written by a newer bookweek (schema {found}, this one knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("state database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Versioned migrations: entry N brings the schema from version N to N+1.
/// Never edit a released entry; add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE subscribers (
        id       INTEGER PRIMARY KEY,
        email    TEXT NOT NULL UNIQUE,
        name     TEXT,
        status   TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
        since    TEXT NOT NULL,
        updated  TEXT NOT NULL,
        bounces  INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX subscribers_status ON subscribers (status, id);
    -- Addresses are unique whatever the case: Gone@x.org must not
    -- resubscribe someone who left as gone@x.org.
    CREATE UNIQUE INDEX subscribers_email_nocase ON subscribers (email COLLATE NOCASE);
    CREATE TABLE digests (
        id         INTEGER PRIMARY KEY,
        tick       TEXT NOT NULL UNIQUE,
        created    TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'empty', 'skipped')),
        subject    TEXT,
        html       TEXT,
        text       TEXT,
        body_hash  TEXT
    );
    CREATE TABLE digest_items (
        digest_id  INTEGER NOT NULL REFERENCES digests (id),
        item_id    TEXT NOT NULL,
        item_date  TEXT NOT NULL,
        PRIMARY KEY (digest_id, item_id)
    );
    CREATE INDEX digest_items_item ON digest_items (item_id);
    CREATE TABLE deliveries (
        digest_id      INTEGER NOT NULL REFERENCES digests (id),
        subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id),
        status         TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_attempt   TEXT,
        last_error     TEXT,
        sent_at        TEXT,
        PRIMARY KEY (digest_id, subscriber_id)
    );
    CREATE INDEX deliveries_pending ON deliveries (status, digest_id, subscriber_id);
    ",
    // 2: the last good version of each book file, so `build` and `once`
    // keep publishing it while an edit has broken the file (src/state/books.rs).
    "
    CREATE TABLE books (
        key      TEXT PRIMARY KEY,
        hash     TEXT NOT NULL,
        read_at  TEXT NOT NULL,
        text     TEXT NOT NULL
    );
    ",
];

/// An open ledger.
pub struct State {
    conn: Connection,
    path: PathBuf,
    /// Whether new addresses may have a non-ASCII local part (the relay
    /// supports SMTPUTF8); see [`check_new_address`].
    smtputf8: bool,
}

impl State {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        make_private(path)?;
        let conn = Connection::open(path).map_err(open_err)?;
        // WAL lets the HTTP server read while a send writes; the busy timeout
        // makes a second process wait for a lock instead of failing at once.
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let mut state = Self {
            conn,
            path: path.to_path_buf(),
            smtputf8: false,
        };
        state.migrate()?;
        Ok(state)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept new addresses with a non-ASCII local part (`mail.smtputf8`).
    pub fn with_smtputf8(mut self, on: bool) -> Self {
        self.smtputf8 = on;
        self
    }

    fn migrate(&mut self) -> Result<(), StateError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The secret that signs subscriber links: generated on first use and
    /// kept here, so links in sent mail stay valid across runs.
    pub fn stored_secret(&self) -> Result<[u8; 32], StateError> {
        let existing: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(v) = existing
            && let Ok(key) = <[u8; 32]>::try_from(v.as_slice())
        {
            return Ok(key);
        }
        let key: [u8; 32] = rand::random();
        // INSERT OR IGNORE + re-read: two processes starting together agree
        // on whichever secret was written first.
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?1)",
            params![key.to_vec()],
        )?;
        let v: Vec<u8> =
            self.conn
                .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
                    r.get(0)
                })?;
        <[u8; 32]>::try_from(v.as_slice())
            .map_err(|_| StateError::Invalid("the stored secret is not 32 bytes".into()))
    }

    /// A value kept between runs (e.g. what the last build was made from).
    pub fn meta(&self, key: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT CAST(value AS TEXT) FROM meta WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// A cheap query that proves the database answers (for health checks).
    pub fn ping(&self) -> Result<(), StateError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

/// The database holds every subscriber's address and the link-signing
/// secret: it is created 0600, and an existing one (or its -wal and -shm,
/// which SQLite creates with the database's mode) loses any group and
/// other permissions.
fn make_private(path: &Path) -> Result<(), StateError> {
    let folder_err = |source| StateError::Folder {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(folder_err(e)),
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_os_string();
            p.push(suffix);
            let p = PathBuf::from(p);
            if let Ok(meta) = std::fs::metadata(&p)
                && meta.permissions().mode() & 0o077 != 0
            {
                let mode = meta.permissions().mode() & !0o077;
                // Someone else's file: say so, but still open it.
                if let Err(e) = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                {
                    tracing::warn!(file = %p.display(), "cannot make the state private: {e}");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, folder_err);
    Ok(())
}

/// Times are stored as RFC 3339 UTC text: sortable and readable in `sqlite3`.
pub(crate) fn ts(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        let s = State::open(&path).unwrap();
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(s);
        State::open(&path).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn database_and_its_wal_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mode = |suffix: &str| {
            let p = dir.path().join(format!("state.db{suffix}"));
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        let s = State::open(&path).unwrap();
        s.set_meta("k", "v").unwrap();
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(mode(suffix), 0o600, "state.db{suffix}");
        }
        drop(s);
        // A database made by an older bookweek under umask 022 is tightened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        State::open(&path).unwrap();
        assert_eq!(mode(""), 0o600);
    }

    #[test]
    fn secret_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let a = State::open(&path).unwrap().stored_secret().unwrap();
        let b = State::open(&path).unwrap().stored_secret().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let s = State::open(&path).unwrap();
        s.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        assert!(matches!(
            State::open(&path),
            Err(StateError::TooNew { found: 99, .. })
        ));
    }
}
