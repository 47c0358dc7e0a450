//! Slack's message markup → the markdown the archives keep.
//!
//! The archives hold chat text as people saw it in the channel (`*bold*`,
//! `_it_`, code, fences stay as they are; [`crate::text`] renders them), with
//! Slack's own markup resolved: `<@U…>` → the user's name, `<url|label>` →
//! `[label](url)`, `<url>` → the URL, `<#C…|name>` → `#name`, `<!here>` →
//! `@here`, `:code:` (and a `:skin-tone-N:` after it) → the emoji, and the
//! three entities Slack escapes (`&amp;`, `&lt;`, `&gt;`) decoded once. A
//! message whose `text` is empty is read from its rich-text `blocks`;
//! shared files are appended as links with their title.

use serde_json::Value;

use super::{Directory, RawMessage};

/// A user ID the directory does not know.
pub type UnknownId = String;

/// A message's text in archive form.
pub fn message_text(m: &RawMessage, dir: &Directory) -> Result<String, UnknownId> {
    let text = m.text.as_deref().unwrap_or("");
    let mut out = if text.trim().is_empty() {
        match &m.blocks {
            Some(b) => blocks(b, dir)?,
            None => String::new(),
        }
    } else {
        mrkdwn(text, dir)?
    };
    for f in m.files.iter().flatten().chain(&m.file) {
        let Some(url) = f.permalink.as_deref().filter(|u| !u.is_empty()) else {
            continue;
        };
        if matches!(f.mode.as_deref(), Some("tombstone" | "hidden_by_limit")) || out.contains(url) {
            continue;
        }
        let title = f
            .title
            .as_deref()
            .or(f.name.as_deref())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(url);
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[{}]({url})", escape_label(title)));
    }
    Ok(out)
}

/// Slack's `text` markup → archive markdown.
pub fn mrkdwn(text: &str, dir: &Directory) -> Result<String, UnknownId> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        plain(&mut out, &rest[..open]);
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) if close > 0 && !after[..close].contains('<') => {
                out.push_str(&markup(&after[..close], dir)?);
                rest = &after[close + 1..];
            }
            // A `<` Slack did not escape is only text.
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    plain(&mut out, rest);
    Ok(out)
}

fn plain(out: &mut String, s: &str) {
    out.push_str(&crate::text::emojify(&decode(s)));
}

/// One `<…>` span: a mention, a channel, a special mention or a link.
fn markup(inner: &str, dir: &Directory) -> Result<String, UnknownId> {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(l).filter(|l| !l.trim().is_empty())),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        return dir
            .users
            .get(id)
            .map(|u| u.name.clone())
            .ok_or_else(|| id.to_string());
    }
    if let Some(id) = target.strip_prefix('#') {
        let name = label
            .map(decode)
            .or_else(|| dir.channels.get(id).cloned())
            .unwrap_or_else(|| id.to_string());
        return Ok(format!("#{}", name.trim_start_matches('#')));
    }
    if let Some(special) = target.strip_prefix('!') {
        let word = special.split('^').next().unwrap_or(special);
        return Ok(match (word, label) {
            ("here" | "channel" | "everyone", _) => format!("@{word}"),
            // <!subteam^S1|@team>, <!date^…|fallback>
            (_, Some(l)) => decode(l),
            (_, None) => format!("@{word}"),
        });
    }
    let url = decode(target);
    Ok(match label {
        Some(l) => format!("[{}]({url})", escape_label(&decode(l))),
        None => url,
    })
}

/// Brackets in a link's label would end it early.
fn escape_label(label: &str) -> String {
    label.replace('[', "\\[").replace(']', "\\]")
}

/// Decodes the three entities Slack escapes, in one pass, so `&amp;lt;`
/// becomes `&lt;` and not `<`.
pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (ch, len) = if tail.starts_with("&amp;") {
            ('&', 5)
        } else if tail.starts_with("&lt;") {
            ('<', 4)
        } else if tail.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(ch);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Rich-text blocks → archive markdown.
pub fn blocks(blocks: &[Value], dir: &Directory) -> Result<String, UnknownId> {
    let mut parts: Vec<String> = Vec::new();
    for b in blocks {
        match b["type"].as_str() {
            Some("rich_text") => {
                for el in b["elements"].as_array().into_iter().flatten() {
                    parts.push(rich_element(el, dir)?);
                }
            }
            // Apps post `section` blocks with mrkdwn text.
            Some("section") => {
                if let Some(t) = b["text"]["text"].as_str() {
                    parts.push(if b["text"]["type"] == "mrkdwn" {
                        mrkdwn(t, dir)?
                    } else {
                        t.to_string()
                    });
                }
            }
            _ => {}
        }
    }
    let parts: Vec<&str> = parts
        .iter()
        .map(|p| p.trim_end_matches('\n'))
        .filter(|p| !p.is_empty())
        .collect();
    Ok(parts.join("\n"))
}

