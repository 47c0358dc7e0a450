//! The best author answers of a book: who in a thread is one of the book's
//! authors (alias-aware name matching), what counts as an answer, and a
//! transparent ranking that explains every score.
//!
//! Everything here is deterministic and offline: plain signals with weights in
//! [`WEIGHTS`], ties broken by archive order.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Book, Message, Person};
use crate::text;

// ---------------------------------------------------------------------------
// Names

/// A name reduced to what identifies a person: ASCII (accents folded), lower
/// case, no bracketed suffix ("Cathy Chen (she/her)"), words split on
/// punctuation.
pub fn name_tokens(name: &str) -> Vec<String> {
    let mut plain = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    deunicode::deunicode(&plain)
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// How a chat name was matched to an author, weakest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Same words after folding case, accents, punctuation and suffixes.
    Normalized,
    /// Same words in another order, or without middle initials.
    Reordered,
    /// Same first and last name, a middle name left out.
    MiddleName,
    /// An alias from the people file or the book, or a GitHub/Twitter handle.
    Alias,
}

/// Whether two token lists name the same person, and how.
fn compare(chat: &[String], known: &[String]) -> Option<MatchKind> {
    if chat.is_empty() || known.is_empty() {
        return None;
    }
    if chat == known {
        return Some(MatchKind::Normalized);
    }
    // Middle initials ("Ankur A. Patel") carry no identity of their own.
    let words = |t: &[String]| -> Vec<String> {
        let mut w: Vec<String> = t.iter().filter(|x| x.len() > 1).cloned().collect();
        w.sort();
        w
    };
    let (a, b) = (words(chat), words(known));
    if a.len() >= 2 && a == b {
        return Some(MatchKind::Reordered);
    }
    // A dropped middle name: first and last words agree and both names have
    // at least two words. Never a substring of a single word.
    let ends = |t: &[String]| -> Option<(String, String)> {
        let w: Vec<&String> = t.iter().filter(|x| x.len() > 1).collect();
        (w.len() >= 2).then(|| (w[0].clone(), w[w.len() - 1].clone()))
    };
    if let (Some(x), Some(y)) = (ends(chat), ends(known))
        && x == y
    {
        return Some(MatchKind::MiddleName);
    }
    None
}

/// One of a book's authors and every name they may chat under.
#[derive(Debug, Clone)]
struct AuthorNames {
    display: String,
    slug: Option<String>,
    names: Vec<Vec<String>>,
    aliases: Vec<Vec<String>>,
}

/// Decides, for one book, which chat names are its authors.
#[derive(Debug, Clone)]
pub struct Resolver {
    authors: Vec<AuthorNames>,
}

impl Resolver {
    pub fn new(book: &Book, people: &BTreeMap<String, Person>) -> Self {
        let authors = book
            .authors
            .iter()
            .map(|a| {
                let person = a.slug.as_ref().and_then(|s| people.get(s));
                let mut aliases: Vec<Vec<String>> = Vec::new();
                if let Some(p) = person {
                    aliases.extend(p.aliases.iter().map(|n| name_tokens(n)));
                    // A handle is one word; people chat as "swyx" or "bechbd".
                    aliases.extend(
                        p.handles
                            .iter()
                            .chain([&p.slug])
                            .map(|h| vec![name_tokens(h).concat()]),
                    );
                }
                aliases.extend(
                    book.aliases
                        .iter()
                        .filter(|(_, who)| {
                            a.slug.as_deref() == Some(who.as_str()) || &a.name == who
                        })
                        .map(|(n, _)| name_tokens(n)),
                );
                AuthorNames {
                    display: a.name.clone(),
                    slug: a.slug.clone(),
                    names: vec![name_tokens(&a.name)],
                    aliases,
                }
            })
            .collect();
        Self { authors }
    }

