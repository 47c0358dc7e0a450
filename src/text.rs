//! Owns turning untrusted text — Slack-flavoured chat messages and editor-written
//! markdown — into safe HTML fragments and plain text. This is the only place in
//! the crate where untrusted text becomes HTML, and it knows nothing about books.
//!
//! Chat text is parsed by a small purpose-built parser rather than CommonMark:
//! Slack's rules differ (`*bold*`, a newline is a line break, `#`, `===` and
//! indentation mean nothing) and the export carries HTML entities that must be
//! decoded exactly once. The parser builds a tiny tree that is rendered either as
//! HTML or as plain text, so both outputs agree. Every HTML output then goes
//! through one allowlist-based `ammonia` cleaner as a second line of defence.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

/// Archive (chat) text → safe HTML fragment.
pub fn chat_to_html(src: &str) -> String {
    let src = normalize_input(src);
    let blocks = parse_chat(&src);
    let mut html = String::with_capacity(src.len() + src.len() / 4 + 16);
    write_blocks_html(&blocks, &mut html);
    sanitize_html(&html)
}

/// Editor-written markdown (a book's body/description, CommonMark) → safe HTML fragment.
pub fn markdown_to_html(src: &str) -> String {
    let src = normalize_input(src);
    let mut html = String::with_capacity(src.len() + src.len() / 4 + 16);
    pulldown_cmark::html::push_html(&mut html, safe_markdown_events(&src).into_iter());
    sanitize_html(&html)
}

/// Any of the above → plain text for plain-text fields (titles, summaries, email text part):
/// markup removed, entities decoded exactly once, chat markup cleaned, emoji codes replaced, whitespace tidied, line breaks kept as '\n'.
///
/// The text is read with the chat grammar, which also covers the markdown that
/// editors commonly write (`**bold**`, links, `-` lists, fences); use
/// [`markdown_to_plain`] when the source is known to be CommonMark.
/// Links keep only their label. The result is plain text: callers escape it.
pub fn chat_to_plain(src: &str) -> String {
    let src = normalize_input(src);
    let blocks = parse_chat(&src);
    let mut parts = Vec::new();
    plain_blocks(&blocks, &mut parts);
    strip_forbidden(parts.join("\n\n").trim().to_string())
}

/// Editor-written CommonMark → plain text, with the same guarantees as
/// [`chat_to_plain`]; soft-wrapped source lines are joined with a space.
pub fn markdown_to_plain(src: &str) -> String {
    let src = normalize_input(src);
    let mut out = String::with_capacity(src.len());
    // Next number of each open list (None for bullets), innermost last.
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut in_code_block = false;
    let mut after_marker = false;
    for event in safe_markdown_events(&src) {
        match event {
            Event::Start(
                Tag::Paragraph | Tag::Heading { .. } | Tag::CodeBlock(_) | Tag::BlockQuote(_),
            ) => {
                if !after_marker {
                    if lists.is_empty() {
                        block_break(&mut out);
                    } else {
                        line_break(&mut out);
                    }
                }
                if let Event::Start(Tag::CodeBlock(_)) = event {
                    in_code_block = true;
                }
            }
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Start(Tag::List(first)) => {
                if lists.is_empty() {
                    block_break(&mut out);
                } else {
                    line_break(&mut out);
                }
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                line_break(&mut out);
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
                after_marker = true;
                continue;
            }
            Event::Rule => block_break(&mut out),
            Event::Text(t) | Event::Code(t) => {
                if in_code_block {
                    out.push_str(&t);
                } else {
                    push_collapsed(&t, &mut out);
                }
            }
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            _ => {}
        }
        after_marker = false;
    }
    let tidy: Vec<&str> = out.lines().map(str::trim_end).collect();
    strip_forbidden(collapse_blank_lines(&tidy.join("\n")).trim().to_string())
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

fn normalize_input(src: &str) -> Cow<'_, str> {
    if !src.chars().any(|c| c == '\r' || is_forbidden_char(c)) {
        return Cow::Borrowed(src);
    }
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

fn strip_forbidden(s: String) -> String {
    if s.chars().any(is_forbidden_char) {
        s.chars().filter(|&c| !is_forbidden_char(c)).collect()
    } else {
        s
    }
}

/// Built once: the allowlist never changes and a site build cleans thousands
/// of messages.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(HashSet::from([
            "p",
            "br",
            "em",
            "strong",
            "del",
            "code",
            "pre",
            "blockquote",
            "ul",
            "ol",
            "li",
            "a",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr",
        ]))
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href"])),
            ("ol", HashSet::from(["start"])),
        ]))
        .generic_attributes(HashSet::new())
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        // Feeds are read far from the site, so a relative link would point nowhere.
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("nofollow noopener noreferrer"))
        .strip_comments(true);
    builder
});

fn sanitize_html(html: &str) -> String {
    let clean = escape_text_quotes(&CLEANER.clean(html).to_string());
    // html5ever writes U+00A0 as `&nbsp;`, which XML does not define.
    let clean = if clean.contains("&nbsp;") {
        clean.replace("&nbsp;", "&#160;")
    } else {
        clean
    };
    strip_forbidden(clean)
}

/// html5ever leaves quotes in text nodes unescaped. Escaping them as well means
/// visible text such as `<a href="javascript:…">` never appears in the
/// fragment in a form that naive downstream filters or templates could mistake
/// for an attribute.
fn escape_text_quotes(html: &str) -> String {
    #[derive(Clone, Copy)]
    enum At {
        Text,
        Tag,
        // ammonia always double-quotes attribute values.
        Value,
    }
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut at = At::Text;
    for c in html.chars() {
        match (at, c) {
            (At::Text, '<') => at = At::Tag,
            (At::Text, '"') => {
                out.push_str("&quot;");
                continue;
            }
            (At::Text, '\'') => {
                out.push_str("&#39;");
                continue;
            }
            (At::Tag, '"') => at = At::Value,
            (At::Tag, '>') => at = At::Text,
            (At::Value, '"') => at = At::Tag,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Only absolute http(s) and mailto links survive: feeds are read out of
/// context, and every other scheme (`javascript:`, `data:`, …) is a risk.
fn safe_href(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let ok = match url.scheme() {
        "http" | "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "mailto" => url.path().contains('@'),
        _ => false,
    };
    if !ok {
        return None;
    }
    // The url crate leaves these alone in opaque (mailto) paths; encoding them
    // keeps every href free of characters that could end an attribute or tag.
    let href = String::from(url);
    if !href.contains(['<', '>', '"', '\'', '`', ' ']) {
        return Some(href);
    }
    let mut encoded = String::with_capacity(href.len() + 8);
    for c in href.chars() {
        match c {
            '<' => encoded.push_str("%3C"),
            '>' => encoded.push_str("%3E"),
            '"' => encoded.push_str("%22"),
            '\'' => encoded.push_str("%27"),
            '`' => encoded.push_str("%60"),
            ' ' => encoded.push_str("%20"),
            c => encoded.push(c),
        }
    }
    Some(encoded)
}

fn escape_html_into(text: &str, out: &mut String) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

// ---------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------

/// Slack escapes only `&`, `<` and `>`, but people paste text carrying other
/// common entities; anything unknown is left as typed.
fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "micro" => 'µ',
        "para" => '¶',
        "sect" => '§',
        "iexcl" => '¡',
        "iquest" => '¿',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "harr" => '↔',
        "le" => '≤',
        "ge" => '≥',
        "ne" => '≠',
        "asymp" => '≈',
        "infin" => '∞',
        "hearts" => '♥',
        "star" => '☆',
        "check" => '✓',
        _ => return None,
    })
}

/// Decodes the entity starting at byte `i` (which holds `&`), returning the
/// character and the byte just past the `;`.
fn decode_entity_at(s: &str, i: usize) -> Option<(char, usize)> {
    let rest = s.get(i + 1..)?;
    let semi = rest.bytes().take(33).position(|b| b == b';')?;
    let name = &rest[..semi];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix(['x', 'X']) {
            if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(hex, 16).ok()?
        } else {
            if num.is_empty() || num.len() > 7 || !num.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            num.parse::<u32>().ok()?
        };
        match char::from_u32(code) {
            Some(c) if code != 0 && !is_forbidden_char(c) => c,
            _ => '\u{FFFD}',
        }
    } else {
        named_entity(name)?
    };
    Some((c, i + 1 + semi + 1))
}

