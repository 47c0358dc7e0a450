//! The HTTP side of `bookweek run`: the three feeds and the site's pages and
//! images (the bytes `build` writes, with validators, conditional requests,
//! and gzip and brotli bodies compressed once per publish), the subscribe
//! form's POST,
//! the double opt-in (subscribe → confirmation mail → `/confirm/{token}`),
//! unsubscribing (a page with a button, and RFC 8058 one-click), and a health
//! check. The daemon binds the listener and owns the scheduler and shutdown;
//! it hands this module an [`AppState`] and serves [`router`] with
//! [`listen::serve`].
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
//! - A GET never changes a subscription: mail security scanners fetch every
//!   link in a message. `/confirm/{token}` and `/unsubscribe/{token}` show a
//!   page with a button, a plain form (no script) that POSTs to the same
//!   URL; only the POST acts. The RFC 8058 one-click POST of a mail client
//!   unsubscribes without a page.
//! - Confirmation links only activate *pending* subscribers. Someone who
//!   unsubscribed (or bounced) becomes pending again when they use the form,
//!   which sends them a fresh link; an old confirmation link found in a
//!   mailbox (or followed by a mail scanner) therefore never resubscribes a
//!   person who left.
//! - The core logic never reads the wall clock: time comes from
//!   [`AppState::clock`], rate limits included.
//!
//! One file per concern: [`routes`] (the handlers and the router),
//! [`pages`] (the site's files as served, and the message pages rendered
//! from `page/message.html.j2`),
//! [`limits`] (request rate and size limits), [`conditional`] (ETag,
//! Last-Modified, 304), [`encoded`] (the precompressed bodies with their
//! prepared headers, and `Accept-Encoding`), [`zerocopy`] (large bodies
//! sent with `sendfile`), [`listen`] (connections: accept, timeouts, the
//! connection cap, eviction, graceful shutdown).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::feeds;
use crate::state::{State, StateError, Subscriber};
use crate::templates::Templates;
use crate::token::{Purpose, Signer};

mod conditional;
mod encoded;
mod limits;
pub mod listen;
mod pages;
mod routes;
mod zerocopy;

pub use limits::{BODY_LIMIT, RateLimiter};
pub use routes::router;

use conditional::http_date;
use encoded::{Encodings, Sending};
use pages::{PRIVATE, absolute, html_response};

/// Content types of the feeds, by file name.
pub const RSS_TYPE: &str = "application/rss+xml; charset=utf-8";
pub const ATOM_TYPE: &str = "application/atom+xml; charset=utf-8";
pub const JSON_TYPE: &str = "application/feed+json; charset=utf-8";

/// What the server shows; the daemon swaps it atomically after each rebuild.
#[derive(Debug, Clone)]
pub struct Published {
    /// The config as last reloaded: pages, links and confirmation mails
    /// follow a reload together with the feeds built from it.
    pub config: Arc<Config>,
    /// `feed.xml`, `atom.xml`, `feed.json`; see [`FeedFile::from_rendered_reusing`].
    pub feeds: Vec<FeedFile>,
    /// When the daemon last rebuilt.
    pub built_at: DateTime<FixedOffset>,
    /// Books in the catalog (for `/healthz`).
    pub books: usize,
    /// The templates the pages were built with; message pages use them too.
    pub templates: Arc<Templates>,
    /// The site's files by path under `site.base_url` (`index.html`,
    /// `books/x.html`, `images/…`): what the daemon wrote to the output
    /// folder.
    pub site: Arc<BTreeMap<String, SiteFile>>,
}

impl Published {
    /// Nothing built yet: the feeds and pages answer 503 until the first
    /// build.
    pub fn empty(
        config: Arc<Config>,
        templates: Arc<Templates>,
        built_at: DateTime<FixedOffset>,
    ) -> Self {
        Self {
            config,
            feeds: Vec::new(),
            built_at,
            books: 0,
            templates,
            site: Arc::default(),
        }
    }

    fn feed(&self, name: &str) -> Option<&FeedFile> {
        self.feeds.iter().find(|f| f.name == name)
    }
}