    /// The author (index into `book.authors`) writing as `chat_name`, if any.
    pub fn author_of(&self, chat_name: &str) -> Option<(usize, MatchKind)> {
        let chat = name_tokens(chat_name);
        let joined = vec![chat.concat()];
        let mut best: Option<(usize, MatchKind)> = None;
        for (i, a) in self.authors.iter().enumerate() {
            let by_name = a.names.iter().filter_map(|n| compare(&chat, n)).min();
            let by_alias = a
                .aliases
                .iter()
                .any(|n| compare(&chat, n).is_some() || (n.len() == 1 && joined == *n))
                .then_some(MatchKind::Alias);
            if let Some(kind) = by_name.or(by_alias)
                && best.is_none_or(|(_, k)| kind < k)
            {
                best = Some((i, kind));
            }
        }
        best
    }

    /// Hints for authors who never appear in the archive while a name there
    /// is close to theirs: (author index, suggested alias, messages by it).
    pub fn missing_author_hints(&self, book: &Book) -> Vec<Hint> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in book
            .archive
            .iter()
            .flat_map(|t| std::iter::once(&t.post).chain(&t.replies))
        {
            *counts.entry(m.name.as_str()).or_default() += 1;
        }
        let mut seen = vec![false; self.authors.len()];
        for name in counts.keys() {
            if let Some((i, _)) = self.author_of(name) {
                seen[i] = true;
            }
        }
        // Names no author writes as, matched once (not once per author:
        // that was quadratic in the authors of a machine-written book).
        let unmatched: Vec<(&str, usize, Vec<String>)> = counts
            .iter()
            .filter(|(name, _)| self.author_of(name).is_none())
            .map(|(name, n)| (*name, *n, name_tokens(name)))
            .collect();
        let mut hints = Vec::new();
        for (i, a) in self.authors.iter().enumerate() {
            if seen[i] {
                continue;
            }
            let own: Vec<&String> = a.names[0].iter().filter(|t| t.len() > 2).collect();
            let close = unmatched
                .iter()
                .filter(|(_, _, tokens)| {
                    let shares = tokens.iter().any(|t| own.contains(&t));
                    let similar =
                        strsim::jaro_winkler(&tokens.join(" "), &a.names[0].join(" ")) > 0.9;
                    shares || similar
                })
                .max_by_key(|(_, n, _)| *n);
            if let Some((name, n, _)) = close {
                hints.push(Hint {
                    author: i,
                    author_display: a.slug.clone().unwrap_or_else(|| a.display.clone()),
                    alias: (*name).to_string(),
                    messages: *n,
                });
            }
        }
        hints
    }
}

/// A suggestion for `bookweek check`: an alias that would let an author's
/// messages count as theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub author: usize,
    pub author_display: String,
    pub alias: String,
    pub messages: usize,
}

// ---------------------------------------------------------------------------
// Answers

/// One author's answer in a thread: consecutive replies joined, because long
/// answers are often split over several messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// The author's chat name.
    pub author: String,
    pub text: String,
    #[serde(skip)]
    pub signals: Signals,
    #[serde(skip)]
    pub score: f64,
}

/// A question and its author answers (several authors are kept apart).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<'a> {
    /// 1-based thread number in the archive, as editors see it.
    pub thread: usize,
    pub question: &'a Message,
    pub parts: Vec<Part>,
    pub score: f64,
    pub pinned: bool,
}

impl Answer<'_> {
    /// The authors' chat names, as a sentence lists them.
    pub fn authors(&self) -> String {
        let names: Vec<&str> = self.parts.iter().map(|p| p.author.as_str()).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => (*one).to_string(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }
}

/// The measurable facts about an answer that its score is made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Signals {
    /// Words of substance: not stop words, not filler.
    pub words: usize,
    pub links: usize,
    /// Promises an answer instead of giving one ("a longer answer later").
    pub placeholder: bool,
    /// Greets, thanks or agrees and little else.
    pub filler: bool,
    /// Talks about the channel, giveaways or the event itself.
    pub meta: bool,
    /// Sends the reader elsewhere (a link) with few words of its own.
    pub pointer: bool,
    /// A one-word reaction, a joke or an emote.
    pub reaction: bool,
    /// The asker thanked the author afterwards.
    pub thanked: bool,
}