/// Decodes entities exactly once: the output is never scanned again, so
/// `&amp;lt;` becomes the visible text `&lt;`.
fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(pos) = s[i..].find('&') {
        let amp = i + pos;
        match decode_entity_at(s, amp) {
            Some((c, end)) => {
                out.push_str(&s[last..amp]);
                out.push(c);
                last = end;
                i = end;
            }
            None => i = amp + 1,
        }
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------
// Chat document tree
// ---------------------------------------------------------------------------

#[derive(Debug)]
enum Block {
    Para(Vec<Inline>),
    /// Already entity-decoded.
    Code(String),
    Quote(Vec<Block>),
    List(List),
}

#[derive(Debug)]
struct List {
    ordered: bool,
    start: u64,
    items: Vec<Item>,
}

#[derive(Debug)]
struct Item {
    content: Vec<Inline>,
    sublists: Vec<List>,
}

/// Text held here is final (entity-decoded, emoji replaced); renderers only escape.
#[derive(Debug)]
enum Inline {
    Text(String),
    Code(String),
    Strong(Vec<Inline>),
    Em(Vec<Inline>),
    Del(Vec<Inline>),
    Link { href: String, content: Vec<Inline> },
    Break,
}

// ---------------------------------------------------------------------------
// Chat block parser
// ---------------------------------------------------------------------------

fn parse_chat(src: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut rest = src;
    // Slack fences can open and close mid-line and carry text right after the
    // opening backticks, so they are cut out before any line-based parsing.
    // An unclosed fence is just text.
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(close) = after.find("```") else {
            break;
        };
        parse_lines(&rest[..open], true, &mut blocks);
        let code = fenced_code_text(&after[..close]);
        if !code.is_empty() {
            blocks.push(Block::Code(code));
        }
        rest = &after[close + 3..];
    }
    parse_lines(rest, true, &mut blocks);
    blocks
}

/// Languages people type after a fence when they paste markdown; Slack has no
/// info strings, so only well-known names are treated as one.
const LANGUAGE_TAGS: &str = "python py python3 pycon sql bash sh shell zsh console json yaml yml \
    toml ini xml html css js javascript ts typescript java scala kotlin r rust go c cpp csharp \
    ruby php swift text txt dockerfile diff julia markdown md";

fn fenced_code_text(raw: &str) -> String {
    let mut body = raw;
    if let Some((first, rest)) = body.split_once('\n')
        && LANGUAGE_TAGS
            .split_whitespace()
            .any(|tag| tag == first.trim())
    {
        body = rest;
    }
    let body = if body.contains('\n') {
        while let Some((first, rest)) = body.split_once('\n')
            && first.trim().is_empty()
        {
            body = rest;
        }
        body.trim_end()
    } else {
        body.trim()
    };
    decode_entities(&unwrap_self_links(body)).into_owned()
}

/// The Slack exporter rewrote every URL as `[url](url)`, even inside code,
/// where it would otherwise show twice.
fn unwrap_self_links(s: &str) -> Cow<'_, str> {
    if !s.contains("](") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        if let Some(mid) = after.find("](") {
            let label = &after[..mid];
            let tail = &after[mid + 2..];
            if !label.is_empty()
                && !label.contains(['[', ']', '\n'])
                && tail.starts_with(label)
                && tail[label.len()..].starts_with(')')
            {
                out.push_str(&rest[..open]);
                out.push_str(label);
                rest = &tail[label.len() + 1..];
                continue;
            }
        }
        out.push_str(&rest[..=open]);
        rest = after;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The body of a quote line, whether the quote marker came through raw (`>`)
/// or entity-escaped by the exporter (`&gt;`).
fn quote_body(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let body = t.strip_prefix("&gt;").or_else(|| t.strip_prefix('>'))?;
    // `>= 3.0` at the start of a line is a comparison, not a quote.
    if body.starts_with('=') {
        return None;
    }
    Some(body.strip_prefix([' ', '\t']).unwrap_or(body))
}

struct Marker<'a> {
    indent: usize,
    ordered: bool,
    number: u64,
    body: &'a str,
}

fn list_marker(line: &str) -> Option<Marker<'_>> {
    let rest = line.trim_start_matches([' ', '\t']);
    let indent = line[..line.len() - rest.len()]
        .chars()
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum();
    let first = rest.chars().next()?;
    let (ordered, number, after) = if matches!(first, '-' | '*' | '+' | '•' | '◦' | '▪') {
        (false, 1, &rest[first.len_utf8()..])
    } else {
        // Three digits at most, so "2021. was a good year" stays a sentence.
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        let after = rest[digits..]
            .strip_prefix('.')
            .or_else(|| rest[digits..].strip_prefix(')'))?;
        (true, rest[..digits].parse().ok()?, after)
    };
    if !after.starts_with([' ', '\t']) {
        return None;
    }
    let body = after.trim();
    if body.is_empty() {
        return None;
    }
    Some(Marker {
        indent,
        ordered,
        number,
        body,
    })
}

struct RawItem<'a> {
    indent: usize,
    ordered: bool,
    number: u64,
    lines: Vec<&'a str>,
}

fn parse_lines(text: &str, allow_quote: bool, out: &mut Vec<Block>) {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut para: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            flush_para(&mut para, out);
            i += 1;
            continue;
        }
        if allow_quote && quote_body(line).is_some() {
            flush_para(&mut para, out);
            let mut quoted = Vec::new();
            while let Some(body) = lines.get(i).and_then(|l| quote_body(l)) {
                quoted.push(body);
                i += 1;
            }
            // Quotes do not nest in chat; a second `>` inside is just text.
            let mut inner = Vec::new();
            parse_lines(&quoted.join("\n"), false, &mut inner);
            if !inner.is_empty() {
                out.push(Block::Quote(inner));
            }
            continue;
        }
        if list_marker(line).is_some() {
            flush_para(&mut para, out);
            let mut items: Vec<RawItem> = Vec::new();
            while let Some(&l) = lines.get(i) {
                if let Some(m) = list_marker(l) {
                    items.push(RawItem {
                        indent: m.indent,
                        ordered: m.ordered,
                        number: m.number,
                        lines: vec![m.body],
                    });
                } else if is_item_continuation(l, allow_quote)
                    && let Some(last) = items.last_mut()
                {
                    last.lines.push(l.trim());
                } else {
                    break;
                }
                i += 1;
            }
            out.extend(build_lists(items).into_iter().map(Block::List));
            continue;
        }
        para.push(line.trim());
        i += 1;
    }
    flush_para(&mut para, out);
}

/// An indented line under a list item belongs to it (wrapped markdown items);
/// an unindented one ends the list, as it does in Slack.
fn is_item_continuation(line: &str, allow_quote: bool) -> bool {
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    !line.trim().is_empty() && indent >= 2 && !(allow_quote && quote_body(line).is_some())
}

fn flush_para(para: &mut Vec<&str>, out: &mut Vec<Block>) {
    if !para.is_empty() {
        out.push(Block::Para(parse_inline(&para.join("\n"), true)));
        para.clear();
    }
}

/// Deeper items join the deepest list; this bounds the plain-text indentation.
const MAX_LIST_DEPTH: usize = 6;

