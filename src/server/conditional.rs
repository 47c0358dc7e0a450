//! Conditional GET: ETags (one per representation, so a gzipped body has
//! its own), `If-None-Match` and `If-Modified-Since` per RFC 9110, and the
//! three HTTP date formats.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

/// Whether a GET or HEAD with these request headers gets a 304 for the
/// representation whose ETag is `etag` (the one that would be sent, so a
/// gzipped body is validated by its own tag). `now` is only asked for when
/// an `If-Modified-Since` date must be read (RFC 850's two-digit years), so
/// the common request, with neither header, reads nothing and allocates
/// nothing.
pub(super) fn is_not_modified(
    headers: &HeaderMap,
    etag: &str,
    last_modified: Option<DateTime<Utc>>,
    now: impl FnOnce() -> DateTime<Utc>,
) -> bool {
    if !headers.contains_key(header::IF_NONE_MATCH)
        && !headers.contains_key(header::IF_MODIFIED_SINCE)
    {
        return false;
    }
    let if_none_match = joined(headers, header::IF_NONE_MATCH);
    // A list of dates is not a date: RFC 9110 says to ignore it.
    let mut since_values = headers.get_all(header::IF_MODIFIED_SINCE).iter();
    let if_modified_since = match (since_values.next(), since_values.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    };
    not_modified(
        if_none_match.as_deref(),
        if_modified_since,
        etag,
        last_modified,
        now,
    )
}

/// Every value of a list header, as one comma-separated string.
fn joined(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// `"abc"` + `gzip` → `"abc-gzip"`.
pub(super) fn encoded_etag(etag: &str, coding: &str) -> String {
    let coding: String = coding
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    match etag.strip_suffix('"') {
        Some(open) if !coding.is_empty() => format!("{open}-{coding}\""),
        _ => etag.to_string(),
    }
}

/// RFC 9110 §13.2.2 for GET/HEAD: `If-None-Match` decides when present
/// (weak comparison, `*` matches any current representation) and
/// `If-Modified-Since` is then ignored; otherwise the resource is unmodified
/// when its last modification is not after the given date.
fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    last_modified: Option<DateTime<Utc>>,
    now: impl FnOnce() -> DateTime<Utc>,
) -> bool {
    if let Some(list) = if_none_match {
        if list.trim() == "*" {
            return true;
        }
        let ours = opaque_tag(etag);
        return entity_tags(list).into_iter().any(|t| t == ours);
    }
    match (
        if_modified_since.and_then(|s| parse_http_date(s, now())),
        last_modified,
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// The quoted part of an entity tag, without `W/`.
fn opaque_tag(tag: &str) -> &str {
    let tag = tag.trim();
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The opaque tags of an `If-None-Match` list, quotes included. Tags may
/// contain commas, so this reads quoted strings rather than splitting; it
/// stops at anything malformed (what came before still counts).
fn entity_tags(list: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(inner) = tag.strip_prefix('"') else {
            break;
        };
        let Some(end) = inner.find('"') else {
            break;
        };
        tags.push(&tag[..end + 2]);
        rest = &tag[end + 2..];
    }
    tags
}

/// IMF-fixdate, the one format to send.
pub(super) fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses the three HTTP-date formats of RFC 9110 §5.6.7: IMF-fixdate,
/// RFC 850 (two-digit year: a date more than 50 years ahead of `now` is in
/// the past century) and asctime.
pub(super) fn parse_http_date(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%a, %d %b %Y %H:%M:%S GMT") {
        return Some(t.and_utc());
    }
    if let Some((_, rest)) = s.split_once(", ") {
        // Parse the date without its weekday, then check the weekday
        // against the century the RFC picks (chrono's own pivot differs).
        let (weekday, _) = s.split_once(',')?;
        let t = NaiveDateTime::parse_from_str(rest, "%d-%b-%y %H:%M:%S GMT").ok()?;
        let two_digits = t.year().rem_euclid(100);
        let mut year = now.year() - now.year().rem_euclid(100) + two_digits;
        if year > now.year() + 50 {
            year -= 100;
        }
        let t = t.with_year(year)?;
        let named = t.format("%A").to_string();
        return named.eq_ignore_ascii_case(weekday).then(|| t.and_utc());
    }
    NaiveDateTime::parse_from_str(s, "%a %b %e %H:%M:%S %Y")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn parses_the_three_http_date_formats() {
        let now = at("2026-03-02T10:00:00Z").with_timezone(&Utc);
        let expected = at("1994-11-06T08:49:37Z").with_timezone(&Utc);
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(s, now), Some(expected), "{s}");
        }
        // Two-digit years: up to 50 years ahead is this century, beyond
        // that the last one.
        assert_eq!(
            parse_http_date("Saturday, 01-Jan-77 00:00:00 GMT", now),
            Some(at("1977-01-01T00:00:00Z").with_timezone(&Utc))
        );
        assert_eq!(
            parse_http_date("Wednesday, 01-Jan-70 00:00:00 GMT", now),
            Some(at("2070-01-01T00:00:00Z").with_timezone(&Utc))
        );
        assert_eq!(
            parse_http_date("Monday, 01-Jan-52 00:00:00 GMT", now),
            Some(at("2052-01-01T00:00:00Z").with_timezone(&Utc))
        );
        for bad in [
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Monday, 06-Nov-94 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "",
        ] {
            assert_eq!(parse_http_date(bad, now), None, "{bad}");
        }
        assert_eq!(http_date(expected), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn reads_entity_tag_lists() {
        assert_eq!(
            entity_tags(r#""a", W/"b",  "c,d""#),
            [r#""a""#, r#""b""#, r#""c,d""#]
        );
        assert_eq!(entity_tags(r#""a", junk, "b""#), [r#""a""#]);
        assert!(entity_tags("").is_empty());
        assert_eq!(encoded_etag("\"abc\"", "gzip"), "\"abc-gzip\"");
        assert_eq!(encoded_etag("\"abc\"", "x\"y"), "\"abc-xy\"");
    }
}