/// How much each signal counts. One place, so the ranking can be read and
/// tuned as a whole. Substance grows with the logarithm of the word count:
/// a 300-word answer beats a 30-word one, but not ten times over.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Weights {
    pub words: f64,
    pub question_words: f64,
    pub links: f64,
    pub placeholder: f64,
    pub filler: f64,
    pub meta: f64,
    pub pointer: f64,
    pub reaction: f64,
    pub thanked: f64,
    pub co_author: f64,
}

pub const WEIGHTS: Weights = Weights {
    words: 1.0,
    question_words: 0.3,
    links: 0.2,
    placeholder: -2.0,
    filler: -1.0,
    meta: -2.5,
    pointer: -1.0,
    reaction: -1.5,
    thanked: 0.3,
    co_author: 0.2,
};

/// Below this many words of substance, a reply that is mostly a pleasantry or
/// a promise counts as one.
const FEW_WORDS: usize = 12;

const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "but", "by", "can", "could", "did", "do",
    "does", "doing", "don", "down", "each", "even", "few", "for", "from", "get", "got", "had",
    "has", "have", "having", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "just", "ll", "me", "more", "most", "much", "my", "no", "nor", "not", "now",
    "of", "off", "on", "once", "one", "only", "or", "other", "our", "out", "over", "own", "re",
    "really", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
    "until", "up", "ve", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "would", "yes", "yeah", "yep", "you", "your", "yours",
];

const FILLER_WORDS: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "welcome",
    "hi",
    "hello",
    "hey",
    "great",
    "good",
    "question",
    "questions",
    "glad",
    "happy",
    "cheers",
    "sure",
    "nice",
    "cool",
    "awesome",
    "agree",
    "exactly",
    "haha",
    "lol",
    "ok",
    "okay",
    "congrats",
    "congratulations",
    "enjoy",
    "hope",
    "helps",
];

const PLACEHOLDER_PHRASES: &[&str] = &[
    "longer answer",
    "answer later",
    "answer this later",
    "will answer",
    "get back to you",
    "come back to",
    "will reply",
    "reply later",
    "later today",
    "stay tuned",
    "let me think",
    "more soon",
    // Deferring to someone else is a promise of an answer, not one.
    "great one for",
    "can answer this",
    "answer this best",
    "better at answering",
    "check in with",
];

const META_PHRASES: &[&str] = &[
    "this channel",
    "the channel",
    "book of the week",
    "slack",
    "free copy",
    "free copies",
    "giveaway",
    "winner",
];

/// The words of a text, lower case, with URLs counted apart.
fn words_and_links(plain: &str) -> (Vec<String>, usize) {
    let mut links = 0;
    let mut words = Vec::new();
    for raw in plain.split_whitespace() {
        if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") {
            links += 1;
            continue;
        }
        words.extend(
            raw.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase),
        );
    }
    (words, links)
}

/// Distinct URLs in raw chat text: a markdown link usually repeats its URL
/// as its label, which is still one resource.
fn distinct_urls(raw: &str) -> usize {
    let mut urls: Vec<&str> = raw
        .split(|c: char| c.is_whitespace() || "[]()<>|\"".contains(c))
        .filter(|t| t.starts_with("http://") || t.starts_with("https://"))
        .map(|t| t.trim_end_matches(|c: char| ".,;:!?".contains(c)))
        .collect();
    urls.sort_unstable();
    urls.dedup();
    urls.len()
}

fn substance(words: &[String]) -> usize {
    words
        .iter()
        .filter(|w| w.chars().count() > 2 || w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOP_WORDS.contains(&w.as_str()) && !FILLER_WORDS.contains(&w.as_str()))
        .count()
}

