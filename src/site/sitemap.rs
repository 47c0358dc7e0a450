//! `sitemap.xml` (every page of the site, for crawlers) and `robots.txt`
//! (which points to it), from `page/sitemap.xml.j2` and `page/robots.txt.j2`.

use minijinja::context;

use super::view;
use super::{HOME, SITEMAP};
use crate::config::Config;
use crate::templates::{RenderError, Templates};

/// The absolute URL of every HTML page among `files` (path, type); the
/// home page as the site's own URL.
pub(super) fn urls<'a>(
    config: &Config,
    files: impl Iterator<Item = (&'a str, &'static str)>,
) -> Vec<String> {
    files
        .filter(|(_, t)| t.starts_with("text/html"))
        .map(|(path, _)| {
            if path == HOME {
                config.base_url.to_string()
            } else {
                view::url(config, path)
            }
        })
        .collect()
}

pub(super) fn sitemap_url(config: &Config) -> String {
    view::url(config, SITEMAP)
}

pub(super) fn sitemap(templates: &Templates, urls: &[String]) -> Result<String, RenderError> {
    templates.render("page/sitemap.xml.j2", context! { urls => urls })
}

pub(super) fn robots(config: &Config, templates: &Templates) -> Result<String, RenderError> {
    templates.render(
        "page/robots.txt.j2",
        context! { sitemap => sitemap_url(config), base_path => config.base_url.path() },
    )
}
