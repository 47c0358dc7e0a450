//! The HTTP server of `bookweek run` as clients meet it: the real binary on
//! a free port, pages that follow a config reload, and connections (slow
//! clients, timeouts, the connection cap under a small open-file limit).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Site, repo};

/// A running daemon; killed on drop.
struct Daemon {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(site: &Site) -> Self {
        Self::spawn(site, Command::new(env!("CARGO_BIN_EXE_bookweek")))
    }

    fn spawn(site: &Site, mut command: Command) -> Self {
        let mut child = command
            .current_dir(site.path())
            .args(["--now", "2023-01-10T12:00:00Z", "run"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
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
            .unwrap_or_else(|| panic!("unexpected first line {line:?}: {}", stderr.lock().unwrap()))
            .to_string();
        Self {
            child,
            base,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(self.url(path)).unwrap()
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn site(extra: &str) -> Site {
    Site::with_content(
        &repo().join("content"),
        &format!("server:\n  listen: 127.0.0.1:0\n{extra}"),
    )
}

#[test]
fn the_home_page_follows_a_reloaded_site_title() {
    let site = site("site:\n  title: Old Club Title\n");
    let d = Daemon::start(&site);
    let home = d.get("/").text().unwrap();
    assert!(home.contains("<h1>Old Club Title</h1>"), "{home}");
    site.write(
        "config/bookweek.yaml",
        "server:\n  listen: 127.0.0.1:0\nsite:\n  title: New Club Title\n",
    );
    wait_for("the reload", Duration::from_secs(5), || {
        d.log().contains("config reloaded")
    });
    wait_for(
        "the new title on the home page",
        Duration::from_secs(5),
        || {
            d.get("/")
                .text()
                .unwrap()
                .contains("<h1>New Club Title</h1>")
        },
    );
    let home = d.get("/").text().unwrap();
    assert!(home.contains("<title>New Club Title</title>"), "{home}");
    assert!(!home.contains("Old Club Title"), "{home}");
    // The feeds and the pages agree.
    let feed = feed_rs::parser::parse(d.get("/atom.xml").bytes().unwrap().as_ref()).unwrap();
    assert_eq!(feed.title.unwrap().content, "New Club Title");
    let missing = d.get("/no-such-page").text().unwrap();
    assert!(missing.contains("New Club Title"), "{missing}");
}
