//! Advisory file locks beside the state database, which keep processes
//! that share one state file from doing the same work twice.
//!
//! - The **run lock** (`bookweek.db.lock`) is held by `once` for a run and by
//!   the daemon for its life: one of them at a time rebuilds and schedules.
//! - The **send lock** (`bookweek.db.send.lock`) is held by whoever creates
//!   or delivers digests (`digest send`, `once`, the daemon) while doing so.
//!   Delivery rows are only read and marked by its holder, so two processes
//!   never hand the same (digest, subscriber) to a mail server.
//!
//! The locks are `flock`s: the kernel releases them when the holder exits,
//! even on `kill -9`, so a crashed run never blocks the next one. The
//! holder writes its process id into the file, for messages only.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot create folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open lock file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The run lock of a state database: `state/bookweek.db.lock`.
pub fn run_lock_path(state: &Path) -> PathBuf {
    beside(state, ".lock")
}

/// The send lock of a state database: `state/bookweek.db.send.lock`.
pub fn send_lock_path(state: &Path) -> PathBuf {
    beside(state, ".send.lock")
}

fn beside(state: &Path, suffix: &str) -> PathBuf {
    let mut name = state
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    state.with_file_name(name)
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Held {
    file: File,
    path: PathBuf,
}

impl Held {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // The pid is only a hint for messages; an empty file says "nobody".
        let _ = self.file.set_len(0);
    }
}

/// Who holds a lock, as far as its file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder(pub Option<u32>);

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(pid) => write!(f, "another bookweek process (pid {pid})"),
            None => write!(f, "another bookweek process"),
        }
    }
}

/// Takes the lock at `path` if nobody holds it; `Err(holder)` otherwise.
pub fn try_acquire(path: &Path) -> Result<Result<Held, Holder>, LockError> {
    let mut file = open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Err(read_holder(&mut file))),
        Err(TryLockError::Error(source)) => {
            return Err(LockError::Lock {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    // Best effort: a lock file we cannot write is still a lock.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(Ok(Held {
        file,
        path: path.to_path_buf(),
    }))
}

/// Waits for the lock at `path`, polling so that `give_up` (a shutting-down
/// daemon, say) can end the wait: `Ok(None)` then. `waiting` is called once,
/// with the holder, if the lock was taken when we first asked.
pub fn acquire_waiting(
    path: &Path,
    give_up: &dyn Fn() -> bool,
    waiting: &mut dyn FnMut(Holder),
) -> Result<Option<Held>, LockError> {
    let mut told = false;
    loop {
        match try_acquire(path)? {
            Ok(held) => return Ok(Some(held)),
            Err(holder) => {
                if !told {
                    waiting(holder);
                    told = true;
                }
            }
        }
        if give_up() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open(path: &Path) -> Result<File, LockError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut options = File::options();
    options.create(true).truncate(false).read(true).write(true);
    // Lock files sit beside the database of addresses: private like it.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| LockError::Open {
        path: path.to_path_buf(),
        source,
    })
}

fn read_holder(file: &mut File) -> Holder {
    let mut s = String::new();
    let _ = file
        .rewind()
        .and_then(|()| file.take(32).read_to_string(&mut s));
    Holder(s.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_refused_and_learns_the_holder_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = send_lock_path(&dir.path().join("state/bookweek.db"));
        assert!(path.ends_with("state/bookweek.db.send.lock"));
        let held = try_acquire(&path).unwrap().unwrap();
        let holder = try_acquire(&path).unwrap().unwrap_err();
        assert_eq!(holder, Holder(Some(std::process::id())));
        drop(held);
        assert!(try_acquire(&path).unwrap().is_ok());
    }

    #[test]
    fn waiting_gives_up_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = run_lock_path(&dir.path().join("bookweek.db"));
        let _held = try_acquire(&path).unwrap().unwrap();
        let mut told = vec![];
        let got = acquire_waiting(&path, &|| true, &mut |h| told.push(h)).unwrap();
        assert!(got.is_none());
        assert_eq!(told.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn lock_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = run_lock_path(&dir.path().join("bookweek.db"));
        let _held = try_acquire(&path).unwrap().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
