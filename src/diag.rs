//! Diagnostics: one problem found in an input file, with its place, severity and message.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is: errors keep a book out of the feeds, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in a file, printed as `path:line:col: severity: message` so editors
/// and terminals can jump to it. A problem in a value from the environment
/// has no position (`line` 0) and prints as `NAME (environment): severity:
/// message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn error(path: &Path, (line, col): (usize, usize), message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            col,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(path: &Path, (line, col): (usize, usize), message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(path, (line, col), message)
        }
    }

    /// An error in the value of the environment variable `var`.
    pub fn env(var: &str, message: impl Into<String>) -> Self {
        Self::error(Path::new(&format!("{var} (environment)")), (0, 0), message)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            return write!(f, "{}: {severity}: {}", self.path.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.path.display(),
            self.line,
            self.col,
            severity,
            self.message
        )
    }
}

/// Sorts problems by file and position so output is stable whatever order the
/// files were read in.
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (&a.path, a.line, a.col, a.severity, &a.message)
            .cmp(&(&b.path, b.line, b.col, b.severity, &b.message))
    });
}

/// The one-line summary printed after the problems.
pub fn summary(problems: &[Problem], checked: &str) -> String {
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    format!(
        "{checked}: {errors} error{}, {warnings} warning{}",
        plural(errors),
        plural(warnings)
    )
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The closest candidate to `wanted`, for "did you mean" hints; `None` when
/// nothing is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_path_line_col() {
        let p = Problem::error(Path::new("a/b.md"), (3, 7), "bad");
        assert_eq!(p.to_string(), "a/b.md:3:7: error: bad");
    }

    #[test]
    fn environment_problems_name_the_variable() {
        let p = Problem::env("BOOKWEEK_SECRET", "too short");
        assert_eq!(
            p.to_string(),
            "BOOKWEEK_SECRET (environment): error: too short"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("timezon", ["timezone", "title"]),
            Some("timezone")
        );
        assert_eq!(did_you_mean("zzz", ["timezone", "title"]), None);
    }
}
