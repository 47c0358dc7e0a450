//! The minijinja templates: built-in copies embedded in the binary, each
//! overridden by a same-named file in `paths.templates`. A broken template is
//! a problem naming its file and line.

use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::diag::Problem;

/// Every template bookweek renders, with its built-in text.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "opening.html.j2",
        include_str!("../templates/opening.html.j2"),
    ),
    ("recap.html.j2", include_str!("../templates/recap.html.j2")),
    (
        "digest.subject.j2",
        include_str!("../templates/digest.subject.j2"),
    ),
    (
        "digest.html.j2",
        include_str!("../templates/digest.html.j2"),
    ),
    ("digest.txt.j2", include_str!("../templates/digest.txt.j2")),
    (
        "confirm.subject.j2",
        include_str!("../templates/confirm.subject.j2"),
    ),
    (
        "confirm.txt.j2",
        include_str!("../templates/confirm.txt.j2"),
    ),
    (
        "confirm.html.j2",
        include_str!("../templates/confirm.html.j2"),
    ),
    // The web pages (src/site): a layout, shared macros, one per kind of page.
    (
        "page/base.html.j2",
        include_str!("../templates/page/base.html.j2"),
    ),
    (
        "page/macros.html.j2",
        include_str!("../templates/page/macros.html.j2"),
    ),
    (
        "page/home.html.j2",
        include_str!("../templates/page/home.html.j2"),
    ),
    (
        "page/book.html.j2",
        include_str!("../templates/page/book.html.j2"),
    ),
    (
        "page/books.html.j2",
        include_str!("../templates/page/books.html.j2"),
    ),
    (
        "page/person.html.j2",
        include_str!("../templates/page/person.html.j2"),
    ),
    (
        "page/digest.html.j2",
        include_str!("../templates/page/digest.html.j2"),
    ),
    (
        "page/digests.html.j2",
        include_str!("../templates/page/digests.html.j2"),
    ),
    (
        "page/message.html.j2",
        include_str!("../templates/page/message.html.j2"),
    ),
    (
        "page/sitemap.xml.j2",
        include_str!("../templates/page/sitemap.xml.j2"),
    ),
    (
        "page/robots.txt.j2",
        include_str!("../templates/page/robots.txt.j2"),
    ),
];

#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:1: error: template failed: {message}")]
pub struct RenderError {
    pub path: String,
    pub line: usize,
    pub message: String,
}

/// The loaded templates and where each one came from.
#[derive(Clone)]
pub struct Templates {
    env: Environment<'static>,
    sources: Vec<(String, PathBuf)>,
    /// SHA-256 of every template's text as loaded: pages rendered with the
    /// same templates from the same inputs are the same.
    fingerprint: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("sources", &self.sources)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Loads the built-in templates, overridden by files in `dir`. A broken
    /// file is reported; the built-in copy stands in so `check` can go on, but
    /// callers that publish must stop on the problem.
    pub fn load(dir: &Path) -> (Self, Vec<Problem>) {
        let mut env = Environment::new();
        // Strict undefined turns a misspelt variable into an error instead of
        // an empty string in every reader's feed.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        use_html_escaping(&mut env);
        // `{{ title|shorten(40) }}`: at most 40 characters, cut at a word
        // with '…' (subjects that must fit a phone's inbox).
        env.add_filter("shorten", |s: String, max: usize| {
            crate::text::truncate_words(&s, max)
        });
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        let mut fingerprint = Sha256::new();
        for (name, builtin) in BUILTIN {
            let path = dir.join(name);
            let own = match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    problems.push(Problem::error(
                        &path,
                        (1, 1),
                        format!("cannot read template: {e}"),
                    ));
                    None
                }
            };
            let mut used = PathBuf::from(format!("(built-in) {name}"));
            fingerprint.update(name.as_bytes());
            if let Some(text) = own {
                fingerprint.update(text.as_bytes());
                match env.add_template_owned(name.to_string(), text) {
                    Ok(()) => used = path.clone(),
                    Err(e) => problems.push(problem(&path, &e)),
                }
            }
            if used != path {
                fingerprint.update(builtin.as_bytes());
                if let Err(e) = env.add_template(name, builtin) {
                    problems.push(problem(Path::new(name), &e));
                }
            }
            fingerprint.update([0]);
            sources.push((name.to_string(), used));
        }
        let fingerprint = fingerprint
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (
            Self {
                env,
                sources,
                fingerprint,
            },
            problems,
        )
    }

    /// The built-in templates alone (what a page falls back on before the
    /// configured ones are loaded).
    pub fn builtin() -> Self {
        Self::load(Path::new("/nonexistent/bookweek-builtin-templates")).0
    }

    /// A fingerprint of every template's text: equal when the templates are.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Renders a template with a view value.
    pub fn render(&self, name: &str, view: impl Serialize) -> Result<String, RenderError> {
        let source = self
            .sources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.display().to_string())
            .unwrap_or_else(|| name.to_string());
        self.env
            .get_template(name)
            .and_then(|t| t.render(view))
            .map_err(|e| RenderError {
                path: source,
                line: e.line().unwrap_or(1),
                message: detail(&e),
            })
    }
}

/// Makes `env` escape HTML with [`escape_html`]. minijinja's own HTML
/// escaping also escapes `/`, which turns every URL in an href into
/// `https:&#x2f;&#x2f;…`: valid, but unreadable in feeds, mail sources and
/// pages. Escape only what HTML needs.
pub fn use_html_escaping(env: &mut Environment<'_>) {
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == minijinja::AutoEscape::Html
            && !value.is_safe()
            && let Some(s) = value.as_str()
        {
            return out
                .write_str(&escape_html(s))
                .map_err(minijinja::Error::from);
        }
        minijinja::escape_formatter(out, state, value)
    });
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn detail(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn problem(path: &Path, e: &minijinja::Error) -> Problem {
    Problem::error(
        path,
        (e.line().unwrap_or(1), 1),
        format!("template syntax error: {}", detail(e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_compile() {
        let (_, problems) = Templates::load(Path::new("/nonexistent"));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn broken_override_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recap.html.j2"), "ok\n{% for x in %}\n").unwrap();
        let (t, problems) = Templates::load(dir.path());
        assert_eq!(problems.len(), 1);
        let msg = problems[0].to_string();
        assert!(
            msg.contains("recap.html.j2:2:1: error: template syntax error"),
            "{msg}"
        );
        // The built-in copy stands in.
        assert!(t.env.get_template("recap.html.j2").is_ok());
    }
}