fn build_lists(items: Vec<RawItem>) -> Vec<List> {
    fn new_list(item: &RawItem) -> List {
        List {
            ordered: item.ordered,
            start: item.number,
            items: Vec::new(),
        }
    }
    fn close_innermost(stack: &mut Vec<(usize, List)>) {
        if let Some((_, list)) = stack.pop()
            && let Some((_, parent)) = stack.last_mut()
            && let Some(item) = parent.items.last_mut()
        {
            item.sublists.push(list);
        }
    }

    let mut done = Vec::new();
    // Open lists, outermost first, each with the indentation of its items.
    let mut stack: Vec<(usize, List)> = Vec::new();
    for raw in items {
        while stack.len() > 1 && stack.last().is_some_and(|(ind, _)| raw.indent < *ind) {
            close_innermost(&mut stack);
        }
        match stack.last() {
            None => stack.push((raw.indent, new_list(&raw))),
            Some((ind, list))
                if raw.indent > *ind && !list.items.is_empty() && stack.len() < MAX_LIST_DEPTH =>
            {
                stack.push((raw.indent, new_list(&raw)));
            }
            Some((_, list)) if list.ordered != raw.ordered => {
                if stack.len() == 1 {
                    if let Some((_, list)) = stack.pop() {
                        done.push(list);
                    }
                } else {
                    close_innermost(&mut stack);
                }
                stack.push((raw.indent, new_list(&raw)));
            }
            Some(_) => {}
        }
        let content = parse_inline(&raw.lines.join("\n"), true);
        if let Some((_, list)) = stack.last_mut() {
            list.items.push(Item {
                content,
                sublists: Vec::new(),
            });
        }
    }
    while stack.len() > 1 {
        close_innermost(&mut stack);
    }
    if let Some((_, list)) = stack.pop() {
        done.push(list);
    }
    done
}

// ---------------------------------------------------------------------------
// Chat inline parser
// ---------------------------------------------------------------------------

/// Emphasis nesting beyond this is treated as text, bounding recursion on
/// adversarial input.
const MAX_NESTING: usize = 8;

fn parse_inline(src: &str, links: bool) -> Vec<Inline> {
    parse_inline_at(src, links, 0)
}

fn parse_inline_at(src: &str, links: bool, depth: usize) -> Vec<Inline> {
    InlineParser {
        src,
        links,
        depth,
        out: Vec::new(),
        text: String::new(),
        last_emoji: None,
        no_closer_until: [0; 6],
    }
    .run()
}

struct InlineParser<'a> {
    src: &'a str,
    /// False inside link labels: links do not nest.
    links: bool,
    depth: usize,
    out: Vec<Inline>,
    text: String,
    /// (source end, offset in `text`, emoji) of the emoji just written, so a
    /// following `:skin-tone-N:` can re-tone it and `::`-chained codes work.
    last_emoji: Option<(usize, usize, &'static emojis::Emoji)>,
    /// Per emphasis kind, the line end up to which an earlier opener found no
    /// closer. A later opener's closer would have been found by that scan too,
    /// so remembering this keeps long unmatched lines linear, not quadratic.
    no_closer_until: [usize; 6],
}

fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'\n' | b'`' | b'*' | b'_' | b'~' | b'<' | b'[' | b'!' | b'h' | b'H' | b':' | b'&'
    )
}

fn run_len(bytes: &[u8], i: usize, b: u8) -> usize {
    bytes[i..].iter().take_while(|&&x| x == b).count()
}

fn prev_char(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

fn line_end(s: &str, i: usize) -> usize {
    s[i..].find('\n').map_or(s.len(), |p| i + p)
}

/// `scheme:` as URLs start (RFC 3986), which no Slack id or typed `<T>` does.
fn has_scheme(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// End of the code span opened by the backtick run at `i`, if it closes on
/// the same line: (content start, content end, span end).
fn code_span_at(s: &str, i: usize) -> Option<(usize, usize, usize)> {
    let bytes = s.as_bytes();
    let run = run_len(bytes, i, b'`');
    let end = line_end(s, i);
    let mut j = i + run;
    while j < end {
        if bytes[j] == b'`' {
            let r = run_len(bytes, j, b'`');
            if r == run {
                return Some((i + run, j, j + r));
            }
            j += r;
        } else {
            j += 1;
        }
    }
    None
}

/// End of a bare http(s) URL starting at `i`, trailing punctuation excluded.
fn url_end(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let scheme_len = if starts_with_ignore_case(rest, "https://") {
        8
    } else if starts_with_ignore_case(rest, "http://") {
        7
    } else {
        return None;
    };
    if prev_char(s, i).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let mut end = scheme_len;
    for (k, c) in rest[scheme_len..].char_indices() {
        let at = scheme_len + k;
        // Entity-escaped angle brackets and quotes delimit URLs just like raw ones.
        if c.is_whitespace()
            || matches!(c, '<' | '>' | '"' | '`' | '|')
            || (c == '&'
                && (rest[at..].starts_with("&lt;")
                    || rest[at..].starts_with("&gt;")
                    || rest[at..].starts_with("&quot;")))
        {
            break;
        }
        end = at + c.len_utf8();
    }
    let mut url = &rest[..end];
    while let Some(last) = url.chars().next_back() {
        let trim = match last {
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' | '~' | '”' | '’' | '…' | '»' => {
                true
            }
            ')' => url.matches('(').count() < url.matches(')').count(),
            ']' => url.matches('[').count() < url.matches(']').count(),
            _ => false,
        };
        if !trim {
            break;
        }
        url = &url[..url.len() - last.len_utf8()];
    }
    (url.len() > scheme_len).then_some(i + url.len())
}

/// Longer labels and destinations are not links; the caps bound the work a
/// line full of unmatched brackets can cause.
const MAX_LINK_LABEL: usize = 1000;
const MAX_LINK_DEST: usize = 4000;

/// `[label](dest)` starting at `i` (which holds `[`):
/// (label range, raw destination, end).
fn markdown_link_at(s: &str, i: usize) -> Option<((usize, usize), &str, usize)> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut label_end = None;
    for (k, &b) in bytes.iter().enumerate().skip(i).take(MAX_LINK_LABEL) {
        match b {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    label_end = Some(k);
                    break;
                }
            }
            b'\n' => return None,
            _ => {}
        }
    }
    let label_end = label_end?;
    if bytes.get(label_end + 1) != Some(&b'(') {
        return None;
    }
    let mut k = label_end + 2;
    while bytes.get(k).is_some_and(|&b| b == b' ') {
        k += 1;
    }
    let dest_start = k;
    let dest_end;
    if bytes.get(k) == Some(&b'<') {
        let close = s[k..line_end(s, k)].find('>')?;
        dest_end = k + close + 1;
        k = dest_end;
    } else {
        let mut parens = 0usize;
        while let Some(&b) = bytes.get(k) {
            match b {
                b'(' => parens += 1,
                b')' if parens == 0 => break,
                b')' => parens -= 1,
                b if b.is_ascii_whitespace() => break,
                _ => {}
            }
            k += 1;
            if k - dest_start > MAX_LINK_DEST {
                return None;
            }
        }
        dest_end = k;
    }
    while bytes.get(k).is_some_and(|&b| b == b' ') {
        k += 1;
    }
    if let Some(&q) = bytes.get(k).filter(|&&b| b == b'"' || b == b'\'') {
        let close = s[k + 1..line_end(s, k)].find(q as char)?;
        k += 1 + close + 1;
        while bytes.get(k).is_some_and(|&b| b == b' ') {
            k += 1;
        }
    }
    if bytes.get(k) != Some(&b')') {
        return None;
    }
    Some(((i + 1, label_end), &s[dest_start..dest_end], k + 1))
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
    static BY_NAME: LazyLock<HashMap<String, &'static emojis::Emoji>> = LazyLock::new(|| {
        emojis::iter()
            .map(|e| (normalize_emoji_name(e.name()), e))
            .collect()
    });
    let by_any = |code: &str| {
        emojis::get_by_shortcode(code)
            .or_else(|| BY_NAME.get(&normalize_emoji_name(code)).copied())
            .or_else(|| {
                code.contains('-')
                    .then(|| emojis::get_by_shortcode(&code.replace('-', "_")))
                    .flatten()
            })
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
    if let Some(rest) = code.strip_prefix("male-") {
        return by_any(&format!("man_{rest}"));
    }
    None
}

