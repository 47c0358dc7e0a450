//! The config as `check` and the commands see it: unknown keys are errors,
//! every problem names where its value came from (file:line:col or the
//! environment variable), and `check` tries the mail URL, the DKIM key and
//! every template with the code that will use them.

use std::process::Command;

use crate::support::{Run, Site, repo};

/// Runs the binary in `site` with extra environment variables.
fn run_with_env(site: &Site, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bookweek"));
    cmd.current_dir(site.path()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

fn shipped(config: &str) -> Site {
    Site::with_content(&repo().join("content"), config)
}

const SUMMARY_ONE_BOOK: &str = "checked 5 files (1 book ok, 0 left out)";

#[test]
fn a_typo_in_a_config_key_stops_check_and_build() {
    let site = shipped("site:\n  title: Reading Club\ntimzone: UTC\nfeeds:\n  limt: 10\n");
    let run = site.run(&["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "config/bookweek.yaml:3:1: error: unknown key `timzone` at the top level; did you mean `site.timezone`?\n\
             config/bookweek.yaml:5:3: error: unknown key `limt`; did you mean `limit`?\n\
             {SUMMARY_ONE_BOOK}: 2 errors, 0 warnings\n"
        )
    );
    let run = site.run(&["build", "--now", "2023-01-01T00:00:00Z"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "config/bookweek.yaml:3:1: error: unknown key `timzone` at the top level; did you mean `site.timezone`?\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!site.path().join("public").exists());
}

#[test]
fn a_bad_mail_url_in_the_environment_is_named_as_such_without_its_password() {
    let site = shipped("");
    let run = run_with_env(
        &site,
        &[
            (
                "BOOKWEEK_MAIL_URL",
                "smtp://me:hunter2@relay.example:587?tls=maybe",
            ),
            ("BOOKWEEK_SECRET", "short"),
        ],
        &["check"],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "BOOKWEEK_MAIL_URL (environment): error: value is not a usable SMTP URL: has `tls=maybe`; expected `tls=required` or `tls=opportunistic`\n\
             BOOKWEEK_SECRET (environment): error: shorter than 16 bytes; use a long random value (e.g. `openssl rand -hex 32`)\n\
             {SUMMARY_ONE_BOOK}: 2 errors, 0 warnings\n"
        )
    );
    assert!(!run.stdout.contains("hunter2"));

    // The same URL in the file is reported at its line.
    let site =
        shipped("mail:\n  from: digest@example.org\n  url: smtp://relay.example?tls=maybe\n");
    let run = site.run(&["check"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stdout.lines().next().unwrap(),
        "config/bookweek.yaml:3:3: error: `mail.url` is not a usable SMTP URL: has `tls=maybe`; expected `tls=required` or `tls=opportunistic`"
    );
    // A good URL in the environment wins over a bad one in the file.
    let run = run_with_env(
        &site,
        &[("BOOKWEEK_MAIL_URL", "smtps://me:hunter2@relay.example")],
        &["check"],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
}

/// An Ed25519 key as `openssl genpkey -algorithm ed25519` writes it: PKCS#8,
/// which lettre cannot sign with.
const PKCS8_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKrahg5/e38oPY2d46eb7j9XyWkZQc3iGQdjmR9Ixm6i
-----END PRIVATE KEY-----
";

const DKIM: &str =
    "mail:\n  from: digest@example.org\n  dkim:\n    domain: example.org\n    selector: s1\n";

#[test]
fn check_reads_the_dkim_key_as_the_sender_does() {
    let site = shipped(&format!("{DKIM}    private_key: keys/missing.key\n"));
    let run = site.run(&["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "config/bookweek.yaml:6:5: error: cannot read DKIM key keys/missing.key: No such file or directory (os error 2)\n\
             {SUMMARY_ONE_BOOK}: 1 error, 0 warnings\n"
        )
    );

    let site = shipped(&format!("{DKIM}    private_key: pkcs8.pem\n"));
    site.write("pkcs8.pem", PKCS8_KEY);
    let run = site.run(&["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.lines().next().unwrap(),
        "config/bookweek.yaml:6:5: error: cannot read DKIM key pkcs8.pem: not a key bookweek can sign with: use an RSA key in PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`) or an Ed25519 key as the base64 of its 32 bytes; `bookweek dkim keygen` writes either"
    );

    // The same key as lettre reads it (the base64 of its 32 bytes) is fine.
    site.write(
        "pkcs8.pem",
        "qtqGDn97fyg9jZ3jp5vuP1fJaRlBzeIZB2OZH0jGbqI=\n",
    );
    let run = site.run(&["check"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!("{SUMMARY_ONE_BOOK}: 0 errors, 0 warnings\n")
    );
}

#[test]
fn check_renders_every_template_and_names_a_misspelt_variable() {
    let site = shipped("");
    // Compiles, but fails on the first recap a reader would get.
    site.write(
        "templates/digest.html.j2",
        "<!DOCTYPE html>\n{% for book in closed %}\n<h2>{{ book.titel }}</h2>\n{% endfor %}\n",
    );
    site.write("templates/opening.html.j2", "<p>{{ title }}</p>\n");
    let run = site.run(&["check"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "templates/digest.html.j2:3:1: error: template failed: undefined value\n\
             {SUMMARY_ONE_BOOK}: 1 error, 0 warnings\n"
        )
    );
    // Each failing template is named, and `build` stops on the one it uses.
    site.write(
        "templates/recap.html.j2",
        "{% for a in answers %}{{ a.qestion_html }}{% endfor %}",
    );
    let run = site.run(&["check"]);
    assert!(
        run.stdout
            .starts_with("templates/recap.html.j2:1:1: error: template failed: undefined value\n"),
        "{}",
        run.stdout
    );
    let run = site.run(&["build", "--now", "2023-01-01T00:00:00Z"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("templates/recap.html.j2:1:1:"),
        "{}",
        run.stderr
    );
}
