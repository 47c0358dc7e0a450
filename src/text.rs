//! Owns turning untrusted text — Slack-flavoured chat messages and editor-written
//! markdown — into safe HTML fragments and plain text. This is the only place in
//! the crate where untrusted text becomes HTML, and it knows nothing about books.
//!
//! Both kinds are parsed by pulldown-cmark. Chat first goes through a small
//! rewrite into CommonMark that reads the way Slack shows it (Slack's block
//! rules and `<…>` markup differ), and its events are adjusted (a newline is a
//! line break, `*x*` is bold, `:emoji:` codes and bare URLs). One event stream
//! feeds both the HTML and the plain-text output, so they agree. Raw HTML is
//! always shown as text, and every HTML output goes through one allowlist-based
//! `ammonia` cleaner as a second line of defence.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{
    CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeStream,
    html::push_html,
};

/// Archive (chat) text → safe HTML fragment.
pub fn chat_to_html(src: &str) -> String {
    let md = slack_to_commonmark(&normalize_input(src));
    to_html(chat_events(&md))
}

/// Editor-written markdown (a book's body/description, CommonMark) → safe HTML fragment.
pub fn markdown_to_html(src: &str) -> String {
    let src = normalize_input(src);
    to_html(events(&src, Flavour::Markdown))
}

/// The HTML of an event stream, sanitized; a URL shown as a link's text is
/// shortened so it cannot push a narrow screen wider.
fn to_html(events: Vec<Event<'_>>) -> String {
    let events = shorten_url_labels(events);
    let simple = events.iter().all(is_simple);
    let mut html = String::with_capacity(events.len() * 16 + 16);
    push_html(&mut html, events.into_iter());
    if simple && let Some(cleaned) = as_cleaned(&html) {
        let fast = finish_html(&cleaned);
        debug_assert_eq!(fast, sanitize_html(&html), "the cleaner's shortcut differs");
        return fast;
    }
    sanitize_html(&html)
}

/// Events whose HTML the cleaner gives back unchanged but for spelling.
/// pulldown-cmark writes these as allowed tags, always well nested, with
/// `&`, `<` and `>` of the text escaped; html5ever reads that back to the
/// same tree and writes it out the same way, except for what
/// [`as_cleaned`] spells its way. Most messages are only this, and
/// skipping the cleaner's parse and tree saves a good share of a build.
/// Left to the cleaner: a code block with a language (its class goes), a
/// link whose href pulldown-cmark would percent-encode or write with an
/// entity other than `&amp;`, and anything else pulldown-cmark could write
/// (headings with attributes, alert quotes, images, raw HTML; the events
/// here never hold the last two). Every link here was made by
/// [`link_start`] from a [`safe_href`], an absolute http(s) or mailto URL
/// as the url crate writes it, which the cleaner parses back and keeps.
/// Debug builds check every shortcut against the cleaner.
fn is_simple(event: &Event<'_>) -> bool {
    match event {
        Event::Start(tag) => match tag {
            Tag::Paragraph
            | Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::List(_)
            | Tag::Item
            | Tag::BlockQuote(None)
            | Tag::CodeBlock(CodeBlockKind::Indented) => true,
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                info.split(' ').next().is_none_or(str::is_empty)
            }
            Tag::Heading {
                id, classes, attrs, ..
            } => id.is_none() && classes.is_empty() && attrs.is_empty(),
            Tag::Link {
                link_type,
                dest_url,
                title,
                ..
            } => {
                !matches!(link_type, LinkType::Email)
                    && title.is_empty()
                    && dest_url.bytes().all(href_byte_as_written)
            }
            _ => false,
        },
        Event::End(end) => matches!(
            end,
            TagEnd::Paragraph
                | TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::List(_)
                | TagEnd::Item
                | TagEnd::BlockQuote(None)
                | TagEnd::CodeBlock
                | TagEnd::Heading(_)
                | TagEnd::Link
        ),
        Event::Text(_) | Event::Code(_) | Event::SoftBreak | Event::HardBreak | Event::Rule => true,
        _ => false,
    }
}

/// Whether pulldown-cmark writes this byte of an href as it is (its
/// `escape_href` table) or as `&amp;`, which html5ever reads back and
/// writes again the same way. Any other byte would be percent-encoded.
fn href_byte_as_written(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&()*+,-./:;=?@^_~".contains(&b)
}

/// What the cleaner writes for HTML made of [`is_simple`] events only:
/// `<br>` and `<hr>` for `<br />` and `<hr />`, `&nbsp;` for U+00A0, and
/// `rel` after a link's `href`. None if the HTML is not as expected.
fn as_cleaned(html: &str) -> Option<String> {
    const REL: &str = "\" rel=\"nofollow noopener noreferrer\">";
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    // U+00A0 is 0xC2 0xA0 in UTF-8; 0xC2 also starts other characters.
    while let Some(at) = memchr::memchr2(b'<', 0xC2, rest.as_bytes()) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("<br />") {
            out.push_str("<br>");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("<hr />") {
            out.push_str("<hr>");
            rest = after;
        } else if let Some(after) = rest.strip_prefix('\u{a0}') {
            out.push_str("&nbsp;");
            rest = after;
        } else if let Some(href) = rest.strip_prefix("<a href=\"") {
            // The href holds no quote (see `href_byte_as_written`).
            let end = href.find("\">")?;
            out.push_str("<a href=\"");
            out.push_str(&href[..end]);
            out.push_str(REL);
            rest = &href[end + 2..];
        } else {
            // Another tag, or a character starting with 0xC2: as it is.
            let len = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..len]);
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Archive (chat) text → plain text for reading, as in an email's text part:
/// like [`chat_to_plain`], but every link keeps its URL (`label <url>`, or
/// the URL alone when it is its own label).
pub fn chat_to_text(src: &str) -> String {
    plain_text_with(
        chat_events(&slack_to_commonmark(&normalize_input(src))),
        true,
    )
}

/// Editor-written CommonMark → plain text for reading; links keep their URL
/// as in [`chat_to_text`].
pub fn markdown_to_text(src: &str) -> String {
    plain_text_with(events(&normalize_input(src), Flavour::Markdown), true)
}

/// The start of a book's markdown body, for a digest or a feed item: whole
/// blocks (paragraphs, lists, …) while they fit in `max_chars` characters of
/// text, or the first block cut at a word, with '…'. Headings become bold
/// paragraphs so the excerpt never competes with the page's own headings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// Sanitized HTML.
    pub html: String,
    /// Plain text, links with their URL.
    pub text: String,
    /// Whether anything of the body was left out.
    pub cut: bool,
}

pub fn markdown_excerpt(src: &str, max_chars: usize) -> Excerpt {
    let src = normalize_input(src);
    let all: Vec<Event> = events(&src, Flavour::Markdown)
        .into_iter()
        .flat_map(|e| match e {
            Event::Start(Tag::Heading { .. }) => {
                vec![Event::Start(Tag::Paragraph), Event::Start(Tag::Strong)]
            }
            Event::End(TagEnd::Heading(_)) => {
                vec![Event::End(TagEnd::Strong), Event::End(TagEnd::Paragraph)]
            }
            e => vec![e],
        })
        .collect();
    // Top-level blocks as ranges of events.
    let mut blocks: Vec<(usize, usize, usize)> = Vec::new(); // start, end, text chars
    let (mut depth, mut start, mut chars) = (0usize, 0usize, 0usize);
    for (i, e) in all.iter().enumerate() {
        match e {
            Event::Start(_) => {
                if depth == 0 {
                    (start, chars) = (i, 0);
                }
                depth += 1;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    blocks.push((start, i + 1, chars));
                }
            }
            Event::Text(t) | Event::Code(t) => chars += t.chars().count(),
            Event::Rule if depth == 0 => blocks.push((i, i + 1, 0)),
            _ => {}
        }
    }
    let (mut taken, mut used) = (0, 0);
    while let Some(&(_, _, n)) = blocks.get(taken) {
        if used + n > max_chars {
            break;
        }
        used += n;
        taken += 1;
    }
    let (kept, cut) = match (taken, blocks.first()) {
        (_, None) => (Vec::new(), false),
        (0, Some(&(start, end, _))) => (cut_block(&all[start..end], max_chars), true),
        (n, Some(_)) => {
            let end = blocks[n - 1].1;
            (all[..end].to_vec(), n < blocks.len())
        }
    };
    Excerpt {
        html: to_html(kept.clone()),
        text: plain_text_with(kept, true),
        cut,
    }
}

/// One block's events with its text cut after `max_chars` characters at a
/// word, '…' added, and every open tag closed.
fn cut_block<'a>(block: &[Event<'a>], max_chars: usize) -> Vec<Event<'a>> {
    let mut out = Vec::new();
    let mut open: Vec<TagEnd> = Vec::new();
    let mut left = max_chars;
    for e in block {
        match e {
            Event::Start(tag) => {
                open.push(tag.to_end());
                out.push(e.clone());
            }
            Event::End(_) => {
                open.pop();
                out.push(e.clone());
            }
            Event::Text(t) | Event::Code(t) => {
                let n = t.chars().count();
                if n < left {
                    left -= n;
                    out.push(e.clone());
                    continue;
                }
                let short = truncate_words(t, left.max(1));
                let short = if short.ends_with('…') {
                    short
                } else {
                    format!("{short}…")
                };
                out.push(Event::Text(short.into()));
                while let Some(end) = open.pop() {
                    out.push(Event::End(end));
                }
                return out;
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Longest URL shown as it is when it is a link's text; longer ones are
/// shortened to their host and the start of their path.
const MAX_URL_LABEL: usize = 40;

/// A URL as a link's text, shortened for narrow screens:
/// `usenix.org/conference/srecon22emea/pres…`. Short URLs stay as written.
pub fn short_url(url: &str) -> String {
    if url.chars().count() <= MAX_URL_LABEL {
        return url.to_string();
    }
    let shown = match url::Url::parse(url) {
        Ok(u) if u.host_str().is_some() => {
            let host = u.host_str().unwrap_or_default();
            let host = host.strip_prefix("www.").unwrap_or(host);
            let path = u.path().trim_end_matches('/');
            let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{host}{path}{query}")
        }
        _ => url.to_string(),
    };
    match shown.char_indices().nth(MAX_URL_LABEL - 1) {
        Some((end, _)) => format!("{}…", &shown[..end]),
        None => shown,
    }
}

fn looks_like_url(text: &str) -> bool {
    let t = text.trim();
    !t.contains(char::is_whitespace)
        && ["http://", "https://", "www."].iter().any(|p| {
            t.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        })
}

/// Replaces a link's text with [`short_url`] when the text is a long URL.
fn shorten_url_labels(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    let mut out = Vec::with_capacity(events.len());
    let mut in_link = false;
    for e in events {
        match e {
            Event::Start(Tag::Link { .. }) => in_link = true,
            Event::End(TagEnd::Link) => in_link = false,
            _ => {}
        }
        match e {
            Event::Text(t) if in_link && looks_like_url(&t) => {
                out.push(Event::Text(short_url(t.trim()).into()));
            }
            other => out.push(other),
        }
    }
    out
}

/// Plain text hard-wrapped at `width` characters for an email's text part:
/// breaks only at spaces, so a URL or any other long word stays whole on a
/// line of its own. A wrapped line keeps its indentation, and a list item's
/// further lines line up under its text.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for line in text.split('\n') {
        if line.chars().count() <= width || line == "-- " {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = &line[indent..];
        let marker = list_marker(body).map_or(0, |(m, _)| m.len() + 1);
        let hang = " ".repeat(indent + marker);
        let mut current = line[..indent].to_string();
        let mut empty = true;
        for word in body.split(' ').filter(|w| !w.is_empty()) {
            let needed = current.chars().count() + usize::from(!empty) + word.chars().count();
            if !empty && needed > width {
                out.push_str(&current);
                out.push('\n');
                current = hang.clone();
                empty = true;
            }
            if !empty {
                current.push(' ');
            }
            current.push_str(word);
            empty = false;
        }
        out.push_str(&current);
        out.push('\n');
    }
    out.pop();
    out
}

/// Any of the above → plain text for plain-text fields (titles, summaries, email text part):
/// markup removed, entities decoded exactly once, chat markup cleaned, emoji codes replaced, whitespace tidied, line breaks kept as '\n'.
///
/// The text is read with the chat grammar, which also covers the markdown that
/// editors commonly write (`**bold**`, links, `-` lists, fences); use
/// [`markdown_to_plain`] when the source is known to be CommonMark.
/// Links keep only their label. The result is plain text: callers escape it.
pub fn chat_to_plain(src: &str) -> String {
    plain_text_with(
        chat_events(&slack_to_commonmark(&normalize_input(src))),
        false,
    )
}

/// Editor-written CommonMark → plain text, with the same guarantees as
/// [`chat_to_plain`]; soft-wrapped source lines are joined with a space.
pub fn markdown_to_plain(src: &str) -> String {
    plain_text_with(events(&normalize_input(src), Flavour::Markdown), false)
}

/// Text for a feed's plain-text fields (titles, summaries): anything that
/// looks like an HTML tag is removed, since many feed readers render those
/// fields as HTML whatever the feed says; the words stay.
pub fn plain_field(text: &str) -> String {
    static STRIP: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut b = ammonia::Builder::empty();
        b.clean_content_tags(["script", "style"].into_iter().collect());
        b
    });
    let cleaned = STRIP.clean(text).to_string();
    // ammonia returns HTML; the field wants the characters back.
    let unescaped = cleaned
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    // Unescaping may rebuild a tag from text such as "&lt;b&gt;": drop
    // anything tag-shaped once more, keeping a lone "<" or ">".
    drop_tags(&unescaped)
}

