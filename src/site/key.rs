//! Input keys: a SHA-256 over everything a file of the site is made from.
//! Every key starts from [`common`] (this binary, the templates, the
//! settings), so a new bookweek, an edited template or a changed setting
//! makes every page again; then comes what the one page shows.

use std::fmt::{self, Debug};
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Inputs;

/// A hasher that `write!`, `serde_json::to_writer` and `{:?}` can write
/// into, so a value is hashed without being formatted into a string first.
struct Hashing(Sha256);

impl io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for Hashing {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

impl Hashing {
    fn new(common: &str, kind: &str) -> Self {
        let mut h = Sha256::new();
        h.update(common.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        h.update([0]);
        Self(h)
    }

    fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every page depends on: this binary (its version, and its size and
/// time, so a rebuilt bookweek renders again), the templates and the
/// settings.
pub(super) fn common(inputs: &Inputs) -> String {
    static BINARY: OnceLock<String> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let identity = std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
            .unwrap_or_default();
        format!("{} {identity}", env!("CARGO_PKG_VERSION"))
    });
    let mut h = Hashing::new(binary, "common");
    h.0.update(inputs.templates.fingerprint().as_bytes());
    let _ = serde_json::to_writer(&mut h, &inputs.config.settings);
    h.finish()
}

/// The key of a page made from `value` (its view, or its inputs).
pub(super) fn of(common: &str, kind: &str, value: &impl Serialize) -> String {
    let mut h = Hashing::new(common, kind);
    let _ = serde_json::to_writer(&mut h, value);
    h.finish()
}

/// The key of a page made from values that are `Debug` but not
/// `Serialize` (the model's books and people).
pub(super) fn of_debug(common: &str, kind: &str, parts: &[&dyn Debug]) -> String {
    let mut h = Hashing::new(common, kind);
    for p in parts {
        let _ = fmt::write(&mut h, format_args!("{p:?}\u{0}"));
    }
    h.finish()
}

/// The key of a copied file: its path, size and modification time (its
/// bytes are only read when these change).
pub(super) fn of_file(path: &Path) -> String {
    let meta = std::fs::metadata(path)
        .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
        .unwrap_or_else(|e| format!("missing: {e}"));
    let mut h = Hashing::new("file", &path.display().to_string());
    h.0.update(meta.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_kind_value_and_common_part() {
        let a = of("c", "home", &1);
        assert_eq!(a, of("c", "home", &1));
        assert_ne!(a, of("c", "home", &2));
        assert_ne!(a, of("c", "archive", &1));
        assert_ne!(a, of("d", "home", &1));
        assert_eq!(a.len(), 64);
        assert_ne!(of_debug("c", "b", &[&"x"]), of_debug("c", "b", &[&"y"]));
    }

    #[test]
    fn a_file_key_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jpg");
        let missing = of_file(&p);
        std::fs::write(&p, "a").unwrap();
        let one = of_file(&p);
        assert_ne!(missing, one);
        std::fs::write(&p, "ab").unwrap();
        assert_ne!(one, of_file(&p));
    }
}
