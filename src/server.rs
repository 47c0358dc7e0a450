//! The HTTP side of `bookweek run`: the three feeds (with validators,
//! conditional requests and gzip), a small home page with a subscribe form,
//! the double opt-in (subscribe → confirmation mail → `/confirm/{token}`),
//! unsubscribing (a page with a button, and RFC 8058 one-click), and a health
//! check. The daemon owns the listener, the scheduler and shutdown; it hands
//! this module an [`AppState`] and serves [`router`].
//!
//! Decisions worth knowing before changing anything here:
//!
//! - What is shown comes through a `tokio::sync::watch` channel of
//!   `Arc<Published>`: the daemon replaces it after each rebuild with
//!   `send_replace`, a request clones the `Arc` and never holds the lock.
//! - Every request that needs the ledger opens its own [`State`] inside
//!   `spawn_blocking` (a rusqlite connection is `!Sync`). Opening costs well
//!   under a millisecond on this traffic (a handful of form posts a day), no
//!   request waits behind another on a mutex, WAL plus the busy timeout let
//!   `digest send` write at the same time, and `/healthz` proves the file is
//!   usable *now* rather than that a connection opened at start-up still is.
//! - Subscribing never reveals whether an address is known: the answer is
//!   the same page for a new, pending, active or unsubscribed address, and the
//!   confirmation mail is sent in the background so the response time does
//!   not tell either. [`AppState::finish_sends`] waits for mails in flight
//!   (call it on shutdown).
//! - Confirmation links only activate *pending* subscribers. Someone who
//!   unsubscribed (or bounced) becomes pending again when they use the form,
//!   which sends them a fresh link; an old confirmation link found in a
//!   mailbox (or followed by a mail scanner) therefore never resubscribes a
//!   person who left.
//! - The core logic never reads the wall clock: time comes from
//!   [`AppState::clock`], rate limits included.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::FormRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, Form, FromRequestParts, Path, Request, State as Shared,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, TimeDelta, Utc};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_http::compression::CompressionLayer;

use crate::config::Config;
use crate::feeds;
use crate::state::{AddOutcome, State, StateError, Status, Subscriber, normalize_email};
use crate::token::{Purpose, Signer};

/// Content types of the feeds, by file name.
pub const RSS_TYPE: &str = "application/rss+xml; charset=utf-8";
pub const ATOM_TYPE: &str = "application/atom+xml; charset=utf-8";
pub const JSON_TYPE: &str = "application/feed+json; charset=utf-8";

/// Request bodies are a form with one address or an RFC 8058 one-click
/// body: anything larger is not ours.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Feeds change at most a few times a week; five minutes keeps polling
/// readers and caches cheap without delaying a new item much.
const FEED_CACHE_CONTROL: &str = "public, max-age=300";

/// HTML pages have no scripts, images or frames; forms only post back here.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Pages under a token URL (and answers to a form) are personal.
const PRIVATE: &str = "no-store";

/// What the server shows; the daemon swaps it atomically after each rebuild.
#[derive(Debug, Clone)]
pub struct Published {
    /// `feed.xml`, `atom.xml`, `feed.json`; see [`FeedFile::from_rendered`].
    pub feeds: Vec<FeedFile>,
    /// When the daemon last rebuilt.
    pub built_at: DateTime<FixedOffset>,
    /// Books in the catalog (for `/healthz`).
    pub books: usize,
    /// The book whose window is open now.
    pub current: Option<BookCard>,
    /// The next one.
    pub upcoming: Option<BookCard>,
}

impl Published {
    /// Nothing built yet: the feeds answer 503 until the first build.
    pub fn empty(built_at: DateTime<FixedOffset>) -> Self {
        Self {
            feeds: Vec::new(),
            built_at,
            books: 0,
            current: None,
            upcoming: None,
        }
    }

    fn feed(&self, name: &str) -> Option<&FeedFile> {
        self.feeds.iter().find(|f| f.name == name)
    }
}

/// One feed as served. Built with [`FeedFile::new`], which computes the ETag
/// from the bytes so the two cannot disagree.
#[derive(Debug, Clone)]
pub struct FeedFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: Bytes,
    /// The feed's newest item date (`Last-Modified`); `None` for an empty feed.
    pub last_modified: Option<DateTime<FixedOffset>>,
    etag: String,
}

impl FeedFile {
    pub fn new(
        name: &'static str,
        content_type: &'static str,
        bytes: impl Into<Bytes>,
        last_modified: Option<DateTime<FixedOffset>>,
    ) -> Self {
        let bytes = bytes.into();
        let etag = strong_etag(&bytes);
        Self {
            name,
            content_type,
            bytes,
            last_modified,
            etag,
        }
    }

    /// The three feeds of a build, each with its content type and the newest
    /// item date as `Last-Modified`.
    pub fn from_rendered(rendered: &feeds::Rendered, items: &[feeds::Item]) -> Vec<FeedFile> {
        let newest = items.iter().map(|i| i.date.fixed_offset()).max();
        rendered
            .files()
            .into_iter()
            .map(|(name, text)| {
                FeedFile::new(
                    name,
                    content_type(name).unwrap_or("application/octet-stream"),
                    Bytes::copy_from_slice(text.as_bytes()),
                    newest,
                )
            })
            .collect()
    }

    /// The strong ETag, quotes included: `"<32 hex digits of SHA-256>"`.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// The content type a feed file is served with.
pub fn content_type(name: &str) -> Option<&'static str> {
    match name {
        feeds::RSS_FILE => Some(RSS_TYPE),
        feeds::ATOM_FILE => Some(ATOM_TYPE),
        feeds::JSON_FILE => Some(JSON_TYPE),
        _ => None,
    }
}

