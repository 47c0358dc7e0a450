//! Writing output files: atomically (temp file + rename, so a reader never
//! sees half a feed) and only when the bytes changed (so mtimes and HTTP
//! caches stay put when nothing is new).

use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` unless it already holds exactly them. Returns
/// whether the file changed.
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
    let mut tmp = tempfile::Builder::new()
        .prefix(".bookweek-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(true)
}

/// Writes the three feeds into `dir`, each only if its bytes changed.
/// Returns each file's path and whether it changed; stops at the first
/// file that cannot be written.
pub fn write_feeds(
    rendered: &crate::feeds::Rendered,
    dir: &Path,
) -> Result<Vec<(std::path::PathBuf, bool)>, WriteError> {
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
