//! Untrusted archive text must come out harmless in every feed.

use regex::Regex;

use crate::support::{Site, fixture};

const DANGEROUS_TAGS: &str =
    r"(?i)<\s*(script|iframe|object|embed|svg|math|style|form|input|details)\b";

fn matches(pattern: &str, text: &str) -> Vec<String> {
    Regex::new(pattern)
        .unwrap()
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// Executable constructs an HTML consumer could run.
fn executable(html: &str) -> Vec<String> {
    let patterns = [
        DANGEROUS_TAGS,
        r"(?i)<[a-z][^<>]*\son[a-z]+\s*=",
        r"(?i)<[a-z][^<>]*\sstyle\s*=",
        r#"(?i)(href|src|action|data)\s*=\s*["']?\s*(javascript|vbscript|data):"#,
    ];
    patterns
        .iter()
        .flat_map(|p| {
            Regex::new(p)
                .unwrap()
                .find_iter(html)
                .map(|m| m.as_str().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn hostile_archive_is_harmless_in_every_feed() {
    let site = Site::with_content(&fixture("xss"), "");
    let (run, feeds) = site.build("2024-01-01T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for feed in feeds.all() {
        assert_eq!(feed.entries.len(), 2);
        for e in &feed.entries {
            let content = e.content.as_ref().and_then(|c| c.body.clone()).unwrap();
            let found = executable(&content);
            assert!(found.is_empty(), "{}: {found:?}\n{content}", e.id);
            // The hostile text is still there for the reader to see, as text.
            if e.id.ends_with("/recap") {
                assert!(
                    content.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{content}"
                );
                assert!(
                    content.contains("]]&gt; end") || content.contains("]]> end"),
                    "{content}"
                );
            }
            // Plain-text fields hold no markup at all.
            let title = &e.title.as_ref().unwrap().content;
            assert!(
                title.contains("Hostile") && executable(title).is_empty(),
                "{title}"
            );
        }
    }
    // Plain-text fields (titles, summaries) may show a typed `<script>` as
    // text, but in the XML feeds it is always escaped: nothing in either
    // file is a live tag.
    for raw in &feeds.raw[..2] {
        let found = matches(DANGEROUS_TAGS, raw);
        assert!(found.is_empty(), "{found:?}");
    }
    // The RSS file splits `]]>` so the CDATA sections stay well-formed.
    assert!(!feeds.raw[0].contains("]]> end"));
}
