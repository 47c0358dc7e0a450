//! Finding and reading content files without trusting them: which entries of
//! a folder are content files (symbolic links included, folders never
//! followed), reading at most `content.max_file_size` bytes of one, and
//! decoding it as UTF-8 with the place of the first bad byte.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diag::Problem;

use super::ContentError;

/// The `.md` files of a folder, sorted (callers look paths up by binary
/// search), skipping templates (`_x.md`), hidden files and editors' backup
/// and swap files.
///
/// The folder itself may be a symbolic link (it is named by the config).
/// Inside it nothing is walked: an entry that is a folder, or a symbolic link
/// to one, is not content and is skipped. A symbolic link to a file is a
/// content file like any other; a broken one is kept so that reading it
/// reports the problem instead of the book silently vanishing.
pub fn markdown_files(dir: &Path) -> Result<FileList, ContentError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // A site may have no people files at all.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.ends_with("people") => {
            return Ok(FileList::empty(dir));
        }
        Err(source) => {
            return Err(ContentError::Folder {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut list = FileList::empty(dir);
    for entry in entries.filter_map(Result::ok) {
        // `file_type` does not follow links; `metadata` on the path does,
        // and fails for a broken or looping link (kept, see above).
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| !t.is_dir())
            && std::fs::metadata(&path).map_or(true, |m| !m.is_dir())
            && is_content_name(&path)
        {
            list.push(&entry.file_name());
        }
    }
    list.sort();
    Ok(list)
}

/// The content files of one folder, sorted by name: the names in one
/// buffer and where each is, not a path each (a folder of 50,000 books
/// would be 50,000 allocations, more than the rest of what a load keeps of
/// its books).
#[derive(Debug, Clone)]
pub struct FileList {
    dir: PathBuf,
    names: Vec<u8>,
    /// Start and end of each name in `names`, in name order.
    spans: Vec<(u32, u32)>,
}

impl FileList {
    fn empty(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            names: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Adds a file name; a folder whose names pass 4 GiB in all keeps the
    /// ones before (no folder of books comes near).
    fn push(&mut self, name: &std::ffi::OsStr) {
        use std::os::unix::ffi::OsStrExt;
        let start = self.names.len();
        let end = start + name.len();
        if let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) {
            self.names.extend_from_slice(name.as_bytes());
            self.spans.push((start, end));
        }
    }

    /// Sorts by name, and gives back what the buffers grew beyond (up to
    /// twice the names, held for the whole load).
    fn sort(&mut self) {
        let names = &self.names;
        self.spans
            .sort_unstable_by(|a, b| span(names, *a).cmp(span(names, *b)));
        self.names.shrink_to_fit();
        self.spans.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn name(&self, i: usize) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(span(&self.names, self.spans[i]))
    }

    /// The path of file `i` (the folder joined with its name).
    pub fn path(&self, i: usize) -> PathBuf {
        self.dir.join(self.name(i))
    }

    /// Every path, in order.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        (0..self.len()).map(|i| self.path(i))
    }

    /// Whether `path` is one of the files: a lookup, not a scan.
    pub fn contains(&self, path: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        parent == self.dir
            && self
                .spans
                .binary_search_by(|s| span(&self.names, *s).cmp(name.as_bytes()))
                .is_ok()
    }
}

fn span(names: &[u8], (start, end): (u32, u32)) -> &[u8] {
    names.get(start as usize..end as usize).unwrap_or_default()
}

/// True for a content file's name: `*.md`, not a template (`_x.md`) or a
/// hidden file.
pub fn is_content_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.extension().is_some_and(|e| e == "md") && !name.starts_with('_') && !name.starts_with('.')
}

/// Reads a content file as UTF-8 text, refusing anything that is not a
/// regular file (a FIFO would block the run) and anything larger than
/// `max_bytes`, of which no more than `max_bytes` is ever read.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, Problem> {
    let error = |msg: String| Problem::error(path, (1, 1), msg);
    let cannot = |e: std::io::Error| error(format!("cannot read file: {e}{}", link_note(path)));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(error(
            "not a regular file but a device, socket or pipe; it is not read".into(),
        ));
    }
    if meta.len() > max_bytes {
        return Err(too_large(path, Some(meta.len()), max_bytes));
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    // The file may have grown since `metadata`: read one byte more than
    // allowed to notice, never the whole of it.
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(path, None, max_bytes));
    }
    decode_text(path, bytes)
}

