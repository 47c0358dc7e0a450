//! The best author answers of a book: who in a thread is one of the book's
//! authors (alias-aware name matching), what counts as an answer, and a
//! transparent ranking that explains every score.
//!
//! Everything here is deterministic and offline: plain signals with weights in
//! [`WEIGHTS`], ties broken by archive order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::LazyLock;

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
    // The Cow form is `deunicode` without the copy for names already ASCII.
    deunicode::deunicode_with_tofu_cow(&plain, "[?]")
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
    /// Same surname, and a given name that is a nickname or the full form of
    /// the other ("Mike Munn" for Michael Munn, "Doug" for Douglas).
    Nickname,
    /// An alias from the people file or the book, or a GitHub/Twitter handle.
    Alias,
    /// The chat name is one word, the given name of exactly one of the book's
    /// authors, and no other participant of the archive has that given name.
    GivenName,
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
    // Names have a handful of words: counting beats sorting copies.
    fn words(t: &[String]) -> impl Iterator<Item = &String> {
        t.iter().filter(|x| x.len() > 1)
    }
    let (a, b) = (words(chat).count(), words(known).count());
    let count = |t: &[String], w: &String| words(t).filter(|x| *x == w).count();
    if a >= 2 && a == b && words(chat).all(|w| count(chat, w) == count(known, w)) {
        return Some(MatchKind::Reordered);
    }
    // A dropped middle name: first and last words agree and both names have
    // at least two words. Never a substring of a single word.
    if a >= 2
        && b >= 2
        && words(chat).next() == words(known).next()
        && words(chat).last() == words(known).last()
    {
        return Some(MatchKind::MiddleName);
    }
    None
}

/// A name as `human_name` reads it, for nickname-aware comparison; only
/// names of at least two words with a written-out given name qualify, so an
/// initial ("A McCauley") never stands for a person.
fn parsed_name(tokens: &[String]) -> Option<human_name::Name> {
    let words: Vec<&String> = tokens.iter().filter(|t| t.len() > 1).collect();
    if words.len() < 2 {
        return None;
    }
    let name = human_name::Name::parse(&tokens.join(" "))?;
    name.given_name()
        .is_some_and(|g| g.chars().count() > 1)
        .then_some(name)
}

/// Whether two parsed names are one person under another given name: the
/// surnames are the same words (human_name alone would also accept a
/// surname that merely ends the other), and human_name finds the given
/// names consistent, which covers nicknames (Mike/Michael, Joe/Joseph,
/// Doug/Douglas) from its maintained table.
fn nickname_match(chat: &human_name::Name, chat_tokens: &[String], known: &KnownName) -> bool {
    chat_tokens.last() == known.tokens.last() && chat.consistent_with(&known.parsed)
}

/// A name an author goes by, parsed once.
#[derive(Debug, Clone)]
struct KnownName {
    tokens: Vec<String>,
    parsed: human_name::Name,
}

/// One of a book's authors and every name they may chat under.
#[derive(Debug, Clone)]
struct AuthorNames {
    display: String,
    slug: Option<String>,
    names: Vec<Vec<String>>,
    aliases: Vec<Vec<String>>,
    /// `names` as human_name reads them, for nickname matching.
    parsed: Vec<KnownName>,
    /// The given name a one-word chat name may stand for: set only when no
    /// other author and no other participant of the archive shares it.
    given: Option<String>,
}

/// Decides, for one book, which chat names are its authors.
#[derive(Debug, Clone)]
pub struct Resolver {
    authors: Vec<AuthorNames>,
}