/// Removes `<x…>`, `</x…>` and `<!…>` spans; other angle brackets stay.
fn drop_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let tag_like = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match after.find('>').filter(|_| tag_like) {
            Some(j) if !after[..j].contains('<') => {
                out.push_str(&rest[..i]);
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Plain text cut to at most `max_chars` characters at a word boundary, with '…' appended when cut.
pub fn truncate_words(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    if max_chars == 0 {
        return String::new();
    }
    // One character of the budget is the ellipsis.
    let budget = max_chars - 1;
    let hard = text
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(i, _)| i);
    let at_space = text[hard..].starts_with(char::is_whitespace);
    let mut cut = if at_space {
        hard
    } else {
        text[..hard].rfind(char::is_whitespace).unwrap_or(0)
    };
    let trim_tail = |s: &str| -> usize {
        s.trim_end_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ';' | ':' | '.' | '-' | '–' | '—')
        })
        .len()
    };
    cut = trim_tail(&text[..cut]);
    if cut == 0 {
        // A single word longer than the budget: cut inside it, but never
        // between an emoji and its modifiers or a letter and its accent.
        cut = hard;
        while cut > 0 && splits_cluster(text, cut) {
            cut = text[..cut].char_indices().next_back().map_or(0, |(i, _)| i);
        }
        cut = trim_tail(&text[..cut]);
    }
    let mut out = String::with_capacity(cut + 3);
    out.push_str(&text[..cut]);
    out.push('…');
    out
}

fn splits_cluster(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(joins_previous) || text[..at].ends_with('\u{200D}')
}

/// Characters that render as part of the character before them (joiners,
/// variation selectors, keycaps, accents, skin tones, tag sequences).
fn joins_previous(c: char) -> bool {
    matches!(
        c,
        '\u{200D}'
            | '\u{FE0E}'
            | '\u{FE0F}'
            | '\u{20E3}'
            | '\u{0300}'..='\u{036F}'
            | '\u{1F3FB}'..='\u{1F3FF}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

// ---------------------------------------------------------------------------
// Input and output hygiene
// ---------------------------------------------------------------------------

/// XML 1.0 cannot carry C0 controls (other than tab and newline; CR is
/// normalised away) nor U+FFFE/U+FFFF, so one in a feed breaks the whole feed.
/// DEL and C1 are legal XML but never meaningful in chat and upset readers.
fn is_forbidden_char(c: char) -> bool {
    (c < ' ' && c != '\t' && c != '\n')
        || ('\u{7F}'..='\u{9F}').contains(&c)
        || c == '\u{FFFE}'
        || c == '\u{FFFF}'
}

/// Whether `s` holds a character [`is_forbidden_char`] rejects. Most text
/// has none, so bytes are checked first: every such character is an ASCII
/// control, DEL, or starts with 0xC2 (C1) or 0xEF (U+FFFE, U+FFFF).
fn has_forbidden_char(s: &str) -> bool {
    let suspect = |b: u8| (b < b' ' && b != b'\t' && b != b'\n') | matches!(b, 0x7F | 0xC2 | 0xEF);
    // Whole chunks without an early exit, so the compiler can vectorize.
    s.as_bytes()
        .chunks(64)
        .any(|chunk| chunk.iter().fold(false, |any, &b| any | suspect(b)))
        && s.contains(is_forbidden_char)
}

/// `s` without the characters [`is_forbidden_char`] rejects.
fn drop_forbidden_chars(s: &str) -> String {
    if has_forbidden_char(s) {
        s.replace(is_forbidden_char, "")
    } else {
        s.to_string()
    }
}

/// Line ends as `\n` (`\r\n` and a lone `\r` alike), then the characters
/// [`is_forbidden_char`] rejects dropped; most text is already like that.
fn normalize_input(src: &str) -> Cow<'_, str> {
    if !has_forbidden_char(src) {
        return Cow::Borrowed(src);
    }
    // One pass: whether a `\r` pairs with a `\n` is decided on the input,
    // as replacing `\r\n` first and dropping characters last would.
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() != Some(&'\n') {
                out.push('\n');
            }
        } else if !is_forbidden_char(c) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Built once: the allowlist never changes and a site build cleans thousands
/// of messages.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let tags = "p br em strong del code pre blockquote ul ol li a h1 h2 h3 h4 h5 h6 hr";
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(tags.split(' ').collect())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href"])),
            ("ol", HashSet::from(["start"])),
        ]))
        // `empty()` clears only the tags; the defaults allow `lang` and `title` everywhere.
        .generic_attributes(HashSet::new())
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        // Feeds are read far from the site, so a relative link would point nowhere.
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("nofollow noopener noreferrer"))
        .strip_comments(true);
    builder
});

fn sanitize_html(html: &str) -> String {
    finish_html(&CLEANER.clean(html).to_string())
}

/// The cleaner's output as a fragment for feeds, in one pass:
///
/// - html5ever leaves quotes in text nodes unescaped. Escaping them as well
///   means visible text such as `<a href="javascript:…">` never appears in
///   the fragment in a form that naive downstream filters or templates
///   could mistake for an attribute.
/// - html5ever writes U+00A0 as `&nbsp;`, which XML does not define: it
///   becomes `&#160;`.
/// - Characters [`is_forbidden_char`] rejects are dropped.
fn finish_html(html: &str) -> String {
    /// The bytes [`finish_html`] looks at: `<>"'&`, and the bytes every
    /// character [`is_forbidden_char`] rejects starts with.
    static FINISH_BYTES: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = (b < 0x20 && b != 0x09 && b != 0x0A)
                || matches!(
                    b as u8,
                    b'<' | b'>' | b'"' | b'\'' | b'&' | 0x7F | 0xC2 | 0xEF
                );
            b += 1;
        }
        table
    };
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    // Inside a tag, and inside one of its (always double-quoted) attribute values.
    let (mut in_tag, mut in_value) = (false, false);
    let bytes = html.as_bytes();
    // Start of the run of bytes copied as they are.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Any other byte is copied as it is. A byte in the table is ASCII
        // or starts a character, so `i` is at a character boundary below.
        if !FINISH_BYTES[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        let c = html[i..].chars().next().unwrap_or_default();
        let (skip, with): (usize, Option<&str>) = match c {
            '<' if !in_tag => {
                in_tag = true;
                (1, None)
            }
            '>' if in_tag && !in_value => {
                in_tag = false;
                (1, None)
            }
            '"' if in_tag => {
                in_value = !in_value;
                (1, None)
            }
            '"' => (1, Some("&quot;")),
            '\'' if !in_tag => (1, Some("&#39;")),
            '&' if html[i..].starts_with("&nbsp;") => (6, Some("&#160;")),
            c if is_forbidden_char(c) => (c.len_utf8(), Some("")),
            c => (c.len_utf8(), None),
        };
        if let Some(with) = with {
            out.push_str(&html[copied..i]);
            out.push_str(with);
            copied = i + skip;
        }
        i += skip;
    }
    out.push_str(&html[copied..]);
    out
}

/// Only absolute http(s) and mailto links survive: feeds are read out of
/// context, and every other scheme (`javascript:`, `data:`, …) is a risk.
/// pulldown-cmark percent-encodes quotes and brackets when it writes the href.
fn safe_href(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let ok = match url.scheme() {
        "http" | "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "mailto" => url.path().contains('@'),
        _ => false,
    };
    ok.then(|| url.into())
}

// ---------------------------------------------------------------------------
// Slack → CommonMark
// ---------------------------------------------------------------------------

/// Rewrites a Slack message as CommonMark that reads the way Slack shows it.
/// Slack's block rules differ: fences open and close mid-line, a quote or a
/// list ends at the first line not marked as one, and `#`, `===`, `1986.` or
/// indentation mean nothing. So blocks are laid out here, line by line, and
/// whatever CommonMark would read as a block marker is escaped. Inline syntax
/// (emphasis, code spans, links, entities) is left to pulldown-cmark.
fn slack_to_commonmark(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + src.len() / 8 + 16);
    let mut rest = src;
    // An unclosed fence is text. (memmem: str::find with a string pattern
    // is a scalar search, and this reads every message.)
    let fence = |s: &str| memchr::memmem::find(s.as_bytes(), b"```");
    while let Some(open) = fence(rest) {
        let after = &rest[open + 3..];
        let Some(close) = fence(after) else {
            break;
        };
        push_blocks(&slack_inline(&rest[..open]), true, &mut out);
        push_fence(&after[..close], &mut out);
        rest = &after[close + 3..];
    }
    push_blocks(&slack_inline(rest), true, &mut out);
    out
}

/// Languages people type after a fence when they paste markdown; Slack has no
/// info strings, so only well-known names are dropped.
const LANGUAGE_TAGS: &str = "python py python3 pycon sql bash sh shell zsh console json yaml yml \
    toml ini xml html css js javascript ts typescript java scala kotlin r rust go c cpp csharp \
    ruby php swift text txt dockerfile diff julia markdown md";

