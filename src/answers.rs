//! The author answers of a book: who in a thread is one of the book's
//! authors, and which of their answers a recap shows.
//!
//! This first version picks author replies in archive order; the ranking of
//! the *best* answers replaces `pick`'s order later without changing callers.

use std::collections::BTreeMap;

use crate::model::{Book, Message, Person};

/// One author answer to one thread's question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<'a> {
    /// 1-based thread number in the archive, as editors see it.
    pub thread: usize,
    pub question: &'a Message,
    /// The author's name as they appear in chat.
    pub author: String,
    /// Consecutive replies by that author, joined: long answers are often split.
    pub text: String,
}

/// A name reduced to what identifies a person: lower case, no bracketed
/// suffix ("Cathy Chen (she/her)"), single spaces.
pub fn normalize(name: &str) -> String {
    let cut = name.find(['(', '[']).map_or(name, |i| &name[..i]);
    cut.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The normalized names under which the book's authors appear in chat.
fn author_names(book: &Book, people: &BTreeMap<String, Person>) -> Vec<String> {
    let mut names = Vec::new();
    for a in &book.authors {
        names.push(normalize(&a.name));
        if let Some(p) = a.slug.as_ref().and_then(|s| people.get(s)) {
            names.extend(p.aliases.iter().map(|n| normalize(n)));
        }
    }
    names
}

/// Up to `limit` author answers, at most one per thread, in archive order.
pub fn pick<'a>(
    book: &'a Book,
    people: &BTreeMap<String, Person>,
    limit: usize,
) -> Vec<Answer<'a>> {
    let authors = author_names(book, people);
    let is_author = |m: &Message| authors.contains(&normalize(&m.name));
    let mut out = Vec::new();
    for (i, thread) in book.archive.iter().enumerate() {
        if out.len() == limit {
            break;
        }
        // A thread an author started is an announcement, not a question.
        if is_author(&thread.post) {
            continue;
        }
        let Some(first) = thread.replies.iter().position(is_author) else {
            continue;
        };
        let name = &thread.replies[first].name;
        let text = thread.replies[first..]
            .iter()
            .take_while(|r| &r.name == name)
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        out.push(Answer {
            thread: i + 1,
            question: &thread.post,
            author: name.clone(),
            text,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_bracketed_suffix() {
        assert_eq!(normalize("Cathy  Chen (she/her)"), "cathy chen");
        assert_eq!(normalize("leandro von Werra"), "leandro von werra");
    }
}
