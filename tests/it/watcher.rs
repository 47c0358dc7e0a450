//! The daemon's folder watcher follows exactly the config file (also when it
//! is named without a folder) and ignores everything else beside it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Site, repo};

struct Daemon {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// `bookweek --config bookweek.yaml run`, from the site's folder.
    fn start(site: &Site) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bookweek"))
            .current_dir(site.path())
            .args([
                "--config",
                "bookweek.yaml",
                "--now",
                "2022-12-10T10:00:00+01:00",
                "run",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("bookweek: listening on "), "{line:?}");
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn count(&self, what: &str) -> usize {
        self.log().matches(what).count()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(title: &str) -> String {
    format!(
        "site:\n  title: {title}\nserver:\n  listen: 127.0.0.1:0\nmail:\n  url: file://outbox\n"
    )
}

#[test]
fn a_config_named_without_a_folder_is_followed_and_a_log_beside_it_is_not() {
    let site = Site::with_content(&repo().join("content"), "");
    std::fs::remove_dir_all(site.path().join("config")).unwrap();
    site.write("bookweek.yaml", config("First Title"));
    let d = Daemon::start(&site);
    std::thread::sleep(Duration::from_millis(500));
    let reloads_at_start = d.count("files changed");

    // A log file written beside the config, line after line, for 2 s.
    let started = Instant::now();
    let mut log = String::new();
    while started.elapsed() < Duration::from_secs(2) {
        log.push_str("a log line\n");
        site.write("cron.log", &log);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(d.count("files changed"), reloads_at_start, "{}", d.log());

    // An edit of the config file itself is seen and applied.
    site.write("bookweek.yaml", config("Second Title"));
    let started = Instant::now();
    while d.count("config reloaded") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "config edit not seen: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    while !std::fs::read_to_string(site.path().join("public/feed.xml"))
        .unwrap_or_default()
        .contains("Second Title")
    {
        assert!(started.elapsed() < Duration::from_secs(10), "{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}