fn normalize_emoji_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn slack_skin_tone(code: &str) -> Option<emojis::SkinTone> {
    use emojis::SkinTone;
    Some(match code.strip_prefix("skin-tone-")? {
        "2" => SkinTone::Light,
        "3" => SkinTone::MediumLight,
        "4" => SkinTone::Medium,
        "5" => SkinTone::MediumDark,
        "6" => SkinTone::Dark,
        _ => return None,
    })
}

impl InlineParser<'_> {
    fn run(mut self) -> Vec<Inline> {
        let src = self.src;
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            i = match bytes[i] {
                b'\n' => {
                    self.push(Inline::Break);
                    i + 1
                }
                b'`' => self.code_span(i),
                b'*' | b'_' | b'~' => self.emphasis(i),
                b'<' if self.links => self.slack_markup(i),
                b'[' if self.links => self.markdown_link(i),
                b'!' if self.links && bytes.get(i + 1) == Some(&b'[') => self.markdown_link(i),
                b'h' | b'H' if self.links => self.bare_url(i),
                b':' => self.emoji(i),
                b'&' => self.entity(i),
                _ => {
                    // Special bytes are ASCII, so this always lands on a char boundary.
                    let end = bytes[i + 1..]
                        .iter()
                        .position(|&b| is_special(b))
                        .map_or(bytes.len(), |p| i + 1 + p);
                    self.text.push_str(&src[i..end]);
                    end
                }
            };
        }
        self.flush();
        self.out
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.out.push(Inline::Text(std::mem::take(&mut self.text)));
        }
        self.last_emoji = None;
    }

    fn push(&mut self, node: Inline) {
        self.flush();
        self.out.push(node);
    }

    fn literal(&mut self, i: usize, len: usize) -> usize {
        self.text.push_str(&self.src[i..i + len]);
        i + len
    }

    fn code_span(&mut self, i: usize) -> usize {
        let Some((start, end, after)) = code_span_at(self.src, i) else {
            let run = run_len(self.src.as_bytes(), i, b'`');
            return self.literal(i, run);
        };
        let mut content = &self.src[start..end];
        if content.len() >= 2
            && content.starts_with(' ')
            && content.ends_with(' ')
            && !content.trim().is_empty()
        {
            content = &content[1..content.len() - 1];
        }
        let code = decode_entities(&unwrap_self_links(content)).into_owned();
        self.push(Inline::Code(code));
        after
    }

    fn emphasis(&mut self, i: usize) -> usize {
        let marker = self.src.as_bytes()[i];
        let run = run_len(self.src.as_bytes(), i, marker);
        if run <= 2
            && self.depth < MAX_NESTING
            && let Some(close) = self.find_closer(i, marker, run)
        {
            let inner = parse_inline_at(&self.src[i + run..close], self.links, self.depth + 1);
            // Slack's bold is a single asterisk; `**` is accepted for pasted markdown.
            let node = match (marker, run) {
                (b'_', 1) => Inline::Em(inner),
                (b'~', _) => Inline::Del(inner),
                _ => Inline::Strong(inner),
            };
            self.push(node);
            return close + run;
        }
        self.literal(i, run)
    }

    /// Slack-style flanking: the opener follows a non-word character and
    /// touches text; the closer touches text and is not followed by a word
    /// character. This keeps `snake_case`, `2*3*4` and `~20%` as text.
    fn find_closer(&mut self, i: usize, marker: u8, run: usize) -> Option<usize> {
        let src = self.src;
        let bytes = src.as_bytes();
        let start = i + run;
        let kind = match marker {
            b'*' => 0,
            b'_' => 2,
            _ => 4,
        } + run
            - 1;
        if i < self.no_closer_until[kind] {
            return None;
        }
        if prev_char(src, i).is_some_and(char::is_alphanumeric) {
            return None;
        }
        if src[start..].chars().next().is_none_or(char::is_whitespace) {
            return None;
        }
        let end = line_end(src, start);
        let mut j = start;
        while j < end {
            let b = bytes[j];
            if b == b'`' {
                j = code_span_at(src, j).map_or(j + run_len(bytes, j, b'`'), |(_, _, after)| after);
                continue;
            }
            if self.links
                && (b == b'h' || b == b'H')
                && let Some(after) = url_end(src, j)
            {
                j = after;
                continue;
            }
            if b == marker {
                let r = run_len(bytes, j, marker);
                if r == run
                    && j > start
                    && !prev_char(src, j).is_some_and(char::is_whitespace)
                    && !src[j + r..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphanumeric)
                {
                    return Some(j);
                }
                j += r;
                continue;
            }
            j += 1;
        }
        self.no_closer_until[kind] = end;
        None
    }

    /// Slack's angle-bracket markup. Anything else starting with `<` is text
    /// someone typed ("a < b", "<T>") and stays visible.
    fn slack_markup(&mut self, i: usize) -> usize {
        let src = self.src;
        let rest = &src[i + 1..];
        let Some(close) = rest
            .find(['>', '<', '\n'])
            .filter(|&c| rest.as_bytes()[c] == b'>')
        else {
            return self.literal(i, 1);
        };
        let inner = &rest[..close];
        let end = i + 1 + close + 1;
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l).filter(|l| !l.trim().is_empty())),
            None => (inner, None),
        };
        if target.is_empty() || target.contains(char::is_whitespace) {
            return self.literal(i, 1);
        }
        let is_id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if has_scheme(target) {
            // Only safe schemes become links; any other (tel:, javascript:, …)
            // shows its label, or failing that the address as text.
            let url = decode_entities(target);
            let content = match label {
                Some(l) => parse_inline_at(l, false, self.depth),
                None => {
                    let shown = ["mailto:", "tel:"]
                        .into_iter()
                        .find(|p| starts_with_ignore_case(&url, p))
                        .map_or(&url[..], |p| &url[p.len()..]);
                    vec![Inline::Text(shown.to_string())]
                }
            };
            self.push_link(safe_href(&url), content);
        } else if let Some(id) = target.strip_prefix('#')
            && is_id(id)
        {
            self.text.push('#');
            self.text
                .push_str(&decode_entities(label.unwrap_or("channel")));
        } else if let Some(id) = target.strip_prefix('@')
            && is_id(id)
        {
            // The export has no user directory, so an unlabelled id is shown generically.
            self.text.push('@');
            let name = label.map_or(Cow::Borrowed("user"), decode_entities);
            self.text.push_str(name.trim_start_matches('@'));
        } else if let Some(special) = target.strip_prefix('!') {
            let name = special.split('^').next().unwrap_or_default();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return self.literal(i, 1);
            }
            match label {
                Some(l) => self.text.push_str(&decode_entities(l)),
                None => {
                    self.text.push('@');
                    self.text.push_str(name);
                }
            }
        } else {
            return self.literal(i, 1);
        }
        end
    }

    fn push_link(&mut self, href: Option<String>, content: Vec<Inline>) {
        match href {
            Some(href) => self.push(Inline::Link { href, content }),
            None => {
                self.flush();
                self.out.extend(content);
            }
        }
    }

    fn link_content(&self, label: (usize, usize), dest: &str) -> Vec<Inline> {
        let label = &self.src[label.0..label.1];
        if label.trim().is_empty() {
            vec![Inline::Text(dest.to_string())]
        } else {
            parse_inline_at(label, false, self.depth)
        }
    }

    /// `[label](dest)`, or `![alt](src)` when `i` holds the `!`: images are
    /// not allowed in feed HTML, so they become a link to the image.
    fn markdown_link(&mut self, i: usize) -> usize {
        let bracket = if self.src.as_bytes()[i] == b'!' {
            i + 1
        } else {
            i
        };
        let Some((label, dest, end)) = markdown_link_at(self.src, bracket) else {
            return self.literal(i, 1);
        };
        // A stray `>` is left over from Slack's `<url>` after export.
        let dest = decode_entities(dest.trim_start_matches('<').trim_end_matches('>'));
        let content = self.link_content(label, &dest);
        self.push_link(safe_href(&dest), content);
        end
    }

    fn bare_url(&mut self, i: usize) -> usize {
        let Some(end) = url_end(self.src, i) else {
            return self.literal(i, 1);
        };
        let url = decode_entities(&self.src[i..end]).into_owned();
        match safe_href(&url) {
            Some(href) => self.push(Inline::Link {
                href,
                content: vec![Inline::Text(url)],
            }),
            None => self.text.push_str(&url),
        }
        end
    }

    fn emoji(&mut self, i: usize) -> usize {
        let src = self.src;
        let bytes = src.as_bytes();
        let start = i + 1;
        let len = bytes[start..]
            .iter()
            .take(41)
            .take_while(|&&b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-')
            })
            .count();
        if len == 0 || len > 40 || bytes.get(start + len) != Some(&b':') {
            return self.literal(i, 1);
        }
        let code = &src[start..start + len];
        let end = start + len + 1;
        let last = self.last_emoji.filter(|(at, ..)| *at == i);
        if let Some((_, offset, emoji)) = last
            && let Some(tone) = slack_skin_tone(code)
        {
            if let Some(toned) = emoji.with_skin_tone(tone) {
                self.text.truncate(offset);
                self.text.push_str(toned.as_str());
            }
            self.last_emoji = None;
            return end;
        }
        // Times (12:30:45), ports and `a::b` paths must not turn into emoji;
        // glued codes ("question:wave:") are common in chat, so a word
        // character before the colon is fine for codes of three or more.
        let boundary = match prev_char(src, i) {
            None => true,
            Some(':') => last.is_some(),
            Some(c) if c.is_alphanumeric() => len >= 3,
            Some(_) => true,
        };
        let plausible = code.bytes().any(|b| b.is_ascii_lowercase())
            || matches!(code, "+1" | "-1" | "100" | "1234");
        if boundary
            && plausible
            && let Some(emoji) = lookup_emoji(code)
        {
            let offset = self.text.len();
            self.text.push_str(emoji.as_str());
            self.last_emoji = Some((end, offset, emoji));
            return end;
        }
        self.literal(i, 1)
    }

    fn entity(&mut self, i: usize) -> usize {
        match decode_entity_at(self.src, i) {
            Some((c, end)) => {
                self.text.push(c);
                end
            }
            None => self.literal(i, 1),
        }
    }
}