/// A file of the site as served. Built with [`SiteFile::new`], which
/// computes the ETag from the bytes so the two cannot disagree, and
/// compresses them once (see [`encoded`]).
#[derive(Debug, Clone)]
pub struct SiteFile {
    pub content_type: &'static str,
    pub bytes: Bytes,
    encodings: Arc<Encodings>,
}

impl SiteFile {
    pub fn new(content_type: &'static str, bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let etag = strong_etag(&bytes);
        let headers = pages::site_headers(content_type);
        Self {
            content_type,
            encodings: Arc::new(Encodings::new(
                bytes.clone(),
                &etag,
                &headers,
                content_type,
                Sending::Copied,
            )),
            bytes,
        }
    }

    /// The strong ETag of the identity body, quotes included, as for the
    /// feeds.
    pub fn etag(&self) -> &str {
        &self.encodings.identity().etag
    }

    fn encodings(&self) -> &Encodings {
        &self.encodings
    }

    /// The site's files by path, reusing `previous`'s entry (its ETag and
    /// compressed bodies) for a file whose bytes did not change; the others
    /// are compressed in parallel.
    pub fn map(
        files: Vec<crate::site::File>,
        previous: &BTreeMap<String, SiteFile>,
    ) -> BTreeMap<String, SiteFile> {
        files
            .into_par_iter()
            .map(|f| {
                let served = match previous.get(&f.path) {
                    Some(old) if old.bytes == f.bytes => old.clone(),
                    _ => SiteFile::new(f.content_type, f.bytes),
                };
                (f.path, served)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    }
}

/// Feeds change at most a few times a week; five minutes keeps polling
/// readers and caches cheap without delaying a new item much.
const FEED_CACHE_CONTROL: &str = "public, max-age=300";

/// One feed as served. Built with [`FeedFile::new`], which computes the ETag
/// from the bytes so the two cannot disagree, and compresses them once (see
/// [`encoded`]).
#[derive(Debug, Clone)]
pub struct FeedFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: Bytes,
    /// The feed's newest item date (`Last-Modified`); `None` for an empty feed.
    pub last_modified: Option<DateTime<FixedOffset>>,
    encodings: Arc<Encodings>,
    /// The `Link: <…>; rel="self"` header, made on the first request, with
    /// the base URL it was made from: the feed does not know the config, and
    /// a request under another base URL makes its own.
    self_link: OnceLock<(String, HeaderValue)>,
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
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(lm) = last_modified
            && let Ok(v) = HeaderValue::from_str(&http_date(lm.with_timezone(&Utc)))
        {
            headers.insert(header::LAST_MODIFIED, v);
        }
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(FEED_CACHE_CONTROL),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        Self {
            name,
            content_type,
            encodings: Arc::new(Encodings::new(
                bytes.clone(),
                &etag,
                &headers,
                content_type,
                Sending::Sendfile,
            )),
            bytes,
            last_modified,
            self_link: OnceLock::new(),
        }
    }

    /// The three feeds of a build, each with its content type and the newest
    /// item date as `Last-Modified`, reusing a feed of `previous` (the feeds
    /// being replaced) whose bytes and date did not change, with its
    /// compressed bodies; the others are compressed in parallel.
    pub fn from_rendered_reusing(
        rendered: &feeds::Rendered,
        items: &[feeds::Item],
        previous: &[FeedFile],
    ) -> Vec<FeedFile> {
        let newest = items.iter().map(|i| i.date.fixed_offset()).max();
        rendered
            .files()
            .into_par_iter()
            .map(
                |(name, text)| match previous.iter().find(|f| f.name == name) {
                    Some(old) if old.bytes == text.as_bytes() && old.last_modified == newest => {
                        old.clone()
                    }
                    _ => FeedFile::new(
                        name,
                        content_type(name).unwrap_or("application/octet-stream"),
                        Bytes::copy_from_slice(text.as_bytes()),
                        newest,
                    ),
                },
            )
            .collect()
    }

    /// The strong ETag of the identity body, quotes included:
    /// `"<32 hex digits of SHA-256>"`.
    pub fn etag(&self) -> &str {
        &self.encodings.identity().etag
    }