/// A Slack fence as a CommonMark one: on lines of its own, so text right
/// after the opening backticks is code too.
fn push_fence(raw: &str, out: &mut String) {
    let body = match raw.split_once('\n') {
        Some((first, rest)) if LANGUAGE_TAGS.split(' ').any(|t| t == first.trim()) => rest,
        _ => raw,
    };
    // Blank lines at the edges go; an indented first line keeps its indentation.
    let body = body.trim_end();
    let lead = body.len() - body.trim_start().len();
    let body = &body[body[..lead].rfind('\n').map_or(lead, |n| n + 1)..];
    if !body.is_empty() {
        out.push_str(&format!("\n```\n{body}\n```\n\n"));
    }
}

/// Slack shows `\` as typed where CommonMark reads an escape, so it is doubled
/// (code spans undo this in `chat_events`). Then Slack's `<…>` markup is
/// rewritten; anything else starting with `<` is text someone typed.
fn slack_inline(text: &str) -> String {
    let text = text.replace('\\', "\\\\");
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = &text[..];
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let inner = after
            .find(['<', '>', '\n'])
            .filter(|&c| after.as_bytes()[c] == b'>')
            .map(|c| &after[..c]);
        match inner.and_then(|inner| Some((inner.len(), slack_markup(inner)?))) {
            Some((len, md)) => {
                out.push_str(&md);
                rest = &after[len + 1..];
            }
            None => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `<target|label>` as CommonMark: links, `#channel`, `@user`, `@here`.
fn slack_markup(inner: &str) -> Option<String> {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(l).filter(|l| !l.trim().is_empty())),
        None => (inner, None),
    };
    if target.is_empty() || target.contains(char::is_whitespace) {
        return None;
    }
    let label = label.map(escape_markdown);
    let is_id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    // A scheme (RFC 3986) starts a URL, which no Slack id or typed `<T>` does.
    if url::Url::parse(target).is_ok() {
        // Every scheme becomes a link here; the link policy then keeps only
        // safe ones and shows the label of the rest (`<tel:…|+1 23>`).
        let shown = label.unwrap_or_else(|| {
            let bare = ["mailto:", "tel:"]
                .into_iter()
                .find_map(|p| target.get(..p.len())?.eq_ignore_ascii_case(p).then_some(p));
            escape_markdown(&target[bare.map_or(0, str::len)..])
        });
        Some(format!("[{shown}](<{target}>)"))
    } else if let Some(id) = target.strip_prefix('#')
        && is_id(id)
    {
        Some(format!("#{}", label.as_deref().unwrap_or("channel")))
    } else if let Some(id) = target.strip_prefix('@')
        && is_id(id)
    {
        // The export has no user directory, so an unlabelled id is shown generically.
        let name = label.as_deref().unwrap_or("user");
        Some(format!("@{}", name.trim_start_matches(['@', '\\'])))
    } else {
        let name = target.strip_prefix('!')?.split('^').next()?;
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        ok.then(|| label.unwrap_or_else(|| format!("@{name}")))
    }
}

/// Backslash-escapes punctuation so inserted text can only be text. `&`, `#`
/// and `;` stay so entities still decode (once); `\` was already doubled.
fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii_punctuation() && !matches!(c, '&' | '#' | ';' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Deeper items join the deepest list, bounding nesting on hostile input.
const MAX_LIST_DEPTH: usize = 6;

fn push_blocks(text: &str, allow_quote: bool, out: &mut String) {
    #[derive(PartialEq)]
    enum Prev {
        Blank,
        Para,
        List,
    }
    let mut prev = Prev::Blank;
    // Open lists, outermost first: (source indentation, column of the item text).
    let mut lists: Vec<(usize, usize)> = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        let indent: usize = line[..line.len() - line.trim_start().len()]
            .chars()
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        if trimmed.is_empty() {
            prev = Prev::Blank;
        } else if let Some(body) = quote_body(trimmed).filter(|_| allow_quote) {
            // Quotes do not nest in chat, and end at the first unmarked line.
            let mut quoted = body.to_string();
            while let Some(body) = lines.peek().and_then(|l| quote_body(l.trim())) {
                quoted.push('\n');
                quoted.push_str(body);
                lines.next();
            }
            let mut inner = String::new();
            push_blocks(&quoted, false, &mut inner);
            for l in inner.trim_end().lines() {
                out.push_str(&format!("> {l}\n"));
            }
            prev = Prev::Blank;
            lists.clear();
        } else if let Some((marker, body)) = list_marker(trimmed) {
            // CommonMark lets only some lists interrupt a paragraph; Slack all.
            if prev == Prev::Para {
                out.push('\n');
            }
            // Items are re-indented to where CommonMark expects them.
            while lists.last().is_some_and(|&(src, _)| src >= indent)
                || lists.len() >= MAX_LIST_DEPTH
            {
                lists.pop();
            }
            let pad = lists.last().map_or(0, |&(_, col)| col);
            lists.push((indent, pad + marker.len() + 1));
            out.push_str(&format!("{:pad$}{marker} ", ""));
            push_text_line(body, out);
            prev = Prev::List;
        } else {
            // An indented line continues a list item; an unindented one ends the list.
            if prev == Prev::List && indent < 2 {
                out.push('\n');
            }
            if prev != Prev::List || indent < 2 {
                lists.clear();
                prev = Prev::Para;
            }
            push_text_line(trimmed, out);
        }
        out.push('\n');
    }
}

/// The body of a quote line, whether the marker came through raw (`>`) or
/// entity-escaped by the exporter (`&gt;`).
fn quote_body(line: &str) -> Option<&str> {
    let body = line
        .strip_prefix("&gt;")
        .or_else(|| line.strip_prefix('>'))?;
    // `>= 3.0` at the start of a line is a comparison, not a quote.
    (!body.starts_with('=')).then(|| body.trim_start())
}

/// A Slack list item: its CommonMark marker and its text. Three digits at
/// most, so "2021. was a good year" stays a sentence.
fn list_marker(line: &str) -> Option<(String, &str)> {
    let (marker, after) = match line.strip_prefix(['-', '*', '+', '•', '◦', '▪']) {
        Some(after) => (
            "-".to_string(),
            after.trim_start_matches(['\u{FE0E}', '\u{FE0F}']),
        ),
        None => {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            let after = line.get(digits..).filter(|_| (1..=3).contains(&digits))?;
            (
                format!("{}.", &line[..digits]),
                after.strip_prefix(['.', ')'])?,
            )
        }
    };
    let body = after.strip_prefix([' ', '\t'])?.trim();
    (!body.is_empty()).then_some((marker, body))
}

/// Writes a trimmed line, escaping what CommonMark would read as a block
/// marker (heading, HTML block, fence, rule, setext underline, list marker,
/// link definition): in Slack it is text.
fn push_text_line(line: &str, out: &mut String) {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let marker_end = |at: usize| line[at..].chars().next().is_none_or(char::is_whitespace);
    // Setext underlines and thematic breaks repeat one character.
    let mut marks = line.chars().filter(|c| !c.is_whitespace());
    let first = marks.next().filter(|c| matches!(c, '-' | '=' | '_' | '*'));
    let at = if line.starts_with(['#', '<', '>'])
        || line.starts_with("```")
        || line.starts_with("~~~")
        || first.is_some_and(|f| marks.all(|c| c == f))
        || (line.starts_with(['-', '+', '*']) && marker_end(1))
        || (line.starts_with('[') && line.contains("]:"))
    {
        0
    } else if (1..=9).contains(&digits)
        && line[digits..].starts_with(['.', ')'])
        && marker_end(digits + 1)
    {
        digits
    } else {
        out.push_str(line);
        return;
    };
    out.push_str(&format!("{}\\{}", &line[..at], &line[at..]));
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Chat,
    Markdown,
}

/// What became of an opened link or image, so its end event matches.
enum Opened {
    Dropped,
    Link,
    /// Index of its start event, to give an empty-alt image visible text.
    Image(usize, String),
}

/// What became of an opened emphasis span: kept (with the end to emit), or
/// shown as the delimiters typed (with the closing one to emit).
enum Span<'a> {
    Kept(TagEnd),
    Literal(&'a str),
}

/// Emphasis, quotes and lists nested deeper than this lose their markup (not
/// their text): html5ever takes quadratic time on deep trees.
const MAX_NESTING: usize = 8;

fn is_html_comment(html: &str) -> bool {
    let t = html.trim();
    t.starts_with("<!--") && t.ends_with("-->")
}