// ---------------------------------------------------------------------------
// Chat renderers
// ---------------------------------------------------------------------------

fn write_blocks_html(blocks: &[Block], out: &mut String) {
    for block in blocks {
        match block {
            Block::Para(inlines) => {
                out.push_str("<p>");
                write_inlines_html(inlines, out);
                out.push_str("</p>\n");
            }
            Block::Code(code) => {
                out.push_str("<pre><code>");
                escape_html_into(code, out);
                out.push_str("</code></pre>\n");
            }
            Block::Quote(inner) => {
                out.push_str("<blockquote>\n");
                write_blocks_html(inner, out);
                out.push_str("</blockquote>\n");
            }
            Block::List(list) => write_list_html(list, out),
        }
    }
}

fn write_list_html(list: &List, out: &mut String) {
    let tag = if list.ordered { "ol" } else { "ul" };
    if list.ordered && list.start != 1 {
        out.push_str(&format!("<ol start=\"{}\">\n", list.start));
    } else {
        out.push_str(&format!("<{tag}>\n"));
    }
    for item in &list.items {
        out.push_str("<li>");
        write_inlines_html(&item.content, out);
        for sub in &item.sublists {
            out.push('\n');
            write_list_html(sub, out);
        }
        out.push_str("</li>\n");
    }
    out.push_str(&format!("</{tag}>\n"));
}

fn write_inlines_html(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        match inline {
            Inline::Text(t) => escape_html_into(t, out),
            Inline::Code(c) => {
                out.push_str("<code>");
                escape_html_into(c, out);
                out.push_str("</code>");
            }
            Inline::Strong(inner) => wrap_html("strong", inner, out),
            Inline::Em(inner) => wrap_html("em", inner, out),
            Inline::Del(inner) => wrap_html("del", inner, out),
            Inline::Link { href, content } => {
                out.push_str("<a href=\"");
                escape_html_into(href, out);
                out.push_str("\">");
                write_inlines_html(content, out);
                out.push_str("</a>");
            }
            Inline::Break => out.push_str("<br>\n"),
        }
    }
}

fn wrap_html(tag: &str, inner: &[Inline], out: &mut String) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    write_inlines_html(inner, out);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn plain_blocks(blocks: &[Block], parts: &mut Vec<String>) {
    for block in blocks {
        match block {
            Block::Para(inlines) => {
                let text = tidy_lines(&inlines_plain(inlines));
                if !text.is_empty() {
                    parts.push(text);
                }
            }
            Block::Code(code) => {
                let lines: Vec<&str> = code.lines().map(str::trim_end).collect();
                parts.push(lines.join("\n"));
            }
            // Quote markers are markup; the quoted words stay.
            Block::Quote(inner) => plain_blocks(inner, parts),
            Block::List(list) => {
                let mut text = String::new();
                plain_list(list, 0, &mut text);
                parts.push(text.trim_end().to_string());
            }
        }
    }
}

fn plain_list(list: &List, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    for (n, item) in list.items.iter().enumerate() {
        let marker = if list.ordered {
            format!("{}.", list.start.saturating_add(n as u64))
        } else {
            "-".to_string()
        };
        let pad = " ".repeat(marker.chars().count() + 1);
        out.push_str(&indent);
        out.push_str(&marker);
        out.push(' ');
        for (k, line) in tidy_lines(&inlines_plain(&item.content))
            .split('\n')
            .enumerate()
        {
            if k > 0 {
                out.push('\n');
                out.push_str(&indent);
                out.push_str(&pad);
            }
            out.push_str(line);
        }
        out.push('\n');
        for sub in &item.sublists {
            plain_list(sub, depth + 1, out);
        }
    }
}

fn inlines_plain(inlines: &[Inline]) -> String {
    let mut out = String::new();
    push_inlines_plain(inlines, &mut out);
    out
}

fn push_inlines_plain(inlines: &[Inline], out: &mut String) {
    for inline in inlines {
        match inline {
            Inline::Text(t) | Inline::Code(t) => out.push_str(t),
            Inline::Strong(inner) | Inline::Em(inner) | Inline::Del(inner) => {
                push_inlines_plain(inner, out);
            }
            Inline::Link { content, .. } => push_inlines_plain(content, out),
            Inline::Break => out.push('\n'),
        }
    }
}

/// Collapses runs of horizontal whitespace and trims every line.
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (k, line) in text.split('\n').enumerate() {
        if k > 0 {
            out.push('\n');
        }
        push_collapsed(line.trim(), &mut out);
    }
    out
}

