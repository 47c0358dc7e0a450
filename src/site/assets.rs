//! Images that books (`cover:`) and people (`picture:`) name relative to
//! the site (`images/books/…/cover.jpg`): looked up under the assets folder
//! (`paths.assets`, by default the content folder), copied into the output
//! at the same path, and linked at that path under `site.base_url`.
//!
//! [`resolve`] runs right after the content is loaded: an image that is not
//! there (or is no image, or is too large) is a warning at its key and is
//! removed from the book or person, so no page, feed or mail shows a
//! broken image. Absolute `https://` images are someone else's: they are
//! left as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::diag::Problem;
use crate::model::Catalog;
use crate::yamlpos::Seg;

/// The image types bookweek copies, by file extension. No SVG: it can
/// carry scripts, and a cover is a picture.
pub fn image_type(ext: &str) -> Option<&'static str> {
    Some(match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        _ => return None,
    })
}

/// Why an image reference cannot be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnImage {
    /// `..`, `.`, a backslash, an empty segment: not a plain path in the site.
    Path,
    /// Not one of [`image_type`]'s extensions.
    Type,
}

/// The site path of an image reference: `Ok(None)` for an absolute
/// http(s) URL (someone else's), `Ok(Some(path))` for a path in the site
/// (a leading `/` is dropped), else why it cannot be one.
pub fn site_path(reference: &str) -> Result<Option<String>, NotAnImage> {
    if crate::config::is_http_url(reference) {
        return Ok(None);
    }
    let path = reference.trim().trim_start_matches('/');
    let plain = !path.is_empty()
        && !path.contains('\\')
        && !path.contains(['?', '#'])
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if !plain {
        return Err(NotAnImage::Path);
    }
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    if image_type(ext).is_none() {
        return Err(NotAnImage::Type);
    }
    Ok(Some(path.to_string()))
}

/// Where an image of the site is found: `path` under the assets folder.
fn source(config: &Config, path: &str) -> PathBuf {
    config.assets_dir().join(path)
}

/// Why a found reference is left out, or `None` when it can be shown.
fn problem_with(config: &Config, reference: &str) -> Option<String> {
    let path = match site_path(reference) {
        Ok(None) => return None,
        Ok(Some(p)) => p,
        Err(NotAnImage::Path) => {
            return Some(format!(
                "`{reference}` is not a path in the site (no `..`, `.` or empty parts)"
            ));
        }
        Err(NotAnImage::Type) => {
            return Some(format!(
                "`{reference}` is not an image bookweek publishes (.jpg, .jpeg, .png, .gif, .webp, .avif)"
            ));
        }
    };
    let file = source(config, &path);
    match std::fs::metadata(&file) {
        Ok(m) if m.is_file() && m.len() <= config.max_file_size => None,
        Ok(m) if m.is_file() => Some(format!(
            "image {} is larger than content.max_file_size ({})",
            file.display(),
            config.settings.content.max_file_size
        )),
        Ok(_) => Some(format!("image {} is not a file", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
            "image `{reference}` is not in the assets folder (no {})",
            file.display()
        )),
        Err(e) => Some(format!("cannot read image {}: {e}", file.display())),
    }
}

/// Checks every book's cover and every person's picture: one that cannot
/// be shown is a warning at its key, handed to `found` (a batch at a time:
/// a site whose images are elsewhere has one for every book), and is
/// removed from the catalog.
pub fn resolve(catalog: &mut Catalog, config: &Config, found: &mut dyn FnMut(Vec<Problem>)) {
    let max = config.max_file_size;
    // In parallel: each check looks the file up.
    let checked = catalog.books.update(
        |book| {
            let why = book.cover().and_then(|c| problem_with(config, c))?;
            book.drop_cover();
            // Where the load found `cover:`; read the file again only for
            // an entry made without its text.
            let at = book.cover_at().unwrap_or_else(|| {
                crate::content::locate_in_file(book.path(), &[Seg::Key("cover")], max)
            });
            Some(Problem::warning(
                book.path(),
                at,
                format!("`cover`: {why}; it is left out"),
            ))
        },
        &mut *found,
    );
    let mut problems = Vec::new();
    if let Err(e) = checked {
        problems.push(Problem::error(
            &config.settings.paths.content,
            (1, 1),
            format!("cannot check the covers: {e}"),
        ));
    }
    for person in catalog.people.values_mut() {
        if let Some(why) = person
            .picture
            .as_deref()
            .and_then(|p| problem_with(config, p))
        {
            problems.push(Problem::warning(
                &person.path,
                crate::content::locate_in_file(&person.path, &[Seg::Key("picture")], max),
                format!("`picture`: {why}; it is left out"),
            ));
            person.picture = None;
        }
    }
    found(problems);
}

/// The images the site copies, by site path, with their source file: the
/// covers and the pictures of authors with a page that [`resolve`] kept.
pub(super) fn referenced<'r>(
    references: impl Iterator<Item = &'r str>,
    config: &Config,
) -> Vec<(String, PathBuf)> {
    let mut out = BTreeMap::new();
    for reference in references {
        if let Ok(Some(path)) = site_path(reference) {
            let file = source(config, &path);
            out.entry(path).or_insert(file);
        }
    }
    out.into_iter().collect()
}

/// True when `path` is an image file of an allowed type.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(image_type)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_image_paths_in_the_site_are_published() {
        assert_eq!(
            site_path("images/books/x/cover.jpg"),
            Ok(Some("images/books/x/cover.jpg".into()))
        );
        assert_eq!(site_path("/images/a.PNG"), Ok(Some("images/a.PNG".into())));
        assert_eq!(site_path("https://cdn.example.org/a.jpg"), Ok(None));
        for bad in [
            "../secret.jpg",
            "images/../../etc/x.jpg",
            "./a.jpg",
            "a//b.jpg",
            "a\\b.jpg",
            "",
            "a.jpg?x=1",
        ] {
            assert_eq!(site_path(bad), Err(NotAnImage::Path), "{bad}");
        }
        for bad in ["images/x.svg", "images/x", "images/x.html", "x.jpg.exe"] {
            assert_eq!(site_path(bad), Err(NotAnImage::Type), "{bad}");
        }
    }
}
