//! The command line around the work: `--now` forms, `--help`, shell
//! completions, man pages, log output, and the confirmation mail's headers.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Site, repo};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bookweek")
}

/// The shipped example (one book, 2022-12-05 00:00:00 – 2022-12-09 23:59:59
/// local time) in a site whose zone is `tz`.
fn example_in(tz: &str) -> Site {
    Site::with_content(
        &repo().join("content"),
        &format!("site:\n  timezone: {tz}\n"),
    )
}

fn items_at(site: &Site, now: &str) -> usize {
    let (run, feeds) = site.build(now);
    assert_eq!(run.code, 0, "--now {now}: {}", run.stderr);
    feeds.atom.entries.len()
}

#[test]
fn now_takes_local_times_in_the_site_timezone_dates_and_rfc3339() {
    for tz in ["Europe/Berlin", "America/New_York"] {
        let site = example_in(tz);
        // The last local second before the window opens, in both spellings,
        // then its first (a bare date is local midnight).
        assert_eq!(items_at(&site, "2022-12-04T23:59:59"), 0, "{tz}");
        assert_eq!(items_at(&site, "2022-12-04 23:59"), 0, "{tz}");
        assert_eq!(items_at(&site, "2022-12-05"), 1, "{tz}");
        assert_eq!(items_at(&site, "2022-12-05 00:00"), 1, "{tz}");
    }
    // An offset is an instant, whatever the site's zone: 00:30 in Berlin is
    // still 18:30 the day before in New York.
    assert_eq!(
        items_at(&example_in("Europe/Berlin"), "2022-12-05T00:30:00+01:00"),
        1
    );
    assert_eq!(
        items_at(&example_in("America/New_York"), "2022-12-05T00:30:00+01:00"),
        0
    );
    assert_eq!(
        items_at(&example_in("America/New_York"), "2022-12-05T05:00:00Z"),
        1
    );
}

#[test]
fn a_bad_now_lists_the_accepted_forms() {
    let site = Site::empty("");
    let run = site.run(&["--now", "yesterday", "build"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(
            "error: invalid value 'yesterday' for '--now <TIME>': expected RFC 3339 (2026-11-29T09:00:00+01:00, 2026-11-29T08:00:00Z), \
             a local date-time read in site.timezone (2026-11-29T09:00:00, 2026-11-29 09:00) or a date (2026-11-29, its local midnight)\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!site.path().join("public").exists());
}

#[test]
fn help_lists_every_exit_code() {
    let run = Site::empty("").run(&["--help"]);
    assert_eq!(run.code, 0);
    let codes: Vec<&str> = run
        .stdout
        .split("Exit codes:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no exit codes in {}", run.stdout))
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "75"], "{}", run.stdout);
    let add = Site::empty("")
        .run(&["subscribers", "add", "--help"])
        .stdout;
    assert!(
        add.contains("<EMAIL>  The subscriber's email address"),
        "{add}"
    );
}

