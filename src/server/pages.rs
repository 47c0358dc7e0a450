//! The HTML pages: the built-in templates (a base layout, the home page,
//! one message page for everything else, the subscribe form), rendered with
//! every value escaped, and the headers every page carries (CSP, no
//! referrer, caching).

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, context};
use serde::Serialize;

use super::{AppState, ServerError};
use crate::config::Config;
use crate::feeds;

/// HTML pages have no scripts, images or frames; forms only post back here.
pub(super) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Pages under a token URL (and answers to a form) are personal.
pub(super) const PRIVATE: &str = "no-store";

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
pub(super) fn absolute(config: &Config, reference: &str) -> String {
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
/// form or a button (confirm, unsubscribe) that posts back to the page's own
/// URL: a plain form, so it works without scripts in any browser.
const MESSAGE_HTML: &str = r#"{% extends "base.html" %}
{% block title %}{{ heading }} · {{ site.title }}{% endblock %}
{% block body %}<main>
<h1>{{ heading }}</h1>
{% for p in paragraphs %}<p>{{ p }}</p>
{% endfor %}{% if button %}<form method="post">
<button type="submit">{{ button }}</button>
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

pub(super) fn render(
    config: &Config,
    name: &str,
    ctx: minijinja::Value,
) -> Result<String, ServerError> {
    let ctx = context! { site => site_view(config), ..ctx };
    pages()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ServerError::Template {
            name: name.to_string(),
            message: e.to_string(),
        })
}

pub(super) fn page(
    app: &AppState,
    status: StatusCode,
    cache: &'static str,
    name: &str,
    ctx: minijinja::Value,
) -> Response {
    match render(&app.config(), name, ctx) {
        Ok(body) => html_response(status, cache, body),
        Err(e) => e.into_response(),
    }
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

pub(super) async fn nosniff(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}
