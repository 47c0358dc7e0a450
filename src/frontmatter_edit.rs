//! Editing one top-level key of a file's YAML front matter and leaving every
//! other byte as it was: comments, key order, quoting, line endings, the body.
//!
//! A YAML library would rewrite the whole front matter, so the key's lines
//! are found as text instead (a top-level key starts a line; its value is the
//! lines after it that are indented or are `- ` entries), and replaced, or
//! the key is added at the end of the front matter. Because finding lines is
//! not parsing YAML, every edit is checked by parsing both versions: the
//! edit is refused unless every other key reads exactly as before and the
//! key reads back as written. The archive writer ([`write_archive`]) is the
//! one user: the Slack import and fetch go through it.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::model::Thread;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "{path}: has an archive already (thread count {threads}); pass --replace to overwrite it"
    )]
    HasArchive { path: PathBuf, threads: usize },
}

/// Why a text could not be edited (the caller adds the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// `text` with top-level `key` set to `value`. Refused when the text has no
/// front matter, the key appears twice, or the edit would change anything
/// but the key (checked by parsing).
pub fn set_key(text: &str, key: &str, value: &Value) -> Result<String, Refused> {
    let fm = FrontMatter::find(text)?;
    let crlf = text[fm.start..].starts_with("---\r\n");
    let block = render_key(key, value, crlf)?;
    let lines = fm.lines(text);
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, (_, l))| is_key_line(l, key))
        .map(|(i, _)| i)
        .collect();
    let edited = match starts.as_slice() {
        [] => {
            // New key: at the end of the front matter, before its closing line.
            let mut s = String::with_capacity(text.len() + block.len());
            s.push_str(&text[..fm.yaml_end]);
            s.push_str(&block);
            s.push_str(&text[fm.yaml_end..]);
            s
        }
        [i] => {
            let from = lines[*i].0;
            let mut end = *i + 1;
            while end < lines.len() && continues_value(lines[end].1) {
                end += 1;
            }
            // Blank and comment lines at the end belong to what follows.
            while end > *i + 1 && is_blank_or_comment(lines[end - 1].1) {
                end -= 1;
            }
            let to = lines.get(end).map_or(fm.yaml_end, |(o, _)| *o);
            let mut s = String::with_capacity(text.len() + block.len());
            s.push_str(&text[..from]);
            s.push_str(&block);
            s.push_str(&text[to..]);
            s
        }
        _ => {
            return Err(Refused(format!(
                "`{key}` appears more than once in the front matter"
            )));
        }
    };
    verify(text, &edited, key, value)?;
    Ok(edited)
}

/// The front matter's place in a file: the YAML between its `---` lines.
struct FrontMatter {
    /// Offset of the opening `---` (after a byte order mark).
    start: usize,
    yaml_start: usize,
    /// Offset of the closing `---` or `...` line.
    yaml_end: usize,
}

impl FrontMatter {
    fn find(text: &str) -> Result<Self, Refused> {
        let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let mut lines = text[start..].split_inclusive('\n');
        let first = lines.next().unwrap_or("");
        if first.trim_end() != "---" {
            return Err(Refused(
                "no front matter: the file must start with a `---` line".into(),
            ));
        }
        let yaml_start = start + first.len();
        let mut offset = yaml_start;
        for line in lines {
            if matches!(line.trim_end(), "---" | "...") {
                return Ok(Self {
                    start,
                    yaml_start,
                    yaml_end: offset,
                });
            }
            offset += line.len();
        }
        Err(Refused(
            "the front matter is not closed by a `---` line".into(),
        ))
    }

    /// The YAML's lines with their offsets in the file.
    fn lines<'t>(&self, text: &'t str) -> Vec<(usize, &'t str)> {
        let mut out = Vec::new();
        let mut offset = self.yaml_start;
        for line in text[self.yaml_start..self.yaml_end].split_inclusive('\n') {
            out.push((offset, line));
            offset += line.len();
        }
        out
    }
}