#[test]
fn bash_completion_completes_subcommands_and_options() {
    let site = Site::empty("");
    let run = site.run(&["completions", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    site.write("bookweek.bash", &run.stdout);
    // Ask bash itself, as it would when Tab is pressed after `bookweek digest `.
    let complete = |words: &str| -> Vec<String> {
        let script = format!(
            "source ./bookweek.bash; COMP_WORDS=({words} ''); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
             _bookweek bookweek '' \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = Command::new("bash")
            .args(["-c", &script])
            .current_dir(site.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    };
    let top = complete("bookweek");
    for sub in [
        "check",
        "build",
        "run",
        "once",
        "answers",
        "digest",
        "subscribers",
        "completions",
        "man",
    ] {
        assert!(top.iter().any(|w| w == sub), "{sub} not in {top:?}");
    }
    let digest = complete("bookweek digest");
    assert!(
        digest.iter().any(|w| w == "send") && digest.iter().any(|w| w == "preview"),
        "{digest:?}"
    );
    let send = complete("bookweek digest send");
    assert!(send.iter().any(|w| w == "--dry-run"), "{send:?}");

    let run = site.run(&["completions", "tcsh"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{}",
        run.stderr
    );
}

/// groff's own reading of a page: no warnings, and the text as a reader sees it.
fn groff(page: &[u8]) -> String {
    let mut child = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff (apt-get install groff-base)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn man_pages_render_with_groff() {
    let site = Site::empty("");
    let run = site.run(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = groff(run.stdout.as_bytes());
    for needle in [
        "NAME",
        "SYNOPSIS",
        "bookweek-digest(1)",
        "EXIT STATUS",
        "ENVIRONMENT",
        "NO_COLOR",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    assert!(!text.contains("bookweek-help(1)"), "{text}");
    let status: String = text
        .split("EXIT STATUS")
        .nth(1)
        .unwrap()
        .split("ENVIRONMENT")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .next()
                .filter(|w| w.parse::<u8>().is_ok())
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(status, "0 1 2 3 75", "{text}");

    let run = site.run(&["man", "--out", "man1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut pages: Vec<String> = std::fs::read_dir(site.path().join("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    // One page per command: bookweek, each subcommand and theirs, not `help`.
    fn commands(cmd: &clap::Command) -> usize {
        1 + cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .map(commands)
            .sum::<usize>()
    }
    let expected = commands(&<bookweek::cli::Cli as clap::CommandFactory>::command());
    assert!(expected >= 17, "{expected}");
    assert_eq!(pages.len(), expected, "{pages:?}");
    for page in &pages {
        let text = groff(&std::fs::read(site.path().join("man1").join(page)).unwrap());
        assert!(text.contains("NAME"), "{page}");
    }
    let send = groff(&std::fs::read(site.path().join("man1/bookweek-digest-send.1")).unwrap());
    assert!(send.contains("--dry-run"), "{send}");
    assert_eq!(
        run.stdout.lines().count(),
        expected,
        "one line per written page"
    );
}

/// A site with the shipped example, one subscriber and an outbox, whose
/// 2022-12-12 digest tick is two days late at 2022-12-14 12:34:56.
fn late_site() -> Site {
    let site = Site::with_content(&repo().join("content"), "mail:\n  url: file://outbox\n");
    let run = site.run(&["subscribers", "add", "ann@example.net"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    site
}

#[test]
fn logs_to_a_file_are_plain_text_with_rounded_durations() {
    let site = late_site();
    let log = site.path().join("bookweek.log");
    let status = Command::new(bin())
        .current_dir(site.path())
        .args(["--now", "2022-12-14 12:34:56", "digest", "send"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("\x1b["), "colour codes in a file: {text:?}");
    // timestamp, two spaces, level, message, fields.
    let line = text
        .lines()
        .find(|l| l.contains("digest tick is older than digest.max_delay"))
        .unwrap_or_else(|| panic!("{text}"));
    let (stamp, rest) = line.split_once("  ").unwrap();
    assert!(
        stamp.parse::<chrono::DateTime<chrono::Utc>>().is_ok(),
        "{line}"
    );
    assert!(rest.starts_with("WARN digest tick"), "{line}");
    assert!(
        rest.ends_with(" tick=2022-12-12T09:00:00+01:00 late_by=2days 3h 35m"),
        "{line}"
    );
}

/// Runs `args` with a terminal on stderr (util-linux `script` gives it one)
/// and returns what the terminal showed.
fn on_a_terminal(site: &Site, args: &str, no_color: bool) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("'{}' {args}", bin()), "/dev/null"])
        .current_dir(site.path())
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().expect("script (util-linux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_gets_colours_unless_no_color_is_set() {
    let site = late_site();
    let coloured = on_a_terminal(&site, "--now '2022-12-14 12:34:56' digest send", false);
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    assert!(coloured.contains("WARN"), "{coloured:?}");
    let plain = on_a_terminal(&site, "--now '2022-12-21 12:34:56' digest send", true);
    assert!(plain.contains("WARN"), "{plain:?}");
    assert!(!plain.contains("\x1b["), "{plain:?}");
}

#[test]
fn the_daemon_logs_its_own_lines_and_no_library_chatter() {
    let site = Site::with_content(
        &repo().join("content"),
        "server:\n  listen: 127.0.0.1:0\nmail:\n  url: file://outbox\n",
    );
    let log = site.path().join("daemon.log");
    let mut child = Command::new(bin())
        .current_dir(site.path())
        .args(["--now", "2022-12-07 12:00", "run"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("INFO listening") {
            break text;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the daemon did not start: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("INFO digest scheduled"), "{text}");
    for chatter in ["Uninited", "Job creator created"] {
        assert!(!text.contains(chatter), "{chatter} in {text}");
    }
    assert!(!text.contains("\x1b["), "{text:?}");
}

#[test]
fn confirmation_mail_has_a_message_id_on_the_from_domain() {
    let site = Site::empty("mail:\n  from: \"Book of the Week <digest@example.org>\"\n");
    let loaded = bookweek::config::load(&site.path().join("config/bookweek.yaml"), true);
    assert!(!loaded.has_errors(), "{:?}", loaded.problems);
    let (templates, problems) =
        bookweek::templates::Templates::load(&site.path().join("templates"));
    assert!(problems.is_empty(), "{problems:?}");
    let id = |email: &str, at: &str| {
        let now = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        let message = bookweek::mail::confirmation(
            &loaded.config,
            &templates,
            email,
            &format!("https://example.org/confirm/{email}"),
            now,
        )
        .unwrap();
        let raw = message.formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        parsed
            .message_id()
            .map(String::from)
            .unwrap_or_else(|| panic!("no Message-ID:\n{}", String::from_utf8_lossy(&raw)))
    };
    let first = id("new@example.net", "2026-11-29T09:00:00+01:00");
    assert!(
        first.starts_with("bookweek.confirm.") && first.ends_with("@example.org"),
        "{first}"
    );
    // A second request, or another address, is another message.
    assert_ne!(first, id("new@example.net", "2026-11-29T09:05:00+01:00"));
    assert_ne!(first, id("other@example.net", "2026-11-29T09:00:00+01:00"));
}
