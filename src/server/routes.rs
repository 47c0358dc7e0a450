//! The routes and their handlers: the feeds, the site's files (pages,
//! images, sitemap; the home page among them), subscribe, confirm,
//! unsubscribe (page and RFC 8058 one-click) and the health check.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Path, Request, State as Shared};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use super::conditional::is_not_modified;
use super::encoded::Encodings;
use super::limits::{BODY_LIMIT, Client};
use super::pages::{PRIVATE, page};
use super::{AppState, with_state};
use crate::feeds;
use crate::site::message::Message;
use crate::state::{AddOutcome, Status, check_new_address, normalize_email};
use crate::token::Purpose;

/// The routes. Serve them with
/// `router(app).into_make_service_with_connect_info::<SocketAddr>()` so the
/// subscribe limit can tell clients apart (without it all clients share one
/// limit).
///
/// The feeds and the site's files answer from bodies compressed at publish
/// ([`super::encoded`]), with conditional requests handled in the handler;
/// only the pages rendered per request (subscribe, confirm, unsubscribe)
/// are compressed per request. Every layer around the feeds is one that
/// costs no allocation per request: they are what is asked for most.
pub fn router(app: Arc<AppState>) -> Router {
    let rendered = Router::new()
        .route("/subscribe", post(subscribe))
        .route("/confirm/{token}", get(confirm_page).post(confirm))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/healthz", get(healthz))
        .layer(CompressionLayer::new());
    Router::new()
        .route(
            "/feed.xml",
            get(|s: Shared<Arc<AppState>>, req: Request| feed(s, feeds::RSS_FILE, req)),
        )
        .route(
            "/atom.xml",
            get(|s: Shared<Arc<AppState>>, req: Request| feed(s, feeds::ATOM_FILE, req)),
        )
        .route(
            "/feed.json",
            get(|s: Shared<Arc<AppState>>, req: Request| feed(s, feeds::JSON_FILE, req)),
        )
        .merge(rendered)
        .fallback(site)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(app)
}

/// The representation of a prepared file that the request's
/// `Accept-Encoding` prefers: a 304 when the client holds it, else a 200
/// sharing the prepared bytes and headers.
async fn prepared(
    app: &AppState,
    encodings: &Encodings,
    req: &HeaderMap,
    last_modified: Option<DateTime<FixedOffset>>,
) -> Response {
    let rep = encodings.choose(req).await;
    let last_modified = last_modified.map(|t| t.with_timezone(&Utc));
    if is_not_modified(req, &rep.etag, last_modified, || {
        app.now().with_timezone(&Utc)
    }) {
        rep.not_modified()
    } else {
        rep.ok()
    }
}

// ---------------------------------------------------------------- feeds

async fn feed(Shared(app): Shared<Arc<AppState>>, name: &'static str, req: Request) -> Response {
    let published = app.published();
    let Some(file) = published.feed(name) else {
        // Before the first build: a 404 could make a reader drop the feed.
        let mut res = page(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            PRIVATE,
            Message::new("The feeds are being built").paragraph("Please try again in a minute."),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return res;
    };
    let mut res = prepared(&app, file.encodings(), req.headers(), file.last_modified).await;
    if res.status() == StatusCode::OK
        && let Some(link) = file.self_link(&published.config)
    {
        res.headers_mut().insert(header::LINK, link);
    }
    res
}

// ---------------------------------------------------------------- site

/// A file of the site (a page, an image, the sitemap) at its path under
/// the base URL, `index.html` for a folder; else the 404 page.
async fn site(Shared(app): Shared<Arc<AppState>>, req: Request) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return not_found(Shared(app)).await;
    }
    let published = app.published();
    if published.site.is_empty() {
        // Before the first build, as for the feeds.
        let mut res = page(
            &app,
            StatusCode::SERVICE_UNAVAILABLE,
            PRIVATE,
            Message::new("The site is being built").paragraph("Please try again in a minute."),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return res;
    }
    match site_path(req.uri().path()).and_then(|p| published.site.get(p.as_ref())) {
        Some(file) => prepared(&app, file.encodings(), req.headers(), None).await,
        None => not_found(Shared(app)).await,
    }
}