/// `key:` at the start of a line, bare or quoted.
fn is_key_line(line: &str, key: &str) -> bool {
    let rest = [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .find_map(|k| line.strip_prefix(k.as_str()))
        .map(|r| r.trim_start_matches([' ', '\t']));
    rest.is_some_and(|r| {
        r.strip_prefix(':')
            .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t', '\r', '\n']))
    })
}

/// A line that is part of the value of the key above it.
fn continues_value(line: &str) -> bool {
    line.starts_with([' ', '\t'])
        || line == "-"
        || line.starts_with("- ")
        || line.starts_with("-\r")
        || line.starts_with("-\n")
        || is_blank_or_comment(line)
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `key:` and its value as YAML lines, in the file's line endings.
fn render_key(key: &str, value: &Value, crlf: bool) -> Result<String, Refused> {
    let mut map = Mapping::new();
    map.insert(Value::String(key.to_string()), value.clone());
    let yaml =
        serde_yaml::to_string(&map).map_err(|e| Refused(format!("cannot write YAML: {e}")))?;
    Ok(if crlf {
        yaml.replace('\n', "\r\n")
    } else {
        yaml
    })
}

/// Parses both versions: every other key must read the same, and `key`
/// must read back as `value`.
fn verify(before: &str, after: &str, key: &str, value: &Value) -> Result<(), Refused> {
    let parse = |text: &str| -> Result<Mapping, Refused> {
        let fm = FrontMatter::find(text)?;
        let yaml = &text[fm.yaml_start..fm.yaml_end];
        match serde_yaml::from_str::<Value>(yaml) {
            Ok(Value::Mapping(m)) => Ok(m),
            Ok(Value::Null) => Ok(Mapping::new()),
            Ok(_) => Err(Refused("the front matter is not a mapping of keys".into())),
            Err(e) => Err(Refused(format!("the front matter is not valid YAML: {e}"))),
        }
    };
    let mut old = parse(before)?;
    let mut new = parse(after).map_err(|Refused(m)| {
        Refused(format!(
            "the edit would break the front matter ({m}); add `{key}:` by hand"
        ))
    })?;
    let written = new.remove(key);
    old.remove(key);
    if old != new || written.as_ref() != Some(value) {
        return Err(Refused(format!(
            "the front matter's layout around `{key}` cannot be edited safely; edit `{key}:` by hand"
        )));
    }
    Ok(())
}

#[derive(Serialize)]
struct ThreadOut<'a> {
    name: &'a str,
    text: &'a str,
    replies: Vec<MessageOut<'a>>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    name: &'a str,
    text: &'a str,
}

/// The `archive:` value in the layout the archives use: each thread's
/// `name`, `text` and `replies` (an empty list when there are none).
pub fn archive_value(threads: &[Thread]) -> Value {
    let out: Vec<ThreadOut> = threads
        .iter()
        .map(|t| ThreadOut {
            name: &t.post.name,
            text: &t.post.text,
            replies: t
                .replies
                .iter()
                .map(|r| MessageOut {
                    name: &r.name,
                    text: &r.text,
                })
                .collect(),
        })
        .collect();
    serde_yaml::to_value(out).unwrap_or(Value::Null)
}

/// `archive:` and its threads as YAML text (what `--dry-run` prints).
pub fn archive_yaml(threads: &[Thread]) -> String {
    render_key("archive", &archive_value(threads), false).unwrap_or_default()
}

/// Writes `threads` as the `archive:` of the book file at `path`: the rest
/// of the file keeps its bytes; the write is atomic and happens only when
/// the bytes change (a second run writes nothing). Without `replace`, a
/// file that has an archive already is left alone. Returns whether the file
/// changed.
pub fn write_archive(path: &Path, threads: &[Thread], replace: bool) -> Result<bool, EditError> {
    let err = |message: String| EditError::File {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| err("is not UTF-8 text".into()))?;
    if !replace {
        let existing = FrontMatter::find(&text)
            .ok()
            .and_then(|fm| serde_yaml::from_str::<Value>(&text[fm.yaml_start..fm.yaml_end]).ok())
            .and_then(|v| v.get("archive").and_then(Value::as_sequence).map(Vec::len))
            .unwrap_or(0);
        if existing > 0 {
            return Err(EditError::HasArchive {
                path: path.to_path_buf(),
                threads: existing,
            });
        }
    }
    let edited = set_key(&text, "archive", &archive_value(threads)).map_err(|Refused(m)| err(m))?;
    // Through a link, the file it points to is edited, not the link replaced.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let permissions = std::fs::metadata(&target).ok().map(|m| m.permissions());
    let changed = crate::publish::write_if_changed(&target, edited.as_bytes())
        .map_err(|e| err(e.source.to_string()))?;
    // The rename gave the file a new inode: keep the mode it had.
    if changed && let Some(p) = permissions {
        let _ = std::fs::set_permissions(&target, p);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn threads() -> Vec<Thread> {
        vec![Thread {
            post: Message {
                name: "A Reader".into(),
                text: "Is it *good*?\nReally: yes or no".into(),
            },
            replies: vec![Message {
                name: "Jane Doe".into(),
                text: "Yes 🙂".into(),
            }],
        }]
    }

    fn set(text: &str) -> Result<String, Refused> {
        set_key(text, "archive", &archive_value(&threads()))
    }

    #[test]
    fn replaces_the_key_and_keeps_every_other_byte() {
        let before = "---\n# a comment\ntitle: 'T'   # quoted\narchive:\n- name: Old\n  text: 'old\n\n    text'\n  replies: []\n# about links\nlinks: []\n---\nBody: *kept*\n";
        let after = set(before).unwrap();
        let (head, tail) = before.split_once("archive:").unwrap();
        let tail = &tail[tail.find("# about links").unwrap()..];
        assert!(after.starts_with(head), "{after}");
        assert!(after.ends_with(tail), "{after}");
        assert!(after.contains("- name: A Reader\n"), "{after}");
        assert!(!after.contains("Old"));
    }

    #[test]
    fn adds_the_key_at_the_end_of_the_front_matter() {
        let before = "---\ntitle: T\nstart: 2022-12-05\n---\nBody\n";
        let after = set(before).unwrap();
        assert!(
            after.starts_with("---\ntitle: T\nstart: 2022-12-05\narchive:\n- name: A Reader\n")
        );
        assert!(after.ends_with("---\nBody\n"));
    }

    #[test]
    fn keeps_crlf_line_endings() {
        let before = "---\r\ntitle: T\r\narchive: []\r\n---\r\nBody\r\n";
        let after = set(before).unwrap();
        assert!(!after.replace("\r\n", "").contains('\n'), "{after:?}");
        assert!(after.starts_with("---\r\ntitle: T\r\narchive:\r\n- name: A Reader\r\n"));
    }

    #[test]
    fn a_second_edit_gives_the_same_bytes() {
        let once = set("---\ntitle: T\n---\nB\n").unwrap();
        assert_eq!(set(&once).unwrap(), once);
    }

    #[test]
    fn refuses_duplicates_and_unparsable_layouts() {
        assert!(set("---\narchive: []\narchive: []\n---\n").is_err());
        assert!(set("no front matter\n").is_err());
        // A flow mapping spanning lines at column 0 is not something the
        // line finder understands: the check catches it.
        let odd = "---\nx: {a: 1,\narchive: 2}\n---\n";
        assert!(set(odd).is_err());
    }

    #[test]
    fn finds_quoted_keys_only_at_the_start_of_a_line() {
        assert!(is_key_line("archive:\n", "archive"));
        assert!(is_key_line("\"archive\" : []\n", "archive"));
        assert!(!is_key_line("archived: x\n", "archive"));
        assert!(!is_key_line("  archive: x\n", "archive"));
        assert!(!is_key_line("archive:x\n", "archive"));
    }
}
