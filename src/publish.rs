//! Writing output files: atomically (temp file + rename, so a reader never
//! sees half a feed) and only when the bytes changed (so mtimes and HTTP
//! caches stay put when nothing is new).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` unless it already holds exactly them. Returns
/// whether the file changed. A new file gets the mode any file the user
/// creates gets (0644 under the usual umask 022), so a web server can read
/// what bookweek publishes.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, WriteError> {
    let err = |source| WriteError {
        path: path.display().to_string(),
        source,
    };
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = TempFile::create_in(dir).map_err(err)?;
    tmp.file.write_all(bytes).map_err(err)?;
    tmp.file.sync_all().map_err(err)?;
    tmp.persist(path).map_err(err)?;
    Ok(true)
}

/// The temp files this process is writing, so that a signal handler can
/// remove them: a half-written feed must not stay in a served folder.
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

const TEMP_PREFIX: &str = ".bookweek-";
const TEMP_SUFFIX: &str = ".tmp";

/// A temp file beside its destination, `.bookweek-{pid}-{random}.tmp`,
/// removed unless persisted. Created with `create_new` and the default
/// mode, so the umask decides its permissions (tempfile's 0600 made nginx
/// answer 403).
struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    fn create_in(dir: &Path) -> std::io::Result<Self> {
        loop {
            let name = format!(
                "{TEMP_PREFIX}{}-{:016x}{TEMP_SUFFIX}",
                std::process::id(),
                rand::random::<u64>()
            );
            let path = dir.join(name);
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    in_flight().push(path.clone());
                    return Ok(Self {
                        path,
                        file,
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn persist(mut self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, to)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
        in_flight().retain(|p| p != &self.path);
    }
}

fn in_flight() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    IN_FLIGHT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes the temp files being written now; for a process about to die.
pub fn remove_temp_files() {
    for p in in_flight().drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temp files being written and
/// exit as the signal would have (128 + its number). For the commands that
/// run and exit; the daemon handles its signals itself.
pub fn remove_temp_files_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            remove_temp_files();
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// Removes temp files that a killed run left in `dir` (kill -9, a power
/// cut): those of processes that no longer exist, and any older than a day.
/// Best effort; never an error. Called once per output folder and run.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
            continue;
        };
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        let owner = rest
            .strip_suffix(TEMP_SUFFIX)
            .and_then(|r| r.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let dead = match owner {
            Some(pid) if pid == std::process::id() => false,
            Some(pid) => !process_exists(pid).unwrap_or(true),
            // Written by an older bookweek (tempfile's `.bookweek-XXXXXX`).
            None => age > Duration::from_secs(600),
        };
        if dead || age > Duration::from_secs(24 * 3600) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether a process exists, where the system says (Linux's /proc).
fn process_exists(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Writes the three feeds into `dir`, each only if its bytes changed.
/// Returns each file's path and whether it changed; stops at the first
/// file that cannot be written.
pub fn write_feeds(
    rendered: &crate::feeds::Rendered,
    dir: &Path,
) -> Result<Vec<(std::path::PathBuf, bool)>, WriteError> {
    remove_leftovers(dir);
    rendered
        .files()
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            write_if_changed(&path, bytes.as_bytes()).map(|changed| (path, changed))
        })
        .collect()
}

/// A fingerprint of every input file (path, size, modification time): if
/// it is unchanged and no window opened or closed, a rebuild would write the
/// same bytes, so cron runs can skip it in a few milliseconds.
///
/// `dirs` are walked recursively, but symbolic links inside them are never
/// followed into folders: `ln -s .. up` would make the walk go round forever
/// and a link to `/` would walk the whole disk. The roots themselves may be
/// links (they are named by the config). A link to a file counts with its
/// target's size and time, since the loader reads the target. Each folder is
/// walked once, whatever path leads to it.
pub fn inputs_fingerprint(files: &[&Path], dirs: &[&Path]) -> String {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<(String, u64, u128)> = Vec::new();
    let mut add = |p: &Path, m: Option<&std::fs::Metadata>| {
        let (len, mtime) = m.map_or((u64::MAX, 0), |m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), mtime)
        });
        entries.push((p.display().to_string(), len, mtime));
    };
    for f in files {
        add(f, std::fs::metadata(f).ok().as_ref());
    }
    // (device, inode) of every folder walked: a folder reached twice (a root
    // inside another, a bind mount of a parent) is walked once.
    let mut walked = std::collections::HashSet::new();
    let mut stack: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(dir) = stack.pop() {
        // Follows a link: only roots are ever links here.
        let meta = std::fs::metadata(&dir).ok();
        add(&dir, meta.as_ref());
        let Some(meta) = meta.filter(|m| m.is_dir()) else {
            continue;
        };
        if !walked.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                // A real folder (never a link to one).
                Ok(t) if t.is_dir() => stack.push(p),
                // A file, or a link: the target's size and time when it
                // has one; a link to a folder adds only the folder's own.
                _ => add(&p, std::fs::metadata(&p).ok().as_ref()),
            }
        }
    }
    entries.sort();
    let mut h = Sha256::new();
    for (p, len, mtime) in entries {
        h.update(p.as_bytes());
        h.update(len.to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_then_reports_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/feed.xml");
        assert!(write_if_changed(&p, b"a").unwrap());
        assert!(!write_if_changed(&p, b"a").unwrap());
        assert!(write_if_changed(&p, b"b").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"b");
        // No temp files left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_the_default_mode_not_tempfiles_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("feed.xml");
        write_if_changed(&p, b"a").unwrap();
        // What the umask gives a new file, whatever the umask is here.
        let probe = dir.path().join("probe");
        File::create(&probe).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), mode(&probe));
        assert_ne!(mode(&p), 0o600);
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir
            .path()
            .join(format!(".bookweek-{}-1.tmp", std::process::id()));
        // No process has this number: pid_max is at most 2^22.
        let dead = dir.path().join(".bookweek-4294967294-2.tmp");
        let other = dir.path().join("keep.txt");
        for p in [&mine, &dead, &other] {
            std::fs::write(p, "x").unwrap();
        }
        remove_leftovers(dir.path());
        assert!(mine.exists());
        assert!(other.exists());
        if process_exists(1).is_some() {
            assert!(!dead.exists());
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty folder fails.
        let target = dir.path().join("feed.xml");
        std::fs::create_dir_all(target.join("x")).unwrap();
        assert!(write_if_changed(&target, b"a").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["feed.xml"]);
    }

    #[test]
    fn fingerprint_walk_ends_with_links_round_a_loop_and_sees_linked_files() {
        let dir = tempfile::tempdir().unwrap();
        let books = dir.path().join("content/books");
        std::fs::create_dir_all(&books).unwrap();
        std::fs::write(books.join("a.md"), "a").unwrap();
        std::os::unix::fs::symlink("..", books.join("up1")).unwrap();
        std::os::unix::fs::symlink("..", books.join("up2")).unwrap();
        std::os::unix::fs::symlink("/", books.join("root")).unwrap();
        let elsewhere = dir.path().join("elsewhere.md");
        std::fs::write(&elsewhere, "b").unwrap();
        std::os::unix::fs::symlink(&elsewhere, books.join("b.md")).unwrap();
        let content = dir.path().join("content");
        let started = std::time::Instant::now();
        let before = inputs_fingerprint(&[], &[&content, &books]);
        assert!(started.elapsed().as_secs() < 5);
        assert_eq!(before, inputs_fingerprint(&[], &[&content, &books]));
        // Editing the target of a linked file changes the fingerprint.
        std::fs::write(&elsewhere, "bb").unwrap();
        assert_ne!(before, inputs_fingerprint(&[], &[&content, &books]));
    }
}