/// pulldown-cmark events with raw HTML turned into visible text, unsafe or
/// relative links unwrapped to their text, and images turned into links.
/// Chat also gets Slack's inline rules: a newline is a line break, `*x*` is
/// bold, markers inside words are text, and headings are paragraphs.
fn events(src: &str, flavour: Flavour) -> Vec<Event<'_>> {
    let chat = flavour == Flavour::Chat;
    let mut out = Vec::new();
    let (mut opened, mut kept_links): (Vec<Opened>, usize) = (Vec::new(), 0);
    let (mut spans, mut kept_spans): (Vec<Span>, usize) = (Vec::new(), 0);
    // Per open quote, list or item: whether its markup is kept.
    let (mut blocks, mut kept_blocks): (Vec<bool>, usize) = (Vec::new(), 0);
    let mut html_block: Option<String> = None;
    let parser = Parser::new_ext(src, Options::ENABLE_STRIKETHROUGH);
    for (event, range) in parser.into_offset_iter() {
        if let Some(buf) = html_block.as_mut() {
            match event {
                Event::Html(s) | Event::Text(s) => buf.push_str(&s),
                Event::End(TagEnd::HtmlBlock) => {
                    let raw = html_block.take().unwrap_or_default();
                    if !raw.trim().is_empty() && !is_html_comment(&raw) {
                        out.push(Event::Start(Tag::Paragraph));
                        out.push(Event::Text(raw.trim_end().to_string().into()));
                        out.push(Event::End(TagEnd::Paragraph));
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::HtmlBlock) => html_block = Some(String::new()),
            Event::Html(s) | Event::InlineHtml(s) => {
                if chat || !is_html_comment(&s) {
                    out.push(Event::Text(s));
                }
            }
            // An entity can spell a control character.
            Event::Text(t) if has_forbidden_char(&t) => {
                out.push(Event::Text(t.replace(is_forbidden_char, "\u{FFFD}").into()));
            }
            Event::SoftBreak if chat => out.push(Event::HardBreak),
            Event::Start(Tag::Heading { .. }) if chat => out.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::Heading(_)) if chat => out.push(Event::End(TagEnd::Paragraph)),
            Event::Start(Tag::BlockQuote(_) | Tag::List(_) | Tag::Item) => {
                let item = matches!(event, Event::Start(Tag::Item));
                // An item goes with its list.
                let keep = match item {
                    true => blocks.last().copied().unwrap_or(true),
                    false => kept_blocks < MAX_NESTING,
                };
                kept_blocks += usize::from(keep && !item);
                blocks.push(keep);
                if keep {
                    out.push(event);
                }
            }
            Event::End(end @ (TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Item)) => {
                if blocks.pop().unwrap_or(true) {
                    kept_blocks -= usize::from(end != TagEnd::Item);
                    out.push(Event::End(end));
                }
            }
            Event::Start(tag @ (Tag::Emphasis | Tag::Strong | Tag::Strikethrough)) => {
                let span = &src[range.clone()];
                let n = match tag {
                    Tag::Strong => 2,
                    Tag::Strikethrough if span.len() >= 4 && span.starts_with("~~") => 2,
                    _ => 1,
                };
                let (open, close) = (&span[..n], &span[span.len() - n..]);
                // Slack wants emphasis markers at word edges: `2*3*4` is text.
                let before = src[..range.start].chars().next_back();
                let after = src[range.end..].chars().next();
                let glued = chat
                    && (before.is_some_and(char::is_alphanumeric)
                        || after.is_some_and(char::is_alphanumeric));
                if glued || kept_spans >= MAX_NESTING {
                    out.push(Event::Text(open.into()));
                    spans.push(Span::Literal(close));
                } else {
                    // Slack's bold is a single asterisk.
                    let tag = if chat && open == "*" {
                        Tag::Strong
                    } else {
                        tag
                    };
                    kept_spans += 1;
                    spans.push(Span::Kept(tag.to_end()));
                    out.push(Event::Start(tag));
                }
            }
            Event::End(TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough) => {
                match spans.pop() {
                    Some(Span::Kept(end)) => {
                        kept_spans -= 1;
                        out.push(Event::End(end));
                    }
                    Some(Span::Literal(close)) => out.push(Event::Text(close.into())),
                    None => {}
                }
            }
            Event::Start(
                Tag::Link {
                    link_type,
                    ref dest_url,
                    ..
                }
                | Tag::Image {
                    link_type,
                    ref dest_url,
                    ..
                },
            ) => {
                let image = matches!(event, Event::Start(Tag::Image { .. }));
                // `<a@b.c>` arrives without its scheme; the renderer would add it.
                // A stray `<` or `>` is left over from Slack's `<url>` after export.
                let dest = match link_type {
                    LinkType::Email => format!("mailto:{dest_url}"),
                    _ => dest_url
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                };
                // Links do not nest; feed HTML has no images, so an image is a link to it.
                match safe_href(&dest).filter(|_| kept_links == 0) {
                    Some(href) => {
                        kept_links += 1;
                        opened.push(match image {
                            true => Opened::Image(out.len(), href.clone()),
                            false => Opened::Link,
                        });
                        out.push(link_start(href));
                    }
                    None => opened.push(Opened::Dropped),
                }
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                match opened.pop() {
                    Some(Opened::Dropped) | None => continue,
                    Some(Opened::Image(start, href)) if out.len() == start + 1 => {
                        out.push(Event::Text(href.into()));
                    }
                    Some(_) => {}
                }
                kept_links -= 1;
                out.push(Event::End(TagEnd::Link));
            }
            other => out.push(other),
        }
    }
    out
}

fn link_start<'a>(href: String) -> Event<'a> {
    Event::Start(Tag::Link {
        link_type: LinkType::Inline,
        dest_url: href.into(),
        title: CowStr::Borrowed(""),
        id: CowStr::Borrowed(""),
    })
}

/// Chat events: emoji codes become emoji and bare URLs links, except in code,
/// which is shown as the exporter meant it.
fn chat_events(md: &str) -> Vec<Event<'_>> {
    let mut out = Vec::new();
    let (mut in_code, mut in_link) = (false, false);
    // Merged, so an emoji code or a URL is never split across events.
    for event in TextMergeStream::new(events(md, Flavour::Chat).into_iter()) {
        match event {
            Event::Start(Tag::CodeBlock(_)) | Event::End(TagEnd::CodeBlock) => in_code = !in_code,
            Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link) => in_link = !in_link,
            _ => {}
        }
        match event {
            Event::Code(code) => {
                out.push(Event::Code(chat_code(&code.replace("\\\\", "\\")).into()))
            }
            // Slack code has no final newline to keep.
            Event::Text(text) if in_code => {
                out.push(Event::Text(chat_code(text.trim_end_matches('\n')).into()))
            }
            Event::Text(text) if in_link => out.push(Event::Text(emojify(&text).into())),
            Event::Text(text) => push_autolinked(&text, &mut out),
            other => out.push(other),
        }
    }
    out
}

/// The exporter escaped `&`, `<` and `>` even in code, where CommonMark leaves
/// entities alone, and rewrote every URL as `[url](url)`, which in code would
/// show twice. Both are undone in one pass each, so entities decode once.
fn chat_code(code: &str) -> String {
    let mut unwrapped = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(open) = rest.find('[') {
        unwrapped.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // The label ends at the first bracket or newline; looking no further keeps this linear.
        let label = after.find(['[', ']', '\n']).map_or("", |end| &after[..end]);
        let url = after[label.len()..]
            .strip_prefix("](")
            .and_then(|t| t.strip_prefix(label));
        match url
            .and_then(|t| t.strip_prefix(')'))
            .filter(|_| !label.is_empty())
        {
            Some(tail) => {
                unwrapped.push_str(label);
                rest = tail;
            }
            None => {
                unwrapped.push('[');
                rest = after;
            }
        }
    }
    unwrapped.push_str(rest);
    let mut parts = unwrapped.split('&');
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        let entities = [
            ("amp;", '&'),
            ("lt;", '<'),
            ("gt;", '>'),
            ("quot;", '"'),
            ("#39;", '\''),
        ];
        match entities.into_iter().find(|(e, _)| part.starts_with(e)) {
            Some((e, c)) => {
                out.push(c);
                out.push_str(&part[e.len()..]);
            }
            None => {
                out.push('&');
                out.push_str(part);
            }
        }
    }
    out
}

/// Pushes chat text with its bare http(s) URLs as links, as Slack shows them.
fn push_autolinked(text: &str, out: &mut Vec<Event<'_>>) {
    let (mut done, mut from) = (0, 0);
    // memchr: a `find` with a set of characters decodes every character.
    while let Some(found) = memchr::memchr2(b'h', b'H', &text.as_bytes()[from..]) {
        let at = from + found;
        from = at + 1;
        let Some(end) = url_end(text, at) else {
            continue;
        };
        // A rejected URL is text, not the start of another one.
        from = end;
        let Some(href) = safe_href(&text[at..end]) else {
            continue;
        };
        if done < at {
            out.push(Event::Text(emojify(&text[done..at]).into()));
        }
        out.push(link_start(href));
        out.push(Event::Text(text[at..end].to_string().into()));
        out.push(Event::End(TagEnd::Link));
        done = end;
    }
    if done < text.len() {
        out.push(Event::Text(emojify(&text[done..]).into()));
    }
}

