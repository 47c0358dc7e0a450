//! Every digest sent, as a web page (`digests/{n}.html`, `n` its number in
//! the state database) and an archive of them (`digests.html`, then
//! `digests/page-2.html`, …). A digest's page shows the email's HTML as it
//! was recorded when the digest was created, not a new rendering: what
//! subscribers got. Nobody's link is in it: the unsubscribe link (still a
//! placeholder in the record) is left out, and "View in your browser"
//! points to the page itself.

use std::sync::LazyLock;

use chrono::DateTime;
use minijinja::{Value, context};
use serde::Serialize;

use super::view::{self, PageMeta, Pager};
use super::{Context, DIGESTS, Inputs, key};
use crate::digest::{UNSUBSCRIBE_PLACEHOLDER, VIEW_PLACEHOLDER};
use crate::state::DigestRecord;
use crate::templates::{RenderError, Templates};

pub(super) fn path(id: i64) -> String {
    format!("digests/{id}.html")
}

/// `digests.html`, then `digests/page-2.html`, …
pub(super) fn list_path(page: usize) -> String {
    if page == 1 {
        DIGESTS.to_string()
    } else {
        format!("digests/page-{page}.html")
    }
}

pub(super) fn list_pages(digests: &[DigestRecord]) -> usize {
    view::page_count(digests.len())
}

/// The key of a digest's page: what was recorded, and its neighbours
/// (the page links to them).
pub(super) fn key(common: &str, inputs: &Inputs, index: usize) -> String {
    let d = &inputs.digests[index];
    let newer = index.checked_sub(1).map(|i| inputs.digests[i].id);
    let older = inputs.digests.get(index + 1).map(|d| d.id);
    key::of_debug(
        common,
        "digest",
        &[&d.id, &d.tick, &d.subject, &d.html, &newer, &older],
    )
}

/// The tick of a record in the site's time zone, in words and as RFC 3339.
fn date(inputs: &Inputs, d: &DigestRecord) -> (String, String) {
    match DateTime::parse_from_rfc3339(&d.tick) {
        Ok(t) => {
            let local = t.with_timezone(&inputs.config.timezone);
            (view::day_in_words(local), local.to_rfc3339())
        }
        Err(_) => (d.tick.clone(), d.tick.clone()),
    }
}

#[derive(Serialize)]
struct DigestView {
    number: i64,
    subject: String,
    date_words: String,
    date_iso: String,
    body_html: Value,
    newer: Option<String>,
    older: Option<String>,
}

pub(super) fn page(
    ctx: &Context,
    templates: &Templates,
    index: usize,
) -> Result<String, RenderError> {
    let inputs = ctx.inputs;
    let config = inputs.config;
    let d = &inputs.digests[index];
    let own = view::url(config, &path(d.id));
    let (date_words, date_iso) = date(inputs, d);
    let link = |i: usize| view::url(config, &path(inputs.digests[i].id));
    let digest = DigestView {
        number: d.id,
        subject: d.subject.clone(),
        date_words: date_words.clone(),
        date_iso,
        body_html: Value::from_safe_string(web_body(&d.html, &own)),
        newer: index.checked_sub(1).map(link),
        older: (index + 1 < inputs.digests.len()).then(|| link(index + 1)),
    };
    let meta = PageMeta {
        title: d.subject.clone(),
        description: Some(format!(
            "The {} email of {date_words}.",
            config.settings.site.title
        )),
        url: Some(own),
        image: None,
        kind: "article",
    };
    templates.render(
        "page/digest.html.j2",
        context! { site => &ctx.site, page => meta, digest => digest },
    )
}

#[derive(Debug, Serialize)]
struct ListItem {
    number: i64,
    url: String,
    subject: String,
    date_words: String,
    date_iso: String,
}

#[derive(Debug, Serialize)]
pub(super) struct ListView {
    digests: Vec<ListItem>,
    pager: Pager,
}

pub(super) fn list_view(inputs: &Inputs, page: usize) -> ListView {
    let config = inputs.config;
    let digests = inputs
        .digests
        .iter()
        .skip((page - 1) * super::PER_PAGE)
        .take(super::PER_PAGE)
        .map(|d| {
            let (date_words, date_iso) = date(inputs, d);
            ListItem {
                number: d.id,
                url: view::url(config, &path(d.id)),
                subject: d.subject.clone(),
                date_words,
                date_iso,
            }
        })
        .collect();
    ListView {
        digests,
        pager: view::pager(page, list_pages(inputs.digests), |n| {
            view::url(config, &list_path(n))
        }),
    }
}