/// 128 bits of SHA-256 are plenty to tell versions of a feed apart.
fn strong_etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A book as the home page shows it; all plain text (the page escapes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookCard {
    pub title: String,
    pub authors: String,
    /// Already formatted for people, e.g. "5–9 December 2022".
    pub window: String,
    /// Absolute URL of the book's page.
    pub url: String,
}

/// Sends one confirmation email to a subscriber with the given confirm URL;
/// the daemon passes a closure that renders and sends it with the digest's
/// transport. It blocks, so it is run with `spawn_blocking`.
pub type SendConfirmation = Arc<dyn Fn(&Subscriber, &str) -> Result<(), String> + Send + Sync>;

/// The time: the daemon passes the real clock, tests a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>;

/// Everything the routes share. Build it with [`AppState::new`].
pub struct AppState {
    /// The daemon keeps the `watch::Sender` and calls `send_replace` after
    /// each rebuild.
    pub published: watch::Receiver<Arc<Published>>,
    pub config: Arc<Config>,
    /// The SQLite ledger; opened per request (see the module docs).
    pub state_path: PathBuf,
    pub signer: Signer,
    pub send_confirmation: SendConfirmation,
    pub clock: Clock,
    /// `POST /subscribe` per client address.
    per_client: RateLimiter,
    /// Confirmation mails per recipient, so the form cannot be used to flood
    /// someone's inbox from many addresses.
    per_address: RateLimiter,
    /// Confirmation mails being sent.
    sends: Mutex<JoinSet<()>>,
}

impl AppState {
    /// With the default limits: 5 subscribe requests per client per 10
    /// minutes, 3 confirmation mails per address per day.
    pub fn new(
        published: watch::Receiver<Arc<Published>>,
        config: Arc<Config>,
        state_path: PathBuf,
        signer: Signer,
        send_confirmation: SendConfirmation,
        clock: Clock,
    ) -> Self {
        Self {
            published,
            config,
            state_path,
            signer,
            send_confirmation,
            clock,
            per_client: RateLimiter::new(5, TimeDelta::minutes(10), 10_000),
            per_address: RateLimiter::new(3, TimeDelta::days(1), 10_000),
            sends: Mutex::new(JoinSet::new()),
        }
    }

    /// Replaces the rate limits (per client address for `POST /subscribe`,
    /// per recipient for confirmation mails).
    pub fn with_limits(mut self, per_client: RateLimiter, per_address: RateLimiter) -> Self {
        self.per_client = per_client;
        self.per_address = per_address;
        self
    }

    /// Waits until every confirmation mail started so far has been sent (or
    /// has failed and been logged). The daemon calls it after the server has
    /// stopped accepting requests, so a shutdown does not cut a mail short.
    pub async fn finish_sends(&self) {
        let mut running = std::mem::take(&mut *lock(&self.sends));
        while let Some(done) = running.join_next().await {
            if let Err(e) = done {
                tracing::error!("a confirmation mail task failed: {e}");
            }
        }
    }

    fn now(&self) -> DateTime<FixedOffset> {
        (self.clock)()
    }

    fn published(&self) -> Arc<Published> {
        // Clone the Arc and let go of the channel's lock at once.
        self.published.borrow().clone()
    }

    /// Starts sending a confirmation mail in the background.
    fn send_confirmation_later(&self, subscriber: Subscriber) {
        let token = self.signer.token(subscriber.id, Purpose::Confirm);
        let url = absolute(&self.config, &format!("confirm/{token}"));
        let send = Arc::clone(&self.send_confirmation);
        let mut sends = lock(&self.sends);
        // Reap finished tasks so the set does not grow for ever.
        while let Some(done) = sends.try_join_next() {
            if let Err(e) = done {
                tracing::error!("a confirmation mail task failed: {e}");
            }
        }
        sends.spawn_blocking(move || match send(&subscriber, &url) {
            Ok(()) => tracing::info!(subscriber = subscriber.id, "confirmation mail sent"),
            // The id, not the address: logs should not collect addresses.
            Err(e) => tracing::warn!(
                subscriber = subscriber.id,
                "cannot send the confirmation mail: {e}"
            ),
        });
    }
}

/// A mutex whose holder panicked still guards consistent data here (a map
/// of timestamps, a task set): keep going rather than fail every request.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A sliding-window limit of `max` events per `window` for each key, in
/// bounded memory: when `capacity` keys are tracked, expired ones are dropped
/// and, if that is not enough, the key seen longest ago is forgotten.
pub struct RateLimiter {
    max: usize,
    window: TimeDelta,
    capacity: usize,
    hits: Mutex<HashMap<String, VecDeque<DateTime<FixedOffset>>>>,
}

impl RateLimiter {
    pub fn new(max: usize, window: TimeDelta, capacity: usize) -> Self {
        Self {
            max,
            window,
            capacity: capacity.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records an event for `key` at `now`, or refuses it with the number of
    /// seconds until one is allowed again. Refused events are not recorded,
    /// so a client that waits always gets through.
    pub fn check(&self, key: &str, now: DateTime<FixedOffset>) -> Result<(), u64> {
        let cutoff = now - self.window;
        let mut hits = lock(&self.hits);
        if !hits.contains_key(key) && hits.len() >= self.capacity {
            hits.retain(|_, times| times.back().is_some_and(|t| *t > cutoff));
            if hits.len() >= self.capacity {
                let stalest = hits
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    hits.remove(&k);
                }
            }
        }
        let times = hits.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| *t <= cutoff) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let wait = times
                .front()
                .map_or(self.window, |t| *t + self.window - now);
            // Round up: "retry in 0 seconds" would invite an immediate retry.
            let secs = (wait.num_milliseconds() + 999) / 1000;
            return Err(u64::try_from(secs).unwrap_or(0).max(1));
        }
        times.push_back(now);
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.hits).len()
    }
}

/// What went wrong inside a request; answered with a 500 page and logged.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot render the page {name}: {message}")]
    Template { name: String, message: String },
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        let body = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                    <title>Something went wrong</title></head><body><main>\
                    <h1>Something went wrong</h1><p>Please try again in a few minutes.</p>\
                    </main></body></html>\n";
        html_response(StatusCode::INTERNAL_SERVER_ERROR, PRIVATE, body.to_string())
    }
}

/// Runs `f` on a freshly opened ledger on the blocking pool.
async fn with_state<T, F>(app: &AppState, f: F) -> Result<T, ServerError>
where
    T: Send + 'static,
    F: FnOnce(&State) -> Result<T, StateError> + Send + 'static,
{
    let path = app.state_path.clone();
    let result = tokio::task::spawn_blocking(move || f(&State::open(&path)?)).await?;
    Ok(result?)
}

/// The routes. Serve them with
/// `router(app).into_make_service_with_connect_info::<SocketAddr>()` so the
/// subscribe limit can tell clients apart (without it all clients share one
/// limit).
pub fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(home))
        .route(
            "/feed.xml",
            get(|s: Shared<Arc<AppState>>| feed(s, feeds::RSS_FILE)),
        )
        .route(
            "/atom.xml",
            get(|s: Shared<Arc<AppState>>| feed(s, feeds::ATOM_FILE)),
        )
        .route(
            "/feed.json",
            get(|s: Shared<Arc<AppState>>| feed(s, feeds::JSON_FILE)),
        )
        .route("/subscribe", post(subscribe))
        .route("/confirm/{token}", get(confirm))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CompressionLayer::new())
        // Outside the compression, so it sees the representation actually
        // sent: its ETag is made distinct and conditionals compare with it.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            conditional,
        ))
        .layer(middleware::map_response(nosniff))
        .with_state(app)
}

// ---------------------------------------------------------------- feeds