    fn encodings(&self) -> &Encodings {
        &self.encodings
    }

    /// `Link: <base_url/feed.xml>; rel="self"` for `config`.
    fn self_link(&self, config: &Config) -> Option<HeaderValue> {
        let base = config.base_url.as_str();
        if let Some((made_for, link)) = self.self_link.get()
            && made_for == base
        {
            return Some(link.clone());
        }
        let url = absolute(config, self.name);
        let link = HeaderValue::from_str(&format!("<{url}>; rel=\"self\"")).ok()?;
        let _ = self.self_link.set((base.to_string(), link.clone()));
        Some(link)
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
pub(super) fn strong_etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Sends one confirmation email to a subscriber with the given confirm URL,
/// rendered with the given (last reloaded) config;
/// the daemon passes a closure that renders and sends it with the digest's
/// transport. It blocks, so it is run with `spawn_blocking`.
pub type SendConfirmation =
    Arc<dyn Fn(&Config, &Subscriber, &str) -> Result<(), String> + Send + Sync>;

/// The time: the daemon passes the real clock, tests a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>;

/// Everything the routes share. Build it with [`AppState::new`].
pub struct AppState {
    /// The daemon keeps the `watch::Sender` and calls `send_replace` after
    /// each rebuild; it carries the config too (see [`AppState::config`]).
    pub published: watch::Receiver<Arc<Published>>,
    /// The SQLite ledger; opened per request (see the module docs).
    pub state_path: PathBuf,
    pub signer: Signer,
    pub send_confirmation: SendConfirmation,
    pub clock: Clock,
    /// `POST /subscribe` per client address.
    pub(super) per_client: RateLimiter,
    /// Confirmation mails per recipient, so the form cannot be used to flood
    /// someone's inbox from many addresses.
    pub(super) per_address: RateLimiter,
    /// Confirmation mails being sent.
    sends: Mutex<JoinSet<()>>,
}

impl AppState {
    /// With the default limits: 5 subscribe requests per client per 10
    /// minutes, 3 confirmation mails per address per day.
    pub fn new(
        published: watch::Receiver<Arc<Published>>,
        state_path: PathBuf,
        signer: Signer,
        send_confirmation: SendConfirmation,
        clock: Clock,
    ) -> Self {
        Self {
            published,
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

    pub(super) fn now(&self) -> DateTime<FixedOffset> {
        (self.clock)()
    }

    pub(super) fn published(&self) -> Arc<Published> {
        // Clone the Arc and let go of the channel's lock at once.
        self.published.borrow().clone()
    }

    /// The config as last reloaded by the daemon: a page shows the current
    /// `site.title`, not the one the daemon started with.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.published().config)
    }

    /// Starts sending a confirmation mail in the background.
    pub(super) fn send_confirmation_later(&self, subscriber: Subscriber) {
        let config = self.config();
        let token = self.signer.token(subscriber.id, Purpose::Confirm);
        let url = absolute(&config, &format!("confirm/{token}"));
        let send = Arc::clone(&self.send_confirmation);
        let mut sends = lock(&self.sends);
        // Reap finished tasks so the set does not grow for ever.
        while let Some(done) = sends.try_join_next() {
            if let Err(e) = done {
                tracing::error!("a confirmation mail task failed: {e}");
            }
        }
        sends.spawn_blocking(move || match send(&config, &subscriber, &url) {
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
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        // Not from a template: this is what is shown when one fails.
        let body = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                    <title>Something went wrong</title></head><body><main>\
                    <h1>Something went wrong</h1><p>Please try again in a few minutes.</p>\
                    </main></body></html>\n";
        html_response(StatusCode::INTERNAL_SERVER_ERROR, PRIVATE, body.to_string())
    }
}

/// Runs `f` on a freshly opened ledger on the blocking pool.
pub(super) async fn with_state<T, F>(app: &AppState, f: F) -> Result<T, ServerError>
where
    T: Send + 'static,
    F: FnOnce(&State) -> Result<T, StateError> + Send + 'static,
{
    let path = app.state_path.clone();
    let result = tokio::task::spawn_blocking(move || f(&State::open(&path)?)).await?;
    Ok(result?)
}