impl Resolver {
    /// The archive's participants decide which given names are unique:
    /// `book` is whole ([`crate::model::Catalog::full`]).
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
                let names = vec![name_tokens(&a.name)];
                let parsed = names
                    .iter()
                    .filter_map(|t| {
                        Some(KnownName {
                            tokens: t.clone(),
                            parsed: parsed_name(t)?,
                        })
                    })
                    .collect();
                AuthorNames {
                    display: a.name.clone(),
                    slug: a.slug.clone(),
                    names,
                    aliases,
                    parsed,
                    given: None,
                }
            })
            .collect();
        let mut resolver = Self { authors };
        resolver.find_unique_given_names(book);
        resolver
    }

    /// Sets each author's `given` when a one-word chat name equal to their
    /// given name can only mean them: no other author has that given name,
    /// and no participant of the archive who is not this author (by a
    /// full-name match) has it either.
    fn find_unique_given_names(&mut self, book: &Book) {
        let given: Vec<Option<String>> = self
            .authors
            .iter()
            .map(|a| a.names[0].iter().find(|t| t.len() > 1).cloned())
            .collect();
        let mut participants: Vec<&str> = book
            .archive
            .iter()
            .flat_map(|t| std::iter::once(&t.post).chain(&t.replies))
            .map(|m| m.name.as_str())
            .collect();
        participants.sort_unstable();
        participants.dedup();
        // Tokenized once, not once per author.
        let participants: Vec<Vec<String>> = participants.into_iter().map(name_tokens).collect();
        for i in 0..self.authors.len() {
            let Some(g) = &given[i] else { continue };
            let shared_by_author = given
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.as_ref() == Some(g));
            let shared_by_participant = participants.iter().any(|tokens| {
                // The one-word name itself is what is being decided.
                tokens.len() > 1
                    && tokens.first() == Some(g)
                    && self.full_name_match(tokens).map(|(a, _)| a) != Some(i)
            });
            if !shared_by_author && !shared_by_participant {
                self.authors[i].given = Some(g.clone());
            }
        }
    }

    /// The author writing as `chat_name`, if any: index into `book.authors`
    /// and how the name matched.
    pub fn author_of(&self, chat_name: &str) -> Option<(usize, MatchKind)> {
        let chat = name_tokens(chat_name);
        if let Some(found) = self.full_name_match(&chat) {
            return Some(found);
        }
        let [word] = chat.as_slice() else {
            return None;
        };
        let mut by_given = self
            .authors
            .iter()
            .enumerate()
            .filter(|(_, a)| a.given.as_ref() == Some(word));
        match (by_given.next(), by_given.next()) {
            (Some((i, _)), None) => Some((i, MatchKind::GivenName)),
            _ => None,
        }
    }

    /// Matches by the whole name: spelling variants, aliases and nicknames.
    fn full_name_match(&self, chat: &[String]) -> Option<(usize, MatchKind)> {
        let joined = chat.concat();
        let mut best: Option<(usize, MatchKind)> = None;
        let mut offer = |i: usize, kind: MatchKind| {
            if best.is_none_or(|(_, k)| kind < k) {
                best = Some((i, kind));
            }
        };
        for (i, a) in self.authors.iter().enumerate() {
            let by_name = a.names.iter().filter_map(|n| compare(chat, n)).min();
            let by_alias = a
                .aliases
                .iter()
                .any(|n| compare(chat, n).is_some() || (n.len() == 1 && n[0] == joined))
                .then_some(MatchKind::Alias);
            if let Some(kind) = by_name.or(by_alias) {
                offer(i, kind);
            }
        }
        if best.is_some() {
            return best;
        }
        // Nicknames only when nothing closer matched, and only when they
        // point at exactly one author.
        let parsed = parsed_name(chat)?;
        let mut hits = self
            .authors
            .iter()
            .enumerate()
            .filter(|(_, a)| a.parsed.iter().any(|k| nickname_match(&parsed, chat, k)));
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Some((i, MatchKind::Nickname)),
            _ => None,
        }
    }

    /// The name to show for author `i`: the people file's `title`, or the
    /// plain name the book gives.
    pub fn display(&self, i: usize) -> &str {
        &self.authors[i].display
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
    /// The author as the site names them: the people file's `title`, or the
    /// book's plain name.
    pub author: String,
    /// The name they wrote under in chat.
    #[serde(skip)]
    pub chat_name: String,
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
    /// Sends the reader elsewhere instead of answering: a link with few
    /// words of its own, or mostly a deflection (to a co-author, a forum,
    /// support).
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
];

/// Sentences that send the asker elsewhere instead of answering: to a
/// co-author ("X can help you out here", "knows this stuff better"), to a
/// forum, to support. They are pointers, however long the sentence.
const DEFLECTION_PHRASES: &[&str] = &[
    "great one for",
    "can answer this",
    "answer this best",
    "better at answering",
    "better suited to answer",
    "check in with",
    "can help you out",
    "help you out here",
    "knows this stuff",
    "knows more about",
    "knows better",
    "know better than",
    "better than me",
    "better person to ask",
    "better placed to",
    "is the expert",
    "forum",
    "forums",
    "support team",
    "contact support",
    "customer support",
    "support ticket",
    "open a ticket",
    "reach out to",
    "stack overflow",
    "stackoverflow",
    "mailing list",
    "open an issue",
    "file an issue",
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

/// What a word is to the ranking, as bits: one look-up per word answers
/// every question the signals ask of it.
const STOP: u8 = 1;
const FILLER: u8 = 1 << 1;
/// The word starts one of the phrases of that list.
const OPENS_PLACEHOLDER: u8 = 1 << 2;
const OPENS_DEFLECTION: u8 = 1 << 3;
const OPENS_META: u8 = 1 << 4;

/// FNV-1a, for the fixed set of words in [`KINDS`]: SipHash's defence
/// against chosen keys buys nothing for a set nobody can add to, and every
/// word of every answer is looked up.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Every word the lists above name, with its kind bits; and per first
/// byte, the lengths (as bits) of the words starting with it, so most words
/// of a text need no hashing at all.
struct Kinds {
    words: HashMap<&'static str, u8, BuildHasherDefault<Fnv>>,
    lengths: [u32; 256],
}

impl Kinds {
    fn of(&self, word: &str) -> u8 {
        // Words of 32 bytes or more are always looked up (none is listed).
        let may_be_listed = word.len() >= 32
            || word
                .bytes()
                .next()
                .is_some_and(|b| self.lengths[usize::from(b)] & (1 << word.len()) != 0);
        match may_be_listed {
            true => self.words.get(word).copied().unwrap_or(0),
            false => 0,
        }
    }
}

static KINDS: LazyLock<Kinds> = LazyLock::new(|| {
    let mut kinds: HashMap<&str, u8, BuildHasherDefault<Fnv>> = HashMap::default();
    let mut mark = |word: &'static str, bit: u8| *kinds.entry(word).or_insert(0) |= bit;
    STOP_WORDS.iter().for_each(|w| mark(w, STOP));
    FILLER_WORDS.iter().for_each(|w| mark(w, FILLER));
    for (phrases, bit) in [
        (PLACEHOLDER_PHRASES, OPENS_PLACEHOLDER),
        (DEFLECTION_PHRASES, OPENS_DEFLECTION),
        (META_PHRASES, OPENS_META),
    ] {
        for phrase in phrases {
            mark(phrase.split(' ').next().unwrap_or(phrase), bit);
        }
    }
    let mut lengths = [0; 256];
    for word in kinds.keys().filter(|w| w.len() < 32) {
        if let Some(b) = word.bytes().next() {
            lengths[usize::from(b)] |= 1 << word.len();
        }
    }
    Kinds {
        words: kinds,
        lengths,
    }
});

/// A word of a text in lower case, and its kind bits.
struct Word<'a> {
    text: Cow<'a, str>,
    kind: u8,
}

