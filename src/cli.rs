//! Command-line definitions (clap). No IO here.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::{Parser, Subcommand};

/// What each exit code means (every command): `--help` and the man page.
pub const EXIT_CODES: [(u8, &str); 5] = [
    (0, "all good"),
    (
        1,
        "some input had errors (reported as path:line:col) and was left out, or some deliveries failed; the rest was done",
    ),
    (
        2,
        "nothing was done: the config or a template is broken, or a folder cannot be read",
    ),
    (
        3,
        "another bookweek run holds the lock; this one did nothing",
    ),
    (
        75,
        "the mail server was unreachable; deliveries wait for the next run (EX_TEMPFAIL)",
    ),
];

/// The environment variables bookweek reads: `--help` and the man page.
pub const ENVIRONMENT: [(&str, &str); 4] = [
    (
        "RUST_LOG",
        "which log lines reach stderr (default: warn,bookweek=info), e.g. RUST_LOG=warn,bookweek=debug",
    ),
    (
        "NO_COLOR",
        "when set and not empty, logs carry no colour codes (without it, only a terminal gets colours)",
    ),
    (
        "BOOKWEEK_MAIL_URL",
        "the mail server, overriding mail.url (smtp://user:pass@host:587?tls=required)",
    ),
    (
        "BOOKWEEK_SECRET",
        "the key of subscriber links (at least 16 bytes); without it one is generated and kept in the state database",
    ),
];

fn after_long_help() -> String {
    let mut help = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_CODES {
        help.push_str(&format!("  {code:<3} {meaning}\n"));
    }
    help.push_str("\nEnvironment:\n");
    for (name, meaning) in ENVIRONMENT {
        help.push_str(&format!("  {name:<18} {meaning}\n"));
    }
    help
}