/// The signals of one answer text.
fn signals(raw: &str) -> Signals {
    let plain = text::chat_to_plain(raw);
    let (words, _) = words_and_links(&plain);
    let links = distinct_urls(raw);
    let n = substance(&words);
    let lower = format!(" {} ", words.join(" "));
    let has = |phrases: &[&str]| phrases.iter().any(|p| lower.contains(&format!(" {p} ")));
    let fillers = words
        .iter()
        .filter(|w| FILLER_WORDS.contains(&w.as_str()))
        .count();
    Signals {
        words: n,
        links,
        placeholder: has(PLACEHOLDER_PHRASES) && n < 2 * FEW_WORDS,
        filler: fillers > 0 && n < FEW_WORDS / 2,
        meta: has(META_PHRASES) && n < 3 * FEW_WORDS,
        pointer: links > 0 && n < FEW_WORDS,
        reaction: n < 3,
        thanked: false,
    }
}

fn score(s: &Signals) -> f64 {
    let w = &WEIGHTS;
    let flag = |b: bool, weight: f64| if b { weight } else { 0.0 };
    w.words * (1.0 + s.words as f64).ln()
        + flag(s.links > 0 && !s.pointer, w.links)
        + flag(s.placeholder, w.placeholder)
        + flag(s.filler, w.filler)
        + flag(s.meta, w.meta)
        + flag(s.pointer, w.pointer)
        + flag(s.reaction, w.reaction)
        + flag(s.thanked, w.thanked)
}

fn question_score(question: &Message) -> (usize, f64) {
    let (words, _) = words_and_links(&text::chat_to_plain(&question.text));
    let n = substance(&words);
    (n, WEIGHTS.question_words * (1.0 + n as f64).ln())
}

/// Why a thread gave no answer, or how its answer scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Verdict {
    /// A thread an author started to tell something, not to answer.
    Announcement,
    /// A top-level post by an author addressed to an earlier asker; it counts
    /// as an answer in that asker's thread.
    AnswerTo { thread: usize },
    /// No author replied.
    NoAuthorAnswer,
    Scored {
        score: f64,
        question_words: usize,
        parts: Vec<ScoredPart>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredPart {
    pub author: String,
    pub score: f64,
    pub signals: Signals,
}

/// Every thread of a book with its verdict: what `answers --explain` shows.
#[derive(Debug, Clone)]
pub struct Ranking<'a> {
    pub threads: Vec<(usize, &'a Message, Verdict)>,
    /// The candidates, best first (pins first, hides removed).
    pub answers: Vec<Answer<'a>>,
}

/// A reply in a thread as seen by the ranking: who wrote it and whether it
/// is an author's.
struct Reply<'a> {
    name: &'a str,
    text: &'a str,
    author: Option<usize>,
}

/// The post an author's top-level message answers, if it is addressed to
/// someone who asked earlier ("Krzysztof -- I think …"): the most recent
/// earlier thread started by that person.
fn addressed_thread(book: &Book, resolver: &Resolver, index: usize) -> Option<usize> {
    let text = book.archive[index]
        .post
        .text
        .trim_start()
        .trim_start_matches('@');
    let text_lower = text.to_lowercase();
    book.archive[..index]
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, t)| resolver.author_of(&t.post.name).is_none() && !t.post.name.is_empty())
        .find(|(_, t)| {
            let name = t.post.name.to_lowercase();
            let first = name.split_whitespace().next().unwrap_or("");
            let follows = |prefix: &str| {
                text_lower.strip_prefix(prefix).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.starts_with(|c: char| c.is_whitespace() || ",:;-—–".contains(c))
                })
            };
            // A full name is enough; a first name alone must be followed by
            // punctuation ("Rohan - …", "Gant -- …") to count as an address.
            follows(&name)
                || (first.len() > 2
                    && text_lower.strip_prefix(first).is_some_and(|rest| {
                        rest.trim_start()
                            .starts_with(|c: char| ",:;-—–".contains(c))
                    }))
        })
        .map(|(j, _)| j)
}

