//! Shared test helpers: a temporary site folder and a way to run the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Real books and people copied into the repository: the few that carry the
/// quirks the tests check (tests/fixtures/corpus/README.md).
pub fn corpus_sample() -> PathBuf {
    fixture("corpus")
}

/// The whole real corpus, named by `BOOKWEEK_CORPUS` (`.ci/run` sets it to
/// the corpus beside the repository). Only the `#[ignore]`d `whole_corpus` tests read it,
/// so `cargo test` on a fresh clone never needs it; run on purpose, they fail
/// loudly rather than skip when it is missing.
pub fn whole_corpus() -> PathBuf {
    let dir = std::env::var_os("BOOKWEEK_CORPUS")
        .map(PathBuf::from)
        .expect(
            "set BOOKWEEK_CORPUS to the folder of the real corpus to run the whole_corpus tests",
        );
    // Absolute: the binary runs in a temporary folder.
    std::fs::canonicalize(dir.join("books"))
        .unwrap_or_else(|e| panic!("BOOKWEEK_CORPUS={}: no books/ there: {e}", dir.display()))
        .parent()
        .unwrap()
        .to_path_buf()
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

/// A real SMTP server (tests/smtp/server.py, aiosmtpd) on a free loopback
/// port, writing each accepted message to its own file.
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start(args: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), None, args)
    }

    /// Starts on a given port (to bring a server "back" on the same address)
    /// and message folder.
    pub fn start_in(dir: tempfile::TempDir, port: Option<u16>, args: &[&str]) -> Self {
        let ready = dir.path().join(".ready");
        let _ = std::fs::remove_file(&ready);
        let port_arg = port.unwrap_or(0).to_string();
        let mut child = Command::new("python3")
            .arg(repo().join("tests/smtp/server.py"))
            .args(["--port", &port_arg, "--dir"])
            .arg(dir.path().join("mail"))
            .arg("--ready-file")
            .arg(&ready)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let started = std::time::Instant::now();
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&ready)
                && let Ok(p) = p.trim().parse()
            {
                break p;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tests/smtp/server.py exited ({status}); is aiosmtpd installed? (python3 -m pip install aiosmtpd)"
                );
            }
            assert!(
                started.elapsed().as_secs() < 20,
                "SMTP test server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Self { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The raw messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    /// How many messages arrived so far (cheap: no file is read).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("mail")).map_or(0, |rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
    }

    /// Stops the server, keeping its folder (to start it again on the same port).
    pub fn stop(mut self) -> (tempfile::TempDir, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        // Take the folder out without running Drop's kill twice.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (dir, port)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an external checker and fails the test with its output if it fails.
pub fn assert_succeeds(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `bookweek run` on a free port, its log collected; killed on
/// drop (see [`Daemon::terminate`] for a clean stop).
pub struct Daemon {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, as the daemon printed it.
    pub base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Daemon {
    /// `bookweek --now NOW run` in the site's folder.
    pub fn start(site: &Site, now: &str) -> Self {
        Self::spawn(site, now, &[], None)
    }

    /// With global options before `run` (e.g. `--config x.yaml`) and at most
    /// `files` open files (soft and hard limit), as `ulimit -n` in a shell
    /// or `LimitNOFILE=` in systemd would.
    pub fn spawn(site: &Site, now: &str, options: &[&str], files: Option<u32>) -> Self {
        use std::io::{BufRead, BufReader};
        let bin = env!("CARGO_BIN_EXE_bookweek");
        let mut command = match files {
            None => Command::new(bin),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                sh
            }
        };
        let mut child = command
            .current_dir(site.path())
            .args(options)
            .args(["--now", now, "run"])
            .env("RUST_LOG", "info")
            // Plain log lines to search in.
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("bookweek: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}: {}", log.lock().unwrap()))
            .to_string();
        Self { child, base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(self.url(path)).unwrap()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then its exit status (within 10 s, or the test fails).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let started = std::time::Instant::now();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
