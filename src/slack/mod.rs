//! The week's Slack threads as [`model::Thread`](crate::model::Thread)s, from
//! a workspace export ([`export`]) or the Web API ([`api`], [`fetch`]).
//!
//! Both sources give the same raw messages ([`RawMessage`]); [`select`]
//! decides which belong to a book's week and groups them into threads,
//! [`text`] turns Slack's markup into the markdown the archives use, and
//! [`convert`] puts the two together with the workspace's names. Nothing here
//! reads the clock or writes a file: the caller passes `now` and writes the
//! threads with [`crate::frontmatter_edit`].

pub mod api;
pub mod export;
pub mod fetch;
pub mod select;
pub mod text;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::answers::{MatchKind, Resolver};
use crate::config::ArchiveRules;
use crate::model::{Book, Message, Person, Thread};

/// One Slack message as exports and the Web API give it: only the fields
/// bookweek reads, each optional, since Slack's shapes vary with the
/// message kind and the export's age.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawMessage {
    #[serde(default)]
    pub ts: String,
    pub thread_ts: Option<String>,
    pub user: Option<String>,
    pub subtype: Option<String>,
    /// `null` in some bot messages.
    pub text: Option<String>,
    pub bot_id: Option<String>,
    pub hidden: Option<bool>,
    /// Older exports list a thread's replies on its parent.
    pub replies: Option<Vec<ReplyRef>>,
    pub reply_count: Option<u64>,
    pub files: Option<Vec<SharedFile>>,
    /// The one file of older `file_share` messages.
    pub file: Option<SharedFile>,
    /// Slack's rich text, used when `text` is empty.
    pub blocks: Option<Vec<serde_json::Value>>,
    /// Where the message was read (a day file, an API call), for errors.
    #[serde(skip)]
    pub origin: String,
}

/// An entry of an old export's `replies` list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplyRef {
    pub ts: Option<String>,
}

/// A file shared in a message: shown as a link with its title.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SharedFile {
    pub title: Option<String>,
    pub name: Option<String>,
    pub permalink: Option<String>,
    /// Deleted files are `"mode": "tombstone"`.
    pub mode: Option<String>,
}

/// A Slack user as `users.json` and `users.info` describe them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawUser {
    #[serde(default)]
    pub id: String,
    pub name: Option<String>,
    pub real_name: Option<String>,
    pub profile: Option<RawProfile>,
    pub is_bot: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawProfile {
    pub display_name: Option<String>,
    pub real_name: Option<String>,
}

impl RawUser {
    /// The name the archives show: the display name, else the real name
    /// (what people see in the channel), else the account name.
    pub fn shown_name(&self) -> String {
        let profile = self.profile.as_ref();
        [
            profile.and_then(|p| p.display_name.as_deref()),
            profile.and_then(|p| p.real_name.as_deref()),
            self.real_name.as_deref(),
            self.name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|n| !n.is_empty())
        .unwrap_or(&self.id)
        .to_string()
    }
}

/// A workspace's user and channel names by ID.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub users: HashMap<String, User>,
    pub channels: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub is_bot: bool,
}

