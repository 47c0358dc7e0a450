//! `bookweek dkim keygen`: write a new DKIM key (a secret: mode 0600, never
//! over an existing key unless asked) and print the DNS records and config
//! lines that go with it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{DkimAlgorithm, DkimCommand};
use crate::dkim::{self, Algorithm, NewKey};

use super::{EXIT_FATAL, checked_config, exit};

pub fn run(config_path: Option<&Path>, command: DkimCommand) -> ExitCode {
    let DkimCommand::Keygen {
        selector,
        algorithm,
        out,
        domain,
        force,
    } = command;
    let config = match checked_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let domain = domain
        .or_else(|| {
            config
                .settings
                .mail
                .dkim
                .as_ref()
                .map(|d| d.domain.clone())
                .filter(|d| !d.is_empty())
        })
        .unwrap_or_else(|| config.from.email.domain().to_string())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    for (what, value) in [("--selector", &selector), ("--domain", &domain)] {
        if !crate::config::is_dns_name(value) {
            eprintln!(
                "error: {what} must be a DNS name made of letters, digits, `-` and `_` (got `{value}`)"
            );
            return exit(EXIT_FATAL);
        }
    }
    let out = out.unwrap_or_else(|| PathBuf::from(format!("dkim/{selector}.key")));
    if out.exists() && !force {
        eprintln!(
            "error: {} already exists; nothing was written. Pass --force to replace it \
             (mail signed with the old key fails DKIM once its DNS record is gone), \
             or pick a new --selector for a new key",
            out.display()
        );
        return exit(EXIT_FATAL);
    }
    let algorithm = match algorithm {
        DkimAlgorithm::Rsa => Algorithm::Rsa,
        DkimAlgorithm::Ed25519 => Algorithm::Ed25519,
    };
    match keygen(&out, algorithm, force) {
        Ok(key) => {
            print_instructions(&out, &key, &selector, &domain);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            exit(EXIT_FATAL)
        }
    }
}

fn keygen(out: &Path, algorithm: Algorithm, force: bool) -> anyhow::Result<NewKey> {
    let key = dkim::generate(algorithm)?;
    write_secret(out, key.private.as_bytes(), force)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(key)
}

/// Writes a secret file readable by its owner only. It is written whole to a
/// temporary file beside it and then moved in place, so no one ever reads a
/// half-written key; without `force` the move fails if the file appeared.
fn write_secret(path: &Path, bytes: &[u8], force: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix(".bookweek-key")
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    if force {
        file.persist(path).map_err(|e| e.error)?;
    } else {
        file.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}

fn print_instructions(out: &Path, key: &NewKey, selector: &str, domain: &str) {
    let kind = match key.algorithm {
        Algorithm::Rsa => format!("an RSA-{} private key", dkim::RSA_BITS),
        Algorithm::Ed25519 => "an Ed25519 private key".to_string(),
    };
    let path = out.display();
    println!("wrote {path}: {kind} (mode 0600: keep it secret, and back it up)");
    println!();
    println!("Publish these DNS records for {domain}:");
    println!();
    println!(
        "1. DKIM: the public key. Use a new selector for each new key, and keep the old record until no mail signed with it is in flight."
    );
    println!();
    println!(
        "{}",
        dkim::zone_line(&dkim::record_name(selector, domain), &key.record())
    );
    println!();
    println!(
        "2. SPF, unless {domain} has one already (one SPF record per name: add your relay to it). Your relay tells you what to include:"
    );
    println!();
    println!(
        "{}",
        dkim::zone_line(domain, "v=spf1 include:spf.your-relay.example ~all")
    );
    println!();
    println!(
        "3. DMARC: start with p=none and read the reports, then move to p=quarantine and p=reject once only your own mail shows up:"
    );
    println!();
    println!(
        "{}",
        dkim::zone_line(
            &format!("_dmarc.{domain}"),
            &format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}")
        )
    );
    println!();
    println!("Then add to the config file, under `mail:`:");
    println!();
    println!("  dkim:");
    println!("    domain: {domain}");
    println!("    selector: {selector}");
    println!("    private_key: {path}");
    println!();
    println!(
        "and run `bookweek check`: it loads the key the way the sender does. The From address must be at {domain} or below it, or DMARC fails."
    );
}
