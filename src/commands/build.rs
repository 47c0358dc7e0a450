//! `bookweek build`: write the three feeds for what is due at `--now`, and
//! the site's pages and images beside them.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};

use crate::cli::Now;
use crate::feeds;
use crate::publish::write_feeds;
use crate::site::{self, Inputs, Manifest, Reuse};
use crate::state::State;

use super::{EXIT_FATAL, EXIT_PROBLEMS, Site, exit, load_site};

/// The state database key under which the last build's [`Manifest`] is kept.
pub(crate) const MANIFEST: &str = "site.manifest";

pub fn run(config_path: Option<&Path>, out: Option<&Path>, now: Now) -> ExitCode {
    let site = match load_site(config_path, now) {
        Ok(site) => site,
        Err(code) => return code,
    };
    let Site {
        config,
        templates,
        content,
    } = &site;
    let now = now.at(config.timezone);
    let settings = &config.settings;
    let (items, rendered) = match feeds::render_all(&content.catalog, config, templates, now) {
        Ok(built) => built,
        Err(feeds::BuildError::Render(e)) => {
            eprintln!("{e}");
            eprintln!("error: nothing was written");
            return exit(EXIT_FATAL);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    let dir = out.unwrap_or(&settings.paths.output);
    match write_feeds(&rendered, dir) {
        Ok(files) => {
            for (path, changed) in files {
                println!(
                    "{}: {} item{}{}",
                    path.display(),
                    items.len(),
                    crate::diag::plural(items.len()),
                    if changed { "" } else { " (unchanged)" }
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    }
    // The digests' pages come from the state database; without it the rest
    // of the site is still built.
    let state = State::open(&settings.paths.state)
        .map_err(|e| eprintln!("warning: {e}; the site is built without the digests"))
        .ok();
    match publish_site(&site, state.as_ref(), dir, now, Reuse::Nothing) {
        Ok(report) => {
            println!("{}", site_line(dir, &report));
            crate::commands::print_problems(&report.problems, true);
            if report.problems.iter().any(crate::diag::Problem::is_error) {
                eprintln!("error: some files of the site were not written");
                return exit(EXIT_FATAL);
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return exit(EXIT_FATAL);
        }
    }
    crate::commands::print_problems(&rendered.left_out, true);
    let code = report_broken_books(content);
    if rendered.left_out.is_empty() {
        code
    } else {
        exit(EXIT_PROBLEMS)
    }
}

/// Writes the site's pages and images into `out` (see [`crate::site`]),
/// with the digests recorded in `state`, and remembers what it wrote there
/// so the next run redoes only what changed.
pub(crate) fn publish_site(
    site: &Site,
    state: Option<&State>,
    out: &Path,
    now: DateTime<FixedOffset>,
    reuse: Reuse,
) -> anyhow::Result<site::Report> {
    let (digests, previous) = match state {
        Some(state) => (
            state.published_digests()?,
            state
                .meta(MANIFEST)?
                .map(|json| Manifest::from_json(&json))
                .unwrap_or_default(),
        ),
        None => (Vec::new(), Manifest::default()),
    };
    let inputs = Inputs {
        catalog: &site.content.catalog,
        config: &site.config,
        templates: &site.templates,
        digests: &digests,
        now,
    };
    let (manifest, report) = site::publish(&inputs, out, &previous, reuse, false)?;
    if let Some(state) = state {
        state.set_meta(MANIFEST, &manifest.to_json())?;
    }
    Ok(report)
}

/// `public/: 60 pages, 3 images (12 written, 1 removed)`.
pub(crate) fn site_line(out: &Path, report: &site::Report) -> String {
    format!(
        "{}/: {}",
        out.display().to_string().trim_end_matches('/'),
        site_summary(report)
    )
}

/// `60 pages, 3 images (12 written, 1 removed)`.
pub(crate) fn site_summary(report: &site::Report) -> String {
    use crate::diag::plural;
    let mut done = format!("{} written", report.written);
    if report.removed > 0 {
        done.push_str(&format!(", {} removed", report.removed));
    }
    format!(
        "{} page{}, {} image{} ({done})",
        report.pages,
        plural(report.pages),
        report.images,
        plural(report.images),
    )
}

/// The closing line about books with errors, and the exit code: 1 when any
/// book has errors, whether it was left out or its last good version was
/// published instead.
pub fn report_broken_books(content: &crate::content::Loaded) -> ExitCode {
    use crate::diag::plural;
    let left_out = content.left_out();
    let kept = content.kept.len();
    if left_out > 0 {
        eprintln!(
            "error: {left_out} book{} left out because of errors",
            plural(left_out)
        );
    }
    if kept > 0 {
        eprintln!(
            "error: {kept} book{} with errors; {} last good version{} still published",
            plural(kept),
            if kept == 1 { "its" } else { "their" },
            plural(kept)
        );
    }
    if content.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        exit(EXIT_PROBLEMS)
    }
}
