//! Positions in block-style YAML text: where a key or list item of a parsed
//! document stands, so a problem found after parsing can still name its line.
//!
//! serde_yaml reports positions only for syntax errors; semantic problems
//! (`end` before `start`, a link without `link`) are found on parsed values, so
//! we look their place up in the text by following the indentation.

/// One step of a path into a YAML document.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The 1-based (line, column) of the deepest part of `path` found in `text`.
/// `None` when not even the first step is found (the key is absent).
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut lo = 0;
    let mut hi = lines.len();
    let mut col = first_content_col(&lines, lo, hi)?;
    let mut found = None;
    for seg in path {
        let Some((line, child_lo, child_hi, child_col)) = step(&lines, lo, hi, col, *seg) else {
            break;
        };
        found = Some((line + 1, col + 1));
        match child_col {
            Some(c) => {
                (lo, hi, col) = (child_lo, child_hi, c);
            }
            None => break,
        }
    }
    found
}

/// The text of `line` from column `col` on, if everything before `col` is
/// indentation or a sequence dash ("  - key: v" has content "key: v" at 4).
fn content_at(line: &str, col: usize) -> Option<&str> {
    let prefix = line.get(..col)?;
    let mut chars = prefix.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '-' if chars.peek() == Some(&' ') => {}
            _ => return None,
        }
    }
    Some(&line[col..])
}

fn is_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn first_content_col(lines: &[&str], lo: usize, hi: usize) -> Option<usize> {
    lines[lo..hi]
        .iter()
        .find(|l| !is_blank(l))
        .map(|l| indent(l))
}

fn key_matches(content: &str, key: &str) -> bool {
    let unquoted = [
        content.strip_prefix(key),
        content
            .strip_prefix('"')
            .and_then(|c| c.strip_prefix(key))
            .and_then(|c| c.strip_prefix('"')),
        content
            .strip_prefix('\'')
            .and_then(|c| c.strip_prefix(key))
            .and_then(|c| c.strip_prefix('\'')),
    ];
    unquoted
        .into_iter()
        .flatten()
        .any(|rest| rest.starts_with(':'))
}

/// Finds `seg` among the entries at column `col` of lines `lo..hi`; returns the
/// line it is on and the range and column of its children (if it has any).
fn step(
    lines: &[&str],
    lo: usize,
    hi: usize,
    col: usize,
    seg: Seg,
) -> Option<(usize, usize, usize, Option<usize>)> {
    // Entries are lines whose content starts exactly at `col`.
    let entry = |i: usize| -> Option<&str> {
        let c = content_at(lines[i], col)?;
        (!c.starts_with(' ') && !is_blank(lines[i])).then_some(c)
    };
    let start = match seg {
        Seg::Key(key) => (lo..hi).find(|&i| entry(i).is_some_and(|c| key_matches(c, key)))?,
        Seg::Index(n) => (lo..hi)
            .filter(|&i| entry(i).is_some_and(|c| c == "-" || c.starts_with("- ")))
            .nth(n)?,
    };
    // The entry ends where the next entry at this column (or anything less
    // indented) begins.
    let end = (start + 1..hi)
        .find(|&i| {
            !is_blank(lines[i])
                && (indent(lines[i]) < col
                    || entry(i).is_some_and(|c| match seg {
                        // A sequence written at its key's own indentation
                        // belongs to the key, so only a plain key is a sibling.
                        Seg::Key(_) => !(c == "-" || c.starts_with("- ")),
                        Seg::Index(_) => true,
                    }))
        })
        .unwrap_or(hi);
    let child = match seg {
        // A list item's mapping continues right after its dash.
        Seg::Index(_) => Some((start, end, col + 2)),
        Seg::Key(_) => first_content_col(lines, start + 1, end).map(|c| (start + 1, end, c)),
    };
    match child {
        Some((clo, chi, ccol)) => Some((start, clo, chi, Some(ccol))),
        None => Some((start, start, start, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "title: X\nlinks:\n- link: https://a\n  text: A\n- text: B\n  list: https://b\nsite:\n  base_url: x\n  timezone: Mars\narchive:\n  - name: a\n    replies:\n      - name: b\n";

    #[test]
    fn finds_top_level_and_nested_keys() {
        assert_eq!(locate(DOC, &[Seg::Key("title")]), Some((1, 1)));
        assert_eq!(
            locate(DOC, &[Seg::Key("site"), Seg::Key("timezone")]),
            Some((9, 3))
        );
    }

    #[test]
    fn finds_list_items_at_key_indentation() {
        assert_eq!(
            locate(DOC, &[Seg::Key("links"), Seg::Index(1), Seg::Key("list")]),
            Some((6, 3))
        );
        assert_eq!(
            locate(DOC, &[Seg::Key("links"), Seg::Index(1)]),
            Some((5, 1))
        );
    }

    #[test]
    fn finds_items_in_indented_lists() {
        assert_eq!(
            locate(
                DOC,
                &[
                    Seg::Key("archive"),
                    Seg::Index(0),
                    Seg::Key("replies"),
                    Seg::Index(0)
                ]
            ),
            Some((13, 7))
        );
    }

    #[test]
    fn falls_back_to_deepest_found() {
        assert_eq!(
            locate(DOC, &[Seg::Key("site"), Seg::Key("nope")]),
            Some((7, 1))
        );
        assert_eq!(locate(DOC, &[Seg::Key("nope")]), None);
    }
}