/// The site's file for a request path: `/` and `/x/` are `index.html`
/// files; escapes are decoded (`%20`). `None` for a path no file can have.
/// A plain path is borrowed: no allocation for the usual request.
fn site_path(path: &str) -> Option<Cow<'_, str>> {
    let path = path.trim_start_matches('/');
    let decoded = if path.contains('%') {
        Cow::Owned(percent_decode(path)?)
    } else {
        Cow::Borrowed(path)
    };
    if decoded.split('/').any(|s| s == ".." || s == ".") {
        return None;
    }
    Some(if decoded.is_empty() || decoded.ends_with('/') {
        Cow::Owned(format!("{decoded}index.html"))
    } else {
        decoded
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn not_found(Shared(app): Shared<Arc<AppState>>) -> Response {
    page(
        &app,
        StatusCode::NOT_FOUND,
        "no-cache",
        Message::new("Page not found")
.paragraph("There is nothing at this address. If you followed a link from an email, check that it was copied whole."),
    )
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
            Message::new("Too many requests")
                .paragraph("Please wait a few minutes before trying again."),
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
                Message::new("That was too much").with_form(),
            );
        }
        Err(_) => String::new(),
    };
    let smtputf8 = app.config().settings.mail.smtputf8;
    let email = match normalize_email(&input)
        .and_then(|email| check_new_address(&email, smtputf8).map(|()| email))
    {
        Ok(email) => email,
        Err(why) => {
            // Says something about the input only, nothing about the list.
            return page(
                &app,
                StatusCode::BAD_REQUEST,
                PRIVATE,
                Message {
                    error: why.to_string(),
                    email: input,
                    ..Message::new("That address looks invalid")
                        .paragraph("Please check the address and try again.")
                        .with_form()
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
        Message::new("Check your inbox")
.paragraph("If the address can receive the weekly email, a message with a confirmation link is on its way.")
.paragraph("Follow the link and press the button on that page to start receiving the digest. Nothing is sent until you do."),
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

/// `GET` only shows a button: mail security scanners fetch every link in a
/// message, so following the link must not subscribe anyone. The button
/// posts to the same URL, which confirms.
async fn confirm_page(Shared(app): Shared<Arc<AppState>>, Path(token): Path<String>) -> Response {
    // Forged and altered tokens never reach the database.
    let Some(id) = app.signer.verify(&token, Purpose::Confirm) else {
        return not_found(Shared(app)).await;
    };
    match with_state(&app, move |state| state.subscriber(id)).await {
        Err(e) => e.into_response(),
        Ok(None) => not_found(Shared(app)).await,
        Ok(Some(s)) => match s.status {
            Status::Pending => page(
                &app,
                StatusCode::OK,
                PRIVATE,
                Message::new("Confirm your subscription")
                    .paragraph(format!(
                        "Press the button to get the weekly email at {}.",
                        s.email
                    ))
                    .button("Confirm"),
            ),
            Status::Active => subscribed_page(&app),
            Status::Unsubscribed | Status::Bounced => stale_page(&app),
        },
    }
}

/// The button's POST: a pending subscriber becomes active.
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
        Ok(Confirmed::Subscribed) => subscribed_page(&app),
        Ok(Confirmed::Stale) => stale_page(&app),
    }
}

fn subscribed_page(app: &AppState) -> Response {
    page(
        app,
        StatusCode::OK,
        PRIVATE,
        Message::new("You are subscribed").paragraph(
            "The weekly email will come to this address. Every message has a link to unsubscribe.",
        ),
    )
}

/// The subscriber left or bounced since the link was sent.
fn stale_page(app: &AppState) -> Response {
    page(
        app,
        StatusCode::GONE,
        PRIVATE,
        Message::new("This link has expired")
.paragraph("To subscribe again, enter your address below; you will get a new confirmation link.")
.with_form(),
    )
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
            Message::new("You are unsubscribed")
                .paragraph(format!("{} no longer receives the weekly email.", s.email)),
        ),
        Ok(Some(s)) => page(
            &app,
            StatusCode::OK,
            PRIVATE,
            Message::new("Unsubscribe from the weekly email?")
                .paragraph(format!("{} will receive no more digests.", s.email))
                .button("Unsubscribe"),
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
            Message::new("You are unsubscribed")
                .paragraph(
                    "You will receive no more digests. Changed your mind? Subscribe again below.",
                )
                .with_form(),
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
    use crate::config::Config;
    use crate::server::conditional::encoded_etag;
    use crate::server::pages::CSP;
    use crate::server::{
        ATOM_TYPE, Clock, FeedFile, JSON_TYPE, Published, RSS_TYPE, SendConfirmation, SiteFile,
        strong_etag,
    };
    use crate::state::{State, Subscriber};
    use crate::templates::Templates;
    use crate::token::Signer;
    use axum::body::Body;
    use axum::extract::{ConnectInfo, Request};
    use axum::http::Method;
    use chrono::{DateTime, FixedOffset};
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use tokio::sync::watch;
    use tower::ServiceExt;

    /// Large enough to be served compressed (`MIN_COMPRESSED`).
    static RSS_BODY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let items: String = (1..=40)
            .map(|i| format!("<item><title>Book {i}</title><guid>https://books.example.org/club/{i}</guid></item>"))
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Test Books</title>{items}</channel></rss>\n"
        )
    });
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
        publish: watch::Sender<Arc<Published>>,
    }

    fn config() -> Config {
        config_titled("Test Books")
    }

    fn config_titled(title: &str) -> Config {
        let yaml =
            format!("site:\n  title: {title}\n  base_url: https://books.example.org/club/\n");
        crate::config::parse(std::path::Path::new("bookweek.yaml"), &yaml).config
    }

    /// A book on now with a hostile title and authors, and one coming up.
    const HOSTILE: &str = "---\ntitle: \"<script>alert(1)</script> & \\\"Friends\\\"\"\nauthors: [\"Ada <b>Lovelace</b>\"]\nstart: 2026-03-02 00:00:00\nend: 2026-03-06 23:59:59\n---\n";
    const NEXT: &str = "---\ntitle: Reliable Machine Learning\nstart: 2026-03-09 00:00:00\nend: 2026-03-13 23:59:59\n---\n";

    /// The site as the daemon would build it with `config`.
    fn site_files(config: &Config) -> Arc<std::collections::BTreeMap<String, SiteFile>> {
        let books = [("20260302-x", HOSTILE), ("20260309-rml", NEXT)]
            .iter()
            .map(|(slug, text)| {
                let path = std::path::PathBuf::from(format!("{slug}.md"));
                let (b, problems) =
                    crate::content::parse_book(&path, text, &Default::default(), config.timezone);
                b.unwrap_or_else(|| panic!("{problems:?}"))
            })
            .collect();
        let catalog = crate::model::Catalog::new(books, Default::default());
        let templates = Templates::builtin();
        let inputs = crate::site::Inputs {
            catalog: &catalog,
            config,
            templates: &templates,
            digests: &[],
            now: at("2026-03-02T10:00:00+01:00"),
        };
        let files = crate::site::render_all(&inputs).unwrap();
        Arc::new(SiteFile::map(files, &Default::default()))
    }

    fn published() -> Published {
        published_with(config())
    }

    fn published_with(config: Config) -> Published {
        let newest = Some(at(NEWEST));
        Published {
            feeds: vec![
                FeedFile::new(feeds::RSS_FILE, RSS_TYPE, RSS_BODY.as_str(), newest),
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
            templates: Arc::new(Templates::builtin()),
            site: site_files(&config),
            config: Arc::new(config),
        }
    }

    fn harness_with(published: Published) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let sent: Sent = Arc::default();
        let recorder = Arc::clone(&sent);
        let send: SendConfirmation = Arc::new(move |_: &Config, s: &Subscriber, url: &str| {
            recorder.lock().unwrap().push((s.clone(), url.to_string()));
            Ok(())
        });
        let now = Arc::new(Mutex::new(at("2026-03-02T10:00:00+01:00")));
        let clock_now = Arc::clone(&now);
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        let (tx, rx) = watch::channel(Arc::new(published));
        let app = Arc::new(AppState::new(
            rx,
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
            publish: tx,
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
        assert_eq!(rss.text(), *RSS_BODY);
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
        assert_eq!(r.text(), *RSS_BODY);
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
        assert_eq!(r.text(), *RSS_BODY);
    }

    fn gunzip(body: &[u8]) -> String {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(body), &mut out)
            .unwrap();
        out
    }

    fn unbrotli(body: &[u8]) -> String {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut brotli::Decompressor::new(body, 4096), &mut out)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn answers_each_accept_encoding_with_its_own_body_and_etag() {
        let h = harness();
        let plain = h.etag("feed.xml");
        let gzip = encoded_etag(&plain, "gzip");
        let br = encoded_etag(&plain, "br");
        for (accept, coding) in [
            ("gzip, deflate, br", Some("br")),
            ("br;q=0.5, gzip", Some("gzip")),
            ("br;q=0, gzip;q=0.1", Some("gzip")),
            ("gzip;q=0, br;q=0", None),
            ("*", Some("br")),
            ("*;q=0.3, br;q=0", Some("gzip")),
            ("identity", None),
            ("identity;q=0.9, gzip;q=0.5", None),
            ("*;q=0", None),
            ("zstd", None),
            ("", None),
        ] {
            let r = h.get("/feed.xml", &[("accept-encoding", accept)]).await;
            assert_eq!(r.status, StatusCode::OK, "{accept}");
            assert_eq!(r.header("vary"), "accept-encoding");
            assert_eq!(
                r.headers
                    .get("content-encoding")
                    .map(|v| v.to_str().unwrap()),
                coding,
                "{accept}"
            );
            let (text, etag) = match coding {
                Some("gzip") => (gunzip(&r.body), &gzip),
                Some("br") => (unbrotli(&r.body), &br),
                _ => (r.text(), &plain),
            };
            assert_eq!(text, *RSS_BODY, "{accept}");
            assert_eq!(r.header("etag"), etag, "{accept}");
            assert_eq!(r.header("content-length"), r.body.len().to_string());
            assert!(r.header("link").ends_with("/club/feed.xml>; rel=\"self\""));
        }
        // The brotli body validates itself only; a 304 has no Link.
        let r = h
            .get(
                "/feed.xml",
                &[("accept-encoding", "br"), ("if-none-match", &br)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        assert_eq!(r.header("etag"), br);
        assert_eq!(r.header("vary"), "accept-encoding");
        assert!(r.headers.get("link").is_none());
        assert!(r.body.is_empty());
        for stale in [&plain, &gzip] {
            let r = h
                .get(
                    "/feed.xml",
                    &[("accept-encoding", "br"), ("if-none-match", stale)],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        // HEAD: the length of the body that GET would send in that coding.
        let r = h
            .send(request(
                Method::HEAD,
                "/feed.xml",
                &[("accept-encoding", "gzip")],
                "",
            ))
            .await;
        assert!(r.body.is_empty());
        let get = h.get("/feed.xml", &[("accept-encoding", "gzip")]).await;
        assert_eq!(r.header("content-length"), get.body.len().to_string());
        assert_eq!(r.header("etag"), gzip);
        // A body under MIN_COMPRESSED goes out as it is, whatever is asked.
        let r = h.get("/atom.xml", &[("accept-encoding", "gzip, br")]).await;
        assert!(r.headers.get("content-encoding").is_none());
        assert_eq!(r.header("etag"), h.etag("atom.xml"));
    }

    #[tokio::test]
    async fn only_pages_rendered_per_request_are_compressed_per_request() {
        let h = harness();
        // A site file under the threshold is sent as it is (a per-request
        // compression layer would gzip it).
        let robots = &h.app.published().site["robots.txt"];
        assert!(robots.bytes.len() < crate::server::encoded::MIN_COMPRESSED);
        let r = h.get("/robots.txt", &[("accept-encoding", "gzip")]).await;
        assert!(r.headers.get("content-encoding").is_none());
        assert_eq!(r.body, robots.bytes);
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        // A page of the site comes precompressed.
        let r = h.get("/", &[("accept-encoding", "br")]).await;
        assert_eq!(r.header("content-encoding"), "br");
        assert_eq!(
            unbrotli(&r.body).as_bytes(),
            h.app.published().site["index.html"].bytes
        );
        assert_eq!(r.header("content-security-policy"), CSP);
        // The confirmation page is rendered per request and gzipped then.
        let s = h.add("p@example.org", Status::Pending);
        let token = h.app.signer.token(s.id, Purpose::Confirm);
        let r = h
            .get(&format!("/confirm/{token}"), &[("accept-encoding", "gzip")])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-encoding"), "gzip");
        assert!(gunzip(&r.body).contains("Confirm your subscription"));
        assert_eq!(r.header("x-content-type-options"), "nosniff");
    }

    #[test]
    fn a_new_publish_reuses_the_compressed_bodies_of_unchanged_files() {
        let config = config();
        let first = site_files(&config);
        let again = SiteFile::map(
            first
                .iter()
                .map(|(path, f)| crate::site::File {
                    path: path.clone(),
                    content_type: f.content_type,
                    bytes: if path == "index.html" {
                        Bytes::from(format!(
                            "{}<!-- changed -->",
                            String::from_utf8_lossy(&f.bytes)
                        ))
                    } else {
                        f.bytes.clone()
                    },
                })
                .collect(),
            &first,
        );
        for (path, f) in again.iter() {
            assert_eq!(
                Arc::ptr_eq(&f.encodings, &first[path].encodings),
                path != "index.html",
                "{path}"
            );
        }
        assert_ne!(again["index.html"].etag(), first["index.html"].etag());

        let previous = published().feeds;
        let rendered = feeds::Rendered {
            rss: RSS_BODY.clone(),
            atom: "<feed/>".into(),
            json: String::from_utf8(previous[2].bytes.to_vec()).unwrap(),
            left_out: Vec::new(),
        };
        let made = FeedFile::from_rendered_reusing(&rendered, &[], &previous);
        // Without items there is no Last-Modified: every feed is new.
        assert!(made.iter().all(|f| {
            !previous
                .iter()
                .any(|p| Arc::ptr_eq(&p.encodings, &f.encodings))
        }));
        let same_date: Vec<FeedFile> = previous
            .iter()
            .map(|f| FeedFile::new(f.name, f.content_type, f.bytes.clone(), None))
            .collect();
        let made = FeedFile::from_rendered_reusing(&rendered, &[], &same_date);
        let reused: Vec<bool> = made
            .iter()
            .zip(&same_date)
            .map(|(m, p)| Arc::ptr_eq(&m.encodings, &p.encodings))
            .collect();
        assert_eq!(reused, [true, false, true]);
        assert_eq!(made[1].bytes, "<feed/>");
    }

    #[tokio::test]
    async fn feeds_answer_503_before_the_first_build() {
        let h = harness_with(Published::empty(
            Arc::new(config()),
            Arc::new(Templates::builtin()),
            at(NEWEST),
        ));
        for path in ["/feed.xml", "/", "/archive.html"] {
            let r = h.get(path, &[]).await;
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert_eq!(r.header("retry-after"), "60");
        }
    }

    // ------------------------------------------------------------ pages

    #[tokio::test]
    async fn home_page_links_the_feeds_has_the_form_and_escapes_titles() {
        let h = harness();
        let r = h.get("/", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(r.header("content-security-policy"), CSP);
        assert!(CSP.starts_with(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; form-action 'self'"
        ));
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        // The very bytes of the built site's index.html.
        assert_eq!(r.body, h.app.published().site["index.html"].bytes);
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
        // The hostile book, escaped everywhere it appears.
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Friends&quot;"));
        assert!(html.contains("Ada &lt;b&gt;Lovelace&lt;/b&gt;"));
        assert!(html.contains("2–6 March 2026"));
        assert!(html.contains("https://books.example.org/club/books/20260309-rml.html"));
        // A book without authors has no empty byline.
        assert!(!html.contains("href=\"\""));
        assert!(!html.contains("<p>by </p>"));
    }

    #[tokio::test]
    async fn site_files_are_served_with_etags_304_and_gzip_like_the_feeds() {
        let h = harness();
        let site = h.app.published().site.clone();
        assert!(
            site.contains_key("books/20260302-x.html"),
            "{:?}",
            site.keys()
        );
        for (path, file) in site.iter() {
            let r = h.get(&format!("/{path}"), &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.body, file.bytes, "{path}");
            assert_eq!(r.header("etag"), strong_etag(&file.bytes));
            assert_eq!(r.header("content-type"), file.content_type);
            assert_eq!(r.header("cache-control"), "no-cache");
            assert_eq!(r.header("vary"), "accept-encoding");
            assert_eq!(r.header("content-security-policy"), CSP);
            let r = h
                .get(&format!("/{path}"), &[("if-none-match", file.etag())])
                .await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{path}");
            assert!(r.body.is_empty());
        }
        let page = &site["books/20260302-x.html"];
        let r = h
            .get("/books/20260302-x.html", &[("accept-encoding", "gzip")])
            .await;
        assert_eq!(r.header("content-encoding"), "gzip");
        let gzipped = r.header("etag").to_string();
        assert_eq!(gzipped, encoded_etag(page.etag(), "gzip"));
        let r = h
            .get(
                "/books/20260302-x.html",
                &[("accept-encoding", "gzip"), ("if-none-match", &gzipped)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        // `/` is index.html; HEAD has the headers only; a POST or a path
        // out of the site is not a page.
        let r = h.get("/index.html", &[]).await;
        assert_eq!(r.body, site["index.html"].bytes);
        let r = h
            .send(request(Method::HEAD, "/archive.html", &[], ""))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());
        for bad in [
            "/books/",
            "/../index.html",
            "/%2e%2e/index.html",
            "/books/nope.html",
        ] {
            assert_eq!(h.get(bad, &[]).await.status, StatusCode::NOT_FOUND, "{bad}");
        }
        let r = h.post_form("/archive.html", "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn request_paths_map_to_site_files() {
        assert_eq!(site_path("/").as_deref(), Some("index.html"));
        assert_eq!(site_path("/x/").as_deref(), Some("x/index.html"));
        assert_eq!(site_path("/a%20b.html").as_deref(), Some("a b.html"));
        assert_eq!(site_path("/a/../b"), None);
        assert_eq!(site_path("/%ff"), None);
    }

    #[tokio::test]
    async fn pages_follow_the_config_of_the_last_publish() {
        let h = harness();
        assert!(h.get("/", &[]).await.text().contains("<h1>Test Books</h1>"));
        h.publish
            .send_replace(Arc::new(published_with(config_titled("Renamed Club"))));
        let html = h.get("/", &[]).await.text();
        assert!(html.contains("<title>Renamed Club</title>"), "{html}");
        assert!(html.contains("<h1>Renamed Club</h1>"));
        assert!(!html.contains("Test Books"));
        let html = h.get("/no-such-page", &[]).await.text();
        assert!(
            html.contains("<title>Page not found · Renamed Club</title>"),
            "{html}"
        );
        assert!(!html.contains("Test Books"));
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
        let r = h.post_form(&format!("/confirm/{token}"), "").await;
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
    async fn addresses_a_relay_would_refuse_are_a_400_page_with_the_reason() {
        let h = harness();
        for (body, reason) in [
            ("email=a%40%5B127.0.0.1%5D", "IP address"),
            ("email=j%C3%B6rg%40example.de", "SMTPUTF8"),
        ] {
            let r = h.post_form("/subscribe", body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
            let html = r.text();
            assert!(html.contains(reason), "{body}: {html}");
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
    async fn following_a_confirmation_link_shows_a_button_and_changes_nothing() {
        let h = harness();
        let s = h.add("p@example.org", Status::Pending);
        let token = h.app.signer.token(s.id, Purpose::Confirm);
        // What a mail scanner does: GET (and HEAD) the link, maybe twice.
        for method in [Method::GET, Method::HEAD, Method::GET] {
            let r = h
                .send(request(
                    method.clone(),
                    &format!("/confirm/{token}"),
                    &[],
                    "",
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{method}");
            assert_eq!(r.header("cache-control"), "no-store");
            assert_eq!(r.header("referrer-policy"), "no-referrer");
        }
        let html = h.get(&format!("/confirm/{token}"), &[]).await.text();
        // A plain form posting back to the same URL: no script needed.
        assert!(html.contains("<form method=\"post\">"), "{html}");
        assert!(html.contains("<button type=\"submit\">Confirm</button>"));
        assert!(html.contains("p@example.org"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("You are subscribed"));
        assert_eq!(h.state().list_subscribers(None).unwrap(), [s]);
    }

    #[tokio::test]
    async fn posting_the_confirmation_button_activates_a_pending_subscriber() {
        let h = harness();
        let s = h.add("p@example.org", Status::Pending);
        let token = h.app.signer.token(s.id, Purpose::Confirm);
        let r = h.post_form(&format!("/confirm/{token}"), "").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        assert!(r.text().contains("You are subscribed"));
        assert_eq!(h.by_email("p@example.org").unwrap().status, Status::Active);
        // Pressing it again is harmless, and the link now says it is done.
        let r = h.post_form(&format!("/confirm/{token}"), "").await;
        assert_eq!(r.status, StatusCode::OK);
        let r = h.get(&format!("/confirm/{token}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("You are subscribed"));
        assert!(!r.text().contains("<button"));
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
            let r = h.post_form(&format!("/confirm/{token}"), "").await;
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
        assert!(!r.text().contains("<button type=\"submit\">Confirm"));
        let r = h.post_form(&format!("/confirm/{token}"), "").await;
        assert_eq!(r.status, StatusCode::GONE);
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