/// End of a bare http(s) URL starting at `i`, trailing punctuation excluded.
fn url_end(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let scheme = ["https://", "http://"].into_iter().find(|p| {
        rest.get(..p.len())
            .is_some_and(|r| r.eq_ignore_ascii_case(p))
    })?;
    if s[..i]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
    {
        return None;
    }
    let len = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`' | '|'))
        .unwrap_or(rest.len());
    let mut url = &rest[..len];
    // A closing bracket is the sentence's unless the URL opened it.
    let excess = |open, close| {
        url.matches(close)
            .count()
            .saturating_sub(url.matches(open).count())
    };
    let (mut parens, mut brackets) = (excess('(', ')'), excess('[', ']'));
    while let Some(last) = url.chars().next_back() {
        match last {
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' | '~' | '”' | '’' | '…' | '»' =>
                {}
            ')' if parens > 0 => parens -= 1,
            ']' if brackets > 0 => brackets -= 1,
            _ => break,
        }
        url = &url[..url.len() - last.len_utf8()];
    }
    (url.len() > scheme.len()).then_some(i + url.len())
}

// ---------------------------------------------------------------------------
// Emoji
// ---------------------------------------------------------------------------

/// Replaces `:code:` with its emoji where known; unknown codes stay as typed.
/// The Slack import uses it too, so archives and rendering agree on codes.
pub fn emojify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut from) = (0, 0);
    // (source end, offset in `out`, emoji) of the emoji just written, so a
    // following `:skin-tone-N:` can re-tone it and `::`-chained codes work.
    let mut last: Option<(usize, usize, &'static emojis::Emoji)> = None;
    while let Some(found) = text[from..].find(':') {
        let at = from + found;
        let start = at + 1;
        from = start;
        let len = text[start..]
            .bytes()
            .take(41)
            .take_while(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b))
            .count();
        if len == 0 || len > 40 || text.as_bytes().get(start + len) != Some(&b':') {
            continue;
        }
        let (code, end) = (&text[start..start + len], start + len + 1);
        let chained = last.filter(|(e, ..)| *e == at);
        if let Some((_, offset, emoji)) = chained
            && let Some(tone) = slack_skin_tone(code)
        {
            if let Some(toned) = emoji.with_skin_tone(tone) {
                out.truncate(offset);
                out.push_str(toned.as_str());
            }
            (last, copied, from) = (None, end, end);
            continue;
        }
        // Times (12:30:45), ports and `a::b` paths must not turn into emoji;
        // glued codes ("question:wave:") are common in chat, so a word
        // character before the colon is fine for codes of three or more.
        let boundary = match text[..at].chars().next_back() {
            Some(':') => chained.is_some(),
            Some(c) if c.is_alphanumeric() => len >= 3,
            _ => true,
        };
        let plausible = code.bytes().any(|b| b.is_ascii_lowercase())
            || matches!(code, "+1" | "-1" | "100" | "1234");
        if boundary
            && plausible
            && let Some(emoji) = lookup_emoji(code)
        {
            out.push_str(&text[copied..at]);
            last = Some((end, out.len(), emoji));
            out.push_str(emoji.as_str());
            (copied, from) = (end, end);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Slack short names that neither gemoji nor the Unicode name spell the same way.
const SLACK_EMOJI_ALIASES: &[(&str, &str)] = &[
    ("scales", "balance_scale"),
    ("hugging_face", "hugs"),
    ("simple_smile", "slightly_smiling_face"),
    ("the_horns", "metal"),
    ("face_palm", "facepalm"),
    ("grinning_face_with_star_eyes", "star_struck"),
    ("face_with_rolling_eyes", "roll_eyes"),
    ("white_frowning_face", "frowning_face"),
    ("thinking_face", "thinking"),
    ("slightly_smiling", "slightly_smiling_face"),
];

fn lookup_emoji(code: &str) -> Option<&'static emojis::Emoji> {
    // Slack spells many codes with hyphens or by Unicode name
    // (`woman-raising-hand`) where gemoji has its own alias.
    static BY_NAME: LazyLock<HashMap<String, &'static emojis::Emoji>> =
        LazyLock::new(|| emojis::iter().map(|e| (emoji_key(e.name()), e)).collect());
    let by_any = |code: &str| {
        emojis::get_by_shortcode(code)
            .or_else(|| BY_NAME.get(&emoji_key(code)).copied())
            .or_else(|| emojis::get_by_shortcode(&code.replace('-', "_")))
    };
    if let Some(e) = by_any(code) {
        return Some(e);
    }
    if let Some(&(_, alias)) = SLACK_EMOJI_ALIASES.iter().find(|(slack, _)| *slack == code) {
        return emojis::get_by_shortcode(alias);
    }
    if let Some(country) = code.strip_prefix("flag-") {
        return emojis::get_by_shortcode(country).filter(|e| e.group() == emojis::Group::Flags);
    }
    // Slack's older gendered names: `female-technologist` is gemoji's `woman_technologist`.
    if let Some(rest) = code.strip_prefix("female-") {
        return by_any(&format!("woman_{rest}"));
    }
    by_any(&format!("man_{}", code.strip_prefix("male-")?))
}

/// Unicode names and Slack codes compared alike: `Woman Raising Hand`, `woman-raising-hand`.
fn emoji_key(name: &str) -> String {
    name.replace([' ', '-'], "_").to_ascii_lowercase()
}

fn slack_skin_tone(code: &str) -> Option<emojis::SkinTone> {
    use emojis::SkinTone::*;
    let tones = [Light, MediumLight, Medium, MediumDark, Dark];
    let n: usize = code.strip_prefix("skin-tone-")?.parse().ok()?;
    tones.get(n.checked_sub(2)?).copied()
}

// ---------------------------------------------------------------------------
// Plain text
// ---------------------------------------------------------------------------

/// Plain text of an event stream; with `keep_urls`, a link whose text is
/// not its URL is followed by ` <url>`.
fn plain_text_with(events: Vec<Event<'_>>, keep_urls: bool) -> String {
    let mut out = String::new();
    // The open link's URL and where its text starts in `out`.
    let mut link: Option<(String, usize)> = None;
    // Next number of each open list (None for bullets), innermost last.
    let mut lists: Vec<Option<u64>> = Vec::new();
    // Per open item, the indentation that lines its further lines up under its text.
    let mut hangs: Vec<usize> = Vec::new();
    let (mut in_code_block, mut after_marker) = (false, false);
    for event in events {
        match event {
            Event::Start(
                Tag::Paragraph | Tag::Heading { .. } | Tag::CodeBlock(_) | Tag::BlockQuote(_),
            ) => {
                if !after_marker {
                    block_break(&mut out, !lists.is_empty());
                }
                in_code_block = matches!(event, Event::Start(Tag::CodeBlock(_)));
            }
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Start(Tag::List(first)) => {
                block_break(&mut out, !lists.is_empty());
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                block_break(&mut out, true);
                let indent = "  ".repeat(lists.len().saturating_sub(1));
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{indent}{}. ", *n - 1)
                    }
                    _ => format!("{indent}- "),
                };
                out.push_str(&marker);
                hangs.push(marker.len());
                after_marker = true;
                continue;
            }
            Event::End(TagEnd::Item) => {
                hangs.pop();
            }
            Event::Start(Tag::Link { ref dest_url, .. }) if keep_urls => {
                link = Some((dest_url.to_string(), out.len()));
            }
            Event::End(TagEnd::Link) if keep_urls => {
                if let Some((url, at)) = link.take() {
                    let label = out[at.min(out.len())..].trim();
                    let shown = url.strip_prefix("mailto:").unwrap_or(&url);
                    let same = |a: &str, b: &str| {
                        a.trim_end_matches('/')
                            .eq_ignore_ascii_case(b.trim_end_matches('/'))
                    };
                    // The label may be the URL before normalization.
                    let normalized = url::Url::parse(label).map(String::from);
                    if label.is_empty() {
                        out.push_str(shown);
                    } else if !same(label, shown)
                        && !same(label, &url)
                        && normalized.as_deref() != Ok(url.as_str())
                    {
                        out.push_str(&format!(" <{shown}>"));
                    }
                }
            }
            Event::Rule => block_break(&mut out, false),
            Event::Text(t) | Event::Code(t) if in_code_block => out.push_str(&t),
            Event::Text(t) | Event::Code(t) => push_spaced(&mut out, &t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => {
                out.push('\n');
                out.push_str(&" ".repeat(hangs.last().copied().unwrap_or(0)));
            }
            _ => {}
        }
        after_marker = false;
    }
    let mut tidy = String::with_capacity(out.len());
    for line in out.trim().lines().map(str::trim_end) {
        // At most one blank line in a row.
        if !(line.is_empty() && tidy.ends_with("\n\n")) {
            tidy.push_str(line);
            tidy.push('\n');
        }
    }
    drop_forbidden_chars(tidy.trim_end())
}

/// Appends `text` with each tab as a space and no space right after
/// another.
fn push_spaced(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = memchr::memchr2(b' ', b'\t', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        if !out.ends_with(' ') {
            out.push(' ');
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// Ends the current line, and unless `tight`, leaves a blank line.
fn block_break(out: &mut String, tight: bool) {
    while !out.is_empty() && !out.ends_with(if tight { "\n" } else { "\n\n" }) {
        out.push('\n');
    }
}

#[cfg(test)]
mod plain_field_tests {
    use super::plain_field;

    #[test]
    fn plain_fields_lose_tags_and_keep_words() {
        assert_eq!(
            plain_field("Hostile <b>Title</b> & Friends ]]>"),
            "Hostile Title & Friends ]]>"
        );
        assert_eq!(plain_field("a <script>alert(1)</script> b"), "a  b");
        assert_eq!(plain_field("x < y and y > z"), "x < y and y > z");
        assert_eq!(
            plain_field("shown as &lt;b&gt;bold&lt;/b&gt;"),
            "shown as bold"
        );
        assert_eq!(
            plain_field("Reliable Machine Learning"),
            "Reliable Machine Learning"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn chat(src: &str, html: &str, plain: &str) {
        assert_eq!(chat_to_html(src), html, "HTML of {src:?}");
        assert_eq!(chat_to_plain(src), plain, "plain text of {src:?}");
    }

    const REL: &str = "rel=\"nofollow noopener noreferrer\"";

    // --- entities -------------------------------------------------------

    #[test]
    fn decodes_entities_once() {
        let src = "if a &gt; b &amp;&amp; c &lt; d";
        chat(
            src,
            "<p>if a &gt; b &amp;&amp; c &lt; d</p>\n",
            "if a > b && c < d",
        );
        // Double-encoded text shows its once-decoded form, never the markup.
        chat(
            "&amp;lt;b&amp;gt;",
            "<p>&amp;lt;b&amp;gt;</p>\n",
            "&lt;b&gt;",
        );
        assert_eq!(
            chat_to_plain("&quot;hi&quot; &#39;x&#39; &#x1F600;"),
            "\"hi\" 'x' 😀"
        );
        assert_eq!(
            markdown_to_html("AT&amp;T &amp;lt;"),
            "<p>AT&amp;T &amp;lt;</p>\n"
        );
        assert_eq!(markdown_to_plain("a <b>c</b> &amp;lt;"), "a <b>c</b> &lt;");
    }

    #[test]
    fn keeps_bare_ampersand_and_less_than() {
        chat("a < b & c", "<p>a &lt; b &amp; c</p>\n", "a < b & c");
        for src in ["R&D, Q&A, AT&T;", "&unknown; &#; &#xZZ;"] {
            assert_eq!(chat_to_plain(src), src);
        }
    }

    #[test]
    fn decodes_entities_in_code_and_urls_once() {
        let html = chat_to_html("look for `gym &lt;search term&gt; environment`");
        assert!(
            html.contains("<code>gym &lt;search term&gt; environment</code>"),
            "{html}"
        );
        let html = chat_to_html("[talk](https://youtube.com/watch?v=x&amp;list=y)");
        assert!(
            html.contains("href=\"https://youtube.com/watch?v=x&amp;list=y\""),
            "{html}"
        );
        assert!(!html.contains("&amp;amp;"), "{html}");
    }

    #[test]
    fn numeric_entity_for_control_char_is_replaced() {
        assert_eq!(chat_to_plain("a&#1;b&#0;c"), "a\u{FFFD}b\u{FFFD}c");
    }

    // --- Slack markup ---------------------------------------------------

    #[test]
    fn channel_mention_and_special_markup_is_readable() {
        chat(
            "see <#C01AXGTRESH|books>",
            "<p>see #books</p>\n",
            "see #books",
        );
        for (src, plain) in [
            (
                "I think <#C01AXGTRESH|books> would be better",
                "I think #books would be better",
            ),
            ("see <#C01AXGTRESH>", "see #channel"),
            ("<@U123ABC> hi", "@user hi"),
            ("<@U123ABC|alice> hi", "@alice hi"),
            ("<!here> and <!channel>", "@here and @channel"),
            ("<!subteam^S1|@data-team>", "@data-team"),
            // Not Slack markup: stays as typed.
            ("<!-- note --> <T>", "<!-- note --> <T>"),
        ] {
            assert_eq!(chat_to_plain(src), plain, "{src:?}");
        }
    }

    #[test]
    fn mailto_and_tel_markup_show_label() {
        let src = "mail <mailto:denise@gmail.com|denise@gmail.com> or call <tel:123|+1 23>";
        assert_eq!(chat_to_plain(src), "mail denise@gmail.com or call +1 23");
        let html = chat_to_html(src);
        let link = format!("<a href=\"mailto:denise@gmail.com\" {REL}>denise@gmail.com</a>");
        assert!(html.contains(&link), "{html}");
        assert!(
            html.contains("or call +1 23") && !html.contains("tel:"),
            "{html}"
        );
        assert_eq!(chat_to_plain("<tel:123>"), "123");
    }

    #[test]
    fn slack_links_with_and_without_label() {
        let html = chat_to_html("<https://example.com/a?b=1&amp;c=2|the site> and <https://x.org>");
        let link = format!("<a href=\"https://example.com/a?b=1&amp;c=2\" {REL}>the site</a>");
        assert!(html.contains(&link), "{html}");
        assert!(html.contains(">https://x.org</a>"), "{html}");
        assert_eq!(chat_to_plain("<https://example.com|the site>"), "the site");
        // A label is text: it cannot close the link or add markup.
        let html = chat_to_html("<https://x.org|]](javascript:alert(1)) *b*>");
        assert!(
            html.ends_with(">]](javascript:alert(1)) *b*</a></p>\n"),
            "{html}"
        );
    }

    // --- emoji ----------------------------------------------------------

    #[test]
    fn emoji_codes_become_emoji() {
        for (src, plain) in [
            (
                "thanks :slightly_smiling_face: :+1: :joy:",
                "thanks 🙂 👍 😂",
            ),
            // Slack spellings, glued and chained codes, Slack-only names, skin tones.
            ("question:woman-raising-hand:", "question🙋‍♀️"),
            (":relaxed::relaxed:", "☺️☺️"),
            (
                ":scales: :100: :female-technologist: :flag-us: :hugging_face: :the_horns:",
                "⚖️ 💯 👩‍💻 🇺🇸 🤗 🤘",
            ),
            ("great :clap::skin-tone-2:", "great 👏🏻"),
        ] {
            assert_eq!(chat_to_plain(src), plain, "{src:?}");
        }
    }

    #[test]
    fn unknown_codes_times_paths_and_code_are_not_emoji() {
        for src in [
            "hi :blob_wave: :thank_you:",
            "at 12:30:45 ok",
            "std::new::Foo a:b:c",
            "urn:li:activity:1",
        ] {
            assert_eq!(chat_to_plain(src), src);
        }
        assert_eq!(chat_to_plain("`:joy:`"), ":joy:");
        let html = chat_to_html("http://x.org:8080:smile: done");
        assert!(!html.contains("😄\">"), "{html}");
    }

    // --- structure ------------------------------------------------------

    #[test]
    fn keeps_line_breaks_and_tidies_whitespace() {
        chat(
            "one\ntwo\n\nthree",
            "<p>one<br>\ntwo</p>\n<p>three</p>\n",
            "one\ntwo\n\nthree",
        );
        assert_eq!(chat_to_plain("one\ntwo\n\n\n\nthree"), "one\ntwo\n\nthree");
        assert_eq!(chat_to_plain("  a   b\t c  \n   d  "), "a b c\nd");
    }

    #[test]
    fn quotes_end_at_the_first_unmarked_line() {
        let html = chat_to_html("&gt; What do you like?\n&gt; \n&gt; more\nMy answer");
        let quote = "<blockquote>\n<p>What do you like?</p>\n<p>more</p>\n</blockquote>\n";
        assert_eq!(html, format!("{quote}<p>My answer</p>\n"));
        assert_eq!(chat_to_plain("&gt; quoted\nanswer"), "quoted\n\nanswer");
        assert_eq!(chat_to_plain("&gt;= 3.0 needed"), ">= 3.0 needed");
        // Quotes do not nest in chat.
        assert_eq!(
            chat_to_html("> > x"),
            "<blockquote>\n<p>&gt; x</p>\n</blockquote>\n"
        );
        let html = chat_to_html("&gt; - *Beautiful Soup:* free\n&gt; - *Selenium:* free");
        let items = "<li><strong>Beautiful Soup:</strong> free</li>\n<li><strong>Selenium:</strong> free</li>";
        assert_eq!(
            html,
            format!("<blockquote>\n<ul>\n{items}\n</ul>\n</blockquote>\n")
        );
    }

    #[test]
    fn lists_with_dash_bullet_and_numbers() {
        let html = chat_to_html("criteria:\n- one\n    ◦ nested _a_\n- two\n• three");
        let nested = "<ul>\n<li>nested <em>a</em></li>\n</ul>\n";
        let expected = format!(
            "<p>criteria:</p>\n<ul>\n<li>one\n{nested}</li>\n<li>two</li>\n<li>three</li>\n</ul>\n"
        );
        assert_eq!(html, expected);
        let html = chat_to_html("1. first\n2. second");
        assert_eq!(html, "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n");
        assert!(chat_to_html("so:\n3. third").contains("<ol start=\"3\">"));
        let src = "x\n- one\n    ◦ nested\n▪︎ two\n  wrapped\n1. a\n2) b\nafter";
        let plain = "x\n\n- one\n  - nested\n- two\n  wrapped\n\n1. a\n2. b\n\nafter";
        assert_eq!(chat_to_plain(src), plain);
    }

    #[test]
    fn chat_has_no_headings_rules_or_indented_code() {
        let src =
            "# of users\nSome tools:\n=====\n    indented\n---\n2021. was good\n[1]: https://x.org";
        let html = chat_to_html(src);
        let text =
            "# of users<br>\nSome tools:<br>\n=====<br>\nindented<br>\n---<br>\n2021. was good";
        assert_eq!(
            html,
            format!("<p>{text}<br>\n[1]: <a href=\"https://x.org/\" {REL}>https://x.org</a></p>\n")
        );
        assert_eq!(chat_to_plain("\n\n    indented"), "indented");
    }

    // --- inline formatting ----------------------------------------------

    #[test]
    fn slack_bold_and_italic() {
        let html = chat_to_html("advise *against* it, _really_, ~not~ **this**");
        let expected = "advise <strong>against</strong> it, <em>really</em>, <del>not</del> <strong>this</strong>";
        assert_eq!(html, format!("<p>{expected}</p>\n"));
        chat(
            "*bold _both_*",
            "<p><strong>bold <em>both</em></strong></p>\n",
            "bold both",
        );
    }

    #[test]
    fn intraword_markers_and_backslashes_stay_text() {
        let src = "snake_case_name 2*3*4 ~15-20% and ~20% a * b * C:\\x \\_y";
        chat(src, &format!("<p>{src}</p>\n"), src);
        assert_eq!(chat_to_plain("`a\\*b`"), "a\\*b");
    }

    #[test]
    fn fenced_code_kept() {
        let src = "before\n```&gt;&gt;&gt; import spacy\n    x = 1 &amp; 2\n# comment```\nafter";
        let code = "&gt;&gt;&gt; import spacy\n    x = 1 &amp; 2\n# comment";
        let html = format!("<p>before</p>\n<pre><code>{code}</code></pre>\n<p>after</p>\n");
        chat(
            src,
            &html,
            "before\n\n>>> import spacy\n    x = 1 & 2\n# comment\n\nafter",
        );
        let html = chat_to_html("```Which *algorithms*?```\nThat one");
        assert_eq!(
            html,
            "<pre><code>Which *algorithms*?</code></pre>\n<p>That one</p>\n"
        );
        let html = chat_to_html("```python\nprint(1)\n```");
        assert_eq!(html, "<pre><code>print(1)</code></pre>\n");
        // An unclosed fence is text.
        assert_eq!(chat_to_plain("use ``` to fence"), "use ``` to fence");
        assert_eq!(chat_to_plain("```py\nx"), "```py\nx");
        // The exporter's `[url](url)` shows once in code.
        let src = "```pip install [https://x.org/a.tar.gz](https://x.org/a.tar.gz)```";
        assert_eq!(chat_to_plain(src), "pip install https://x.org/a.tar.gz");
    }

    // --- links ----------------------------------------------------------

    #[test]
    fn markdown_link_kept_with_rel() {
        let html = chat_to_html("read [the paper](https://hstore.cs.brown.edu/p.pdf).");
        let link = format!("<a href=\"https://hstore.cs.brown.edu/p.pdf\" {REL}>the paper</a>");
        assert_eq!(html, format!("<p>read {link}.</p>\n"));
        let html = markdown_to_html("[site](https://dataintensive.net/ \"The site\")");
        let link = format!("<a href=\"https://dataintensive.net/\" {REL}>site</a>");
        assert_eq!(html, format!("<p>{link}</p>\n"));
        // The exporter leaves a stray `>` from Slack's `<url>`.
        let html = chat_to_html("[a](https://x.org/b/>)");
        assert!(html.contains("href=\"https://x.org/b/\""), "{html}");
    }

    #[test]
    fn bare_urls_are_autolinked_without_trailing_punctuation() {
        let html = chat_to_html(
            "see https://en.wikipedia.org/wiki/Foo_(bar). and (http://Rosalind.info).",
        );
        let wiki = "https://en.wikipedia.org/wiki/Foo_(bar)";
        assert!(
            html.contains(&format!("<a href=\"{wiki}\" {REL}>{wiki}</a>.")),
            "{html}"
        );
        assert!(html.contains(">http://Rosalind.info</a>)."), "{html}");
        assert_eq!(
            chat_to_plain("go to https://x.org/a_b_c now"),
            "go to https://x.org/a_b_c now"
        );
        // Emphasis markers inside a URL are part of it; a trailing one closes the emphasis.
        let html = chat_to_html("_see https://x.org/a_b_c now_");
        assert!(
            html.contains("<em>see <a href=\"https://x.org/a_b_c\""),
            "{html}"
        );
        let html = chat_to_html("_see https://x.org/a_b_");
        assert!(
            html.contains("<em>see <a href=\"https://x.org/a_b\""),
            "{html}"
        );
    }

    #[test]
    fn unsafe_and_relative_links_are_dropped_keeping_text() {
        for src in [
            "[click me](javascript:alert(1))",
            "[click me](JavaScript:alert(1))",
            "[click me](data:text/html;base64,PHNjcmlwdD4=)",
            "[click me](vbscript:msgbox(1))",
            "<javascript:alert(1)|click me>",
        ] {
            let html = chat_to_html(src);
            assert!(!html.to_lowercase().contains("script:"), "{src} → {html}");
            assert!(!html.contains("data:"), "{src} → {html}");
            // Markdown has no Slack markup: the last one is text there.
            for html in [html, markdown_to_html(src)] {
                assert!(
                    !html.contains("<a") && html.contains("click me"),
                    "{src} → {html}"
                );
            }
        }
        assert_eq!(
            markdown_to_html("<javascript:alert(1)>"),
            "<p>javascript:alert(1)</p>\n"
        );
        assert_eq!(chat_to_plain("[click me](javascript:alert(1))"), "click me");
        for src in [
            "[about](/about)",
            "[about](about.html)",
            "[about](//evil.example/x)",
        ] {
            assert_eq!(chat_to_html(src), "<p>about</p>\n");
            assert_eq!(markdown_to_html(src), "<p>about</p>\n");
        }
    }

    #[test]
    fn markdown_autolinks_are_kept() {
        let x = format!("<a href=\"https://x.org/\" {REL}>https://x.org</a>");
        let me = format!("<a href=\"mailto:me@x.org\" {REL}>me@x.org</a>");
        assert_eq!(
            markdown_to_html("<https://x.org> <me@x.org>"),
            format!("<p>{x} {me}</p>\n")
        );
    }

    #[test]
    fn images_become_links() {
        let html = markdown_to_html("![cover](https://x.org/c.jpg)");
        assert_eq!(
            html,
            format!("<p><a href=\"https://x.org/c.jpg\" {REL}>cover</a></p>\n")
        );
        let html = markdown_to_html("![](https://x.org/c.jpg)");
        let link = format!("<a href=\"https://x.org/c.jpg\" {REL}>https://x.org/c.jpg</a>");
        assert_eq!(html, format!("<p>{link}</p>\n"));
        assert_eq!(markdown_to_html("![x](javascript:alert(1))"), "<p>x</p>\n");
        assert!(chat_to_html("see ![chart](https://x.org/c.png)").contains(">chart</a>"));
    }

    // --- safety ---------------------------------------------------------

    #[test]
    fn script_tag_is_harmless_text() {
        let src = "question <script>alert(1)</script>?";
        chat(
            src,
            "<p>question &lt;script&gt;alert(1)&lt;/script&gt;?</p>\n",
            src,
        );
        for src in [src, "<script>\nalert(1)\n</script>\n\ntext"] {
            let html = markdown_to_html(src);
            assert!(
                !html.contains("<script") && html.contains("&lt;script&gt;"),
                "{html}"
            );
        }
    }

    #[test]
    fn img_onerror_is_harmless() {
        let escaped = "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n";
        assert_eq!(chat_to_html("<img src=x onerror=alert(1)>"), escaped);
        assert_eq!(markdown_to_html("<img src=x onerror=alert(1)>"), escaped);
        // Entity-encoded markup decodes to visible text, not to tags.
        assert_eq!(chat_to_html("&lt;img src=x onerror=alert(1)&gt;"), escaped);
    }

    #[test]
    fn quotes_in_text_are_escaped() {
        let html = chat_to_html("click <a href=\"javascript:alert(3)\">x</a> it's");
        let text = "click &lt;a href=&quot;javascript:alert(3)&quot;&gt;x&lt;/a&gt; it&#39;s";
        assert_eq!(html, format!("<p>{text}</p>\n"));
        let html = markdown_to_html("<a href='vbscript:msgbox(6)'>v</a>");
        assert!(
            !html.contains("href='") && !html.contains("href=\""),
            "{html}"
        );
        // Attribute quotes are untouched, and an odd mailto cannot break out.
        let html = chat_to_html("[mail](mailto:a\"b>c@x.org) \"q\"");
        assert!(
            html.starts_with("<p><a href=\"mailto:a%22b%3Ec@x.org\" rel="),
            "{html}"
        );
        assert!(html.ends_with(">mail</a> &quot;q&quot;</p>\n"), "{html}");
    }

    #[test]
    fn cdata_end_and_unbalanced_tags_are_text() {
        chat(
            "a ]]> b `]]>`",
            "<p>a ]]&gt; b <code>]]&gt;</code></p>\n",
            "a ]]> b ]]>",
        );
        assert!(!markdown_to_html("a ]]> b").contains("]]>"));
        let html = chat_to_html("</p><b>bold <i>x</div>");
        assert_eq!(
            html,
            "<p>&lt;/p&gt;&lt;b&gt;bold &lt;i&gt;x&lt;/div&gt;</p>\n"
        );
        let html = markdown_to_html("</p><b>bold <i>x</div>");
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
    }

    #[test]
    fn strips_control_characters_and_keeps_xml_safe() {
        let src = "a\u{0}b\u{7}c\u{1b}[31m\r\nd\re\u{FFFF}\t";
        assert_eq!(chat_to_plain(src), "abc[31m\nd\ne");
        for html in [chat_to_html(src), markdown_to_html(src)] {
            assert!(!html.contains(is_forbidden_char), "{html:?}");
        }
        assert_eq!(chat_to_html("a&nbsp;b"), "<p>a&#160;b</p>\n");
    }

    // --- markdown -------------------------------------------------------

    #[test]
    fn markdown_is_commonmark() {
        let src = "## Inside\n\n*em* **strong** ~~del~~\n\n- a\n- b\n\n```rust\nfn x() {}\n```";
        let html = "<h2>Inside</h2>\n<p><em>em</em> <strong>strong</strong> <del>del</del></p>\n\
                    <ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<pre><code>fn x() {}\n</code></pre>\n";
        assert_eq!(markdown_to_html(src), html);
        // Comments are dropped, other raw HTML shows as text.
        assert_eq!(
            markdown_to_html("<!-- TODO -->\n\ntext <!-- x -->"),
            "<p>text </p>\n"
        );
    }

    #[test]
    fn markdown_to_plain_removes_markup() {
        let src = "## What's inside\n\nSoft\nwrapped *text* with [a link](https://x.org).\n\n\
                   - one\n- two\n\n1. a\n2. b\n\n```\n  code  kept\n```";
        let plain = "What's inside\n\nSoft wrapped text with a link.\n\n- one\n- two\n\n1. a\n2. b\n\n  code  kept";
        assert_eq!(markdown_to_plain(src), plain);
    }

    // --- truncation -----------------------------------------------------

    #[test]
    fn truncate_cuts_at_word_boundary() {
        assert_eq!(truncate_words("the quick brown fox", 12), "the quick…");
        assert_eq!(truncate_words("the quick brown fox", 10), "the quick…");
        assert_eq!(truncate_words("the quick, brown fox", 12), "the quick…");
        assert_eq!(truncate_words("short", 5), "short");
        assert_eq!(truncate_words("", 3), "");
        assert_eq!(truncate_words("anything", 0), "");
    }

    #[test]
    fn truncate_cuts_long_word_without_splitting_emoji() {
        assert_eq!(truncate_words("Supercalifragilistic", 6), "Super…");
        assert_eq!(truncate_words("ab👍🏽cd", 4), "ab…");
        assert_eq!(truncate_words("ééééééééé", 5), "éééé…");
    }

    // --- robustness -----------------------------------------------------

    /// Fragments that exercise every branch, including broken ones.
    const FUZZ_TOKENS: &[&str] = &[
        "*",
        "**",
        "_",
        "__",
        "~",
        "`",
        "``",
        "```",
        "<",
        ">",
        "&",
        "&gt;",
        "&lt;",
        "&amp;",
        "&#x1F600;",
        "&#0;",
        "&#",
        "[",
        "]",
        "(",
        ")",
        "](",
        "![",
        ":",
        "::",
        ":joy:",
        ":skin-tone-3:",
        ":+1:",
        "https://",
        "http://x.org/a_b",
        "https://é.org/(x)",
        "<https://a.b|",
        "<#C1|",
        "<@U1",
        "<!here",
        "<mailto:a@b.c|",
        "|",
        "\n",
        "\n\n",
        " ",
        "  ",
        "\t",
        "- ",
        "1. ",
        "    ◦ ",
        "• ",
        "> ",
        "&gt; ",
        "é",
        "👍🏽",
        "\u{200D}",
        "\u{0}",
        "\r",
        "]]>",
        "<script>",
        "javascript:",
        "word",
        "12:30:45",
        "```py\n",
        "\\",
        "#",
        "===",
    ];

    #[test]
    fn random_markup_never_panics_or_leaks_html() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..1500 {
            let len = (next() % 24) as usize;
            let src: String = (0..len)
                .map(|_| FUZZ_TOKENS[(next() % FUZZ_TOKENS.len() as u64) as usize])
                .collect();
            for html in [chat_to_html(&src), markdown_to_html(&src)] {
                assert!(!html.contains("<script"), "{src:?} → {html}");
                assert!(!html.contains("javascript:\""), "{src:?} → {html}");
                assert!(!html.contains(is_forbidden_char), "{src:?} → {html:?}");
            }
            for plain in [chat_to_plain(&src), markdown_to_plain(&src)] {
                assert!(!plain.contains(is_forbidden_char), "{src:?} → {plain:?}");
                let cut = truncate_words(&plain, (next() % 40) as usize);
                assert!(cut.chars().count() <= 40, "{plain:?} → {cut:?}");
            }
        }
    }

    /// One 90 KB message of inputs that make naive parsers (and html5ever, on
    /// deep trees) quadratic renders; how fast belongs in benchmarks.
    #[test]
    fn hostile_90kb_message_renders() {
        let units = [
            "[", "*a", "<a|", "`[", "![", ":a", "http://[", "> ", "1. ", "*_", "- a\n",
        ];
        let segments: Vec<String> = units.iter().map(|u| u.repeat(8_000 / u.len())).collect();
        let src = segments.join("\n\n");
        for render in [
            chat_to_html,
            chat_to_plain,
            markdown_to_html,
            markdown_to_plain,
        ] {
            assert!(!render(&src).contains("<script"));
        }
    }

    // --- real data ------------------------------------------------------

    /// Every message text (posts and replies) of the books in `dir`, read
    /// with serde_yaml rather than bookweek's own loader.
    pub(super) fn messages_in(dir: &std::path::Path) -> Vec<String> {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut messages = Vec::new();
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('_') || !name.ends_with(".md") {
                continue;
            }
            let raw = std::fs::read_to_string(&path).unwrap();
            let front = raw
                .strip_prefix("---\n")
                .and_then(|r| r.split_once("\n---"))
                .map(|(f, _)| f)
                .unwrap_or_else(|| panic!("{name}: no front matter"));
            let doc: serde_yaml::Value =
                serde_yaml::from_str(front).unwrap_or_else(|e| panic!("{name}: {e}"));
            let threads = doc.get("archive").and_then(|a| a.as_sequence());
            for thread in threads.into_iter().flatten() {
                let replies = thread.get("replies").and_then(|r| r.as_sequence());
                for msg in std::iter::once(thread).chain(replies.into_iter().flatten()) {
                    if let Some(t) = msg.get("text").and_then(|t| t.as_str()) {
                        messages.push(t.to_string());
                    }
                }
            }
        }
        messages
    }

    fn assert_render_safely(messages: &[String]) {
        let bad = |s: &str| -> Option<&'static str> {
            ["<script", "onerror", "javascript:", "&amp;gt;", "&amp;amp;"]
                .into_iter()
                .find(|needle| s.contains(needle))
                .or_else(|| s.contains(is_forbidden_char).then_some("control character"))
        };
        for msg in messages {
            let html = chat_to_html(msg);
            assert!(
                bad(&html).is_none(),
                "{:?} in HTML of {msg:?}:\n{html}",
                bad(&html)
            );
            let plain = chat_to_plain(msg);
            assert!(
                bad(&plain).is_none(),
                "{:?} in plain of {msg:?}:\n{plain}",
                bad(&plain)
            );
            assert!(
                !plain.contains("&gt;") && !plain.contains("&amp;"),
                "undecoded entity in {plain:?}"
            );
        }
    }

    /// The real books copied into tests/fixtures/corpus: entities, bare `&`
    /// and `<`, leftover chat markup, fences, emoji codes.
    #[test]
    fn corpus_sample_messages_render_safely() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/books");
        let messages = messages_in(&dir);
        assert_eq!(messages.len(), 1142, "messages in {}", dir.display());
        assert_render_safely(&messages);
    }

    #[test]
    #[ignore = "needs the whole corpus in BOOKWEEK_CORPUS; run by .ci/run"]
    fn whole_corpus_messages_render_safely() {
        let dir = std::env::var_os("BOOKWEEK_CORPUS")
            .map(std::path::PathBuf::from)
            .expect("set BOOKWEEK_CORPUS to the folder of the real corpus");
        let messages = messages_in(&dir.join("books"));
        assert!(
            messages.len() > 3000,
            "only {} messages found",
            messages.len()
        );
        assert_render_safely(&messages);
    }
}