/// Ranks a book's answers. `limit` caps `answers`; `threads` always holds
/// every thread.
pub fn rank<'a>(book: &'a Book, people: &BTreeMap<String, Person>, limit: usize) -> Ranking<'a> {
    let resolver = Resolver::new(book, people);
    let n = book.archive.len();
    let mut replies: Vec<Vec<Reply<'a>>> = book
        .archive
        .iter()
        .map(|t| {
            t.replies
                .iter()
                .map(|r| Reply {
                    name: &r.name,
                    text: &r.text,
                    author: resolver.author_of(&r.name).map(|(i, _)| i),
                })
                .collect()
        })
        .collect();
    let mut verdicts: Vec<Option<Verdict>> = vec![None; n];
    for (i, verdict) in verdicts.iter_mut().enumerate() {
        let post = &book.archive[i].post;
        if let Some((author, _)) = resolver.author_of(&post.name) {
            *verdict = Some(match addressed_thread(book, &resolver, i) {
                Some(j) => {
                    replies[j].push(Reply {
                        name: &post.name,
                        text: &post.text,
                        author: Some(author),
                    });
                    Verdict::AnswerTo { thread: j + 1 }
                }
                None => Verdict::Announcement,
            });
        }
    }

    let mut answers = Vec::new();
    for i in 0..n {
        if verdicts[i].is_some() {
            continue;
        }
        let thread = &book.archive[i];
        let parts = best_parts(&replies[i], &thread.post.name);
        if parts.is_empty() {
            verdicts[i] = Some(Verdict::NoAuthorAnswer);
            continue;
        }
        let (question_words, qscore) = question_score(&thread.post);
        let best = parts.iter().map(|p| p.score).fold(f64::MIN, f64::max);
        let total = best + qscore + WEIGHTS.co_author * (parts.len() - 1) as f64;
        verdicts[i] = Some(Verdict::Scored {
            score: round(total),
            question_words,
            parts: parts
                .iter()
                .map(|p| ScoredPart {
                    author: p.author.clone(),
                    score: round(p.score),
                    signals: p.signals.clone(),
                })
                .collect(),
        });
        answers.push(Answer {
            thread: i + 1,
            question: &thread.post,
            parts,
            score: round(total),
            pinned: book.pin.contains(&(i + 1)),
        });
    }

    answers.retain(|a| !book.hide.contains(&a.thread));
    // Pins first in the order the editor wrote them, then by score; ties
    // keep archive order (the sort is stable and the list starts in it).
    answers.sort_by(|a, b| {
        let pin = |x: &Answer| {
            book.pin
                .iter()
                .position(|&p| p == x.thread)
                .unwrap_or(usize::MAX)
        };
        pin(a).cmp(&pin(b)).then(b.score.total_cmp(&a.score))
    });
    answers.truncate(limit);
    let threads = book
        .archive
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(i, (t, v))| (i + 1, &t.post, v.unwrap_or(Verdict::NoAuthorAnswer)))
        .collect();
    Ranking { threads, answers }
}