impl Directory {
    pub fn add_user(&mut self, u: &RawUser) {
        self.users.insert(
            u.id.clone(),
            User {
                name: u.shown_name(),
                is_bot: u.is_bot.unwrap_or(false) || u.id == "USLACKBOT",
            },
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// The export cannot be read, or is not a Slack export.
    #[error("{path}: {message}")]
    Export { path: String, message: String },
    /// A message names a user the workspace does not know.
    #[error("{origin}: message {ts}: unknown user id `{id}` ({where_})")]
    UnknownUser {
        origin: String,
        ts: String,
        id: String,
        where_: &'static str,
    },
    #[error(transparent)]
    Api(#[from] api::ApiError),
}

/// A book's threads with the messages turned into archive text.
pub fn convert(
    raw: &[select::RawThread],
    directory: &Directory,
    rules: &ArchiveRules,
) -> Result<Vec<Thread>, SlackError> {
    let mut out = Vec::new();
    for t in raw {
        let Some(post) = message(&t.post, directory)? else {
            continue;
        };
        if rules.skip.iter().any(|r| r.is_match(&post.text)) {
            continue;
        }
        let mut replies = Vec::new();
        for r in &t.replies {
            if let Some(m) = message(r, directory)? {
                replies.push(m);
            }
        }
        out.push(Thread { post, replies });
    }
    Ok(out)
}

/// One message as the archive keeps it; `None` for bots' messages and
/// messages with nothing to show.
fn message(raw: &RawMessage, directory: &Directory) -> Result<Option<Message>, SlackError> {
    let id = raw.user.as_deref().unwrap_or_default();
    let user = directory
        .users
        .get(id)
        .ok_or_else(|| SlackError::UnknownUser {
            origin: raw.origin.clone(),
            ts: raw.ts.clone(),
            id: id.to_string(),
            where_: "its author",
        })?;
    if user.is_bot {
        return Ok(None);
    }
    let text = text::message_text(raw, directory).map_err(|id| SlackError::UnknownUser {
        origin: raw.origin.clone(),
        ts: raw.ts.clone(),
        id,
        where_: "mentioned in its text",
    })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(Message {
        name: user.name.clone(),
        text,
    }))
}

/// What an import or fetch gave a book, for the summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub threads: usize,
    pub replies: usize,
    /// Each author (display name) and the chat name they were recognized
    /// under, if any.
    pub authors: Vec<(String, Option<String>)>,
    /// Authors who never appear while a close name does.
    pub hints: Vec<crate::answers::Hint>,
}

impl Summary {
    /// Counts and recognizes the authors with the best-answers resolver.
    pub fn of(book: &Book, threads: &[Thread], people: &BTreeMap<String, Person>) -> Self {
        let book = Book {
            archive: threads.to_vec(),
            ..book.clone()
        };
        let resolver = Resolver::new(&book, people);
        let mut seen: Vec<Option<(String, MatchKind)>> = vec![None; book.authors.len()];
        for m in threads
            .iter()
            .flat_map(|t| std::iter::once(&t.post).chain(&t.replies))
        {
            if let Some((i, kind)) = resolver.author_of(&m.name)
                && seen[i].as_ref().is_none_or(|(_, k)| kind < *k)
            {
                seen[i] = Some((m.name.clone(), kind));
            }
        }
        Self {
            threads: threads.len(),
            replies: threads.iter().map(|t| t.replies.len()).sum(),
            authors: book
                .authors
                .iter()
                .zip(seen)
                .map(|(a, s)| (a.name.clone(), s.map(|(n, _)| n)))
                .collect(),
            hints: resolver.missing_author_hints(&book),
        }
    }

    /// `12 threads, 30 replies; authors: Niall Murphy, Cathy Chen (as "Cathy C.")`.
    pub fn line(&self) -> String {
        let authors: Vec<String> = self
            .authors
            .iter()
            .filter_map(|(a, n)| {
                n.as_ref().map(|n| {
                    if n == a {
                        a.clone()
                    } else {
                        format!("{a} (as \"{n}\")")
                    }
                })
            })
            .collect();
        format!(
            "{} thread{}, {} repl{}; authors recognized: {}",
            self.threads,
            crate::diag::plural(self.threads),
            self.replies,
            if self.replies == 1 { "y" } else { "ies" },
            if authors.is_empty() {
                "none".to_string()
            } else {
                authors.join(", ")
            }
        )
    }

    /// One warning per author who never appears in the threads.
    pub fn warnings(&self) -> Vec<String> {
        self.authors
            .iter()
            .enumerate()
            .filter(|(_, (_, n))| n.is_none())
            .map(|(i, (a, _))| {
                let hint = self
                    .hints
                    .iter()
                    .find(|h| h.author == i)
                    .map(|h| {
                        format!(
                            "; \"{}\" wrote {} message{} (an alias? `aliases: {{ \"{}\": {} }}`)",
                            h.alias,
                            h.messages,
                            crate::diag::plural(h.messages),
                            h.alias,
                            h.author_display
                        )
                    })
                    .unwrap_or_default();
                format!("author {a} never appears in the threads{hint}")
            })
            .collect()
    }
}

/// The archive of a book from a channel's messages: selection, names, text.
pub fn threads_for_book(
    messages: &[RawMessage],
    directory: &Directory,
    book: &Book,
    rules: &ArchiveRules,
) -> Result<Vec<Thread>, SlackError> {
    let range = select::Range::of(&book.window, rules);
    let raw = select::threads(messages, &range);
    convert(&raw, directory, rules)
}