#[derive(Debug, Parser)]
#[command(
    name = "bookweek",
    version,
    about = "Publishes Book of the Week events as RSS, Atom and JSON feeds and a weekly email digest",
    after_help = "Exit codes: 0 all good, 1 some input or delivery failed, 2 nothing done, 3 another run holds the lock, 75 mail server unreachable (details: --help)",
    after_long_help = after_long_help()
)]
pub struct Cli {
    /// Config file; without it, config/bookweek.yaml is used if present, else built-in defaults
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The time to act at (default: the clock): RFC 3339 (2026-11-29T09:00:00+01:00), a local date-time in site.timezone (2026-11-29T09:00:00, 2026-11-29 09:00) or a date (2026-11-29: local midnight)
    #[arg(long, global = true, value_name = "TIME", value_parser = parse_now)]
    pub now: Option<NowArg>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config, templates, books and people; print every problem as path:line:col
    Check,
    /// Write feed.xml (RSS), atom.xml (Atom) and feed.json (JSON Feed) for what is due now
    Build {
        /// Output folder (default: paths.output from the config)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Run as a daemon: serve the feeds and the subscribe/unsubscribe pages over HTTP, rebuild at every window start and end and on file changes, send the digest on schedule
    Run,
    /// Do everything due at --now and exit (for cron): rebuild the feeds if anything changed, create and send the due digest, resume unfinished deliveries
    Once {
        /// Output folder for the feeds (default: paths.output from the config)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Show a book's best author answers, and with --explain why each thread scored as it did
    Answers {
        /// The book's slug (its file name without .md)
        slug: String,
        /// How many answers to pick (default: digest.answers from the config)
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Also list every thread with its score and the signals behind it
        #[arg(long)]
        explain: bool,
        /// Output format; json is stable, for scripts (see README)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The weekly email digest
    Digest {
        #[command(subcommand)]
        command: DigestCommand,
    },
    /// Manage the newsletter's subscribers (kept in the state database)
    Subscribers {
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// DKIM signing keys for the digest mail
    Dkim {
        #[command(subcommand)]
        command: DkimCommand,
    },
    /// Print a shell completion script to standard output (e.g. `bookweek completions bash > /etc/bash_completion.d/bookweek`)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page bookweek(1) to standard output, or write one page per command into a folder
    Man {
        /// Folder for bookweek.1 and one page per subcommand (bookweek-digest-send.1, …), e.g. /usr/local/share/man/man1
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// The week's Slack threads in each book's `archive:`
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Import the threads of closed books from a Slack workspace export into their `archive:`, keeping every other byte of each file
    Import {
        /// The export: the .zip Slack made, or the folder it unpacks to
        export: PathBuf,
        /// The channel to read (default: archive.channel from the config)
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        /// Only this book (its slug; repeat or separate with commas); default: every closed book with no archive
        #[arg(long = "book", value_name = "SLUG", value_delimiter = ',')]
        books: Vec<String>,
        /// Overwrite existing archives (without --book: every closed book's the export has threads for)
        #[arg(long)]
        replace: bool,
        /// Print the archives' YAML instead of writing them
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Write a new DKIM private key (file mode 0600) and print the DNS records to publish (DKIM, SPF, DMARC) and the config lines to add
    Keygen {
        /// The name the public key is published under (SELECTOR._domainkey.DOMAIN); use a new one for each key, e.g. bookweek2026
        #[arg(long)]
        selector: String,
        /// rsa (2048 bits) is verified by every receiver; ed25519 (RFC 8463) is not yet verified by all
        #[arg(long, value_enum, default_value_t = DkimAlgorithm::Rsa)]
        algorithm: DkimAlgorithm,
        /// Where to write the private key (default: dkim/SELECTOR.key)
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// The signing domain (default: mail.dkim.domain from the config, else the domain of mail.from)
        #[arg(long)]
        domain: Option<String>,
        /// Replace an existing key file (mail signed with the old key fails DKIM once its DNS record changes)
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Create the digest due at --now (if any), then deliver every pending delivery, including ones left by an interrupted run
    Send {
        /// Print the plan (digest, tick, items, recipients, subject, body hash); send and record nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Render a digest for a sample subscriber into .eml, .html and .txt files: the one due at --now, or, when nothing is new then, the last one that had news; records nothing
    Preview {
        /// Folder for the files (default: preview)
        #[arg(long, value_name = "DIR", default_value = "preview")]
        out: PathBuf,
        /// Preview the digest of this schedule tick (the last tick at or before it) as a schedule that ran at every tick would have sent it
        #[arg(long, value_name = "TIME", value_parser = parse_now, conflicts_with = "book")]
        tick: Option<NowArg>,
        /// Preview the digest that carried this book's recap (the first tick after its window closed), or its opening if it has no archive yet
        #[arg(long, value_name = "SLUG")]
        book: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Add a subscriber (active: the operator vouches for them; --pending sends a confirmation instead)
    Add {
        /// The subscriber's email address
        email: String,
        /// The subscriber's name, shown in the To: header of their mail
        #[arg(long)]
        name: Option<String>,
        /// Add as pending, to be confirmed by the subscriber
        #[arg(long)]
        pending: bool,
    },
    /// Unsubscribe an address; the row is kept so a later import cannot resubscribe it
    Remove {
        /// The address to unsubscribe
        email: String,
    },
    /// One line per subscriber: email, name, status, since
    List {
        /// Only subscribers with this status
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
    },
    /// Import a CSV file with the header `email,name`; bad rows are reported with their line, the rest imported
    Import {
        /// The CSV file (header `email,name`)
        file: PathBuf,
        /// Import as pending instead of active
        #[arg(long)]
        pending: bool,
    },
    /// Write all subscribers as CSV to standard output
    Export,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Pending,
    Active,
    Unsubscribed,
    Bounced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `--now` as typed. A local time is read in `site.timezone`, which is known
/// only once the config is loaded: commands resolve it then, with [`Now::at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NowArg {
    /// RFC 3339: an instant, with its offset.
    Instant(DateTime<FixedOffset>),
    /// A local date-time (a bare date is its midnight).
    Local(NaiveDateTime),
}

/// The moment a command acts at: `--now` if given, else the clock reading
/// that main.rs (the only reader of the clock) took at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub arg: Option<NowArg>,
    pub clock: DateTime<Utc>,
}

impl Now {
    /// The instant to act at, a local `--now` read in `tz`. A local time
    /// that the clocks skip (spring forward) is taken an hour later, an
    /// ambiguous one (fall back) at its first occurrence, as book times are.
    pub fn at(self, tz: Tz) -> DateTime<FixedOffset> {
        self.arg
            .map_or_else(|| self.clock.fixed_offset(), |arg| arg.at(tz))
    }
}

impl NowArg {
    /// The instant meant, a local time read in `tz` (see [`Now::at`]).
    pub fn at(self, tz: Tz) -> DateTime<FixedOffset> {
        match self {
            NowArg::Instant(t) => t,
            NowArg::Local(local) => tz
                .from_local_datetime(&local)
                .earliest()
                .or_else(|| {
                    tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                        .earliest()
                })
                .map_or_else(
                    || Utc.from_utc_datetime(&local).fixed_offset(),
                    |t| t.fixed_offset(),
                ),
        }
    }
}

const NOW_FORMS: &str = "expected RFC 3339 (2026-11-29T09:00:00+01:00, 2026-11-29T08:00:00Z), \
    a local date-time read in site.timezone (2026-11-29T09:00:00, 2026-11-29 09:00) \
    or a date (2026-11-29, its local midnight)";

fn parse_now(s: &str) -> Result<NowArg, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(NowArg::Instant(t));
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .map(NowArg::Local)
    .ok_or_else(|| NOW_FORMS.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin};

    fn now(arg: &str) -> Now {
        Now {
            arg: Some(parse_now(arg).unwrap()),
            clock: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn now_accepts_rfc3339_local_date_times_and_dates() {
        for (arg, berlin) in [
            ("2026-11-29T09:00:00+01:00", "2026-11-29T09:00:00+01:00"),
            ("2026-11-29T08:00:00Z", "2026-11-29T08:00:00+00:00"),
            ("2026-11-29T09:00:00", "2026-11-29T09:00:00+01:00"),
            ("2026-11-29 09:00:00", "2026-11-29T09:00:00+01:00"),
            ("2026-11-29T09:00", "2026-11-29T09:00:00+01:00"),
            ("2026-11-29 09:00", "2026-11-29T09:00:00+01:00"),
            ("2026-11-29", "2026-11-29T00:00:00+01:00"),
            ("2026-07-01", "2026-07-01T00:00:00+02:00"),
        ] {
            assert_eq!(now(arg).at(Berlin).to_rfc3339(), berlin, "{arg}");
        }
        // A local time follows the site's zone; an instant does not.
        assert_eq!(
            now("2026-11-29 09:00").at(New_York).to_rfc3339(),
            "2026-11-29T09:00:00-05:00"
        );
        assert_eq!(
            now("2026-11-29T09:00:00+01:00").at(New_York).to_rfc3339(),
            "2026-11-29T09:00:00+01:00"
        );
    }

    #[test]
    fn now_in_a_clock_change_is_read_as_book_times_are() {
        // 02:30 does not exist on 2026-03-29 in Berlin; 02:30 on 2026-10-25 twice.
        assert_eq!(
            now("2026-03-29 02:30").at(Berlin).to_rfc3339(),
            "2026-03-29T03:30:00+02:00"
        );
        assert_eq!(
            now("2026-10-25 02:30").at(Berlin).to_rfc3339(),
            "2026-10-25T02:30:00+02:00"
        );
    }

    #[test]
    fn without_now_the_clock_reading_is_used() {
        let clock = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let now = Now { arg: None, clock };
        assert_eq!(now.at(Berlin), clock.fixed_offset());
    }

    #[test]
    fn a_bad_now_lists_the_accepted_forms() {
        for bad in ["yesterday", "2026-13-01", "29.11.2026", "2026-11-29T25:00"] {
            assert_eq!(parse_now(bad), Err(NOW_FORMS.to_string()), "{bad}");
        }
    }

    /// Every argument and option, of every subcommand, says what it is for.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "bookweek", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