#[cfg(test)]
mod reading_tests {
    use super::*;

    #[test]
    fn a_long_url_as_link_text_is_shortened_in_html_only() {
        let long = "https://www.usenix.org/conference/srecon22emea/presentation/underwood";
        let html = chat_to_html(&format!("talks: {long}"));
        assert_eq!(
            html,
            format!(
                "<p>talks: <a href=\"{long}\" rel=\"nofollow noopener noreferrer\">usenix.org/conference/srecon22emea/pres…</a></p>\n"
            )
        );
        assert_eq!(
            chat_to_text(&format!("talks: {long}")),
            format!("talks: {long}")
        );
        // A short one, and a label that is not a URL, stay as written.
        assert!(chat_to_html("see https://x.org/a").contains(">https://x.org/a</a>"));
        assert!(markdown_to_html(&format!("[the talk]({long})")).contains(">the talk</a>"));
        assert_eq!(short_url("https://a.org/"), "https://a.org/");
        assert_eq!(
            short_url("https://example.org/a/very/long/path/that/goes/on?and=on&on=1"),
            "example.org/a/very/long/path/that/goes/…"
        );
    }

    #[test]
    fn text_for_reading_keeps_every_links_url() {
        assert_eq!(
            chat_to_text("see [this leaderboard](https://x.org/lb)."),
            "see this leaderboard <https://x.org/lb>."
        );
        assert_eq!(
            chat_to_text("<https://x.org/docs|the docs> and <mailto:a@b.org|mail me>"),
            "the docs <https://x.org/docs> and mail me <a@b.org>"
        );
        // A URL that is its own label is not repeated.
        assert_eq!(
            chat_to_text("[https://x.org/a](https://x.org/a) and https://x.org/b"),
            "https://x.org/a and https://x.org/b"
        );
        assert_eq!(
            markdown_to_text("Read [the book](https://x.org/book)"),
            "Read the book <https://x.org/book>"
        );
        // What feeds' plain fields get is unchanged: labels only.
        assert_eq!(
            chat_to_plain("see [this leaderboard](https://x.org/lb)."),
            "see this leaderboard."
        );
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_keeps_urls_whole() {
        let url = "https://example.org/a/very/long/path/that/is/longer/than/the/line/itself/by/far";
        let src = format!(
            "    Monitoring starts with agreeing what healthy means, then measuring latency and freshness: {url} and more.\n- a list item whose text is long enough to need a second line when wrapped at forty\n-- "
        );
        let wrapped = wrap(&src, 40);
        for line in wrapped.lines() {
            assert!(
                line.chars().count() <= 40 || line.trim() == url,
                "{line:?} in\n{wrapped}"
            );
        }
        assert!(
            wrapped.lines().any(|l| l == format!("    {url}")),
            "{wrapped}"
        );
        assert!(wrapped.contains("\n    Monitoring") || wrapped.starts_with("    Monitoring"));
        // Continuation lines keep the indentation and the item's hang.
        assert!(wrapped.contains("\n  to need a second"), "{wrapped}");
        assert!(wrapped.ends_with("\n-- "), "the signature marker stays");
        assert_eq!(
            wrapped.split_whitespace().collect::<Vec<_>>(),
            src.split_whitespace().collect::<Vec<_>>(),
            "no word lost or split"
        );
    }

    #[test]
    fn an_excerpt_keeps_whole_blocks_and_says_when_it_cut() {
        let body = "First paragraph, short.\n\n## Inside\n\nSecond paragraph with a [link](https://x.org/l).\n\n- one\n- two\n";
        let all = markdown_excerpt(body, 1000);
        assert!(!all.cut);
        assert!(
            all.html.contains("<p><strong>Inside</strong></p>"),
            "{}",
            all.html
        );
        assert!(!all.html.contains("<h2"), "{}", all.html);
        let some = markdown_excerpt(body, 60);
        assert!(some.cut);
        assert_eq!(
            some.text,
            "First paragraph, short.\n\nInside\n\nSecond paragraph with a link <https://x.org/l>."
        );
        assert!(!some.html.contains("<li>"), "{}", some.html);
        assert_eq!(markdown_excerpt("", 100).html, "");
    }

    #[test]
    fn an_excerpt_cuts_a_long_first_paragraph_at_a_word() {
        let body = "Whether you're part of a small *startup or a multinational corporation*, this practical book shows how.";
        let e = markdown_excerpt(body, 40);
        assert!(e.cut);
        assert_eq!(e.text, "Whether you're part of a small startup…");
        assert_eq!(
            e.html,
            "<p>Whether you&#39;re part of a small <em>startup…</em></p>\n"
        );
    }

    /// Every URL a message links to in HTML is in its text for reading.
    fn urls_survive_in_text(messages: &[String]) {
        let mut links = 0;
        for m in messages {
            let html = chat_to_html(m);
            let text = chat_to_text(m);
            for href in html.split("href=\"").skip(1) {
                let href = href
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .replace("&amp;", "&");
                let shown = href.strip_prefix("mailto:").unwrap_or(&href);
                links += 1;
                let found = text.contains(shown)
                    || text.contains(shown.trim_end_matches('/'))
                    || url::Url::parse(shown).is_ok_and(|u| {
                        text.split_whitespace().any(|w| {
                            let w = w
                                .trim_start_matches(['<', '(', '['])
                                .trim_end_matches(|c: char| ">.,;:!?)\"'".contains(c));
                            url::Url::parse(w).is_ok_and(|v| v == u)
                        })
                    });
                assert!(found, "{href} missing from the text of {m:?}:\n{text}");
            }
        }
        assert!(links > 100, "only {links} links");
    }

    #[test]
    fn corpus_sample_links_keep_their_url_in_text() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/books");
        urls_survive_in_text(&super::tests::messages_in(&dir));
    }