impl<'a> Word<'a> {
    fn new(raw: &'a str) -> Self {
        let text = lower_case(raw);
        let kind = KINDS.of(&text);
        Self { text, kind }
    }

    /// Counts as substance: more than two characters (a third one exists)
    /// or a number, and neither a stop word nor filler.
    fn is_substance(&self) -> bool {
        self.kind & (STOP | FILLER) == 0
            && (self.text.chars().nth(2).is_some() || self.text.chars().all(|c| c.is_ascii_digit()))
    }
}

/// A phrase list split into words once, to be matched against a text's
/// words directly instead of joining both into strings per sentence.
struct Phrases {
    phrases: Vec<Vec<&'static str>>,
    /// The kind bit of the phrases' first words.
    opens: u8,
}

impl Phrases {
    fn new(phrases: &[&'static str], opens: u8) -> Self {
        Self {
            phrases: phrases.iter().map(|p| p.split(' ').collect()).collect(),
            opens,
        }
    }

    /// Whether `words` hold one of the phrases as whole, consecutive
    /// words. Words never contain a space, so this is the same as finding
    /// " phrase " in the words joined by spaces and padded.
    fn found_in(&self, words: &[Word<'_>]) -> bool {
        (0..words.len())
            .filter(|&i| words[i].kind & self.opens != 0)
            .any(|i| {
                self.phrases.iter().any(|phrase| {
                    words[i..].len() >= phrase.len()
                        && phrase.iter().zip(&words[i..]).all(|(p, w)| *p == w.text)
                })
            })
    }
}

static PLACEHOLDERS: LazyLock<Phrases> =
    LazyLock::new(|| Phrases::new(PLACEHOLDER_PHRASES, OPENS_PLACEHOLDER));
static DEFLECTIONS: LazyLock<Phrases> =
    LazyLock::new(|| Phrases::new(DEFLECTION_PHRASES, OPENS_DEFLECTION));
static METAS: LazyLock<Phrases> = LazyLock::new(|| Phrases::new(META_PHRASES, OPENS_META));

/// Appends the words of `plain` to `words`, lower case, with URLs counted
/// apart: returns how many there are.
fn push_words<'a>(plain: &'a str, words: &mut Vec<Word<'a>>) -> usize {
    if plain.is_ascii() {
        return push_ascii_words(plain, words);
    }
    let mut links = 0;
    for raw in plain.split_whitespace() {
        if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") {
            links += 1;
            continue;
        }
        words.extend(
            raw.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(Word::new),
        );
    }
    links
}

/// [`push_words`] for ASCII text, most of it, read byte by byte: in ASCII,
/// white space (Unicode's White_Space) is tab to carriage return and the
/// space, and letters and digits are the alphanumeric characters.
fn push_ascii_words<'a>(plain: &'a str, words: &mut Vec<Word<'a>>) -> usize {
    let is_space = |b: u8| matches!(b, b'\t'..=b'\r' | b' ');
    let bytes = plain.as_bytes();
    let (mut links, mut i) = (0, 0);
    while i < bytes.len() {
        if is_space(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_space(bytes[i]) {
            i += 1;
        }
        let raw = &plain[start..i];
        if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") {
            links += 1;
            continue;
        }
        let mut j = start;
        while j < i {
            if !bytes[j].is_ascii_alphanumeric() {
                j += 1;
                continue;
            }
            let word = j;
            while j < i && bytes[j].is_ascii_alphanumeric() {
                j += 1;
            }
            words.push(Word::new(&plain[word..j]));
        }
    }
    links
}

/// `word.to_lowercase()`, without a copy when nothing changes: for ASCII,
/// lower case is the ASCII mapping.
fn lower_case(word: &str) -> Cow<'_, str> {
    if !word.is_ascii() {
        Cow::Owned(word.to_lowercase())
    } else if word.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(word.to_ascii_lowercase())
    } else {
        Cow::Borrowed(word)
    }
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

