//! Shared test helpers: a temporary site folder and a way to run the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real corpus shipped beside the project (`../shared/corpus`).
pub fn corpus() -> PathBuf {
    repo().join("../shared/corpus")
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A temporary working folder with a config file; the binary runs inside it.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    /// A site whose content is `content` (copied, so tests may edit it).
    pub fn with_content(content: &Path, extra_config: &str) -> Self {
        let site = Self::empty(extra_config);
        copy_dir(content, &site.path().join("content"));
        site
    }

    /// A site that reads `content` in place (for the read-only corpus).
    pub fn reading(content: &Path, extra_config: &str) -> Self {
        let config = format!("paths:\n  content: {}\n{extra_config}", content.display());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/bookweek.yaml"), config).unwrap();
        Self { dir }
    }

    pub fn empty(extra_config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::create_dir_all(dir.path().join("content/books")).unwrap();
        std::fs::create_dir_all(dir.path().join("content/people")).unwrap();
        std::fs::write(dir.path().join("config/bookweek.yaml"), extra_config).unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_bookweek"))
            .current_dir(self.path())
            .args(args)
            .output()
            .unwrap();
        Run::from(out)
    }

    /// `build` at `now`; returns the run and the three parsed feeds.
    pub fn build(&self, now: &str) -> (Run, Feeds) {
        let run = self.run(&["build", "--now", now]);
        let feeds = Feeds::read(&self.path().join("public"));
        (run, feeds)
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The three feeds as an independent parser (feed-rs) sees them.
pub struct Feeds {
    pub rss: feed_rs::model::Feed,
    pub atom: feed_rs::model::Feed,
    pub json: feed_rs::model::Feed,
    pub raw: [String; 3],
}

impl Feeds {
    pub fn read(dir: &Path) -> Self {
        let raw = ["feed.xml", "atom.xml", "feed.json"]
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")));
        let parse = |s: &str| feed_rs::parser::parse(s.as_bytes()).unwrap();
        Self {
            rss: parse(&raw[0]),
            atom: parse(&raw[1]),
            json: parse(&raw[2]),
            raw,
        }
    }

    pub fn all(&self) -> [&feed_rs::model::Feed; 3] {
        [&self.rss, &self.atom, &self.json]
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