pub(super) fn list(
    ctx: &Context,
    templates: &Templates,
    page: usize,
) -> Result<String, RenderError> {
    let config = ctx.inputs.config;
    let v = list_view(ctx.inputs, page);
    let meta = PageMeta {
        title: if v.pager.pages > 1 {
            format!("Digests, page {page}")
        } else {
            "Digests".into()
        },
        description: Some(format!(
            "Every weekly email of {}, as it was sent.",
            config.settings.site.title
        )),
        url: Some(view::url(config, &list_path(page))),
        image: None,
        kind: "website",
    };
    templates.render(
        "page/digests.html.j2",
        context! { site => &ctx.site, page => meta, digests => v.digests, pager => v.pager },
    )
}

/// The body of a recorded digest's HTML, made fit for a page: what is
/// between `<body>` and `</body>`, headings one level down (the page's
/// `h1` is the subject), "View in your browser" pointing to `own`, the
/// unsubscribe placeholder's link dropped (its words stay), cleaned by
/// ammonia like any HTML from outside.
pub(super) fn web_body(html: &str, own: &str) -> String {
    static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut b = ammonia::Builder::default();
        b.add_generic_attributes([
            "style",
            "role",
            "align",
            "valign",
            "width",
            "height",
            "cellpadding",
            "cellspacing",
            "border",
        ])
        .attribute_filter(|_, attribute, value| {
            if attribute == "href" && value == UNSUBSCRIBE_PLACEHOLDER {
                None
            } else {
                Some(value.into())
            }
        })
        .link_rel(None);
        b
    });
    let body = inner_body(html);
    let body = body.replace(VIEW_PLACEHOLDER, own);
    CLEANER.clean(&demote_headings(&body)).to_string()
}

/// `<h1>`…`<h5>` (and their end tags) one level down, in any case.
fn demote_headings(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(off) = html[from..].find('<') {
        let at = from + off;
        let name = at + 1 + usize::from(bytes.get(at + 1) == Some(&b'/'));
        let is_heading = bytes
            .get(name)
            .is_some_and(|c| c.eq_ignore_ascii_case(&b'h'))
            && bytes
                .get(name + 1)
                .is_some_and(|c| (b'1'..=b'5').contains(c))
            && bytes
                .get(name + 2)
                .is_none_or(|c| !c.is_ascii_alphanumeric());
        if is_heading {
            let digit = name + 1;
            out.push_str(&html[copied..digit]);
            out.push(char::from(bytes[digit] + 1));
            copied = digit + 1;
        }
        from = at + 1;
    }
    out.push_str(&html[copied..]);
    out
}

/// What is between `<body …>` and `</body>`, or all of it.
fn inner_body(html: &str) -> &str {
    let lower = html.to_ascii_lowercase();
    let start = lower
        .find("<body")
        .and_then(|i| lower[i..].find('>').map(|j| i + j + 1));
    let end = lower.rfind("</body");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => &html[s..e],
        (Some(s), None) => &html[s..],
        _ => html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_page_has_no_subscriber_link_and_no_h1() {
        let html = format!(
            "<!DOCTYPE html><html><head><title>S</title><style>p{{}}</style></head>\
             <body style=\"margin:0\"><p><a href=\"{VIEW_PLACEHOLDER}\">View in your browser</a></p>\
             <h1 style=\"margin:0\">Book</h1><H2>Answers</H2>\
             <p><a href=\"{UNSUBSCRIBE_PLACEHOLDER}\">Unsubscribe</a></p>\
             <script>alert(1)</script><img src=x onerror=alert(2)></body></html>"
        );
        let body = web_body(&html, "https://example.org/digests/3.html");
        assert!(!body.contains("<h1"), "{body}");
        assert!(body.contains("<h2 style=\"margin:0\">Book</h2>"), "{body}");
        assert!(body.contains("<h3>Answers</h3>"), "{body}");
        assert!(
            body.contains(
                "<a href=\"https://example.org/digests/3.html\">View in your browser</a>"
            ),
            "{body}"
        );
        assert!(!body.contains("unsubscribe.bookweek.invalid"), "{body}");
        assert!(body.contains("Unsubscribe"));
        assert!(
            !body.contains("<script") && !body.contains("onerror"),
            "{body}"
        );
        assert!(!body.contains("<title>") && !body.contains("p{}"), "{body}");
    }

    #[test]
    fn headings_go_one_level_down_and_nothing_else_changes() {
        assert_eq!(
            demote_headings("<h1 a>x</H1><h5>y</h5><h6>z</h6><hr><header>é</header>"),
            "<h2 a>x</H2><h6>y</h6><h6>z</h6><hr><header>é</header>"
        );
    }

    #[test]
    fn the_body_is_found_in_any_case_or_the_whole_text_is_taken() {
        assert_eq!(inner_body("<BODY class=x>a</Body>"), "a");
        assert_eq!(inner_body("<p>a</p>"), "<p>a</p>");
    }
}
