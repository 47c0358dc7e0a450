//! `bookweek archive import` and the Slack fetch of `once` and `run`: real
//! exports (folders and ZIPs) made from real books, a hand-made export with
//! every message kind, byte-for-byte checks of the edited files, and a local
//! HTTP server standing in for the Slack Web API.

mod api;
mod export;
mod generator;
mod server;

use std::path::Path;

use serde_yaml::Value;

/// A book file's `archive:` as an independent YAML parser reads it:
/// (name, text, [(name, text)]) per thread.
pub type Archive = Vec<(String, String, Vec<(String, String)>)>;

pub fn archive_of(text: &str) -> Archive {
    let yaml = front_matter(text);
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    let msg = |m: &Value| {
        (
            m["name"].as_str().unwrap().to_string(),
            m["text"].as_str().unwrap().to_string(),
        )
    };
    v["archive"]
        .as_sequence()
        .map(|threads| {
            threads
                .iter()
                .map(|t| {
                    let (name, text) = msg(t);
                    let replies = t["replies"]
                        .as_sequence()
                        .map(|rs| rs.iter().map(msg).collect())
                        .unwrap_or_default();
                    (name, text, replies)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The YAML between the first two `---` lines.
pub fn front_matter(text: &str) -> &str {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .unwrap();
    let end = rest
        .find("\n---\n")
        .or_else(|| rest.find("\n---\r\n"))
        .unwrap();
    &rest[..=end]
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}