fn too_large(path: &Path, size: Option<u64>, max_bytes: u64) -> Problem {
    let size = size.map_or_else(|| "larger".to_string(), |s| format!("{},", human_size(s)));
    Problem::error(
        path,
        (1, 1),
        format!(
            "file is {size} more than `content.max_file_size` ({}); it is not read (raise the limit in the config if the file is right)",
            human_size(max_bytes)
        ),
    )
}

/// For a symbolic link that cannot be read: where it points.
fn link_note(path: &Path) -> String {
    match std::fs::read_link(path) {
        Ok(target) => format!(
            " (it is a symbolic link to `{}`, which cannot be read)",
            target.display()
        ),
        Err(_) => String::new(),
    }
}

/// Decodes a file's bytes as UTF-8 text without a byte order mark; a file in
/// another encoding is an error at the first byte that is not UTF-8.
pub fn decode_text(path: &Path, bytes: Vec<u8>) -> Result<String, Problem> {
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..'\u{feff}'.len_utf8());
            }
            Ok(s)
        }
        Err(e) => {
            let bytes = e.as_bytes();
            let valid = e.utf8_error().valid_up_to();
            let before = String::from_utf8_lossy(&bytes[..valid]);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let byte = bytes.get(valid).copied().unwrap_or_default();
            Err(Problem::error(
                path,
                (line, col),
                format!("file is not valid UTF-8 (byte 0x{byte:02X}); save it as UTF-8 text"),
            ))
        }
    }
}

/// A byte count the way people write it: `4 MiB`, `80.5 KiB`, `12 bytes`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} byte{}", crate::diag::plural(bytes as usize));
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A file's size and modification time: what a cache compares to know
/// whether the file changed.
pub type Stamp = (u64, Option<std::time::SystemTime>);

/// The [`Stamp`] of a file now; one that cannot be read never matches.
pub fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).map_or((u64::MAX, None), |m| (m.len(), m.modified().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(1000), "1000 bytes");
        assert_eq!(human_size(4 * 1024 * 1024), "4 MiB");
        assert_eq!(human_size(82_432), "80.5 KiB");
        assert_eq!(human_size(200 * 1024 * 1024 + 1), "200.0 MiB");
    }

    #[test]
    fn refuses_a_large_file_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.md");
        std::fs::write(&p, vec![b'a'; 5000]).unwrap();
        let e = read_text(&p, 4096).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1:1: error: file is 4.9 KiB, more than `content.max_file_size` (4 KiB); it is not read (raise the limit in the config if the file is right)",
                p.display()
            )
        );
        assert_eq!(read_text(&p, 5000).unwrap().len(), 5000);
    }

    #[test]
    fn lists_linked_files_but_never_linked_folders() {
        let dir = tempfile::tempdir().unwrap();
        let books = dir.path().join("books");
        std::fs::create_dir_all(books.join("sub.md")).unwrap();
        std::fs::write(books.join("a.md"), "x").unwrap();
        std::fs::write(dir.path().join("elsewhere.md"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere.md"), books.join("b.md")).unwrap();
        std::os::unix::fs::symlink(books.join("missing.md"), books.join("c.md")).unwrap();
        std::os::unix::fs::symlink("..", books.join("up.md")).unwrap();
        std::os::unix::fs::symlink("..", books.join("up1")).unwrap();
        let names: Vec<String> = markdown_files(&books)
            .unwrap()
            .paths()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.md", "b.md", "c.md"]);
        let broken = read_text(&books.join("c.md"), 100).unwrap_err().to_string();
        assert!(
            broken.contains("it is a symbolic link to") && broken.contains("missing.md"),
            "{broken}"
        );
    }

    #[test]
    fn a_file_list_sorts_by_name_and_finds_its_paths() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let books = dir.path().join("books");
        std::fs::create_dir_all(&books).unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"\xff.md");
        for name in [
            "b.md",
            "B.md",
            "a-2.md",
            "a.md",
            "_draft.md",
            ".x.md",
            "notes.txt",
        ] {
            std::fs::write(books.join(name), "x").unwrap();
        }
        std::fs::write(books.join(odd), "x").unwrap();
        let list = markdown_files(&books).unwrap();
        let paths: Vec<PathBuf> = list.paths().collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "sorted as paths are");
        assert_eq!(list.len(), 5);
        assert_eq!(list.path(4), books.join(odd));
        assert!(paths.iter().all(|p| list.contains(p)));
        assert!(!list.contains(&books.join("_draft.md")));
        assert!(!list.contains(&books.join("c.md")));
        assert!(
            !list.contains(&dir.path().join("a.md")),
            "same name, another folder"
        );
    }
}