/// Scores are shown and compared at two decimals so output is stable.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Each author's best run of consecutive replies in a thread (a placeholder
/// followed later by the real answer loses to it), in order of appearance.
fn best_parts(replies: &[Reply], asker: &str) -> Vec<Part> {
    let mut runs: Vec<(usize, String, String, usize)> = Vec::new(); // author, name, text, end index
    let mut i = 0;
    while i < replies.len() {
        let r = &replies[i];
        let mut j = i + 1;
        while j < replies.len() && replies[j].name == r.name {
            j += 1;
        }
        if let Some(author) = r.author {
            let text = replies[i..j]
                .iter()
                .map(|x| x.text)
                .collect::<Vec<_>>()
                .join("\n\n");
            runs.push((author, r.name.to_string(), text, j));
        }
        i = j;
    }
    let mut best: Vec<(usize, usize, Part)> = Vec::new(); // author, order, part
    for (order, (author, name, text, end)) in runs.into_iter().enumerate() {
        let mut s = signals(&text);
        s.thanked = replies[end..]
            .iter()
            .take_while(|r| r.author.is_none())
            .any(|r| r.name == asker && is_thanks(r.text));
        let part = Part {
            author: name,
            score: score(&s),
            text,
            signals: s,
        };
        match best.iter_mut().find(|(a, _, _)| *a == author) {
            Some(slot) if part.score > slot.2.score => slot.2 = part,
            Some(_) => {}
            None => best.push((author, order, part)),
        }
    }
    best.sort_by_key(|(_, order, _)| *order);
    let parts: Vec<Part> = best.into_iter().map(|(_, _, p)| p).collect();
    // Show a co-author's "+1" or "X can answer this best" only when nobody
    // gave a real answer.
    if parts.iter().any(|p| p.signals.is_answer()) {
        parts
            .into_iter()
            .filter(|p| p.signals.is_answer())
            .collect()
    } else {
        parts
    }
}

impl Signals {
    /// False for replies that are not answers in themselves: placeholders,
    /// pleasantries, channel talk and one-word reactions.
    pub fn is_answer(&self) -> bool {
        !(self.placeholder || self.filler || self.meta || self.reaction)
    }
}