fn push_collapsed(text: &str, out: &mut String) {
    let mut in_space = false;
    for c in text.chars() {
        if c == ' ' || c == '\t' {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
}

fn block_break(out: &mut String) {
    if out.is_empty() {
        return;
    }
    while !out.ends_with("\n\n") {
        out.push('\n');
    }
}

fn line_break(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.chars() {
        if c == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------

fn is_html_comment(html: &str) -> bool {
    let t = html.trim();
    t.starts_with("<!--") && t.ends_with("-->")
}

/// What became of an opened link or image, so its end event matches.
enum Opened {
    Dropped,
    Link,
    /// Index of its start event, to give an empty-alt image visible text.
    Image(usize, String),
}

/// pulldown-cmark events with raw HTML turned into visible text, unsafe or
/// relative links unwrapped to their text, and images turned into links.
fn safe_markdown_events(src: &str) -> Vec<Event<'_>> {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    let mut out = Vec::new();
    let mut opened: Vec<Opened> = Vec::new();
    let mut html_block: Option<String> = None;
    for event in Parser::new_ext(src, opts) {
        if let Some(buf) = html_block.as_mut() {
            match event {
                Event::Html(s) | Event::Text(s) => buf.push_str(&s),
                Event::End(TagEnd::HtmlBlock) => {
                    let raw = html_block.take().unwrap_or_default();
                    if !is_html_comment(&raw) && !raw.trim().is_empty() {
                        out.push(Event::Start(Tag::Paragraph));
                        out.push(Event::Text(CowStr::from(raw.trim_end().to_string())));
                        out.push(Event::End(TagEnd::Paragraph));
                    }
                }
                _ => {}
            }
            continue;
        }
        let in_link = opened.iter().any(|o| !matches!(o, Opened::Dropped));
        match event {
            Event::Start(Tag::HtmlBlock) => html_block = Some(String::new()),
            Event::Html(s) | Event::InlineHtml(s) => {
                if !is_html_comment(&s) {
                    out.push(Event::Text(s));
                }
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                // `<a@b.c>` arrives without its scheme; the renderer would add it.
                let dest = match link_type {
                    LinkType::Email => Cow::Owned(format!("mailto:{dest_url}")),
                    _ => Cow::Borrowed(&*dest_url),
                };
                match safe_href(&dest).filter(|_| !in_link) {
                    Some(href) => {
                        opened.push(Opened::Link);
                        out.push(Event::Start(Tag::Link {
                            link_type: LinkType::Inline,
                            dest_url: CowStr::from(href),
                            title,
                            id,
                        }));
                    }
                    None => opened.push(Opened::Dropped),
                }
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                match safe_href(&dest_url).filter(|_| !in_link) {
                    Some(href) => {
                        opened.push(Opened::Image(out.len(), href.clone()));
                        out.push(Event::Start(Tag::Link {
                            link_type: LinkType::Inline,
                            dest_url: CowStr::from(href),
                            title: CowStr::from(""),
                            id: CowStr::from(""),
                        }));
                    }
                    None => opened.push(Opened::Dropped),
                }
            }
            Event::End(TagEnd::Link | TagEnd::Image) => match opened.pop() {
                Some(Opened::Link) => out.push(Event::End(TagEnd::Link)),
                Some(Opened::Image(start, href)) => {
                    if out.len() == start + 1 {
                        out.push(Event::Text(CowStr::from(href)));
                    }
                    out.push(Event::End(TagEnd::Link));
                }
                _ => {}
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- entities -------------------------------------------------------

    #[test]
    fn decodes_entities_once() {
        let html = chat_to_html("if a &gt; b &amp;&amp; c &lt; d");
        assert_eq!(html, "<p>if a &gt; b &amp;&amp; c &lt; d</p>\n");
        assert_eq!(
            chat_to_plain("if a &gt; b &amp;&amp; c &lt; d"),
            "if a > b && c < d"
        );
        // Double-encoded text shows its once-decoded form, never the markup.
        assert_eq!(chat_to_plain("&amp;lt;b&amp;gt;"), "&lt;b&gt;");
        assert_eq!(
            chat_to_html("&amp;lt;b&amp;gt;"),
            "<p>&amp;lt;b&amp;gt;</p>\n"
        );
        assert_eq!(
            chat_to_plain("&quot;hi&quot; &#39;x&#39; &#x1F600;"),
            "\"hi\" 'x' 😀"
        );
    }

    #[test]
    fn keeps_bare_ampersand_and_less_than() {
        assert_eq!(chat_to_html("a < b & c"), "<p>a &lt; b &amp; c</p>\n");
        assert_eq!(chat_to_plain("a < b & c"), "a < b & c");
        assert_eq!(chat_to_plain("R&D, Q&A, AT&T;"), "R&D, Q&A, AT&T;");
        assert_eq!(
            chat_to_plain("&unknown; &#; &#xZZ;"),
            "&unknown; &#; &#xZZ;"
        );
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
    fn turns_channel_markup_into_hash_name() {
        assert_eq!(
            chat_to_plain("I think <#C01AXGTRESH|books> would be better"),
            "I think #books would be better"
        );
        assert_eq!(
            chat_to_html("see <#C01AXGTRESH|books>"),
            "<p>see #books</p>\n"
        );
        assert_eq!(chat_to_plain("see <#C01AXGTRESH>"), "see #channel");
    }

    #[test]
    fn mailto_and_tel_markup_show_label() {
        let src = "mail <mailto:denise@gmail.com|denise@gmail.com> or call <tel:123|+1 23>";
        assert_eq!(chat_to_plain(src), "mail denise@gmail.com or call +1 23");
        let html = chat_to_html(src);
        assert!(
            html.contains(
                "<a href=\"mailto:denise@gmail.com\" rel=\"nofollow noopener noreferrer\">denise@gmail.com</a>"
            ),
            "{html}"
        );
        assert!(html.contains("or call +1 23"), "{html}");
        assert!(!html.contains("tel:"), "{html}");
    }

    #[test]
    fn user_mentions_and_specials_are_readable() {
        assert_eq!(chat_to_plain("<@U123ABC> hi"), "@user hi");
        assert_eq!(chat_to_plain("<@U123ABC|alice> hi"), "@alice hi");
        assert_eq!(
            chat_to_plain("<!here> and <!channel>"),
            "@here and @channel"
        );
        assert_eq!(chat_to_plain("<!subteam^S1|@data-team>"), "@data-team");
        // Not Slack markup: stays as typed.
        assert_eq!(chat_to_plain("<!-- note --> <T>"), "<!-- note --> <T>");
    }

    #[test]
    fn slack_links_with_and_without_label() {
        let html = chat_to_html("<https://example.com/a?b=1&amp;c=2|the site> and <https://x.org>");
        assert!(
            html.contains(
                "<a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"nofollow noopener noreferrer\">the site</a>"
            ),
            "{html}"
        );
        assert!(html.contains(">https://x.org</a>"), "{html}");
        assert_eq!(chat_to_plain("<https://example.com|the site>"), "the site");
    }

    // --- emoji ----------------------------------------------------------

    #[test]
    fn emoji_codes_become_emoji() {
        assert_eq!(
            chat_to_plain("thanks :slightly_smiling_face: :+1: :joy:"),
            "thanks 🙂 👍 😂"
        );
        // Slack spellings and glued codes.
        assert_eq!(chat_to_plain("question:woman-raising-hand:"), "question🙋‍♀️");
        assert_eq!(chat_to_plain(":relaxed::relaxed:"), "☺️☺️");
    }

    #[test]
    fn slack_only_emoji_names_are_known() {
        assert_eq!(
            chat_to_plain(
                ":scales: :100: :female-technologist: :flag-us: :hugging_face: :the_horns:"
            ),
            "⚖️ 💯 👩‍💻 🇺🇸 🤗 🤘"
        );
    }

    #[test]
    fn skin_tone_modifier_applies_to_previous_emoji() {
        assert_eq!(chat_to_plain("great :clap::skin-tone-2:"), "great 👏🏻");
    }

    #[test]
    fn unknown_emoji_code_stays() {
        assert_eq!(
            chat_to_plain("hi :blob_wave: :thank_you:"),
            "hi :blob_wave: :thank_you:"
        );
    }

    #[test]
    fn times_ports_and_paths_are_not_emoji() {
        assert_eq!(chat_to_plain("at 12:30:45 ok"), "at 12:30:45 ok");
        assert_eq!(chat_to_plain("std::new::Foo a:b:c"), "std::new::Foo a:b:c");
        assert_eq!(chat_to_plain("urn:li:activity:1"), "urn:li:activity:1");
        let html = chat_to_html("http://x.org:8080:smile: done");
        assert!(!html.contains("😄\">"), "{html}");
    }

    #[test]
    fn emoji_codes_in_code_stay() {
        assert_eq!(chat_to_plain("`:joy:`"), ":joy:");
    }

    // --- structure ------------------------------------------------------

    #[test]
    fn keeps_line_breaks() {
        assert_eq!(
            chat_to_html("one\ntwo\n\nthree"),
            "<p>one<br>\ntwo</p>\n<p>three</p>\n"
        );
        assert_eq!(chat_to_plain("one\ntwo\n\n\n\nthree"), "one\ntwo\n\nthree");
    }

    #[test]
    fn tidies_whitespace_in_plain() {
        assert_eq!(chat_to_plain("  a   b\t c  \n   d  "), "a b c\nd");
    }

    #[test]
    fn entity_escaped_quote_becomes_blockquote() {
        let html = chat_to_html("&gt; What do you like?\n&gt; \n&gt; more\nMy answer");
        assert_eq!(
            html,
            "<blockquote>\n<p>What do you like?</p>\n<p>more</p>\n</blockquote>\n<p>My answer</p>\n"
        );
        assert_eq!(chat_to_plain("&gt; quoted\nanswer"), "quoted\n\nanswer");
        assert_eq!(chat_to_plain("&gt;= 3.0 needed"), ">= 3.0 needed");
    }

    #[test]
    fn lists_with_dash_bullet_and_numbers() {
        let html = chat_to_html("criteria:\n- one\n    ◦ nested _a_\n- two\n• three");
        assert_eq!(
            html,
            "<p>criteria:</p>\n<ul>\n<li>one\n<ul>\n<li>nested <em>a</em></li>\n</ul>\n</li>\n<li>two</li>\n<li>three</li>\n</ul>\n"
        );
        let html = chat_to_html("1. first\n2. second");
        assert_eq!(html, "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n");
        let html = chat_to_html("3. third");
        assert!(html.starts_with("<ol start=\"3\">"), "{html}");
        assert_eq!(
            chat_to_plain("x\n- one\n    ◦ nested\n1. a\n2. b"),
            "x\n\n- one\n  - nested\n\n1. a\n2. b"
        );
    }

    #[test]
    fn quote_containing_list() {
        let html = chat_to_html("&gt; - *Beautiful Soup:* free\n&gt; - *Selenium:* free");
        assert_eq!(
            html,
            "<blockquote>\n<ul>\n<li><strong>Beautiful Soup:</strong> free</li>\n<li><strong>Selenium:</strong> free</li>\n</ul>\n</blockquote>\n"
        );
    }

    #[test]
    fn chat_has_no_headings_or_setext_or_indented_code() {
        let html = chat_to_html("# of users\nSome tools:\n=====\n    indented");
        assert_eq!(
            html,
            "<p># of users<br>\nSome tools:<br>\n=====<br>\nindented</p>\n"
        );
    }

    // --- inline formatting ----------------------------------------------

    #[test]
    fn slack_bold_and_italic() {
        assert_eq!(
            chat_to_html("advise *against* it, _really_, ~not~ **this**"),
            "<p>advise <strong>against</strong> it, <em>really</em>, <del>not</del> <strong>this</strong></p>\n"
        );
        assert_eq!(chat_to_plain("*bold _both_*"), "bold both");
        assert_eq!(
            chat_to_html("*bold _both_*"),
            "<p><strong>bold <em>both</em></strong></p>\n"
        );
    }

    #[test]
    fn intraword_markers_stay_text() {
        let src = "snake_case_name 2*3*4 ~15-20% and ~20% a * b *";
        assert_eq!(chat_to_plain(src), src);
        assert_eq!(chat_to_html(src), format!("<p>{src}</p>\n"));
    }

    #[test]
    fn fenced_code_kept() {
        let src = "before\n```&gt;&gt;&gt; import spacy\n    x = 1 &amp; 2\n# comment```\nafter";
        assert_eq!(
            chat_to_html(src),
            "<p>before</p>\n<pre><code>&gt;&gt;&gt; import spacy\n    x = 1 &amp; 2\n# comment</code></pre>\n<p>after</p>\n"
        );
        assert_eq!(
            chat_to_plain(src),
            "before\n\n>>> import spacy\n    x = 1 & 2\n# comment\n\nafter"
        );
    }

    #[test]
    fn inline_fence_and_language_tag() {
        assert_eq!(
            chat_to_html("```Which *algorithms*?```\nThat one"),
            "<pre><code>Which *algorithms*?</code></pre>\n<p>That one</p>\n"
        );
        assert_eq!(
            chat_to_html("```python\nprint(1)\n```"),
            "<pre><code>print(1)</code></pre>\n"
        );
        // An unclosed fence is text.
        assert_eq!(chat_to_plain("use ``` to fence"), "use ``` to fence");
    }

    #[test]
    fn exporter_self_links_in_code_are_unwrapped() {
        let src = "```pip install [https://x.org/a.tar.gz](https://x.org/a.tar.gz)```";
        assert_eq!(chat_to_plain(src), "pip install https://x.org/a.tar.gz");
    }

    // --- links ----------------------------------------------------------

    #[test]
    fn markdown_link_kept_with_rel() {
        let html = chat_to_html("read [the paper](https://hstore.cs.brown.edu/p.pdf).");
        assert_eq!(
            html,
            "<p>read <a href=\"https://hstore.cs.brown.edu/p.pdf\" rel=\"nofollow noopener noreferrer\">the paper</a>.</p>\n"
        );
        let html = markdown_to_html("[site](https://dataintensive.net/)");
        assert!(
            html.contains(
                "<a href=\"https://dataintensive.net/\" rel=\"nofollow noopener noreferrer\">site</a>"
            ),
            "{html}"
        );
    }

    #[test]
    fn bare_urls_are_autolinked_without_trailing_punctuation() {
        let html = chat_to_html(
            "see https://en.wikipedia.org/wiki/Foo_(bar). and (http://Rosalind.info).",
        );
        assert!(
            html.contains("<a href=\"https://en.wikipedia.org/wiki/Foo_(bar)\" rel=\"nofollow noopener noreferrer\">https://en.wikipedia.org/wiki/Foo_(bar)</a>."),
            "{html}"
        );
        assert!(html.contains(">http://Rosalind.info</a>)."), "{html}");
        assert_eq!(
            chat_to_plain("go to https://x.org/a_b_c now"),
            "go to https://x.org/a_b_c now"
        );
        // Emphasis markers inside a URL are part of the URL.
        let html = chat_to_html("_see https://x.org/a_b_c now_");
        assert!(
            html.contains("<em>see <a href=\"https://x.org/a_b_c\""),
            "{html}"
        );
        // …but a trailing marker closes the emphasis around it.
        let html = chat_to_html("_see https://x.org/a_b_");
        assert!(
            html.contains("<em>see <a href=\"https://x.org/a_b\""),
            "{html}"
        );
    }

    #[test]
    fn javascript_link_is_dropped_keeping_text() {
        for src in [
            "[click me](javascript:alert(1))",
            "[click me](JavaScript:alert(1))",
            "[click me](data:text/html;base64,PHNjcmlwdD4=)",
            "[click me](vbscript:msgbox(1))",
            "<javascript:alert(1)|click me>",
        ] {
            let html = chat_to_html(src);
            assert!(!html.contains("<a"), "{src} → {html}");
            assert!(!html.to_lowercase().contains("script:"), "{src} → {html}");
            assert!(!html.contains("data:"), "{src} → {html}");
            assert!(html.contains("click me"), "{src} → {html}");
            let html = markdown_to_html(src);
            assert!(!html.contains("<a"), "{src} → {html}");
            assert!(html.contains("click me"), "{src} → {html}");
        }
        assert_eq!(
            markdown_to_html("<javascript:alert(1)>"),
            "<p>javascript:alert(1)</p>\n"
        );
        assert_eq!(chat_to_plain("<tel:123>"), "123");
        assert_eq!(chat_to_plain("[click me](javascript:alert(1))"), "click me");
    }

    #[test]
    fn relative_link_dropped() {
        assert_eq!(chat_to_html("[about](/about)"), "<p>about</p>\n");
        assert_eq!(chat_to_html("[about](about.html)"), "<p>about</p>\n");
        assert_eq!(markdown_to_html("[about](/about)"), "<p>about</p>\n");
        assert_eq!(
            markdown_to_html("[about](//evil.example/x)"),
            "<p>about</p>\n"
        );
    }

    #[test]
    fn markdown_autolinks_are_kept() {
        assert_eq!(
            markdown_to_html("<https://x.org> <me@x.org>"),
            "<p><a href=\"https://x.org/\" rel=\"nofollow noopener noreferrer\">https://x.org</a> \
             <a href=\"mailto:me@x.org\" rel=\"nofollow noopener noreferrer\">me@x.org</a></p>\n"
        );
    }

    #[test]
    fn images_become_links() {
        assert_eq!(
            markdown_to_html("![cover](https://x.org/c.jpg)"),
            "<p><a href=\"https://x.org/c.jpg\" rel=\"nofollow noopener noreferrer\">cover</a></p>\n"
        );
        assert_eq!(
            markdown_to_html("![](https://x.org/c.jpg)"),
            "<p><a href=\"https://x.org/c.jpg\" rel=\"nofollow noopener noreferrer\">https://x.org/c.jpg</a></p>\n"
        );
        assert_eq!(markdown_to_html("![x](javascript:alert(1))"), "<p>x</p>\n");
        assert!(chat_to_html("see ![chart](https://x.org/c.png)").contains(">chart</a>"));
    }

    // --- safety ---------------------------------------------------------

    #[test]
    fn script_tag_is_harmless_text() {
        let src = "question <script>alert(1)</script>?";
        assert_eq!(
            chat_to_html(src),
            "<p>question &lt;script&gt;alert(1)&lt;/script&gt;?</p>\n"
        );
        assert_eq!(chat_to_plain(src), src);
        let html = markdown_to_html(src);
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        let html = markdown_to_html("<script>\nalert(1)\n</script>\n\ntext");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn img_onerror_is_harmless() {
        let src = "<img src=x onerror=alert(1)>";
        let html = chat_to_html(src);
        assert_eq!(html, "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n");
        assert!(!html.contains("<img"));
        let html = markdown_to_html(src);
        assert!(!html.contains("<img"), "{html}");
        assert_eq!(html, "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n");
        // Entity-encoded markup decodes to visible text, not to tags.
        let html = chat_to_html("&lt;img src=x onerror=alert(1)&gt;");
        assert_eq!(html, "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n");
    }

    #[test]
    fn quotes_in_text_are_escaped() {
        let html = chat_to_html("click <a href=\"javascript:alert(3)\">x</a> it's");
        assert_eq!(
            html,
            "<p>click &lt;a href=&quot;javascript:alert(3)&quot;&gt;x&lt;/a&gt; it&#39;s</p>\n"
        );
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
    fn cdata_end_marker_survives_as_text() {
        let html = chat_to_html("a ]]> b `]]>`");
        assert!(!html.contains("]]>"), "{html}");
        assert_eq!(html, "<p>a ]]&gt; b <code>]]&gt;</code></p>\n");
        assert_eq!(chat_to_plain("a ]]> b"), "a ]]> b");
        assert!(!markdown_to_html("a ]]> b").contains("]]>"));
    }

    #[test]
    fn unbalanced_tags_are_escaped() {
        assert_eq!(
            chat_to_html("</p><b>bold <i>x</div>"),
            "<p>&lt;/p&gt;&lt;b&gt;bold &lt;i&gt;x&lt;/div&gt;</p>\n"
        );
        let html = markdown_to_html("</p><b>bold <i>x</div>");
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
    }

    #[test]
    fn strips_control_characters() {
        let src = "a\u{0}b\u{7}c\u{1b}[31m\r\nd\re\u{FFFF}\t";
        assert_eq!(chat_to_plain(src), "abc[31m\nd\ne");
        let html = chat_to_html(src);
        assert!(!html.chars().any(is_forbidden_char), "{html:?}");
        let html = markdown_to_html(src);
        assert!(!html.chars().any(is_forbidden_char), "{html:?}");
    }

    #[test]
    fn nbsp_is_xml_safe() {
        let html = chat_to_html("a&nbsp;b");
        assert_eq!(html, "<p>a&#160;b</p>\n");
    }

    #[test]
    fn html_comments_in_markdown_are_dropped() {
        assert_eq!(
            markdown_to_html("<!-- TODO -->\n\ntext <!-- x -->"),
            "<p>text </p>\n"
        );
    }

    // --- markdown -------------------------------------------------------

    #[test]
    fn markdown_is_commonmark() {
        assert_eq!(
            markdown_to_html(
                "## Inside\n\n*em* **strong** ~~del~~\n\n- a\n- b\n\n```rust\nfn x() {}\n```"
            ),
            "<h2>Inside</h2>\n<p><em>em</em> <strong>strong</strong> <del>del</del></p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<pre><code>fn x() {}\n</code></pre>\n"
        );
        assert_eq!(
            markdown_to_html("AT&amp;T &amp;lt;"),
            "<p>AT&amp;T &amp;lt;</p>\n"
        );
    }

    #[test]
    fn markdown_to_plain_removes_markup() {
        let src = "## What's inside\n\nSoft\nwrapped *text* with [a link](https://x.org).\n\n- one\n- two\n\n1. a\n2. b\n\n```\n  code  kept\n```";
        assert_eq!(
            markdown_to_plain(src),
            "What's inside\n\nSoft wrapped text with a link.\n\n- one\n- two\n\n1. a\n2. b\n\n  code  kept"
        );
        assert_eq!(markdown_to_plain("a <b>c</b> &amp;lt;"), "a <b>c</b> &lt;");
    }

    // --- truncation -----------------------------------------------------

    #[test]
    fn truncate_cuts_at_word_boundary() {
        assert_eq!(truncate_words("the quick brown fox", 12), "the quick…");
        assert_eq!(truncate_words("the quick brown fox", 10), "the quick…");
        assert_eq!(truncate_words("the quick, brown fox", 12), "the quick…");
        assert!(truncate_words("the quick brown fox", 12).chars().count() <= 12);
    }

    #[test]
    fn truncate_leaves_short_text_alone() {
        assert_eq!(truncate_words("short", 5), "short");
        assert_eq!(truncate_words("", 3), "");
        assert_eq!(truncate_words("anything", 0), "");
    }

    #[test]
    fn truncate_cuts_long_word_without_splitting_emoji() {
        assert_eq!(truncate_words("Supercalifragilistic", 6), "Super…");
        assert_eq!(truncate_words("ab👍🏽cd", 4), "ab…");
        let s = truncate_words("ééééééééé", 5);
        assert_eq!(s, "éééé…");
    }

    // --- robustness -----------------------------------------------------

    /// Fragments that exercise every parser branch, including broken ones.
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
                assert!(!html.chars().any(is_forbidden_char), "{src:?} → {html:?}");
            }
            for plain in [chat_to_plain(&src), markdown_to_plain(&src)] {
                assert!(!plain.chars().any(is_forbidden_char), "{src:?} → {plain:?}");
                let cut = truncate_words(&plain, (next() % 40) as usize);
                assert!(cut.chars().count() <= 40, "{plain:?} → {cut:?}");
            }
        }
    }

    // --- real data ------------------------------------------------------

    fn corpus_messages() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/books");
        let mut messages = Vec::new();
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
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
            let Some(threads) = doc.get("archive").and_then(|a| a.as_sequence()) else {
                continue;
            };
            for thread in threads {
                if let Some(t) = thread.get("text").and_then(|t| t.as_str()) {
                    messages.push(t.to_string());
                }
                for reply in thread
                    .get("replies")
                    .and_then(|r| r.as_sequence())
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = reply.get("text").and_then(|t| t.as_str()) {
                        messages.push(t.to_string());
                    }
                }
            }
        }
        messages
    }

    #[test]
    fn corpus_messages_render_safely() {
        let messages = corpus_messages();
        assert!(
            messages.len() > 1000,
            "only {} messages found",
            messages.len()
        );
        let bad = |s: &str| -> Option<&'static str> {
            ["<script", "onerror", "javascript:", "&amp;gt;", "&amp;amp;"]
                .into_iter()
                .find(|needle| s.contains(needle))
                .or_else(|| {
                    s.chars()
                        .any(|c| c < ' ' && c != '\n' && c != '\t')
                        .then_some("C0 control")
                })
        };
        for msg in &messages {
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
}