    #[test]
    #[ignore = "needs the whole corpus in BOOKWEEK_CORPUS; run by .ci/run"]
    fn whole_corpus_links_keep_their_url_in_text() {
        let dir = std::env::var_os("BOOKWEEK_CORPUS")
            .map(std::path::PathBuf::from)
            .expect("set BOOKWEEK_CORPUS to the folder of the real corpus");
        urls_survive_in_text(&super::tests::messages_in(&dir.join("books")));
    }
}

/// The shortcuts taken for speed give what the plain formulations they
/// replaced give, on exhaustive short inputs and on the fixtures' texts.
#[cfg(test)]
mod shortcut_tests {
    use super::*;

    /// Every string of up to `len` pieces from `alphabet`.
    fn strings(alphabet: &[&str], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    /// Texts from the fixture books, read as plain files: whole files,
    /// paragraphs and lines, chat and markdown alike, hostile ones
    /// included.
    fn fixture_texts() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut texts = Vec::new();
        for set in ["corpus", "fuzz", "xss"] {
            let dir = root.join(set).join("books");
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect();
            files.sort();
            for file in files {
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue; // a fuzz file that is not UTF-8
                };
                texts.extend(text.split("\n\n").map(str::to_string));
                texts.extend(text.lines().map(str::to_string));
                texts.push(text);
            }
        }
        texts
    }

    #[test]
    fn normalize_input_is_the_replace_chain() {
        let reference = |s: &str| {
            s.replace("\r\n", "\n")
                .replace('\r', "\n")
                .replace(is_forbidden_char, "")
        };
        let alphabet = [
            "a", "\r", "\n", "\t", "\u{1}", "\u{85}", "\u{a0}", "\u{fffe}", "é",
        ];
        for s in strings(&alphabet, 4) {
            assert_eq!(normalize_input(&s), reference(&s), "{s:?}");
            assert_eq!(
                has_forbidden_char(&s),
                s.contains(is_forbidden_char),
                "{s:?}"
            );
        }
        // Past the 64-byte chunks the check reads at once.
        for at in [0, 63, 64, 65, 130] {
            let mut s = "x".repeat(140);
            s.insert(at, '\u{9f}');
            assert!(has_forbidden_char(&s), "{at}");
            assert_eq!(normalize_input(&s), reference(&s));
        }
        for text in fixture_texts() {
            assert_eq!(normalize_input(&text), reference(&text), "{text:?}");
        }
    }

    #[test]
    fn finish_html_is_the_three_passes() {
        // What sanitize_html did after the cleaner before it was one pass.
        fn escape_text_quotes(html: &str) -> String {
            let mut out = String::new();
            let (mut in_tag, mut in_value) = (false, false);
            for c in html.chars() {
                match c {
                    '<' if !in_tag => in_tag = true,
                    '>' if in_tag && !in_value => in_tag = false,
                    '"' if in_tag => in_value = !in_value,
                    '"' => out.push_str("&quot;"),
                    '\'' if !in_tag => out.push_str("&#39;"),
                    _ => {}
                }
                if in_tag || !matches!(c, '"' | '\'') {
                    out.push(c);
                }
            }
            out
        }
        let reference = |s: &str| {
            escape_text_quotes(s)
                .replace("&nbsp;", "&#160;")
                .replace(is_forbidden_char, "")
        };
        let alphabet = [
            "<", ">", "\"", "'", "&", "&nbsp;", "&nb", "sp;", "a", "\u{1}", "\u{9f}", "\u{a0}",
            "\u{ffff}", "é",
        ];
        for s in strings(&alphabet, 4) {
            assert_eq!(finish_html(&s), reference(&s), "{s:?}");
        }
        for text in fixture_texts() {
            assert_eq!(finish_html(&text), reference(&text), "{text:?}");
        }
    }

    #[test]
    fn push_spaced_is_the_character_loop() {
        let reference = |out: &mut String, t: &str| {
            for c in t.chars() {
                if !(matches!(c, ' ' | '\t') && out.ends_with(' ')) {
                    out.push(if c == '\t' { ' ' } else { c });
                }
            }
        };
        for start in ["", "x", "x ", "\n"] {
            for s in strings(&[" ", "\t", "a", "é", "\n"], 5) {
                let (mut a, mut b) = (start.to_string(), start.to_string());
                push_spaced(&mut a, &s);
                reference(&mut b, &s);
                assert_eq!(a, b, "{start:?} + {s:?}");
            }
        }
    }

    /// The HTML of `events` through the cleaner, and through the shortcut
    /// when the events allow it.
    fn both_ways(events: Vec<Event<'_>>) -> (String, Option<String>) {
        let events = shorten_url_labels(events);
        let simple = events.iter().all(is_simple);
        let mut html = String::new();
        push_html(&mut html, events.into_iter());
        (
            sanitize_html(&html),
            simple
                .then(|| as_cleaned(&html))
                .flatten()
                .map(|cleaned| finish_html(&cleaned)),
        )
    }

    #[test]
    fn the_cleaners_shortcut_gives_what_the_cleaner_gives() {
        let mut texts = fixture_texts();
        let alphabet = [
            "a", " ", "\n", "*", "_", "~", "`", "&", "<", ">", "\"", "'", "\u{a0}", "&amp;",
            "&nbsp;", "\\", "é", ":+1:",
        ];
        texts.extend(strings(&alphabet, 3));
        // Blocks and links, each after each.
        let blocks = [
            "- a\n",
            "1. b\n",
            "3) c\n",
            "> q\n",
            "* i\n  - j\n",
            "```\nx <y> & z\n```\n",
            "```rust\nfn\n```\n",
            "    code\n",
            "# h\n",
            "---\n",
            "\n",
            "[l](https://x.org/a?b=1&c=2#d)",
            "[q](https://x.org/'q')",
            "[s](<https://x.org/a b>)",
            "https://ex.org/p_(q)~r^s",
            "https://x.org/[a]{b}|c",
            "<https://x.org/&amp;>",
            "<mailto:a@b.c|mail>",
            "a@b.c <a@b.c>",
            "![i](https://x.org/i.png)",
            "[x](javascript:alert(1))",
            "http://[::1]:8080/p",
        ];
        texts.extend(strings(&blocks, 3));
        texts.extend(
            [
                "***strong and em***, ~~gone~~ and `code <b>`",
                "****x****",
                "line one\nline two\n\nparagraph  with   spaces\u{a0}and nbsp",
                "He said \"it's <fine>\" & left",
                "&#1; &#x9f; &#65534; &#0; &copy; &nbsp;",
                "<br /> <br> </p> <p>",
            ]
            .map(str::to_string),
        );
        let (mut simple, mut total) = (0, 0);
        for text in &texts {
            let md = slack_to_commonmark(&normalize_input(text));
            let src = normalize_input(text);
            for events in [chat_events(&md), events(&src, Flavour::Markdown)] {
                total += 1;
                let (cleaned, shortcut) = both_ways(events);
                if let Some(shortcut) = shortcut {
                    simple += 1;
                    assert_eq!(shortcut, cleaned, "{text:?}");
                }
            }
        }
        // Most texts take the shortcut, so the comparison means something.
        assert!(simple * 2 > total, "{simple} of {total}");
    }
}