fn substance(words: &[Word<'_>]) -> usize {
    words.iter().filter(|w| w.is_substance()).count()
}

/// A text's words, whole and sentence by sentence: sentences end at `.`,
/// `!`, `?`, `;` and line ends.
struct Words<'a> {
    /// The words of every sentence, one sentence after the other.
    by_sentence: Vec<Word<'a>>,
    /// Each sentence's words in `by_sentence`.
    sentences: Vec<Range<usize>>,
    /// The words of the whole text when they are not `by_sentence`.
    whole: Option<Vec<Word<'a>>>,
}

impl<'a> Words<'a> {
    fn of(plain: &'a str) -> Self {
        let mut by_sentence = Vec::new();
        let sentences = plain
            .split(['.', '!', '?', '\n', ';'])
            .map(|sentence| {
                let start = by_sentence.len();
                push_words(sentence, &mut by_sentence);
                start..by_sentence.len()
            })
            .collect();
        // Without anything a URL starts with, a word is any run of letters
        // and digits, which never crosses the end of a sentence: the words
        // of the text are those of its sentences, one after the other. A
        // URL is skipped whole in the text but may be cut at a dot in a
        // sentence ("https://example" and "com"), so then the text is read
        // again.
        let whole = ["http://", "https://", "www."]
            .iter()
            .any(|p| plain.contains(p))
            .then(|| {
                let mut whole = Vec::new();
                push_words(plain, &mut whole);
                whole
            });
        Self {
            by_sentence,
            sentences,
            whole,
        }
    }

    /// The words of the whole text.
    fn all(&self) -> &[Word<'a>] {
        self.whole.as_deref().unwrap_or(&self.by_sentence)
    }

    /// Words of substance outside the sentences that deflect, and whether
    /// any sentence deflects.
    fn substance_beside_deflections(&self) -> (usize, bool) {
        let (mut kept, mut deflects) = (0, false);
        for range in &self.sentences {
            let words = &self.by_sentence[range.clone()];
            if DEFLECTIONS.found_in(words) {
                deflects = true;
            } else {
                kept += substance(words);
            }
        }
        (kept, deflects)
    }
}

