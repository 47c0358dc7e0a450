//! Command-line definitions (clap). No IO here.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bookweek",
    version,
    about = "Publishes Book of the Week events as RSS, Atom and JSON feeds",
    long_about = "Publishes Book of the Week events as RSS, Atom and JSON feeds.\n\n\
        Exit codes: 0 all good; 1 some input had errors (reported as path:line:col, \
        the rest was published); 2 nothing could be done (bad config or templates, \
        unreadable folders)."
)]
pub struct Cli {
    /// Config file; without it, config/bookweek.yaml is used if present, else built-in defaults
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The time to act at, RFC 3339 (e.g. 2026-01-01T00:00:00Z); default: now
    #[arg(long, global = true, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<DateTime<FixedOffset>>,

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
        #[arg(long, value_name = "RFC3339", value_parser = parse_now, conflicts_with = "book")]
        tick: Option<DateTime<FixedOffset>>,
        /// Preview the digest that carried this book's recap (the first tick after its window closed), or its opening if it has no archive yet
        #[arg(long, value_name = "SLUG")]
        book: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Add a subscriber (active: the operator vouches for them; --pending sends a confirmation instead)
    Add {
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Add as pending, to be confirmed by the subscriber
        #[arg(long)]
        pending: bool,
    },
    /// Unsubscribe an address; the row is kept so a later import cannot resubscribe it
    Remove { email: String },
    /// One line per subscriber: email, name, status, since
    List {
        /// Only subscribers with this status
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
    },
    /// Import a CSV file with the header `email,name`; bad rows are reported with their line, the rest imported
    Import {
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

fn parse_now(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{e}; expected RFC 3339 like 2026-01-01T00:00:00Z"))
}