fn rich_element(el: &Value, dir: &Directory) -> Result<String, UnknownId> {
    let elements =
        |v: &Value| -> Vec<Value> { v["elements"].as_array().cloned().unwrap_or_default() };
    Ok(match el["type"].as_str() {
        Some("rich_text_list") => {
            let indent = "  ".repeat(el["indent"].as_u64().unwrap_or(0).min(8) as usize);
            let ordered = el["style"] == "ordered";
            let offset = el["offset"].as_u64().unwrap_or(0);
            let mut lines = Vec::new();
            for (i, item) in elements(el).iter().enumerate() {
                let marker = if ordered {
                    format!("{}. ", offset + i as u64 + 1)
                } else {
                    "- ".to_string()
                };
                lines.push(format!(
                    "{indent}{marker}{}",
                    inline(&elements(item), dir, false)?
                ));
            }
            lines.join("\n")
        }
        Some("rich_text_preformatted") => {
            format!(
                "```\n{}\n```",
                inline(&elements(el), dir, true)?.trim_end_matches('\n')
            )
        }
        Some("rich_text_quote") => inline(&elements(el), dir, false)?
            .trim_end_matches('\n')
            .lines()
            .map(|l| format!("> {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        // rich_text_section and anything newer: its inline elements.
        _ => inline(&elements(el), dir, false)?,
    })
}

/// Inline rich-text elements; `raw` inside code blocks, where styles and
/// emoji codes are not applied.
fn inline(elements: &[Value], dir: &Directory, raw: bool) -> Result<String, UnknownId> {
    let mut out = String::new();
    for e in elements {
        let text = match e["type"].as_str() {
            Some("text") => {
                let t = e["text"].as_str().unwrap_or_default();
                if raw {
                    t.to_string()
                } else {
                    crate::text::emojify(t)
                }
            }
            Some("link") => {
                let url = e["url"].as_str().unwrap_or_default();
                match e["text"].as_str().filter(|t| !t.trim().is_empty()) {
                    Some(label) if !raw => format!("[{}]({url})", escape_label(label)),
                    _ => url.to_string(),
                }
            }
            Some("user") => {
                let id = e["user_id"].as_str().unwrap_or_default();
                match dir.users.get(id) {
                    Some(u) => u.name.clone(),
                    None => return Err(id.to_string()),
                }
            }
            Some("channel") => {
                let id = e["channel_id"].as_str().unwrap_or_default();
                format!("#{}", dir.channels.get(id).map_or(id, String::as_str))
            }
            Some("usergroup") => format!("@{}", e["usergroup_id"].as_str().unwrap_or_default()),
            Some("broadcast") => format!("@{}", e["range"].as_str().unwrap_or("here")),
            Some("emoji") => emoji(e),
            Some("date") => e["fallback"].as_str().unwrap_or_default().to_string(),
            _ => e["text"].as_str().unwrap_or_default().to_string(),
        };
        if raw {
            out.push_str(&text);
        } else {
            out.push_str(&styled(&text, &e["style"]));
        }
    }
    Ok(out)
}

/// An emoji element: its code points when given (`1f44d-1f3fb`), else its
/// name (and skin tone) looked up like a `:code:`.
fn emoji(e: &Value) -> String {
    let from_hex = e["unicode"].as_str().and_then(|hex| {
        hex.split('-')
            .map(|h| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
            .collect::<Option<String>>()
    });
    from_hex.unwrap_or_else(|| {
        let name = e["name"].as_str().unwrap_or_default();
        let code = match e["skin_tone"].as_u64() {
            Some(n) => format!(":{name}::skin-tone-{n}:"),
            None => format!(":{name}:"),
        };
        crate::text::emojify(&code)
    })
}

/// Text with Slack's markers for its style; spaces stay outside them, or
/// the markers would not read as markup.
fn styled(text: &str, style: &Value) -> String {
    let on = |k: &str| style[k].as_bool().unwrap_or(false);
    let core = text.trim();
    if core.is_empty() || !style.is_object() {
        return text.to_string();
    }
    let mut s = core.to_string();
    if on("code") {
        s = format!("`{s}`");
    }
    if on("bold") {
        s = format!("*{s}*");
    }
    if on("italic") {
        s = format!("_{s}_");
    }
    if on("strike") {
        s = format!("~{s}~");
    }
    let lead = &text[..text.len() - text.trim_start().len()];
    let trail = &text[text.trim_end().len()..];
    format!("{lead}{s}{trail}")
}

/// The user IDs a message names: its author and its mentions, so that the
/// Web API path can look them all up before converting.
pub fn mentioned_users(m: &RawMessage) -> Vec<String> {
    let mut ids: Vec<String> = m.user.iter().cloned().collect();
    let mut rest = m.text.as_deref().unwrap_or("");
    while let Some(i) = rest.find("<@") {
        let after = &rest[i + 2..];
        let end = after.find(['>', '|']).unwrap_or(after.len());
        ids.push(after[..end].to_string());
        rest = &after[end..];
    }
    fn walk(v: &Value, ids: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if o.get("type").and_then(Value::as_str) == Some("user")
                    && let Some(id) = o.get("user_id").and_then(Value::as_str)
                {
                    ids.push(id.to_string());
                }
                o.values().for_each(|x| walk(x, ids));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, ids)),
            _ => {}
        }
    }
    if m.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
        for b in m.blocks.iter().flatten() {
            walk(b, &mut ids);
        }
    }
    ids.retain(|id| !id.is_empty());
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::super::{SharedFile, User};
    use super::*;

    fn dir() -> Directory {
        let mut d = Directory::default();
        for (id, name) in [("U1", "Niall Murphy"), ("U2", "Ann")] {
            d.users.insert(
                id.into(),
                User {
                    name: name.into(),
                    is_bot: false,
                },
            );
        }
        d.channels.insert("C1".into(), "general".into());
        d
    }

    fn md(s: &str) -> String {
        mrkdwn(s, &dir()).unwrap()
    }

    #[test]
    fn resolves_mentions_channels_and_specials() {
        assert_eq!(md("Hi <@U1>, and <@U2|ann>!"), "Hi Niall Murphy, and Ann!");
        assert_eq!(md("see <#C1> or <#C9|random>"), "see #general or #random");
        assert_eq!(
            md("<!here> <!channel> <!everyone> <!subteam^S1|@team>"),
            "@here @channel @everyone @team"
        );
        assert_eq!(mrkdwn("<@U404>", &dir()), Err("U404".to_string()));
    }

    #[test]
    fn turns_links_into_markdown() {
        assert_eq!(
            md("<https://a.org/x?a=1&amp;b=2|the book> and <https://b.org>"),
            "[the book](https://a.org/x?a=1&b=2) and https://b.org"
        );
        assert_eq!(md("<mailto:a@b.org|a@b.org>"), "[a@b.org](mailto:a@b.org)");
    }

    #[test]
    fn decodes_entities_once_and_keeps_stray_brackets() {
        assert_eq!(
            md("a &amp;lt; b &lt; c &gt; d &amp; e"),
            "a &lt; b < c > d & e"
        );
        assert_eq!(md("1 < 2 and x<>y"), "1 < 2 and x<>y");
    }

    #[test]
    fn turns_emoji_codes_and_skin_tones_into_emoji() {
        assert_eq!(
            md("thanks :pray: :+1::skin-tone-3: :nosuchcode:"),
            "thanks 🙏 👍🏼 :nosuchcode:"
        );
    }

    #[test]
    fn reads_rich_text_blocks_when_text_is_empty() {
        let blocks: Vec<Value> = serde_json::from_str(
            r#"[{"type":"rich_text","elements":[
                {"type":"rich_text_section","elements":[
                    {"type":"text","text":"Hi "},{"type":"user","user_id":"U1"},
                    {"type":"text","text":" see "},{"type":"link","url":"https://a.org","text":"this"},
                    {"type":"text","text":" bold ","style":{"bold":true}},
                    {"type":"emoji","name":"wave","unicode":"1f44b"},{"type":"text","text":"\n"}]},
                {"type":"rich_text_list","style":"ordered","indent":0,"elements":[
                    {"type":"rich_text_section","elements":[{"type":"text","text":"one"}]},
                    {"type":"rich_text_section","elements":[{"type":"text","text":"two","style":{"code":true}}]}]},
                {"type":"rich_text_preformatted","elements":[{"type":"text","text":"x = 1 :wave:"}]},
                {"type":"rich_text_quote","elements":[{"type":"text","text":"quoted\nlines"}]}
            ]}]"#,
        )
        .unwrap();
        let m = RawMessage {
            user: Some("U2".into()),
            text: Some(String::new()),
            blocks: Some(blocks),
            ..RawMessage::default()
        };
        assert_eq!(
            message_text(&m, &dir()).unwrap(),
            "Hi Niall Murphy see [this](https://a.org) *bold* 👋\n1. one\n2. `two`\n```\nx = 1 :wave:\n```\n> quoted\n> lines"
        );
        assert_eq!(mentioned_users(&m), ["U1", "U2"]);
    }

    #[test]
    fn appends_shared_files_as_links() {
        let m = RawMessage {
            user: Some("U2".into()),
            text: Some("my slides".into()),
            files: Some(vec![
                SharedFile {
                    title: Some("Slides [v2]".into()),
                    permalink: Some("https://x.slack.com/files/U2/F1/slides.pdf".into()),
                    ..SharedFile::default()
                },
                SharedFile {
                    mode: Some("tombstone".into()),
                    permalink: Some("https://x.slack.com/files/U2/F2".into()),
                    ..SharedFile::default()
                },
            ]),
            ..RawMessage::default()
        };
        assert_eq!(
            message_text(&m, &dir()).unwrap(),
            "my slides\n[Slides \\[v2\\]](https://x.slack.com/files/U2/F1/slides.pdf)"
        );
    }
}
