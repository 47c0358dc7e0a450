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
    let mut lines = Lines {
        split: Vec::new(),
        rest: text.lines(),
    };
    let mut lo = 0;
    let mut hi = usize::MAX;
    let mut col = first_content_col(&mut lines, lo, hi)?;
    let mut found = None;
    for seg in path {
        let Some((line, child_lo, child_hi, child_col)) = step(&mut lines, lo, hi, col, *seg)
        else {
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

/// A document's lines, split only as far as a lookup has read: a key near
/// the top of a long document (a book's `cover` above its archive) costs a
/// few lines, not all of them.
struct Lines<'t> {
    split: Vec<&'t str>,
    rest: std::str::Lines<'t>,
}

impl<'t> Lines<'t> {
    fn get(&mut self, i: usize) -> Option<&'t str> {
        while self.split.len() <= i {
            self.split.push(self.rest.next()?);
        }
        Some(self.split[i])
    }

    /// Lines `lo..hi` (`hi` may be past the end) with their index.
    fn range(&mut self, lo: usize, hi: usize) -> impl Iterator<Item = (usize, &'t str)> + '_ {
        (lo..hi).map_while(|i| self.get(i).map(|l| (i, l)))
    }
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

fn first_content_col(lines: &mut Lines, lo: usize, hi: usize) -> Option<usize> {
    lines
        .range(lo, hi)
        .find(|(_, l)| !is_blank(l))
        .map(|(_, l)| indent(l))
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
    lines: &mut Lines,
    lo: usize,
    hi: usize,
    col: usize,
    seg: Seg,
) -> Option<(usize, usize, usize, Option<usize>)> {
    // Entries are lines whose content starts exactly at `col`.
    fn entry_at(line: &str, col: usize) -> Option<&str> {
        let c = content_at(line, col)?;
        (!c.starts_with(' ') && !is_blank(line)).then_some(c)
    }
    let is_item = |c: &str| c == "-" || c.starts_with("- ");
    let start = match seg {
        Seg::Key(key) => {
            lines
                .range(lo, hi)
                .find(|(_, l)| entry_at(l, col).is_some_and(|c| key_matches(c, key)))?
                .0
        }
        Seg::Index(n) => {
            lines
                .range(lo, hi)
                .filter(|(_, l)| entry_at(l, col).is_some_and(is_item))
                .nth(n)?
                .0
        }
    };
    // The entry ends where the next entry at this column (or anything less
    // indented) begins.
    let end = lines
        .range(start + 1, hi)
        .find(|(_, l)| {
            !is_blank(l)
                && (indent(l) < col
                    || entry_at(l, col).is_some_and(|c| match seg {
                        // A sequence written at its key's own indentation
                        // belongs to the key, so only a plain key is a sibling.
                        Seg::Key(_) => !is_item(c),
                        Seg::Index(_) => true,
                    }))
        })
        .map_or(hi, |(i, _)| i);
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
