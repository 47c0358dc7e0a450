//! The HTML the server answers with: the headers of the site's files as the
//! daemon last built them (the same bytes `build` writes), and the message pages
//! (subscribed, confirm, unsubscribe, not found) rendered per request from
//! `page/message.html.j2`; and the headers every page carries (CSP, no
//! referrer, caching).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, ServerError};
use crate::config::Config;
use crate::site::message::{self, Message};

/// Pages have no scripts or frames; images come from the site or https;
/// forms only post back here. The site's own pages carry the same policy
/// in a `<meta>` element, for web servers that send none.
pub(super) const CSP: &str = crate::site::CSP;

/// Pages under a token URL (and answers to a form) are personal.
pub(super) const PRIVATE: &str = "no-store";

/// Pages change at window boundaries and when a digest goes out: caches
/// ask again each time, and the ETag makes that a 304.
const PAGE_CACHE_CONTROL: &str = "no-cache";

/// Images seldom change, and their URL names them.
const IMAGE_CACHE_CONTROL: &str = "public, max-age=86400";

/// `reference` resolved against `site.base_url`.
pub(super) fn absolute(config: &Config, reference: &str) -> String {
    config
        .absolute(reference)
        .map_or_else(|| reference.to_string(), |u| u.to_string())
}

/// A message page rendered with the templates and config of the last
/// publish, or a 500 when the template fails.
pub(super) fn page(
    app: &AppState,
    status: StatusCode,
    cache: &'static str,
    message: Message,
) -> Response {
    let published = app.published();
    match message::render(&published.config, &published.templates, &message) {
        Ok(body) => html_response(status, cache, body),
        Err(e) => ServerError::Template {
            name: e.path,
            message: e.message,
        }
        .into_response(),
    }
}

/// The headers every representation of a site file carries (the ETag,
/// encoding and length are added per representation).
pub(super) fn site_headers(content_type: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if content_type.starts_with("image/") {
            IMAGE_CACHE_CONTROL
        } else {
            PAGE_CACHE_CONTROL
        }),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers
}

pub(super) fn html_response(status: StatusCode, cache: &'static str, body: String) -> Response {
    let mut res = (status, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // Token URLs must not leak to the sites the page links to.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}
