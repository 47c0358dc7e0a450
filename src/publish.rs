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
pub fn inputs_fingerprint(files: &[&Path], dirs: &[&Path]) -> String {
    use sha2::{Digest, Sha256};
    let mut entries: Vec<(String, u64, u128)> = Vec::new();
    let mut add = |p: &Path| {
        if let Ok(m) = std::fs::metadata(p) {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            entries.push((p.display().to_string(), m.len(), mtime));
        } else {
            entries.push((p.display().to_string(), u64::MAX, 0));
        }
    };
    for f in files {
        add(f);
    }
    let mut stack: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(dir) = stack.pop() {
        add(&dir);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                add(&p);
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
}