fn is_thanks(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["thank", "thx", "appreciate"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The best `limit` answers of a book: what recaps and digests show.
pub fn best<'a>(
    book: &'a Book,
    people: &BTreeMap<String, Person>,
    limit: usize,
) -> Vec<Answer<'a>> {
    rank(book, people, limit).answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Author, Thread, Window};
    use chrono::TimeZone;

    fn msg(name: &str, text: &str) -> Message {
        Message {
            name: name.into(),
            text: text.into(),
        }
    }

    fn book(authors: &[&str], archive: Vec<Thread>) -> Book {
        let t = chrono_tz::UTC
            .with_ymd_and_hms(2022, 1, 1, 0, 0, 0)
            .unwrap();
        Book {
            slug: "b".into(),
            path: "b.md".into(),
            title: "B".into(),
            description: None,
            authors: authors
                .iter()
                .map(|n| Author {
                    slug: None,
                    name: (*n).into(),
                })
                .collect(),
            window: Window { start: t, end: t },
            cover: None,
            links: vec![],
            archive,
            body: String::new(),
            aliases: vec![],
            pin: vec![],
            hide: vec![],
        }
    }

    fn resolves(author: &str, chat: &str) -> Option<MatchKind> {
        let b = book(&[author], vec![]);
        Resolver::new(&b, &BTreeMap::new())
            .author_of(chat)
            .map(|(_, k)| k)
    }

    #[test]
    fn matches_case_accents_and_bracketed_suffixes() {
        assert_eq!(
            resolves("Serg Masis", "Serg Masís"),
            Some(MatchKind::Normalized)
        );
        assert_eq!(
            resolves("Ondřej Novák", "Ondrej Novak"),
            Some(MatchKind::Normalized)
        );
        assert_eq!(
            resolves("Leandro von Werra", "leandro von werra"),
            Some(MatchKind::Normalized)
        );
        assert_eq!(
            resolves("Cathy Chen", "Cathy Chen (she/her)"),
            Some(MatchKind::Normalized)
        );
        assert_eq!(
            resolves("Anthony Virtuoso", "Anthony Virtuoso (Author)"),
            Some(MatchKind::Normalized)
        );
    }

    #[test]
    fn matches_middle_initials_word_order_and_dropped_middle_names() {
        assert_eq!(
            resolves("Ankur A. Patel", "Ankur Patel"),
            Some(MatchKind::Reordered)
        );
        assert_eq!(
            resolves("Nielsen Aileen", "Aileen Nielsen"),
            Some(MatchKind::Reordered)
        );
        assert_eq!(
            resolves("Ajay Uppili Arasanipalai", "Ajay Arasanipalai"),
            Some(MatchKind::MiddleName)
        );
    }

    #[test]
    fn never_matches_part_of_another_name() {
        assert_eq!(resolves("Gant Laborde", "Gant"), None);
        assert_eq!(resolves("Alexey Grigorev", "Alexey Shvets"), None);
        assert_eq!(resolves("Kim Falk", "Kim"), None);
        assert_eq!(resolves("Luis Serrano", "Luis Serrano Jr Smith"), None);
    }

    #[test]
    fn aliases_from_people_files_handles_and_the_book() {
        let mut people = BTreeMap::new();
        people.insert(
            "michaelmunn".to_string(),
            Person {
                slug: "michaelmunn".into(),
                name: "Michael Munn".into(),
                aliases: vec!["Mike Munn".into()],
                handles: vec!["mmunn".into()],
                path: "p.md".into(),
                ..Default::default()
            },
        );
        let mut b = book(&[], vec![]);
        b.authors = vec![
            Author {
                slug: Some("michaelmunn".into()),
                name: "Michael Munn".into(),
            },
            Author {
                slug: None,
                name: "Gant Laborde".into(),
            },
        ];
        b.aliases = vec![("Gant".into(), "Gant Laborde".into())];
        let r = Resolver::new(&b, &people);
        assert_eq!(r.author_of("Mike Munn"), Some((0, MatchKind::Alias)));
        assert_eq!(r.author_of("mmunn"), Some((0, MatchKind::Alias)));
        assert_eq!(r.author_of("Gant"), Some((1, MatchKind::Alias)));
        assert_eq!(r.author_of("Mike"), None);
    }

    #[test]
    fn an_author_of_another_book_is_a_member_here() {
        // Gant Laborde asks in Laurence Moroney's week: he is no author there.
        let b = book(
            &["Laurence Moroney"],
            vec![Thread {
                post: msg(
                    "Gant Laborde",
                    "What is your favourite dataset, and why do you like it so much?",
                ),
                replies: vec![msg(
                    "Laurence Moroney",
                    "Fashion MNIST, because it is small, clean and fun to teach with.",
                )],
            }],
        );
        let ranked = rank(&b, &BTreeMap::new(), 5);
        assert_eq!(ranked.answers.len(), 1);
        assert_eq!(ranked.answers[0].parts[0].author, "Laurence Moroney");
    }

    #[test]
    fn merges_consecutive_replies_and_keeps_authors_apart() {
        let b = book(
            &["Ann Author", "Bob Writer"],
            vec![Thread {
                post: msg(
                    "Reader",
                    "How do you test machine learning pipelines in production?",
                ),
                replies: vec![
                    msg(
                        "Ann Author",
                        "First part: we validate the input data against a schema.",
                    ),
                    msg(
                        "Ann Author",
                        "Second part: we compare model outputs to a shadow model.",
                    ),
                    msg(
                        "Bob Writer",
                        "I would add canary releases with automatic rollback.",
                    ),
                ],
            }],
        );
        let a = &rank(&b, &BTreeMap::new(), 5).answers[0];
        assert_eq!(a.parts.len(), 2);
        assert_eq!(
            a.parts[0].text,
            "First part: we validate the input data against a schema.\n\nSecond part: we compare model outputs to a shadow model."
        );
        assert_eq!(a.parts[1].author, "Bob Writer");
        assert_eq!(a.authors(), "Ann Author and Bob Writer");
    }

    #[test]
    fn placeholder_loses_to_the_real_answer_that_follows() {
        let b = book(
            &["Ann Author"],
            vec![Thread {
                post: msg(
                    "Reader",
                    "Which metrics matter most for recommender systems in practice?",
                ),
                replies: vec![
                    msg("Ann Author", "This will be a longer answer 🙂"),
                    msg("Reader", "Sure, take your time"),
                    msg(
                        "Ann Author",
                        "Offline metrics such as precision and recall only approximate what users value; online experiments measuring engagement, diversity and long-term retention tell you far more.",
                    ),
                ],
            }],
        );
        let a = &rank(&b, &BTreeMap::new(), 5).answers[0];
        assert!(
            a.parts[0].text.starts_with("Offline metrics"),
            "{:?}",
            a.parts
        );
    }

    #[test]
    fn top_level_post_addressed_to_an_asker_answers_their_thread() {
        let b = book(
            &["Laurence Moroney"],
            vec![
                Thread {
                    post: msg(
                        "Krzysztof Ograbek",
                        "Why train in Python but deploy in other languages?",
                    ),
                    replies: vec![],
                },
                Thread {
                    post: msg("Rohan", "Is stalling during training a data problem?"),
                    replies: vec![],
                },
                Thread {
                    post: msg(
                        "Laurence Moroney",
                        "Krzysztof -- Because of where models are deployed: phones, browsers and servers each have their own primary languages and runtimes.",
                    ),
                    replies: vec![],
                },
                Thread {
                    post: msg(
                        "Laurence Moroney",
                        "Reminder: the giveaway closes on Friday!",
                    ),
                    replies: vec![],
                },
            ],
        );
        let ranked = rank(&b, &BTreeMap::new(), 5);
        assert_eq!(ranked.threads[2].2, Verdict::AnswerTo { thread: 1 });
        assert_eq!(ranked.threads[3].2, Verdict::Announcement);
        assert_eq!(ranked.threads[1].2, Verdict::NoAuthorAnswer);
        assert_eq!(ranked.answers.len(), 1);
        assert_eq!(ranked.answers[0].thread, 1);
    }

    fn three_threads() -> Book {
        let t = |q: &str, a: &str| Thread {
            post: msg("Reader", q),
            replies: vec![msg("Ann Author", a)],
        };
        book(
            &["Ann Author"],
            vec![
                t(
                    "Question one about data validation?",
                    "A long and detailed answer about schema checks, drift detection, alerting thresholds and the people who own each of them.",
                ),
                t("How many pages?", "Around 300."),
                t(
                    "Question three about monitoring?",
                    "Monitoring starts with agreeing what healthy means, then measuring latency, freshness and prediction quality.",
                ),
            ],
        )
    }

    #[test]
    fn pin_forces_an_answer_in_and_hide_forces_one_out() {
        let mut b = three_threads();
        let order = |b: &Book| -> Vec<usize> {
            best(b, &BTreeMap::new(), 2)
                .iter()
                .map(|a| a.thread)
                .collect()
        };
        assert_eq!(order(&b), [1, 3]);
        b.pin = vec![2];
        assert_eq!(order(&b), [2, 1]);
        b.hide = vec![1];
        assert_eq!(order(&b), [2, 3]);
    }

    #[test]
    fn ties_break_by_archive_order() {
        let t = |q: &str| Thread {
            post: msg("Reader", q),
            replies: vec![msg(
                "Ann Author",
                "Same substantive answer about careful evaluation design.",
            )],
        };
        let b = book(
            &["Ann Author"],
            vec![t("Same question here?"), t("Same question here?")],
        );
        let order: Vec<usize> = best(&b, &BTreeMap::new(), 2)
            .iter()
            .map(|a| a.thread)
            .collect();
        assert_eq!(order, [1, 2]);
    }

    #[test]
    fn filler_placeholder_meta_and_reactions_score_low() {
        let substantive = score(&signals(
            "Monitoring starts with agreeing what healthy means, then measuring latency, freshness and prediction quality against that.",
        ));
        for poor in [
            "This will be a longer answer 🙂",
            "Thanks, great question!",
            "ouch",
            "_me grins_",
            "I think this channel is for questions related to the book of the week, rather than general recommendations.",
            "See [https://example.org/faq](https://example.org/faq)",
        ] {
            assert!(
                score(&signals(poor)) < substantive - 1.5,
                "{poor}: {:?}",
                signals(poor)
            );
        }
    }
}
