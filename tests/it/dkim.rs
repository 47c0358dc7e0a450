//! `bookweek dkim keygen`: the key it writes signs the digest, and the DNS
//! record it prints verifies the signature in an independent implementation
//! (dkimpy), for both algorithms.

use std::os::unix::fs::PermissionsExt as _;

use mail_parser::MessageParser;

use crate::support::{Site, SmtpServer, assert_succeeds, repo};

/// The value of the TXT record printed for `name`: its quoted strings joined,
/// as a resolver hands them to a verifier.
fn printed_record(stdout: &str, name: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name}. TXT ")))
        .unwrap_or_else(|| panic!("no TXT record for {name} in\n{stdout}"));
    line.split('"').skip(1).step_by(2).collect()
}

fn keygen_sign_and_verify(algorithm: &str) {
    let server = SmtpServer::start(&[]);
    let site = Site::with_content(
        &repo().join("content"),
        &format!(
            "mail:\n  url: {}\n  from: \"Book of the Week <digest@news.example.org>\"\n",
            server.url()
        ),
    );
    let run = site.run(&[
        "dkim",
        "keygen",
        "--selector",
        "bw2026",
        "--algorithm",
        algorithm,
        "--domain",
        "example.org",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let key = site.path().join("dkim/bw2026.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600,
        "the private key is readable by others"
    );
    let record = printed_record(&run.stdout, "bw2026._domainkey.example.org");
    assert!(
        record.starts_with(&format!("v=DKIM1; k={algorithm}; p=")),
        "{record}"
    );
    for line in [
        "example.org. TXT \"v=spf1 include:spf.your-relay.example ~all\"",
        "_dmarc.example.org. TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@example.org\"",
        "  dkim:",
        "    domain: example.org",
        "    selector: bw2026",
        "    private_key: dkim/bw2026.key",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "{line:?} missing in\n{}",
            run.stdout
        );
    }

    // A second run keeps the key: it is a secret whose public half is in DNS.
    let before = std::fs::read(&key).unwrap();
    let again = site.run(&[
        "dkim",
        "keygen",
        "--selector",
        "bw2026",
        "--algorithm",
        algorithm,
    ]);
    assert_eq!(again.code, 2, "{}", again.stdout);
    assert!(
        again
            .stderr
            .starts_with("error: dkim/bw2026.key already exists; nothing was written."),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // The config lines it printed, as the operator pastes them.
    let dkim_lines: String = run
        .stdout
        .lines()
        .skip_while(|l| *l != "  dkim:")
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        site.path().join("config/bookweek.yaml"),
        format!(
            "mail:\n  url: {}\n  from: \"Book of the Week <digest@news.example.org>\"\n{dkim_lines}",
            server.url()
        ),
    )
    .unwrap();
    let check = site.run(&["check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.ends_with(": 0 errors, 0 warnings\n"),
        "{}",
        check.stdout
    );

    let add = site.run(&["subscribers", "add", "ann@example.net"]);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let send = site.run(&["--now", "2022-12-12T09:01:00+01:00", "digest", "send"]);
    assert_eq!(send.code, 0, "{}{}", send.stdout, send.stderr);
    let raw = server.messages();
    assert_eq!(raw.len(), 1);
    let m = MessageParser::default().parse(&raw[0]).unwrap();
    let sig = m.header_raw("DKIM-Signature").unwrap_or_default();
    assert!(sig.contains(&format!("a={algorithm}-sha256")), "{sig}");
    assert!(sig.contains("s=bw2026"), "{sig}");

    // dkimpy looks the key up under the name the signature points at and
    // finds the record exactly as printed.
    let file = site.path().join("received.eml");
    std::fs::write(&file, &raw[0]).unwrap();
    assert_succeeds(
        std::process::Command::new("python3")
            .arg(repo().join("tests/dkim/verify.py"))
            .arg(&file)
            .args(["--record", "bw2026._domainkey.example.org", &record]),
    );
    // The check can fail: under another name, or with another key, it does.
    let other = site.run(&[
        "dkim",
        "keygen",
        "--selector",
        "other",
        "--algorithm",
        algorithm,
    ]);
    let other_record = printed_record(&other.stdout, "other._domainkey.example.org");
    for (name, record) in [
        ("bw2025._domainkey.example.org", record.as_str()),
        ("bw2026._domainkey.example.org", other_record.as_str()),
    ] {
        let out = std::process::Command::new("python3")
            .arg(repo().join("tests/dkim/verify.py"))
            .arg(&file)
            .args(["--record", name, record])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
    }
}

#[test]
fn an_ed25519_key_from_keygen_signs_and_its_record_verifies() {
    keygen_sign_and_verify("ed25519");
}

#[test]
fn an_rsa_key_from_keygen_signs_and_its_record_verifies() {
    keygen_sign_and_verify("rsa");
}

#[test]
fn force_replaces_a_key_and_keeps_it_private() {
    let site = Site::empty("");
    site.write("keys/k", "old");
    let run = site.run(&[
        "dkim",
        "keygen",
        "--selector",
        "s",
        "--algorithm",
        "ed25519",
        "--out",
        "keys/k",
        "--force",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = site.read("keys/k");
    assert_ne!(key, "old");
    assert_eq!(key.trim().len(), 44, "{key}"); // base64 of 32 bytes
    let mode = std::fs::metadata(site.path().join("keys/k"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The domain comes from mail.from when neither --domain nor mail.dkim says.
    assert!(
        run.stdout
            .contains("\ns._domainkey.example.org. TXT \"v=DKIM1; k=ed25519; p="),
        "{}",
        run.stdout
    );
    let bad = site.run(&["dkim", "keygen", "--selector", "a b"]);
    assert_eq!(bad.code, 2);
    assert_eq!(
        bad.stderr,
        "error: --selector must be a DNS name made of letters, digits, `-` and `_` (got `a b`)\n"
    );
}
