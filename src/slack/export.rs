//! Reading a Slack workspace export: a ZIP as Slack makes it, or the folder
//! it unpacks to (`users.json`, `channels.json`, and one folder of
//! `YYYY-MM-DD.json` day files per channel).
//!
//! Every read is bounded: a file may hold at most [`MAX_FILE_BYTES`] and a
//! whole import read at most [`MAX_TOTAL_BYTES`] (counted as they are
//! decompressed, not as the ZIP's headers claim, so a ZIP bomb is an error
//! and not an exhausted machine), and a ZIP at most [`MAX_ENTRIES`] entries.
//! JSON is parsed as it streams in. Errors name the file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use super::{Directory, RawMessage, RawUser, SlackError};
use crate::diag::did_you_mean;

/// The most one JSON file of an export may hold (a large workspace's
/// `users.json` is about 100 MB).
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// The most an import reads in all.
pub const MAX_TOTAL_BYTES: u64 = 2 << 30;
/// The most entries a ZIP may list.
pub const MAX_ENTRIES: usize = 200_000;

/// An opened export.
pub struct Export {
    /// The path as given, for messages.
    label: String,
    source: Source,
    /// Bytes read so far, against [`MAX_TOTAL_BYTES`].
    read: u64,
}

enum Source {
    Folder(PathBuf),
    Zip {
        archive: Box<zip::ZipArchive<File>>,
        /// `name/` when the ZIP holds the export in one folder, else empty.
        prefix: String,
        names: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
struct RawChannel {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

impl Export {
    /// Opens a ZIP or a folder; fails when it is neither, or when a ZIP is
    /// damaged.
    pub fn open(path: &Path) -> Result<Self, SlackError> {
        let label = path.display().to_string();
        let err = |message: String| SlackError::Export {
            path: label.clone(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let source = if meta.is_dir() {
            let root = if path.join("users.json").is_file() {
                path.to_path_buf()
            } else {
                // An export unpacked into a folder of its own.
                let mut subs = std::fs::read_dir(path)
                    .map_err(|e| err(format!("cannot read folder: {e}")))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("users.json").is_file());
                match (subs.next(), subs.next()) {
                    (Some(one), None) => one,
                    _ => path.to_path_buf(),
                }
            };
            Source::Folder(root)
        } else {
            let file = File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
            let archive = zip::ZipArchive::new(file).map_err(|e| {
                err(format!(
                    "not a readable ZIP archive ({e}); give the export's .zip as Slack made it, or the folder it unpacks to"
                ))
            })?;
            if archive.len() > MAX_ENTRIES {
                return Err(err(format!(
                    "the ZIP lists {} entries; a Slack export of one workspace has far fewer (at most {MAX_ENTRIES} are read)",
                    archive.len()
                )));
            }
            let names: Vec<String> = archive
                .file_names()
                .map(|n| n.map(|n| n.into_owned()))
                .collect::<Result<_, _>>()
                .map_err(|e| err(format!("a damaged ZIP archive: {e}")))?;
            let prefix = if names.iter().any(|n| n == "users.json") {
                String::new()
            } else {
                names
                    .iter()
                    .filter_map(|n| n.strip_suffix("users.json"))
                    .find(|p| p.ends_with('/') && p.matches('/').count() == 1)
                    .unwrap_or_default()
                    .to_string()
            };
            Source::Zip {
                archive: Box::new(archive),
                prefix,
                names,
            }
        };
        Ok(Self {
            label,
            source,
            read: 0,
        })
    }

    /// Where a file of the export is, for messages: `export.zip:users.json`
    /// or `export/users.json`.
    fn name_of(&self, rel: &str) -> String {
        match &self.source {
            Source::Folder(root) => root.join(rel).display().to_string(),
            Source::Zip { prefix, .. } => format!("{}:{prefix}{rel}", self.label),
        }
    }

    fn exists(&self, rel: &str) -> bool {
        match &self.source {
            Source::Folder(root) => root.join(rel).is_file(),
            Source::Zip { prefix, names, .. } => {
                names.iter().any(|n| *n == format!("{prefix}{rel}"))
            }
        }
    }

    /// Parses one JSON file of the export as it streams in, within the limits.
    fn json<T: serde::de::DeserializeOwned>(&mut self, rel: &str) -> Result<T, SlackError> {
        let shown = self.name_of(rel);
        let err = |message: String| SlackError::Export {
            path: shown.clone(),
            message,
        };
        let budget = MAX_TOTAL_BYTES.saturating_sub(self.read);
        let limit = MAX_FILE_BYTES.min(budget);
        let (parsed, read) = match &mut self.source {
            Source::Folder(root) => {
                let f = File::open(root.join(rel)).map_err(|e| err(format!("cannot read: {e}")))?;
                parse_limited(BufReader::new(f), limit)
            }
            Source::Zip {
                archive, prefix, ..
            } => {
                let entry = archive
                    .by_name(&format!("{prefix}{rel}"))
                    .map_err(|e| err(format!("cannot read from the ZIP: {e}")))?;
                // An entry that says it is too large is refused unread; one
                // that lies is stopped by the count.
                if entry.size() > limit {
                    (Err(ParseError::TooLarge), 0)
                } else {
                    parse_limited(BufReader::new(entry), limit)
                }
            }
        };
        self.read += read;
        parsed.map_err(|e| match e {
            ParseError::TooLarge if limit < MAX_FILE_BYTES => err(format!(
                "the export holds more than {} MiB in all; this is not a Slack export of one channel's weeks",
                MAX_TOTAL_BYTES >> 20
            )),
            ParseError::TooLarge => err(format!(
                "larger than {} MiB; not a file of a Slack export",
                MAX_FILE_BYTES >> 20
            )),
            ParseError::Json(e) => err(format!("not the JSON a Slack export has: {e}")),
        })
    }

    /// The workspace's users (`users.json`) and channels (`channels.json`,
    /// and `groups.json` for private channels when present).
    pub fn directory(&mut self) -> Result<Directory, SlackError> {
        let mut dir = Directory::default();
        for required in ["users.json", "channels.json"] {
            if !self.exists(required) {
                return Err(SlackError::Export {
                    path: self.label.clone(),
                    message: format!(
                        "no {required}: not a Slack workspace export (one has users.json, channels.json and a folder per channel)"
                    ),
                });
            }
        }
        let users: Vec<RawUser> = self.json("users.json")?;
        for u in &users {
            dir.add_user(u);
        }
        for file in ["channels.json", "groups.json"] {
            if self.exists(file) {
                let channels: Vec<RawChannel> = self.json(file)?;
                for c in channels {
                    dir.channels.insert(c.id, c.name);
                }
            }
        }
        Ok(dir)
    }

    /// The messages of `channel` (by name) in the day files from `from` on,
    /// each with its file as origin. A channel not in `channels.json` is an
    /// error that lists the close names.
    pub fn channel_messages(
        &mut self,
        directory: &Directory,
        channel: &str,
        from: NaiveDate,
    ) -> Result<Vec<RawMessage>, SlackError> {
        let channel = channel.trim_start_matches('#');
        if !directory.channels.values().any(|n| n == channel) {
            let hint = did_you_mean(channel, directory.channels.values().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let mut names: Vec<&str> =
                        directory.channels.values().map(String::as_str).collect();
                    names.sort();
                    names.truncate(20);
                    format!("; it has {}", names.join(", "))
                });
            return Err(SlackError::Export {
                path: self.name_of("channels.json"),
                message: format!("no channel `{channel}` in this export{hint}"),
            });
        }
        let mut days: Vec<(NaiveDate, String)> = self
            .files_in(channel)
            .into_iter()
            .filter_map(|name| {
                let date =
                    NaiveDate::parse_from_str(name.strip_suffix(".json")?, "%Y-%m-%d").ok()?;
                Some((date, name))
            })
            // Day files are cut at midnight in some time zone: read one more.
            .filter(|(date, _)| *date + chrono::Duration::days(1) >= from)
            .collect();
        days.sort();
        let mut out = Vec::new();
        for (_, name) in days {
            let rel = format!("{channel}/{name}");
            let mut messages: Vec<RawMessage> = self.json(&rel)?;
            let origin = self.name_of(&rel);
            for m in &mut messages {
                m.origin = origin.clone();
            }
            out.extend(messages);
        }
        Ok(out)
    }

    /// The file names directly in a channel's folder.
    fn files_in(&self, channel: &str) -> Vec<String> {
        match &self.source {
            Source::Folder(root) => std::fs::read_dir(root.join(channel))
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            Source::Zip { prefix, names, .. } => {
                let dir = format!("{prefix}{channel}/");
                names
                    .iter()
                    .filter_map(|n| n.strip_prefix(&dir))
                    .filter(|n| !n.is_empty() && !n.contains('/'))
                    .map(str::to_string)
                    .collect()
            }
        }
    }
}

enum ParseError {
    TooLarge,
    Json(serde_json::Error),
}

/// Parses JSON from `r`, reading at most `limit` bytes; returns the bytes read.
fn parse_limited<T: serde::de::DeserializeOwned>(
    r: impl Read,
    limit: u64,
) -> (Result<T, ParseError>, u64) {
    let mut counted = Counted {
        inner: r,
        read: 0,
        limit,
    };
    let parsed = serde_json::from_reader(&mut counted);
    let over = counted.read > limit;
    let result = match parsed {
        _ if over => Err(ParseError::TooLarge),
        Ok(v) => Ok(v),
        Err(e) => Err(ParseError::Json(e)),
    };
    (result, counted.read)
}

/// A reader that fails once more than `limit` bytes came through it.
struct Counted<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other("size limit reached"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_stops_at_the_limit() {
        let big = format!("[{}]", vec!["1"; 1000].join(","));
        let (r, read): (Result<Vec<u32>, _>, _) = parse_limited(big.as_bytes(), 100);
        assert!(matches!(r, Err(ParseError::TooLarge)));
        assert!(read <= 100 + 8192);
        let (r, _): (Result<Vec<u32>, _>, _) = parse_limited(big.as_bytes(), 1 << 20);
        assert_eq!(r.ok().map(|v| v.len()), Some(1000));
    }
}