async fn feed(Shared(app): Shared<Arc<AppState>>, name: &'static str) -> Response {
    let published = app.published();
    let Some(file) = published.feed(name) else {
        // Before the first build: a 404 could make a reader drop the feed.
        let mut res = page(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            PRIVATE,
            "message.html",
            context! {
                heading => "The feeds are being built",
                paragraphs => ["Please try again in a minute."],
            },
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return res;
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(file.etag()) {
        headers.insert(header::ETAG, v);
    }
    if let Some(lm) = file.last_modified
        && let Ok(v) = HeaderValue::from_str(&http_date(lm.with_timezone(&Utc)))
    {
        headers.insert(header::LAST_MODIFIED, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(FEED_CACHE_CONTROL),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let self_url = absolute(&app.config, name);
    if let Ok(v) = HeaderValue::from_str(&format!("<{self_url}>; rel=\"self\"")) {
        headers.insert(header::LINK, v);
    }
    (StatusCode::OK, headers, file.bytes.clone()).into_response()
}

/// Conditional GET for every response that carries an ETag (the feeds).
/// Runs outside the compression layer: a gzipped body gets its own ETag
/// (`"<hash>-gzip"`), so a cache never mixes the two representations, and
/// `If-None-Match` is compared with the ETag of what would be sent.
async fn conditional(Shared(app): Shared<Arc<AppState>>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    let if_none_match = joined(req.headers(), header::IF_NONE_MATCH);
    // A list of dates is not a date: RFC 9110 says to ignore it.
    let mut since_values = req.headers().get_all(header::IF_MODIFIED_SINCE).iter();
    let if_modified_since = match (since_values.next(), since_values.next()) {
        (Some(v), None) => v.to_str().ok().map(str::to_string),
        _ => None,
    };

    let mut res = next.run(req).await;
    if !safe || res.status() != StatusCode::OK {
        return res;
    }
    let Some(mut etag) = header_str(res.headers(), header::ETAG) else {
        return res;
    };
    if let Some(coding) = header_str(res.headers(), header::CONTENT_ENCODING) {
        etag = encoded_etag(&etag, &coding);
        if let Ok(v) = HeaderValue::from_str(&etag) {
            res.headers_mut().insert(header::ETAG, v);
        }
    }
    let now = app.now().with_timezone(&Utc);
    let last_modified =
        header_str(res.headers(), header::LAST_MODIFIED).and_then(|s| parse_http_date(&s, now));
    if !not_modified(
        if_none_match.as_deref(),
        if_modified_since.as_deref(),
        &etag,
        last_modified,
        now,
    ) {
        return res;
    }
    let mut not_modified = Response::new(Body::empty());
    *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
    // RFC 9110 §15.4.5: the fields a 200 would have carried that caches need.
    for name in [
        header::ETAG,
        header::LAST_MODIFIED,
        header::CACHE_CONTROL,
        header::VARY,
        header::EXPIRES,
        header::CONTENT_LOCATION,
        header::DATE,
    ] {
        for v in res.headers().get_all(&name) {
            not_modified.headers_mut().append(name.clone(), v.clone());
        }
    }
    not_modified
}

fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Every value of a list header, as one comma-separated string.
fn joined(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// `"abc"` + `gzip` → `"abc-gzip"`.
fn encoded_etag(etag: &str, coding: &str) -> String {
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
    now: DateTime<Utc>,
) -> bool {
    if let Some(list) = if_none_match {
        if list.trim() == "*" {
            return true;
        }
        let ours = opaque_tag(etag);
        return entity_tags(list).into_iter().any(|t| t == ours);
    }
    match (
        if_modified_since.and_then(|s| parse_http_date(s, now)),
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
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses the three HTTP-date formats of RFC 9110 §5.6.7: IMF-fixdate,
/// RFC 850 (two-digit year: a date more than 50 years ahead of `now` is in
/// the past century) and asctime.
fn parse_http_date(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
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

// ---------------------------------------------------------------- pages

/// The site as every page shows it.
#[derive(Serialize)]
struct SiteView {
    title: String,
    description: String,
    lang: String,
    home: String,
    /// A path, not a URL: the form posts to whichever host served the page
    /// (the CSP allows only that), under the site's base path.
    subscribe_action: String,
    rss: String,
    atom: String,
    json: String,
}

fn site_view(config: &Config) -> SiteView {
    let site = &config.settings.site;
    SiteView {
        title: site.title.clone(),
        description: site.description.clone(),
        lang: site.language.clone(),
        home: config.base_url.to_string(),
        subscribe_action: config
            .absolute("subscribe")
            .map_or_else(|| "/subscribe".to_string(), |u| u.path().to_string()),
        rss: absolute(config, feeds::RSS_FILE),
        atom: absolute(config, feeds::ATOM_FILE),
        json: absolute(config, feeds::JSON_FILE),
    }
}

/// `reference` resolved against `site.base_url`.
fn absolute(config: &Config, reference: &str) -> String {
    config
        .absolute(reference)
        .map_or_else(|| reference.to_string(), |u| u.to_string())
}

const BASE_HTML: &str = r#"<!doctype html>
<html lang="{{ site.lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ site.title }}{% endblock %}</title>
{% block head %}{% endblock %}
<style>
body{font-family:system-ui,sans-serif;line-height:1.5;max-width:40rem;margin:0 auto;padding:1rem;color:#1a1a1a;background:#fff}
a{color:#0645ad}
label{display:block;font-weight:600}
input,button{font:inherit;padding:.4rem .6rem;margin:.25rem 0}
.book{border-left:4px solid #bbb;padding-left:1rem}
.error{color:#a00000;font-weight:600}
</style>
</head>
<body>
{% block body %}{% endblock %}
</body>
</html>
"#;

const SUBSCRIBE_FORM_HTML: &str = r#"<form method="post" action="{{ site.subscribe_action }}">
<label for="email">Email address</label>
{% if error %}<p id="email-error" class="error">{{ error }}</p>
<input id="email" name="email" type="email" required autocomplete="email" value="{{ email }}" aria-invalid="true" aria-describedby="email-error">
{% else %}<input id="email" name="email" type="email" required autocomplete="email">
{% endif %}<button type="submit">Subscribe</button>
</form>
"#;

const HOME_HTML: &str = r#"{% extends "base.html" %}
{% macro card(book) %}<article class="book">
<h3>{% if book.url %}<a href="{{ book.url }}">{{ book.title }}</a>{% else %}{{ book.title }}{% endif %}</h3>
{% if book.authors %}<p>by {{ book.authors }}</p>
{% endif %}<p>{{ book.window }}</p>
</article>{% endmacro %}
{% block head %}<link rel="alternate" type="application/rss+xml" title="{{ site.title }} (RSS)" href="{{ site.rss }}">
<link rel="alternate" type="application/atom+xml" title="{{ site.title }} (Atom)" href="{{ site.atom }}">
<link rel="alternate" type="application/feed+json" title="{{ site.title }} (JSON Feed)" href="{{ site.json }}">
{% endblock %}
{% block body %}<header>
<h1>{{ site.title }}</h1>
<p>{{ site.description }}</p>
</header>
<main>
<section aria-labelledby="current">
<h2 id="current">This week</h2>
{% if current %}{{ card(current) }}{% else %}<p>No book this week.</p>{% endif %}
</section>
<section aria-labelledby="upcoming">
<h2 id="upcoming">Coming up</h2>
{% if upcoming %}{{ card(upcoming) }}{% else %}<p>Nothing is scheduled yet.</p>{% endif %}
</section>
<section aria-labelledby="subscribe">
<h2 id="subscribe">The weekly email</h2>
<p>One message a week with the new book and the authors' best answers. You will get a mail to confirm the address first.</p>
{% include "subscribe_form.html" %}</section>
<section aria-labelledby="follow">
<h2 id="follow">Feeds</h2>
<ul>
<li><a href="{{ site.rss }}" type="application/rss+xml">RSS</a></li>
<li><a href="{{ site.atom }}" type="application/atom+xml">Atom</a></li>
<li><a href="{{ site.json }}" type="application/feed+json">JSON Feed</a></li>
</ul>
</section>
</main>
{% endblock %}
"#;

/// Every other page: a heading, paragraphs, and optionally the subscribe
/// form or the unsubscribe button.
const MESSAGE_HTML: &str = r#"{% extends "base.html" %}
{% block title %}{{ heading }} · {{ site.title }}{% endblock %}
{% block body %}<main>
<h1>{{ heading }}</h1>
{% for p in paragraphs %}<p>{{ p }}</p>
{% endfor %}{% if unsubscribe_button %}<form method="post">
<button type="submit">Unsubscribe</button>
</form>
{% endif %}{% if subscribe_form %}{% include "subscribe_form.html" %}{% endif %}<p><a href="{{ site.home }}">{{ site.title }}</a></p>
</main>
{% endblock %}
"#;

/// The page templates, compiled once. Names end in `.html`, so minijinja
/// escapes every value.
fn pages() -> &'static Environment<'static> {
    static PAGES: OnceLock<Environment<'static>> = OnceLock::new();
    PAGES.get_or_init(|| {
        let mut env = Environment::new();
        crate::templates::use_html_escaping(&mut env);
        for (name, source) in [
            ("base.html", BASE_HTML),
            ("subscribe_form.html", SUBSCRIBE_FORM_HTML),
            ("home.html", HOME_HTML),
            ("message.html", MESSAGE_HTML),
        ] {
            // A broken built-in template is a bug the tests catch; rendering
            // it then reports the missing template as a 500.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!("built-in page template {name} does not compile: {e}");
            }
        }
        env
    })
}

fn render(config: &Config, name: &str, ctx: minijinja::Value) -> Result<String, ServerError> {
    let ctx = context! { site => site_view(config), ..ctx };
    pages()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ServerError::Template {
            name: name.to_string(),
            message: e.to_string(),
        })
}

fn page(
    app: &AppState,
    status: StatusCode,
    cache: &'static str,
    name: &str,
    ctx: minijinja::Value,
) -> Response {
    match render(&app.config, name, ctx) {
        Ok(body) => html_response(status, cache, body),
        Err(e) => e.into_response(),
    }
}

fn html_response(status: StatusCode, cache: &'static str, body: String) -> Response {
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

async fn nosniff(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn home(Shared(app): Shared<Arc<AppState>>) -> Response {
    let published = app.published();
    page(
        &app,
        StatusCode::OK,
        "no-cache",
        "home.html",
        context! {
            current => published.current,
            upcoming => published.upcoming,
        },
    )
}

async fn not_found(Shared(app): Shared<Arc<AppState>>) -> Response {
    page(
        &app,
        StatusCode::NOT_FOUND,
        "no-cache",
        "message.html",
        context! {
            heading => "Page not found",
            paragraphs => ["There is nothing at this address. If you followed a link from an email, check that it was copied whole."],
        },
    )
}

// ---------------------------------------------------------------- subscribers

/// Who is asking, for the rate limit: the peer address, or with a reverse
/// proxy on the same machine (a loopback peer) the address it forwarded.
struct Client(String);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ConnectInfo(addr)| addr);
        Ok(Client(client_key(peer, &parts.headers)))
    }
}

/// The rate-limit key of a client. `X-Forwarded-For` is believed only from
/// a loopback peer, and then only its *last* entry: a proxy appends the
/// address it saw, while everything before it came from the client and can
/// be made up to dodge the limit. IPv6 clients are grouped by /64, the
/// block one subscriber line usually gets.
fn client_key(peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let Some(peer) = peer else {
        return "unknown".to_string();
    };
    let mut ip = peer.ip().to_canonical();
    if ip.is_loopback()
        && let Some(forwarded) = forwarded_for(headers)
    {
        ip = forwarded.to_canonical();
    }
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()?
        .trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[derive(Deserialize)]
struct SubscribeForm {
    #[serde(default)]
    email: String,
}

async fn subscribe(
    Shared(app): Shared<Arc<AppState>>,
    Client(client): Client,
    form: Result<Form<SubscribeForm>, FormRejection>,
) -> Response {
    let now = app.now();
    if let Err(retry_after) = app.per_client.check(&client, now) {
        let mut res = page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            PRIVATE,
            "message.html",
            context! {
                heading => "Too many requests",
                paragraphs => ["Please wait a few minutes before trying again."],
            },
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return res;
    }
    let input = match form {
        Ok(Form(f)) => f.email,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return page(
                &app,
                StatusCode::PAYLOAD_TOO_LARGE,
                PRIVATE,
                "message.html",
                context! { heading => "That was too much", subscribe_form => true },
            );
        }
        Err(_) => String::new(),
    };
    let email = match normalize_email(&input) {
        Ok(email) => email,
        Err(why) => {
            // Says something about the input only, nothing about the list.
            return page(
                &app,
                StatusCode::BAD_REQUEST,
                PRIVATE,
                "message.html",
                context! {
                    heading => "That address looks invalid",
                    paragraphs => ["Please check the address and try again."],
                    subscribe_form => true,
                    error => why,
                    email => input,
                },
            );
        }
    };
    let outcome = with_state(&app, move |state| {
        Ok(
            match state.add_subscriber(&email, None, Status::Pending, now)? {
                AddOutcome::Added(s) => Some(s),
                AddOutcome::Exists(s) | AddOutcome::Activated(s) => match s.status {
                    // Nothing to confirm; sending nothing keeps a stranger
                    // from mailing subscribers through the form.
                    Status::Active => None,
                    Status::Pending => Some(s),
                    // They left (or mail bounced) and ask to come back:
                    // pending again, and only their confirmation
                    // reactivates them.
                    Status::Unsubscribed | Status::Bounced => {
                        state.set_status(s.id, Status::Pending, now)?;
                        state.subscriber(s.id)?
                    }
                },
            },
        )
    })
    .await;
    match outcome {
        Ok(Some(subscriber)) => {
            let key = subscriber.email.to_ascii_lowercase();
            if app.per_address.check(&key, now).is_ok() {
                app.send_confirmation_later(subscriber);
            } else {
                tracing::info!(
                    subscriber = subscriber.id,
                    "confirmation mail held back: too many for this address today"
                );
            }
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    page(
        &app,
        StatusCode::OK,
        PRIVATE,
        "message.html",
        context! {
            heading => "Check your inbox",
            paragraphs => [
                "If the address can receive the weekly email, a message with a confirmation link is on its way.",
                "Follow the link to start receiving the digest. Nothing is sent until you do.",
            ],
        },
    )
}

/// What a confirmation link did.
enum Confirmed {
    /// Pending → active, or already active.
    Subscribed,
    /// The subscriber left or bounced since: the link is stale.
    Stale,
    Unknown,
}

async fn confirm(Shared(app): Shared<Arc<AppState>>, Path(token): Path<String>) -> Response {
    // Forged and altered tokens never reach the database.
    let Some(id) = app.signer.verify(&token, Purpose::Confirm) else {
        return not_found(Shared(app)).await;
    };
    let now = app.now();
    let result = with_state(&app, move |state| {
        if state.confirm(id, now)? {
            return Ok(Confirmed::Subscribed);
        }
        // Not pending (any more): say what the address is now.
        Ok(match state.subscriber(id)?.map(|s| s.status) {
            None => Confirmed::Unknown,
            Some(Status::Active) => Confirmed::Subscribed,
            Some(Status::Pending | Status::Unsubscribed | Status::Bounced) => Confirmed::Stale,
        })
    })
    .await;
    match result {
        Err(e) => e.into_response(),
        Ok(Confirmed::Unknown) => not_found(Shared(app)).await,
        Ok(Confirmed::Subscribed) => page(
            &app,
            StatusCode::OK,
            PRIVATE,
            "message.html",
            context! {
                heading => "You are subscribed",
                paragraphs => ["The weekly email will come to this address. Every message has a link to unsubscribe."],
            },
        ),
        Ok(Confirmed::Stale) => page(
            &app,
            StatusCode::GONE,
            PRIVATE,
            "message.html",
            context! {
                heading => "This link has expired",
                paragraphs => ["To subscribe again, enter your address below; you will get a new confirmation link."],
                subscribe_form => true,
            },
        ),
    }
}

/// `GET` only shows the button: mail scanners follow links, and a person
/// must not be unsubscribed by one.
async fn unsubscribe_page(
    Shared(app): Shared<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    let Some(id) = app.signer.verify(&token, Purpose::Unsubscribe) else {
        return not_found(Shared(app)).await;
    };
    match with_state(&app, move |state| state.subscriber(id)).await {
        Err(e) => e.into_response(),
        Ok(None) => not_found(Shared(app)).await,
        Ok(Some(s)) if s.status == Status::Unsubscribed => page(
            &app,
            StatusCode::OK,
            PRIVATE,
            "message.html",
            context! {
                heading => "You are unsubscribed",
                paragraphs => [format!("{} no longer receives the weekly email.", s.email)],
            },
        ),
        Ok(Some(s)) => page(
            &app,
            StatusCode::OK,
            PRIVATE,
            "message.html",
            context! {
                heading => "Unsubscribe from the weekly email?",
                paragraphs => [format!("{} will receive no more digests.", s.email)],
                unsubscribe_button => true,
            },
        ),
    }
}

/// Any POST to a genuine unsubscribe link unsubscribes: the button's form,
/// or a mail client's RFC 8058 one-click request, which gets a short plain
/// answer and no redirect.
async fn unsubscribe(
    Shared(app): Shared<Arc<AppState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let Some(id) = app.signer.verify(&token, Purpose::Unsubscribe) else {
        return not_found(Shared(app)).await;
    };
    let now = app.now();
    let result = with_state(&app, move |state| {
        if state.subscriber(id)?.is_none() {
            return Ok(false);
        }
        state.set_status(id, Status::Unsubscribed, now)?;
        Ok(true)
    })
    .await;
    match result {
        Err(e) => e.into_response(),
        Ok(false) => not_found(Shared(app)).await,
        Ok(true) if is_one_click(&body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, PRIVATE),
            ],
            "You are unsubscribed.\n",
        )
            .into_response(),
        Ok(true) => page(
            &app,
            StatusCode::OK,
            PRIVATE,
            "message.html",
            context! {
                heading => "You are unsubscribed",
                paragraphs => ["You will receive no more digests. Changed your mind? Subscribe again below."],
                subscribe_form => true,
            },
        ),
    }
}

/// RFC 8058's body, form-encoded or as a multipart field.
fn is_one_click(body: &[u8]) -> bool {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    has(b"List-Unsubscribe=One-Click") || (has(b"name=\"List-Unsubscribe\"") && has(b"One-Click"))
}

// ---------------------------------------------------------------- health

async fn healthz(Shared(app): Shared<Arc<AppState>>) -> Response {
    let published = app.published();
    let (status, body) = match with_state(&app, |state| state.ping()).await {
        Ok(()) => (
            StatusCode::OK,
            serde_json::json!({
                "status": "ok",
                "built_at": published.built_at.to_rfc3339(),
                "books": published.books,
            }),
        ),
        Err(e) => {
            // The detail (a path, an SQLite message) goes to the log only.
            tracing::error!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({
                    "status": "unavailable",
                    "error": "the state database cannot be used",
                }),
            )
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, PRIVATE),
        ],
        format!("{body}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    const RSS_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Test Books</title><item><title>One</title></item><item><title>Two</title></item></channel></rss>\n";
    const NEWEST: &str = "2026-03-01T09:00:00+00:00";
    /// `NEWEST` as an IMF-fixdate.
    const NEWEST_HTTP: &str = "Sun, 01 Mar 2026 09:00:00 GMT";

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    type Sent = Arc<Mutex<Vec<(Subscriber, String)>>>;

    struct Harness {
        dir: tempfile::TempDir,
        app: Arc<AppState>,
        router: Router,
        sent: Sent,
        now: Arc<Mutex<DateTime<FixedOffset>>>,
        _published: watch::Sender<Arc<Published>>,
    }

    fn config() -> Config {
        let yaml = "site:\n  title: Test Books\n  base_url: https://books.example.org/club/\n";
        crate::config::parse(std::path::Path::new("bookweek.yaml"), yaml).config
    }

    fn published() -> Published {
        let newest = Some(at(NEWEST));
        Published {
            feeds: vec![
                FeedFile::new(feeds::RSS_FILE, RSS_TYPE, RSS_BODY, newest),
                FeedFile::new(
                    feeds::ATOM_FILE,
                    ATOM_TYPE,
                    "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"></feed>",
                    newest,
                ),
                FeedFile::new(
                    feeds::JSON_FILE,
                    JSON_TYPE,
                    "{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[]}",
                    newest,
                ),
            ],
            built_at: at("2026-03-02T08:00:00+01:00"),
            books: 7,
            current: Some(BookCard {
                title: "<script>alert(1)</script> & \"Friends\"".into(),
                authors: "Ada <b>Lovelace</b>".into(),
                window: "2–6 March 2026".into(),
                url: "https://books.example.org/club/books/x.html?a=1&b=\"2\"".into(),
            }),
            upcoming: Some(BookCard {
                title: "Reliable Machine Learning".into(),
                authors: String::new(),
                window: "9–13 March 2026".into(),
                url: String::new(),
            }),
        }
    }

    fn harness_with(published: Published) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let sent: Sent = Arc::default();
        let recorder = Arc::clone(&sent);
        let send: SendConfirmation = Arc::new(move |s: &Subscriber, url: &str| {
            recorder.lock().unwrap().push((s.clone(), url.to_string()));
            Ok(())
        });
        let now = Arc::new(Mutex::new(at("2026-03-02T10:00:00+01:00")));
        let clock_now = Arc::clone(&now);
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        let (tx, rx) = watch::channel(Arc::new(published));
        let app = Arc::new(AppState::new(
            rx,
            Arc::new(config()),
            dir.path().join("state/bookweek.db"),
            Signer::new(b"a test key that is long enough!!"),
            send,
            clock,
        ));
        Harness {
            router: router(Arc::clone(&app)),
            dir,
            app,
            sent,
            now,
            _published: tx,
        }
    }

    fn harness() -> Harness {
        harness_with(published())
    }

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    }

    impl Reply {
        fn text(&self) -> String {
            String::from_utf8(self.body.to_vec()).unwrap()
        }
        fn header(&self, name: &str) -> &str {
            self.headers
                .get(name)
                .unwrap_or_else(|| panic!("no {name} header"))
                .to_str()
                .unwrap()
        }
    }

    const CLIENT: [u8; 4] = [203, 0, 113, 7];

    fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.extension(ConnectInfo(SocketAddr::from((CLIENT, 40000))))
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    impl Harness {
        async fn send(&self, req: Request) -> Reply {
            let res = self.router.clone().oneshot(req).await.unwrap();
            let status = res.status();
            let headers = res.headers().clone();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            Reply {
                status,
                headers,
                body,
            }
        }

        async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
            self.send(request(Method::GET, uri, headers, "")).await
        }

        async fn post_form(&self, uri: &str, body: &str) -> Reply {
            self.send(request(
                Method::POST,
                uri,
                &[("content-type", "application/x-www-form-urlencoded")],
                body,
            ))
            .await
        }

        fn state(&self) -> State {
            State::open(&self.app.state_path).unwrap()
        }

        fn by_email(&self, email: &str) -> Option<Subscriber> {
            self.state().subscriber_by_email(email).unwrap()
        }

        fn add(&self, email: &str, status: Status) -> Subscriber {
            match self
                .state()
                .add_subscriber(email, None, status, self.app.now())
                .unwrap()
            {
                AddOutcome::Added(s) => s,
                other => panic!("not added: {other:?}"),
            }
        }

        async fn sent(&self) -> Vec<(Subscriber, String)> {
            self.app.finish_sends().await;
            self.sent.lock().unwrap().clone()
        }

        fn etag(&self, name: &str) -> String {
            self.app.published().feed(name).unwrap().etag().to_string()
        }
    }

    // ------------------------------------------------------------ feeds

    #[tokio::test]
    async fn serves_each_feed_with_its_type_validators_and_self_link() {
        let h = harness();
        for (path, ty) in [
            ("/feed.xml", RSS_TYPE),
            ("/atom.xml", ATOM_TYPE),
            ("/feed.json", JSON_TYPE),
        ] {
            let r = h.get(path, &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.header("content-type"), ty);
            assert_eq!(r.header("etag"), h.etag(&path[1..]));
            assert_eq!(r.header("last-modified"), NEWEST_HTTP);
            assert_eq!(r.header("cache-control"), "public, max-age=300");
            assert_eq!(r.header("vary"), "accept-encoding");
            assert_eq!(r.header("x-content-type-options"), "nosniff");
            assert_eq!(
                r.header("link"),
                format!("<https://books.example.org/club{path}>; rel=\"self\"")
            );
        }
        let rss = h.get("/feed.xml", &[]).await;
        assert_eq!(rss.text(), RSS_BODY);
        let etag = rss.header("etag");
        assert!(
            etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
            "{etag}"
        );
        assert_eq!(etag, strong_etag(RSS_BODY.as_bytes()));
    }

    #[tokio::test]
    async fn if_none_match_answers_304_with_an_empty_body() {
        let h = harness();
        let etag = h.etag("feed.xml");
        let weak = format!("W/{etag}");
        let listed = format!("\"other\", \"a,b\" , {etag}");
        for inm in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
            let r = h.get("/feed.xml", &[("if-none-match", inm)]).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{inm}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), etag);
            assert_eq!(r.header("last-modified"), NEWEST_HTTP);
            assert_eq!(r.header("cache-control"), "public, max-age=300");
            assert!(r.headers.get("content-type").is_none());
        }
        let r = h
            .get("/feed.xml", &[("if-none-match", "\"stale\", W/\"older\"")])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), RSS_BODY);
    }

    #[tokio::test]
    async fn if_none_match_takes_precedence_over_if_modified_since() {
        let h = harness();
        let r = h
            .get(
                "/feed.xml",
                &[
                    ("if-none-match", "\"stale\""),
                    ("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let etag = h.etag("feed.xml");
        let r = h
            .get(
                "/feed.xml",
                &[
                    ("if-none-match", etag.as_str()),
                    ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn if_modified_since_compares_dates_in_all_three_formats() {
        let h = harness();
        for (since, expected) in [
            (NEWEST_HTTP, StatusCode::NOT_MODIFIED),
            ("Sunday, 01-Mar-26 09:00:00 GMT", StatusCode::NOT_MODIFIED),
            ("Sun Mar  1 09:00:00 2026", StatusCode::NOT_MODIFIED),
            ("Mon, 02 Mar 2026 00:00:00 GMT", StatusCode::NOT_MODIFIED),
            ("Sun, 01 Mar 2026 08:59:59 GMT", StatusCode::OK),
            ("Saturday, 28-Feb-26 23:00:00 GMT", StatusCode::OK),
            ("not a date", StatusCode::OK),
        ] {
            let r = h.get("/feed.xml", &[("if-modified-since", since)]).await;
            assert_eq!(r.status, expected, "{since}");
            assert_eq!(r.body.is_empty(), expected == StatusCode::NOT_MODIFIED);
        }
    }

    #[tokio::test]
    async fn head_answers_the_headers_without_a_body() {
        let h = harness();
        let r = h.send(request(Method::HEAD, "/feed.json", &[], "")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());
        assert_eq!(r.header("content-type"), JSON_TYPE);
        assert_eq!(r.header("etag"), h.etag("feed.json"));
        let len: usize = r.header("content-length").parse().unwrap();
        assert_eq!(
            len,
            h.app.published().feed("feed.json").unwrap().bytes.len()
        );
        let r = h.send(request(Method::HEAD, "/", &[], "")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());
    }

    #[tokio::test]
    async fn gzips_when_asked_under_its_own_etag() {
        let h = harness();
        let plain = h.etag("feed.xml");
        let r = h.get("/feed.xml", &[("accept-encoding", "gzip")]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-encoding"), "gzip");
        assert_eq!(&r.body[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(r.header("vary"), "accept-encoding");
        let gzipped = r.header("etag").to_string();
        assert_eq!(gzipped, encoded_etag(&plain, "gzip"));
        assert_ne!(gzipped, plain);

        // Each representation validates only itself.
        let r = h
            .get(
                "/feed.xml",
                &[("accept-encoding", "gzip"), ("if-none-match", &gzipped)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        assert_eq!(r.header("etag"), gzipped);
        assert!(r.body.is_empty());
        let r = h
            .get(
                "/feed.xml",
                &[("accept-encoding", "gzip"), ("if-none-match", &plain)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = h.get("/feed.xml", &[("if-none-match", &gzipped)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.get("content-encoding").is_none());
        assert_eq!(r.text(), RSS_BODY);
    }

    #[tokio::test]
    async fn feeds_answer_503_before_the_first_build() {
        let h = harness_with(Published::empty(at(NEWEST)));
        let r = h.get("/feed.xml", &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.header("retry-after"), "60");
    }

    // ------------------------------------------------------------ pages

    #[tokio::test]
    async fn home_page_links_the_feeds_has_the_form_and_escapes_titles() {
        let h = harness();
        let r = h.get("/", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(r.header("content-security-policy"), CSP);
        assert!(
            CSP.starts_with("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
        );
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        let html = r.text();
        assert!(
            html.starts_with("<!doctype html>\n<html lang=\"en\">"),
            "{html}"
        );
        for (ty, file) in [
            ("application/rss+xml", "feed.xml"),
            ("application/atom+xml", "atom.xml"),
            ("application/feed+json", "feed.json"),
        ] {
            let link = format!("<link rel=\"alternate\" type=\"{ty}\" title=\"Test Books (");
            assert!(html.contains(&link), "{ty} in {html}");
            assert!(html.contains(&format!("href=\"https://books.example.org/club/{file}\">")));
        }
        assert!(html.contains("<form method=\"post\" action=\"/club/subscribe\">"));
        assert!(html.contains("<label for=\"email\">"));
        assert!(html.contains("name=\"email\" type=\"email\""));
        // The hostile card, escaped everywhere it appears.
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Friends&quot;"));
        assert!(html.contains("Ada &lt;b&gt;Lovelace&lt;/b&gt;"));
        assert!(html.contains("x.html?a=1&amp;b=&quot;2&quot;"));
        assert!(html.contains("2–6 March 2026"));
        // A card without a URL or authors has no empty link or byline.
        assert!(html.contains("<h3>Reliable Machine Learning</h3>"));
        assert!(!html.contains("href=\"\""));
        assert!(!html.contains("<p>by </p>"));
    }

    #[tokio::test]
    async fn unknown_paths_get_a_small_404_page() {
        let h = harness();
        let r = h.get("/wp-login.php", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(r.header("content-security-policy"), CSP);
        assert!(r.text().contains("<h1>Page not found</h1>"));
    }

    // ------------------------------------------------------------ subscribe

    #[tokio::test]
    async fn subscribe_creates_a_pending_row_and_sends_one_confirmation() {
        let h = harness();
        let r = h
            .post_form("/subscribe", "email=%20Reader%40Example.NET%20")
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("cache-control"), "no-store");
        assert!(r.text().contains("Check your inbox"));
        let row = h.by_email("Reader@example.net").unwrap();
        assert_eq!(row.status, Status::Pending);
        assert_eq!(row.email, "Reader@example.net");
        let sent = h.sent().await;
        assert_eq!(sent.len(), 1);
        let (to, url) = &sent[0];
        assert_eq!(to.id, row.id);
        let token = url
            .strip_prefix("https://books.example.org/club/confirm/")
            .unwrap();
        assert_eq!(h.app.signer.verify(token, Purpose::Confirm), Some(row.id));
    }

    #[tokio::test]
    async fn a_known_address_gets_the_same_answer_as_a_new_one() {
        let h = harness();
        let new = h.post_form("/subscribe", "email=new%40example.org").await;
        h.add("active@example.org", Status::Active);
        let known = h
            .post_form("/subscribe", "email=active%40example.org")
            .await;
        assert_eq!(known.status, new.status);
        assert_eq!(known.body, new.body);
        assert_eq!(known.headers, new.headers);
        assert_eq!(
            h.by_email("active@example.org").unwrap().status,
            Status::Active
        );
        // Only the new address was mailed.
        let sent = h.sent().await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.email, "new@example.org");
    }

    #[tokio::test]
    async fn an_unsubscribed_address_comes_back_through_confirmation() {
        let h = harness();
        let s = h.add("back@example.org", Status::Active);
        h.state()
            .set_status(s.id, Status::Unsubscribed, h.app.now())
            .unwrap();
        let r = h.post_form("/subscribe", "email=back%40example.org").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            h.by_email("back@example.org").unwrap().status,
            Status::Pending
        );
        let sent = h.sent().await;
        assert_eq!(sent.len(), 1);
        let token = sent[0].1.rsplit('/').next().unwrap().to_string();
        let r = h.get(&format!("/confirm/{token}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            h.by_email("back@example.org").unwrap().status,
            Status::Active
        );
    }

    #[tokio::test]
    async fn confirmation_mails_to_one_address_are_limited() {
        let h = harness();
        for i in 0..5u8 {
            // From five different clients, so only the per-address limit acts.
            let mut req = request(
                Method::POST,
                "/subscribe",
                &[("content-type", "application/x-www-form-urlencoded")],
                "email=victim%40example.org",
            );
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, i], 1))));
            assert_eq!(h.send(req).await.status, StatusCode::OK);
        }
        assert_eq!(h.sent().await.len(), 3);
    }

    #[tokio::test]
    async fn an_invalid_address_is_a_400_page() {
        let h = harness();
        for body in [
            "email=not-an-address",
            "email=",
            "other=x",
            "email=%3Cscript%3E%40x",
        ] {
            let r = h.post_form("/subscribe", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
            let html = r.text();
            assert!(html.contains("That address looks invalid"), "{html}");
            assert!(!html.contains("<script>"));
        }
        assert!(h.state().list_subscribers(None).unwrap().is_empty());
        assert!(h.sent().await.is_empty());
    }

    #[tokio::test]
    async fn subscribe_is_rate_limited_per_client() {
        let h = harness();
        for i in 0..5 {
            let r = h
                .post_form("/subscribe", &format!("email=r{i}%40example.org"))
                .await;
            assert_eq!(r.status, StatusCode::OK, "request {i}");
        }
        let r = h.post_form("/subscribe", "email=r5%40example.org").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.header("retry-after"), "600");
        assert!(h.by_email("r5@example.org").is_none());

        // Another client is not affected.
        let mut req = request(
            Method::POST,
            "/subscribe",
            &[("content-type", "application/x-www-form-urlencoded")],
            "email=other%40example.org",
        );
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
        assert_eq!(h.send(req).await.status, StatusCode::OK);

        // Once the window has passed, the first client may go on.
        *h.now.lock().unwrap() = at("2026-03-02T10:10:00+01:00");
        let r = h.post_form("/subscribe", "email=r5%40example.org").await;
        assert_eq!(r.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_local_proxy_is_limited_by_the_address_it_forwards() {
        let h = harness();
        let from_proxy = |forwarded: &str| {
            let mut req = request(
                Method::POST,
                "/subscribe",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("x-forwarded-for", forwarded),
                ],
                "email=a%40example.org",
            );
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
            req
        };
        for _ in 0..5 {
            assert_eq!(h.send(from_proxy("192.0.2.9")).await.status, StatusCode::OK);
        }
        // Made-up entries in front of the proxy's own do not help.
        let r = h.send(from_proxy("10.9.9.9, 192.0.2.9")).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            h.send(from_proxy("192.0.2.10")).await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused() {
        let h = harness();
        let big = format!("email={}", "a".repeat(BODY_LIMIT + 1));
        let r = h.post_form("/subscribe", &big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    // ------------------------------------------------------------ confirm

    #[tokio::test]
    async fn a_confirmation_link_activates_a_pending_subscriber() {
        let h = harness();
        let s = h.add("p@example.org", Status::Pending);
        let token = h.app.signer.token(s.id, Purpose::Confirm);
        let r = h.get(&format!("/confirm/{token}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        assert!(r.text().contains("You are subscribed"));
        assert_eq!(h.by_email("p@example.org").unwrap().status, Status::Active);
        // Following it again is harmless.
        let r = h.get(&format!("/confirm/{token}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn forged_or_misused_tokens_are_404_and_change_nothing() {
        let h = harness();
        let s = h.add("p@example.org", Status::Pending);
        let good = h.app.signer.token(s.id, Purpose::Confirm);
        let mut altered = good.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        let other_id = good.replacen(&format!("{}.", s.id), &format!("{}.", s.id + 1), 1);
        let unsubscribe = h.app.signer.token(s.id, Purpose::Unsubscribe);
        let unknown = h.app.signer.token(999, Purpose::Confirm);
        for token in [
            &altered,
            &other_id,
            &unsubscribe,
            &unknown,
            &"garbage".to_string(),
        ] {
            let r = h.get(&format!("/confirm/{token}"), &[]).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{token}");
        }
        let unknown_unsub = h.app.signer.token(999, Purpose::Unsubscribe);
        for token in [&altered, &good, &unknown_unsub] {
            let r = h.post_form(&format!("/unsubscribe/{token}"), "").await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{token}");
            let r = h.get(&format!("/unsubscribe/{token}"), &[]).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{token}");
        }
        assert_eq!(h.state().list_subscribers(None).unwrap(), [s]);
    }

    #[tokio::test]
    async fn an_old_confirmation_link_does_not_resubscribe_someone_who_left() {
        let h = harness();
        let s = h.add("left@example.org", Status::Active);
        h.state()
            .set_status(s.id, Status::Unsubscribed, h.app.now())
            .unwrap();
        let token = h.app.signer.token(s.id, Purpose::Confirm);
        let r = h.get(&format!("/confirm/{token}"), &[]).await;
        assert_eq!(r.status, StatusCode::GONE);
        assert!(r.text().contains("action=\"/club/subscribe\""));
        assert_eq!(
            h.by_email("left@example.org").unwrap().status,
            Status::Unsubscribed
        );
    }

    // ------------------------------------------------------------ unsubscribe

    #[tokio::test]
    async fn the_unsubscribe_page_shows_a_button_and_changes_nothing() {
        let h = harness();
        let s = h.add("a@example.org", Status::Active);
        let token = h.app.signer.token(s.id, Purpose::Unsubscribe);
        let r = h.get(&format!("/unsubscribe/{token}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("cache-control"), "no-store");
        let html = r.text();
        assert!(html.contains("<form method=\"post\">"), "{html}");
        assert!(html.contains("<button type=\"submit\">Unsubscribe</button>"));
        assert!(html.contains("a@example.org"));
        assert_eq!(h.state().list_subscribers(None).unwrap(), [s]);
    }

    #[tokio::test]
    async fn posting_the_button_unsubscribes() {
        let h = harness();
        let s = h.add("a@example.org", Status::Active);
        let token = h.app.signer.token(s.id, Purpose::Unsubscribe);
        let r = h.post_form(&format!("/unsubscribe/{token}"), "").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("You are unsubscribed"));
        assert_eq!(
            h.by_email("a@example.org").unwrap().status,
            Status::Unsubscribed
        );
        let r = h.get(&format!("/unsubscribe/{token}"), &[]).await;
        assert!(!r.text().contains("<button"));
    }

    #[tokio::test]
    async fn one_click_unsubscribe_answers_200_without_a_redirect() {
        let h = harness();
        let a = h.add("a@example.org", Status::Active);
        let b = h.add("b@example.org", Status::Active);
        let token = h.app.signer.token(a.id, Purpose::Unsubscribe);
        let r = h
            .post_form(
                &format!("/unsubscribe/{token}"),
                "List-Unsubscribe=One-Click",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.get("location").is_none());
        assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
        assert_eq!(r.text(), "You are unsubscribed.\n");
        assert_eq!(
            h.by_email("a@example.org").unwrap().status,
            Status::Unsubscribed
        );

        // The multipart form RFC 8058 prefers works too.
        let token = h.app.signer.token(b.id, Purpose::Unsubscribe);
        let body = "--x\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--x--\r\n";
        let r = h
            .send(request(
                Method::POST,
                &format!("/unsubscribe/{token}"),
                &[("content-type", "multipart/form-data; boundary=x")],
                body,
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "You are unsubscribed.\n");
        assert_eq!(
            h.by_email("b@example.org").unwrap().status,
            Status::Unsubscribed
        );
    }

    // ------------------------------------------------------------ health

    #[tokio::test]
    async fn healthz_reports_the_build() {
        let h = harness();
        let r = h.get("/healthz", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "application/json");
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "ok", "built_at": "2026-03-02T08:00:00+01:00", "books": 7})
        );
    }

    #[tokio::test]
    async fn healthz_is_503_when_the_state_database_is_unusable() {
        let h = harness();
        // A folder where the database file should be.
        std::fs::create_dir_all(&h.app.state_path).unwrap();
        let r = h.get("/healthz", &[]).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(json["status"], "unavailable");
        assert!(!r.text().contains(h.dir.path().to_str().unwrap()));
    }

    // ------------------------------------------------------------ pieces

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

    #[test]
    fn rate_limiter_slides_and_stays_bounded() {
        let limiter = RateLimiter::new(2, TimeDelta::minutes(10), 3);
        let t = at("2026-03-02T10:00:00Z");
        assert!(limiter.check("a", t).is_ok());
        assert!(limiter.check("a", t + TimeDelta::minutes(5)).is_ok());
        assert_eq!(limiter.check("a", t + TimeDelta::minutes(6)), Err(240));
        assert!(limiter.check("a", t + TimeDelta::minutes(10)).is_ok());
        for (i, k) in ["b", "c", "d", "e"].into_iter().enumerate() {
            let when = t + TimeDelta::minutes(11 + i as i64);
            assert!(limiter.check(k, when).is_ok());
            assert!(limiter.tracked() <= 3);
        }
        let zero = RateLimiter::new(0, TimeDelta::seconds(30), 1);
        assert_eq!(zero.check("a", t), Err(30));
    }

    #[test]
    fn client_keys_group_ipv6_and_trust_forwarding_only_from_loopback() {
        let none = HeaderMap::new();
        let mut fwd = HeaderMap::new();
        fwd.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 192.0.2.5"),
        );
        let public: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let v6a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8:1:2:bbbb::2]:1".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:1".parse().unwrap();
        assert_eq!(client_key(Some(public), &fwd), "203.0.113.9");
        assert_eq!(client_key(Some(local), &fwd), "192.0.2.5");
        assert_eq!(client_key(Some(local), &none), "127.0.0.1");
        assert_eq!(client_key(Some(v6a), &none), client_key(Some(v6b), &none));
        assert_eq!(client_key(Some(v6a), &none), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some(mapped), &none), "192.0.2.7");
        assert_eq!(client_key(None, &none), "unknown");
    }

    #[test]
    fn one_click_bodies_are_recognized() {
        assert!(is_one_click(b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(
            b"--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--"
        ));
        assert!(!is_one_click(b""));
        assert!(!is_one_click(b"confirm=1"));
    }
}