/// The signals of one answer text.
fn signals(raw: &str) -> Signals {
    let plain = text::chat_to_plain(raw);
    let words = Words::of(&plain);
    let all = words.all();
    let links = distinct_urls(raw);
    let n = substance(all);
    let (beside, deflects) = words.substance_beside_deflections();
    let fillers = all.iter().filter(|w| w.kind & FILLER != 0).count();
    Signals {
        words: n,
        links,
        placeholder: PLACEHOLDERS.found_in(all) && n < 2 * FEW_WORDS,
        filler: fillers > 0 && n < FEW_WORDS / 2,
        meta: METAS.found_in(all) && n < 3 * FEW_WORDS,
        pointer: (links > 0 && n < FEW_WORDS) || (deflects && beside < FEW_WORDS),
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
    let plain = text::chat_to_plain(&question.text);
    let mut words = Vec::new();
    push_words(&plain, &mut words);
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
/// `askers[j]` is the lower-case name of thread `j`'s poster when that is
/// not one of the book's authors.
fn addressed_thread(book: &Book, askers: &[Option<String>], index: usize) -> Option<usize> {
    let text = book.archive[index]
        .post
        .text
        .trim_start()
        .trim_start_matches('@');
    let text_lower = text.to_lowercase();
    book.archive[..index]
        .iter()
        .zip(askers)
        .enumerate()
        .rev()
        .filter_map(|(j, (t, name))| {
            Some((j, name.as_deref()?)).filter(|_| !t.post.name.is_empty())
        })
        .find(|(_, name)| {
            let first = name.split_whitespace().next().unwrap_or("");
            let follows = |prefix: &str| {
                text_lower.strip_prefix(prefix).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.starts_with(|c: char| c.is_whitespace() || ",:;-—–".contains(c))
                })
            };
            // A full name is enough; a first name alone must be followed by
            // punctuation ("Rohan - …", "Gant -- …") to count as an address.
            follows(name)
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
    // An archive has thousands of messages by a few dozen names: each
    // name is resolved once.
    let mut known: HashMap<&str, Option<usize>> = HashMap::new();
    for m in book
        .archive
        .iter()
        .flat_map(|t| std::iter::once(&t.post).chain(&t.replies))
    {
        known
            .entry(m.name.as_str())
            .or_insert_with(|| resolver.author_of(&m.name).map(|(i, _)| i));
    }
    let author_of = |name: &str| match known.get(name) {
        Some(&author) => author,
        None => resolver.author_of(name).map(|(i, _)| i),
    };
    let mut replies: Vec<Vec<Reply<'a>>> = book
        .archive
        .iter()
        .map(|t| {
            t.replies
                .iter()
                .map(|r| Reply {
                    name: &r.name,
                    text: &r.text,
                    author: author_of(&r.name),
                })
                .collect()
        })
        .collect();
    // Lower-case names of the posters who are not authors, made on the
    // first author post (`addressed_thread` reads them for each).
    let mut askers: Option<Vec<Option<String>>> = None;
    let mut verdicts: Vec<Option<Verdict>> = vec![None; n];
    for (i, verdict) in verdicts.iter_mut().enumerate() {
        let post = &book.archive[i].post;
        if let Some(author) = author_of(&post.name) {
            let askers = askers.get_or_insert_with(|| {
                book.archive
                    .iter()
                    .map(|t| {
                        author_of(&t.post.name)
                            .is_none()
                            .then(|| t.post.name.to_lowercase())
                    })
                    .collect()
            });
            *verdict = Some(match addressed_thread(book, askers, i) {
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
        let parts = best_parts(&replies[i], &thread.post.name, &resolver);
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
    // Pins first in the order the editor wrote them, then answers with
    // content before pointers and pleasantries, then by score; ties keep
    // archive order (the sort is stable and the list starts in it).
    answers.sort_by(|a, b| {
        let pin = |x: &Answer| {
            book.pin
                .iter()
                .position(|&p| p == x.thread)
                .unwrap_or(usize::MAX)
        };
        pin(a)
            .cmp(&pin(b))
            .then(b.has_content().cmp(&a.has_content()))
            .then(b.score.total_cmp(&a.score))
    });
    let answers = pick_varied(answers, limit);
    let threads = book
        .archive
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(i, (t, v))| (i + 1, &t.post, v.unwrap_or(Verdict::NoAuthorAnswer)))
        .collect();
    Ranking { threads, answers }
}

/// The first `limit` of `ranked` (best first), with at most one answer per
/// asker while answers with content to other askers remain: one person's
/// long list of questions should not fill a recap. Pins always stay, and
/// pointers come only after every answer with content. The result keeps
/// the ranking's order.
fn pick_varied(ranked: Vec<Answer<'_>>, limit: usize) -> Vec<Answer<'_>> {
    let mut chosen = vec![false; ranked.len()];
    // Each asker's name tokens, made when first needed and kept for the
    // later passes.
    let mut tokens: Vec<Option<Vec<String>>> = vec![None; ranked.len()];
    let mut askers: Vec<Vec<String>> = Vec::new();
    let mut count = 0;
    // Pass 0: pins, and the best answer with content to each asker; pass
    // 1: further answers with content; pass 2: whatever is left.
    let takes = |pass: usize, a: &Answer, seen: bool| match pass {
        0 => a.pinned || (a.has_content() && !seen),
        1 => a.has_content(),
        _ => true,
    };
    for pass in 0..3 {
        for (i, a) in ranked.iter().enumerate() {
            if count == limit {
                break;
            }
            let asker = tokens[i].get_or_insert_with(|| name_tokens(&a.question.name));
            let seen = askers.contains(asker);
            if !chosen[i] && takes(pass, a, seen) {
                chosen[i] = true;
                count += 1;
                if !seen {
                    askers.push(asker.clone());
                }
            }
        }
    }
    ranked
        .into_iter()
        .zip(chosen)
        .filter_map(|(a, c)| c.then_some(a))
        .collect()
}

/// Scores are shown and compared at two decimals so output is stable.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Each author's best run of consecutive replies in a thread (a placeholder
/// followed later by the real answer loses to it), in order of appearance.
fn best_parts(replies: &[Reply], asker: &str, resolver: &Resolver) -> Vec<Part> {
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
            author: resolver.display(author).to_string(),
            chat_name: name,
            score: score(&s),
            text,
            signals: s,
        };
        match best.iter_mut().find(|(a, _, _)| *a == author) {
            // Content beats a pointer, then the higher score wins.
            Some(slot)
                if (part.signals.has_content(), part.score)
                    > (slot.2.signals.has_content(), slot.2.score) =>
            {
                slot.2 = part
            }
            Some(_) => {}
            None => best.push((author, order, part)),
        }
    }
    best.sort_by_key(|(_, order, _)| *order);
    let parts: Vec<Part> = best.into_iter().map(|(_, _, p)| p).collect();
    // Show a co-author's "+1" or "X can help you out here" only when nobody
    // gave an answer with content.
    if parts.iter().any(|p| p.signals.has_content()) {
        parts
            .into_iter()
            .filter(|p| p.signals.has_content())
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

    /// An answer that says something itself rather than pointing elsewhere.
    pub fn has_content(&self) -> bool {
        self.is_answer() && !self.pointer
    }
}

impl Answer<'_> {
    /// Whether the best part of the answer has content of its own.
    pub fn has_content(&self) -> bool {
        self.parts.iter().any(|p| p.signals.has_content())
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
            window: Window::unchecked(t, t),
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
        assert_eq!(resolves("Alexey Grigorev", "Alexey Shvets"), None);
        assert_eq!(resolves("Luis Serrano", "Luis Serrano Jr Smith"), None);
        assert_eq!(resolves("Kim Falk", "Falk"), None);
        assert_eq!(resolves("Kim Falk", "Kimberly"), None);
    }

    #[test]
    fn nicknames_match_the_full_name_either_way() {
        for (author, chat) in [
            ("Michael Munn", "Mike Munn"),
            ("Douglas Turnbull", "Doug Turnbull"),
            ("Doug Turnbull", "Douglas Turnbull"),
            ("Joseph Reis", "Joe Reis"),
            ("Robert Smith", "Bob Smith"),
            ("William Jamir", "Bill Jamir"),
            ("Ondřej Kubera", "Ondrej Kubera (he/him)"),
        ] {
            let kind = resolves(author, chat);
            assert!(
                matches!(kind, Some(MatchKind::Nickname | MatchKind::Normalized)),
                "{chat} for {author}: {kind:?}"
            );
        }
        assert_eq!(
            resolves("Michael Munn", "Mike Munn"),
            Some(MatchKind::Nickname)
        );
        for (author, chat) in [
            // Another surname, another given name, or only an initial.
            ("Michael Munn", "Mike Munro"),
            ("Jane Doe", "John Doe"),
            ("Alan McCauley", "A McCauley"),
            ("Joseph Reis", "Joe"),
            ("Michael Goldsmith", "Mike Smith"),
        ] {
            assert_eq!(resolves(author, chat), None, "{chat} for {author}");
        }
    }

    fn asks(name: &str) -> Thread {
        Thread {
            post: msg(name, "A question?"),
            replies: vec![],
        }
    }

    #[test]
    fn a_lone_given_name_counts_only_when_unambiguous() {
        let people = BTreeMap::new();
        // Gant Laborde chats as "Gant", and also once with his full name.
        let b = book(
            &["Gant Laborde"],
            vec![asks("Gant"), asks("Gant Laborde"), asks("Daniel Wexler")],
        );
        let r = Resolver::new(&b, &people);
        assert_eq!(r.author_of("Gant"), Some((0, MatchKind::GivenName)));
        assert_eq!(r.author_of("gant"), Some((0, MatchKind::GivenName)));
        assert_eq!(r.author_of("Daniel"), None);
        // Another participant with that given name makes it ambiguous.
        let b = book(&["Gant Laborde"], vec![asks("Gant"), asks("Gant Smith")]);
        assert_eq!(Resolver::new(&b, &people).author_of("Gant"), None);
        // So does a co-author with the same given name.
        let b = book(&["Kim Falk", "Kim Lee"], vec![asks("Kim")]);
        assert_eq!(Resolver::new(&b, &people).author_of("Kim"), None);
        // One of two authors, the other one named in full.
        let b = book(
            &["Kevin Huo", "Nick Singh"],
            vec![asks("Kevin"), asks("Nick Singh"), asks("Allan")],
        );
        let r = Resolver::new(&b, &people);
        assert_eq!(r.author_of("Kevin"), Some((0, MatchKind::GivenName)));
        assert_eq!(r.author_of("Nick Singh"), Some((1, MatchKind::Normalized)));
        assert_eq!(r.author_of("Nick"), Some((1, MatchKind::GivenName)));
    }

    #[test]
    fn answers_show_the_people_title_and_askers_as_written() {
        let mut people = BTreeMap::new();
        people.insert(
            "ondrejkubera".to_string(),
            Person {
                slug: "ondrejkubera".into(),
                name: "Ondřej Kubera".into(),
                aliases: vec![],
                handles: vec![],
                path: "p.md".into(),
                ..Default::default()
            },
        );
        let mut b = book(
            &[],
            vec![Thread {
                post: msg(
                    "leandro von werra",
                    "How do you evaluate a tokenizer before training a model on it?",
                ),
                replies: vec![msg(
                    "Ondrej Kubera",
                    "We compare fertility, the tokens per word, on held-out text in every language we care about.",
                )],
            }],
        );
        b.authors = vec![Author {
            slug: Some("ondrejkubera".into()),
            name: "Ondřej Kubera".into(),
        }];
        let a = &best(&b, &people, 5)[0];
        assert_eq!(a.parts[0].author, "Ondřej Kubera");
        assert_eq!(a.parts[0].chat_name, "Ondrej Kubera");
        assert_eq!(a.question.name, "leandro von werra");
    }

    #[test]
    fn one_pick_per_asker_while_others_have_answers() {
        let q = |who: &str, q: &str, a: &str| Thread {
            post: msg(who, q),
            replies: vec![msg("Ann Author", a)],
        };
        let long = "A long answer about schema checks, drift detection, alerting thresholds, ownership, runbooks and the review of every incident with the people involved.";
        let short = "Monitoring starts with agreeing what healthy means.";
        let b = book(
            &["Ann Author"],
            vec![
                q(
                    "Xavier",
                    "First of many long questions about governance?",
                    long,
                ),
                q(
                    "Xavier",
                    "Second of many long questions about governance?",
                    long,
                ),
                q(
                    "Xavier",
                    "Third of many long questions about governance?",
                    long,
                ),
                q("Maja", "How do you monitor?", short),
                q("Rohan", "What about alerts?", short),
            ],
        );
        let picked = |limit| -> Vec<usize> {
            best(&b, &BTreeMap::new(), limit)
                .iter()
                .map(|a| a.thread)
                .collect()
        };
        // Xavier's best, then the other askers, then Xavier again.
        assert_eq!(picked(3), [1, 4, 5]);
        assert_eq!(picked(5), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn deflections_are_pointers_and_lose_to_answers_with_content() {
        for deflection in [
            "Kevin can help you out here, he knows this stuff better than me!",
            "Nick Singh knows this stuff better, I will leave it to him.",
            "The best place to ask this is the Comet community forums, the team there answers quickly.",
            "Please reach out to our support team with the error message and they will sort it out.",
        ] {
            let s = signals(deflection);
            assert!(s.pointer, "{deflection}: {s:?}");
            assert!(!s.has_content(), "{deflection}");
        }
        // A deflection next to a real answer does not make it a pointer.
        let s = signals(
            "Kranti can help you out here too. Start by writing down what healthy means for the model: latency, freshness of features and prediction quality, each with an owner, a threshold and an alert that wakes someone up.",
        );
        assert!(!s.pointer, "{s:?}");
        // "a good one, for instance" is no deflection.
        assert!(!signals("Population-based training is a good one, for instance, and grid search then random search works well in practice for tuning.").pointer);

        // A long deflection still ranks below a short answer with content.
        let b = book(
            &["Ann Author", "Bob Writer"],
            vec![
                Thread {
                    post: msg(
                        "Reader",
                        "How do I debug failed Comet experiments on a cluster?",
                    ),
                    replies: vec![msg(
                        "Ann Author",
                        "The Comet community forums are the right place for cluster questions like this one, the engineers there see these failures every day and answer quickly.",
                    )],
                },
                Thread {
                    post: msg("Other", "Which metric do you watch first?"),
                    replies: vec![msg("Ann Author", "Prediction latency, then drift.")],
                },
            ],
        );
        let order: Vec<usize> = best(&b, &BTreeMap::new(), 2)
            .iter()
            .map(|a| a.thread)
            .collect();
        assert_eq!(order, [2, 1]);
    }

    #[test]
    fn a_co_authors_pointer_is_dropped_when_the_other_answers() {
        let b = book(
            &["Ann Author", "Bob Writer"],
            vec![Thread {
                post: msg("Reader", "How do you test pipelines?"),
                replies: vec![
                    msg("Bob Writer", "Ann knows this stuff better than me!"),
                    msg(
                        "Ann Author",
                        "We validate input data against a schema and compare outputs to a shadow model before every release.",
                    ),
                ],
            }],
        );
        let a = &best(&b, &BTreeMap::new(), 5)[0];
        assert_eq!(a.authors(), "Ann Author");
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

    /// The signals as they were computed before words were matched in
    /// place: every word a new lower-case string, phrases found by joining
    /// words into one string per sentence, lists searched one by one.
    fn signals_by_joined_strings(raw: &str) -> Signals {
        fn words(plain: &str) -> Vec<String> {
            let mut words = Vec::new();
            for raw in plain.split_whitespace() {
                if raw.starts_with("http://")
                    || raw.starts_with("https://")
                    || raw.starts_with("www.")
                {
                    continue;
                }
                words.extend(
                    raw.split(|c: char| !c.is_alphanumeric())
                        .filter(|w| !w.is_empty())
                        .map(str::to_lowercase),
                );
            }
            words
        }
        fn substance(words: &[String]) -> usize {
            words
                .iter()
                .filter(|w| w.chars().count() > 2 || w.chars().all(|c| c.is_ascii_digit()))
                .filter(|w| {
                    !STOP_WORDS.contains(&w.as_str()) && !FILLER_WORDS.contains(&w.as_str())
                })
                .count()
        }
        fn has(words: &[String], phrases: &[&str]) -> bool {
            let lower = format!(" {} ", words.join(" "));
            phrases.iter().any(|p| lower.contains(&format!(" {p} ")))
        }
        let plain = text::chat_to_plain(raw);
        let all = words(&plain);
        let n = substance(&all);
        let (mut beside, mut deflects) = (0, false);
        for sentence in plain.split(['.', '!', '?', '\n', ';']) {
            let words = words(sentence);
            if has(&words, DEFLECTION_PHRASES) {
                deflects = true;
            } else {
                beside += substance(&words);
            }
        }
        let links = distinct_urls(raw);
        let fillers = all
            .iter()
            .filter(|w| FILLER_WORDS.contains(&w.as_str()))
            .count();
        Signals {
            words: n,
            links,
            placeholder: has(&all, PLACEHOLDER_PHRASES) && n < 2 * FEW_WORDS,
            filler: fillers > 0 && n < FEW_WORDS / 2,
            meta: has(&all, META_PHRASES) && n < 3 * FEW_WORDS,
            pointer: (links > 0 && n < FEW_WORDS) || (deflects && beside < FEW_WORDS),
            reaction: n < 3,
            thanked: false,
        }
    }

    #[test]
    fn signals_are_those_of_joined_strings() {
        let mut texts: Vec<String> = [
            // A URL is skipped whole in the text but cut at its dots in sentences.
            "See https://example.org/forum.html and www.stack.overflow then reach out.",
            "Docs at https://support.team.example/ for the support team. Thanks!",
            "visit www.forums. It is the Forum; STACK OVERFLOW knows this stuff",
            "see.https://x.org/forum.y and also.www.slack.com",
            // Phrases across sentence ends and line ends do not count.
            "You can reach out\nto the team. Better than me? No. Mailing; list",
            "İSTANBUL, Straße, ÉCOLE, \u{212a}elvin: the thank-you note, 2021 and 42 of 7",
            "I will answer this later today, stay tuned! 🙂",
            "This channel is for the book of the week giveaway; the winner gets a free copy.",
            "",
            "...",
        ]
        .map(str::to_string)
        .to_vec();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
        let loaded = crate::content::load(&root, chrono_tz::UTC).unwrap();
        for i in 0..loaded.catalog.books.len() {
            let book = loaded.catalog.full_at(i).unwrap();
            for t in &book.archive {
                texts.extend(
                    std::iter::once(&t.post)
                        .chain(&t.replies)
                        .map(|m| m.text.clone()),
                );
            }
        }
        assert!(texts.len() > 1000, "{}", texts.len());
        for text in &texts {
            assert_eq!(signals(text), signals_by_joined_strings(text), "{text:?}");
        }
    }

    #[test]
    fn compare_counts_words_as_sorting_did() {
        fn sorted_compare(chat: &[String], known: &[String]) -> Option<MatchKind> {
            if chat.is_empty() || known.is_empty() {
                return None;
            }
            if chat == known {
                return Some(MatchKind::Normalized);
            }
            let words = |t: &[String]| -> Vec<String> {
                let mut w: Vec<String> = t.iter().filter(|x| x.len() > 1).cloned().collect();
                w.sort();
                w
            };
            let (a, b) = (words(chat), words(known));
            if a.len() >= 2 && a == b {
                return Some(MatchKind::Reordered);
            }
            let ends = |t: &[String]| -> Option<(String, String)> {
                let w: Vec<&String> = t.iter().filter(|x| x.len() > 1).collect();
                (w.len() >= 2).then(|| (w[0].clone(), w[w.len() - 1].clone()))
            };
            match (ends(chat), ends(known)) {
                (Some(x), Some(y)) if x == y => Some(MatchKind::MiddleName),
                _ => None,
            }
        }
        // Every list of up to four of these words, against every other.
        let mut lists: Vec<Vec<String>> = vec![vec![]];
        for _ in 0..4 {
            let longer: Vec<Vec<String>> = lists
                .iter()
                .filter(|l| l.len() == lists.last().map_or(0, Vec::len))
                .flat_map(|l| {
                    ["a", "ann", "lee", "kim"].map(|w| {
                        let mut l = l.clone();
                        l.push(w.to_string());
                        l
                    })
                })
                .collect();
            lists.extend(longer);
        }
        assert_eq!(lists.len(), 1 + 4 + 16 + 64 + 256);
        for chat in &lists {
            for known in &lists {
                assert_eq!(
                    compare(chat, known),
                    sorted_compare(chat, known),
                    "{chat:?} {known:?}"
                );
            }
        }
    }

    #[test]
    fn ascii_words_are_read_as_unicode_words_are() {
        fn unicode_words(plain: &str) -> (Vec<String>, usize) {
            let mut links = 0;
            let mut words = Vec::new();
            for raw in plain.split_whitespace() {
                if raw.starts_with("http://")
                    || raw.starts_with("https://")
                    || raw.starts_with("www.")
                {
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
        let pieces = [
            "a",
            "Bc",
            "9",
            " ",
            "\t",
            "\n",
            "\u{b}",
            "\u{c}",
            "\r",
            "\u{1c}",
            ".",
            "-",
            "_",
            "http://",
            "https://x.y",
            "www.",
            "x/www.",
            "THE",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .chain(texts.iter().cloned())
                .collect();
            texts.sort();
            texts.dedup();
        }
        for text in &texts {
            let mut words = Vec::new();
            let links = push_ascii_words(text, &mut words);
            let words: Vec<String> = words.into_iter().map(|w| w.text.into_owned()).collect();
            assert_eq!((words, links), unicode_words(text), "{text:?}");
        }
    }

    #[test]
    fn every_listed_word_has_its_kind_and_others_none() {
        for (list, bit) in [(STOP_WORDS, STOP), (FILLER_WORDS, FILLER)] {
            for word in list {
                assert_ne!(KINDS.of(word) & bit, 0, "{word}");
            }
        }
        for (phrases, bit) in [
            (PLACEHOLDER_PHRASES, OPENS_PLACEHOLDER),
            (DEFLECTION_PHRASES, OPENS_DEFLECTION),
            (META_PHRASES, OPENS_META),
        ] {
            for phrase in phrases {
                let first = phrase.split(' ').next().unwrap();
                assert_ne!(KINDS.of(first) & bit, 0, "{phrase}");
            }
        }
        for other in [
            "",
            "model",
            "th",
            "thee",
            "é",
            "a".repeat(40).as_str(),
            "forumz",
        ] {
            assert_eq!(KINDS.of(other), 0, "{other}");
        }
    }
}
