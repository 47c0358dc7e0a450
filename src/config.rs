//! Loading and checking `config/bookweek.yaml` into ready-to-use [`Settings`].
//!
//! Every key is optional: the built-in defaults make the binary run with no
//! config file at all. Unknown keys are errors with a "did you mean" hint (a
//! typo'd `timezone` would otherwise shift every window without a word); bad
//! values are errors that name where they came from: the file, line and
//! column, or the environment variable.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use url::Url;

use crate::diag::{Problem, Severity, did_you_mean};
use crate::yamlpos::{Seg, locate};

/// The config path used when `--config` is not given; a missing file there
/// simply means "built-in defaults".
pub const DEFAULT_PATH: &str = "config/bookweek.yaml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub site: Site,
    pub paths: Paths,
    pub feeds: Feeds,
    pub digest: Digest,
    pub mail: Mail,
    pub server: Server,
    pub archive: Archive,
    pub content: Content,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Content {
    /// The largest book or people file bookweek reads (`4 MiB`, `500 KB`,
    /// or bytes); a larger one is an error and is not read.
    pub max_file_size: String,
}

/// `content.max_file_size` by default: fifty times the largest real book.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 20;

impl Default for Content {
    fn default() -> Self {
        Self {
            max_file_size: "4 MiB".into(),
        }
    }
}

/// Where a book's `archive:` comes from: a Slack workspace export
/// (`bookweek archive import`) or, with `slack`, the Slack Web API once a
/// window has closed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Archive {
    /// The channel `archive import` reads from an export (`--channel` overrides it).
    pub channel: Option<String>,
    /// Top-level posts count from this long before a window's start…
    pub before: String,
    /// …until this long after its end (a thread's replies count whenever posted).
    pub after: String,
    /// Regular expressions: a top-level post matching one is an announcement,
    /// left out with its replies.
    pub skip: Vec<String>,
    /// Fetch a closed book's threads over the Slack Web API (token in SLACK_TOKEN).
    pub slack: Option<ArchiveSlack>,
}

impl Default for Archive {
    fn default() -> Self {
        Self {
            channel: None,
            before: "1day".into(),
            after: "2days".into(),
            skip: vec![
                "(?s)Hello, everyone!.*The book of this week is".into(),
                "The lucky winners".into(),
                "Please send me your emails in DM".into(),
            ],
            slack: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveSlack {
    /// The channel's ID (`C0123456789`: the channel's details show it).
    pub channel: String,
    /// How long a window has been closed before its threads are fetched.
    pub after: String,
}

impl Default for ArchiveSlack {
    fn default() -> Self {
        Self {
            channel: String::new(),
            after: "2h".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// Where `bookweek run` listens for HTTP (feeds, subscribe, unsubscribe).
    pub listen: String,
    /// Open connections served at once; 0: as many as the open-file limit
    /// allows, less a reserve for the database, mail and content files.
    pub max_connections: usize,
    /// A client must send a request's headers within this long of
    /// connecting or of the end of its previous response.
    pub header_timeout: String,
    /// A request must be read and answered within this long.
    pub request_timeout: String,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_connections: 0,
            header_timeout: "10s".into(),
            request_timeout: "60s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Site {
    /// The feeds' title and the name readers see for the publisher.
    pub title: String,
    /// One sentence about the community, used as the feeds' description.
    pub description: String,
    /// Absolute http(s) URL of the site; links, ids and feed self links hang off it.
    pub base_url: String,
    /// Where a book's page lives, relative to `base_url`; `{slug}` is the file stem.
    pub book_path: String,
    /// IANA time zone in which the files' naive `start`/`end` are meant.
    pub timezone: String,
    pub language: String,
    /// How readers take part during the week, shown in every opening item.
    pub participate: String,
    /// Optional link for `participate` (a chat invite, say).
    pub participate_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paths {
    pub content: PathBuf,
    pub output: PathBuf,
    pub templates: PathBuf,
    pub state: PathBuf,
    /// Where images that books and people name relative to the site
    /// (`cover: images/books/…`) are found; the content folder when unset.
    pub assets: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Feeds {
    /// The newest items kept in each feed.
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Digest {
    /// How many best author answers a recap item and a digest show per book.
    pub answers: usize,
    /// When digests go out: a cron expression with seconds (tokio-cron-scheduler's
    /// syntax), in the site's time zone.
    pub schedule: String,
    /// Only items from this long before a tick go into its digest.
    pub lookback: String,
    /// A tick later than this when bookweek gets to it is skipped, not sent late.
    pub max_delay: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    /// Transport: smtp://host:port, smtp://user:pass@host:587?tls=required,
    /// smtps://host, or file://DIR. BOOKWEEK_MAIL_URL overrides it.
    pub url: String,
    /// The From address, with an optional display name.
    pub from: String,
    /// Deliveries are tried this often on temporary failures.
    pub max_attempts: u32,
    /// A subscriber is marked bounced after this many permanent failures.
    pub bounce_after: u32,
    /// SMTP connections used in parallel.
    pub connections: usize,
    /// Optional limit in messages per second (0 = none).
    pub rate: f64,
    /// First retry delay; it doubles on every attempt (with jitter).
    pub retry_delay: String,
    /// Optional DKIM signing.
    pub dkim: Option<Dkim>,
    /// The relay delivers to addresses with non-ASCII characters before the
    /// @ (SMTPUTF8, RFC 6531); without it such addresses are refused at
    /// sign-up rather than failing at every send.
    pub smtputf8: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dkim {
    pub domain: String,
    pub selector: String,
    /// The private key file: RSA as PKCS#1 PEM, or Ed25519 as the base64 of
    /// its 32 bytes (what `bookweek dkim keygen` writes).
    pub private_key: PathBuf,
}

impl Default for Mail {
    fn default() -> Self {
        Self {
            url: "file://outbox".into(),
            from: "Book of the Week <digest@example.org>".into(),
            max_attempts: 5,
            bounce_after: 3,
            connections: 4,
            rate: 0.0,
            retry_delay: "2s".into(),
            dkim: None,
            smtputf8: false,
        }
    }
}

impl Default for Site {
    fn default() -> Self {
        Self {
            title: "Book of the Week".into(),
            description: "Each week a book's authors answer the community's questions.".into(),
            base_url: "https://example.org".into(),
            book_path: "/books/{slug}.html".into(),
            timezone: "Europe/Berlin".into(),
            language: "en".into(),
            participate: "Ask the authors your questions in the community's Book of the Week channel during the week.".into(),
            participate_url: None,
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            content: "content".into(),
            output: "public".into(),
            templates: "templates".into(),
            state: "state/bookweek.db".into(),
            assets: None,
        }
    }
}

impl Default for Feeds {
    fn default() -> Self {
        Self { limit: 50 }
    }
}

impl Default for Digest {
    fn default() -> Self {
        Self {
            answers: 5,
            schedule: "0 0 9 * * Mon".into(),
            lookback: "14days".into(),
            max_delay: "24h".into(),
        }
    }
}

/// Settings checked once into the values the rest of the program uses, so
/// nothing downstream parses a URL or a time zone name again.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub base_url: Url,
    pub timezone: Tz,
    pub schedule: croner::Cron,
    pub lookback: chrono::Duration,
    pub max_delay: chrono::Duration,
    pub retry_delay: std::time::Duration,
    /// `server.header_timeout` and `server.request_timeout`, never zero.
    pub header_timeout: std::time::Duration,
    pub request_timeout: std::time::Duration,
    /// `mail.url`, or BOOKWEEK_MAIL_URL when set (credentials belong there).
    pub mail_url: String,
    pub from: lettre::message::Mailbox,
    /// BOOKWEEK_SECRET, when set: the key of subscriber links. Without it the
    /// state database keeps a generated one.
    pub secret: Option<Vec<u8>>,
    /// The `archive:` settings, checked.
    pub archive: ArchiveRules,
    /// `content.max_file_size` in bytes.
    pub max_file_size: u64,
}

/// The `archive:` settings checked into what the Slack import and fetch use.
#[derive(Debug, Clone)]
pub struct ArchiveRules {
    pub channel: Option<String>,
    pub before: chrono::Duration,
    pub after: chrono::Duration,
    pub skip: Vec<regex::Regex>,
    /// Set when `archive.slack` is: the automatic fetch (it runs only with a token).
    pub slack: Option<SlackFetch>,
}

/// `archive.slack` with the token and API address from the environment.
#[derive(Debug, Clone)]
pub struct SlackFetch {
    pub channel: String,
    pub after: chrono::Duration,
    /// SLACK_TOKEN; without it nothing is fetched.
    pub token: Option<SlackToken>,
    /// BOOKWEEK_SLACK_API_URL (tests point it at a local server), else Slack's.
    pub api_url: String,
}

/// A Slack token that never shows in logs or `{:?}`.
#[derive(Clone)]
pub struct SlackToken(String);

impl SlackToken {
    /// The token itself, for the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SlackToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackToken(…)")
    }
}

/// The environment variable holding the Slack bot token.
pub const SLACK_TOKEN_ENV: &str = "SLACK_TOKEN";
/// The environment variable that overrides the Slack Web API's address.
pub const SLACK_API_URL_ENV: &str = "BOOKWEEK_SLACK_API_URL";
const SLACK_API_URL: &str = "https://slack.com/api";

impl Config {
    /// The absolute URL of a site path or relative reference (`/books/x.html`,
    /// `images/x.jpg`), resolved against `base_url`.
    pub fn absolute(&self, reference: &str) -> Option<Url> {
        self.base_url.join(reference.trim_start_matches('/')).ok()
    }

    /// The public URL of a book's page.
    pub fn book_url(&self, slug: &str) -> Option<Url> {
        self.absolute(&self.settings.site.book_path.replace("{slug}", slug))
    }

    /// The link to thread `n` of a book's archive (1-based, as `pin:`
    /// counts): its anchor `#q{n}` on the book page bookweek makes; on a
    /// site that renders books itself, the book's answers (`#answers`).
    pub fn thread_url(&self, slug: &str, n: usize) -> Option<Url> {
        let mut url = self.book_url(slug)?;
        if self.makes_book_pages() {
            url.set_fragment(Some(&format!("q{n}")));
        } else {
            url.set_fragment(Some("answers"));
        }
        Some(url)
    }

    /// The link to every thread of a book's week: `#archive` on the book
    /// page bookweek makes; the book's page on a site that renders books.
    pub fn archive_url(&self, slug: &str) -> Option<Url> {
        let mut url = self.book_url(slug)?;
        if self.makes_book_pages() {
            url.set_fragment(Some("archive"));
        }
        Some(url)
    }

    /// The folder site images are looked up in: `paths.assets`, else the
    /// content folder.
    pub fn assets_dir(&self) -> &Path {
        let paths = &self.settings.paths;
        paths.assets.as_deref().unwrap_or(&paths.content)
    }

    /// Where a URL of this site is written in the output folder: its path
    /// under `base_url` (`books/x.html`), with `index.html` for a folder.
    /// `None` for a URL elsewhere (another host, or outside the base path).
    pub fn output_path(&self, url: &Url) -> Option<String> {
        let base = self.base_url.as_str();
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        let rest = bare.as_str().strip_prefix(base)?;
        let rest = percent_decode(rest)?;
        if rest.split('/').any(|s| s == ".." || s == ".") || rest.starts_with('/') {
            return None;
        }
        Some(if rest.is_empty() || rest.ends_with('/') {
            format!("{rest}index.html")
        } else {
            rest
        })
    }

    /// Whether bookweek makes the book pages: `site.book_path` is a path
    /// under `base_url`, not a URL on a site that renders books itself.
    pub fn makes_book_pages(&self) -> bool {
        self.book_url("slug")
            .is_some_and(|u| self.output_path(&u).is_some())
    }

    /// The host used in item ids; independent of the URL scheme so moving the
    /// site from http to https keeps every id.
    pub fn id_host(&self) -> &str {
        self.base_url.host_str().unwrap_or("localhost")
    }
}

/// The result of loading: a usable config (bad values replaced by defaults so
/// `check` can go on) and every problem found.
pub struct Loaded {
    pub config: Config,
    pub problems: Vec<Problem>,
    /// The file and text the config came from, so a problem found later (a
    /// DKIM key that does not parse, say) can still name its line.
    pub path: PathBuf,
    pub text: String,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    /// An error at the line of `keys` (`["mail", "dkim", "private_key"]`) in
    /// the config file, or at its first line when the key is not written.
    pub fn error_at(&self, keys: &[&str], message: impl Into<String>) -> Problem {
        let segs: Vec<Seg> = keys.iter().map(|k| Seg::Key(k)).collect();
        let pos = locate(&self.text, &segs).unwrap_or((1, 1));
        Problem::error(&self.path, pos, message)
    }
}

/// Loads the config at `path`. When `explicit` is false a missing file means
/// built-in defaults; when the user named the file, a missing file is an error.
pub fn load(path: &Path, explicit: bool) -> Loaded {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => parse(path, ""),
        Err(e) => {
            let mut loaded = parse(path, "");
            loaded.problems.push(Problem::error(
                path,
                (1, 1),
                format!("cannot read config file: {e}"),
            ));
            loaded
        }
    }
}

/// Parses config text; `path` is only used in problem messages.
pub fn parse(path: &Path, text: &str) -> Loaded {
    let mut problems = Vec::new();
    let value: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let pos = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                problems.push(Problem::error(
                    path,
                    pos,
                    format!("invalid YAML: {}", strip_location(&e)),
                ));
                Value::Null
            }
        }
    };
    let schema = Schema::new();
    let mut checker = KeyChecker {
        path,
        text,
        schema: &schema,
        problems: &mut problems,
    };
    let value = checker.check(&value, &schema.shape, &schema.defaults, &mut Vec::new());
    let settings = match value {
        Value::Null => Settings::default(),
        v => match serde_yaml::from_value::<Settings>(v) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem::error(path, (1, 1), format!("invalid config: {e}")));
                Settings::default()
            }
        },
    };
    let config = validate(path, text, settings, &mut problems);
    Loaded {
        config,
        problems,
        path: path.to_path_buf(),
        text: text.to_string(),
    }
}

/// serde_yaml appends " at line X column Y" to its messages; we print the
/// position in front instead, so drop the duplicate.
pub fn strip_location(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// The keys the config may have, as YAML values made from [`Settings`].
struct Schema {
    /// Every key, optional sections included (`mail.dkim`), with a value of
    /// the type it takes: what keys are checked against.
    shape: Value,
    /// The built-in defaults: what an empty key (`limit:`) stands for. An
    /// optional key's default is nothing.
    defaults: Value,
}

impl Schema {
    fn new() -> Self {
        let mut full = Settings::default();
        full.site.participate_url = Some(String::new());
        full.paths.assets = Some(PathBuf::new());
        full.mail.dkim = Some(Dkim::default());
        full.archive.channel = Some(String::new());
        full.archive.slack = Some(ArchiveSlack::default());
        Self {
            shape: serde_yaml::to_value(full).unwrap_or(Value::Null),
            defaults: serde_yaml::to_value(Settings::default()).unwrap_or(Value::Null),
        }
    }

    /// Every key's dotted path (`site.timezone`), for hints about a key
    /// written at the wrong level.
    fn paths(&self) -> Vec<String> {
        fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
            if let Value::Mapping(m) = v {
                for (k, sub) in m {
                    let Some(k) = k.as_str() else { continue };
                    let path = if at.is_empty() {
                        k.to_string()
                    } else {
                        format!("{at}.{k}")
                    };
                    walk(sub, &path, out);
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.shape, "", &mut out);
        out
    }
}

/// Walks the parsed YAML along the schema: an unknown key is an error (and
/// dropped, so `check` can go on and report the rest), and a wrongly typed
/// value is an error at its own line instead of one for the whole file.
struct KeyChecker<'a> {
    path: &'a Path,
    text: &'a str,
    schema: &'a Schema,
    problems: &'a mut Vec<Problem>,
}

impl KeyChecker<'_> {
    fn pos(&self, at: &[String]) -> (usize, usize) {
        let segs: Vec<Seg> = at.iter().map(|k| Seg::Key(k)).collect();
        locate(self.text, &segs).unwrap_or((1, 1))
    }

    fn error(&mut self, at: &[String], message: String) {
        let pos = self.pos(at);
        self.problems.push(Problem::error(self.path, pos, message));
    }

    fn check(
        &mut self,
        value: &Value,
        shape: &Value,
        default: &Value,
        at: &mut Vec<String>,
    ) -> Value {
        match (value, shape) {
            (Value::Mapping(map), Value::Mapping(known)) => {
                let mut kept = serde_yaml::Mapping::new();
                for (k, v) in map {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    at.push(key.clone());
                    match known.get(k) {
                        Some(sub) => {
                            let sub_default = default.get(k).unwrap_or(sub);
                            let checked = self.check(v, sub, sub_default, at);
                            kept.insert(k.clone(), checked);
                        }
                        None => {
                            let message = self.unknown_key(&key, known, at);
                            self.error(at, message);
                        }
                    }
                    at.pop();
                }
                Value::Mapping(kept)
            }
            // An empty key (`limit:`) means "the default", not "nothing".
            (Value::Null, _) => default.clone(),
            (v, Value::Mapping(_)) => {
                let message = format!(
                    "`{}` must be a mapping of keys, not {}",
                    display_at(at),
                    kind(v)
                );
                self.error(at, message);
                default.clone()
            }
            (v, Value::Number(_)) if !v.is_u64() => {
                let message = format!(
                    "`{}` must be a whole number, not {}",
                    display_at(at),
                    kind(v)
                );
                self.error(at, message);
                default.clone()
            }
            (v, Value::String(_)) if !(v.is_string() || v.is_number() || v.is_bool()) => {
                let message = format!("`{}` must be text, not {}", display_at(at), kind(v));
                self.error(at, message);
                default.clone()
            }
            (v, Value::Sequence(_)) if !v.is_sequence() => {
                let message = format!("`{}` must be a list, not {}", display_at(at), kind(v));
                self.error(at, message);
                default.clone()
            }
            // A list of text (`archive.skip`): numbers and booleans are text too.
            (Value::Sequence(items), Value::Sequence(known))
                if matches!(known.first(), Some(Value::String(_))) =>
            {
                let mut kept = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(_) => kept.push(item.clone()),
                        Value::Number(n) => kept.push(Value::String(n.to_string())),
                        Value::Bool(b) => kept.push(Value::String(b.to_string())),
                        other => {
                            let message = format!(
                                "`{}` entry {} must be text, not {}",
                                display_at(at),
                                i + 1,
                                kind(other)
                            );
                            self.error(at, message);
                        }
                    }
                }
                Value::Sequence(kept)
            }
            (Value::Number(n), Value::String(_)) => Value::String(n.to_string()),
            (Value::Bool(b), Value::String(_)) => Value::String(b.to_string()),
            (v, _) => v.clone(),
        }
    }

    /// "unknown key `timzone`; did you mean `timezone`?": a close name at the
    /// same level, else a close key elsewhere (written at the wrong level),
    /// else the keys that are allowed here.
    fn unknown_key(&self, key: &str, known: &serde_yaml::Mapping, at: &[String]) -> String {
        let siblings: Vec<&str> = known.keys().filter_map(Value::as_str).collect();
        if let Some(s) = did_you_mean(key, siblings.iter().copied()) {
            return format!("unknown key `{key}`; did you mean `{s}`?");
        }
        let parent = &at[..at.len() - 1];
        let elsewhere: Vec<(String, String)> = self
            .schema
            .paths()
            .into_iter()
            .map(|p| (p.rsplit('.').next().unwrap_or(&p).to_string(), p))
            .collect();
        if let Some(last) = did_you_mean(key, elsewhere.iter().map(|(l, _)| l.as_str()))
            && let Some((_, full)) = elsewhere.iter().find(|(l, _)| l == last)
        {
            let here = if parent.is_empty() {
                "at the top level".to_string()
            } else {
                format!("under `{}`", parent.join("."))
            };
            return format!("unknown key `{key}` {here}; did you mean `{full}`?");
        }
        let list = siblings
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let here = if parent.is_empty() {
            String::new()
        } else {
            format!(" under `{}`", parent.join("."))
        };
        format!("unknown key `{key}`; the keys{here} are {list}")
    }
}

fn display_at(at: &[String]) -> String {
    if at.is_empty() {
        "config".into()
    } else {
        at.join(".")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn validate(
    path: &Path,
    text: &str,
    mut settings: Settings,
    problems: &mut Vec<Problem>,
) -> Config {
    let pos = |a: &str, b: &str| locate(text, &[Seg::Key(a), Seg::Key(b)]).unwrap_or((1, 1));
    let defaults = Settings::default();

    let base_url = match Url::parse(&settings.site.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        Ok(_) | Err(_) => {
            problems.push(Problem::error(
                path,
                pos("site", "base_url"),
                format!(
                    "`site.base_url` must be an absolute http(s) URL, not `{}`",
                    settings.site.base_url
                ),
            ));
            settings.site.base_url = defaults.site.base_url.clone();
            default_base_url()
        }
    };
    // A base URL is a folder: without the trailing slash `join` would drop its
    // last path segment.
    let base_url = if base_url.path().ends_with('/') {
        base_url
    } else {
        let mut u = base_url;
        let p = format!("{}/", u.path());
        u.set_path(&p);
        u
    };

    let timezone = match Tz::from_str(&settings.site.timezone) {
        Ok(tz) => tz,
        Err(_) => {
            let hint = did_you_mean(
                &settings.site.timezone,
                chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()),
            )
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
            problems.push(Problem::error(
                path,
                pos("site", "timezone"),
                format!(
                    "unknown time zone `{}`{hint}; use an IANA name like `Europe/Berlin`",
                    settings.site.timezone
                ),
            ));
            Tz::UTC
        }
    };

    if !settings.site.book_path.contains("{slug}") {
        problems.push(Problem::error(
            path,
            pos("site", "book_path"),
            format!(
                "`site.book_path` must contain `{{slug}}`, or every book would share one page (got `{}`)",
                settings.site.book_path
            ),
        ));
        settings.site.book_path = defaults.site.book_path.clone();
    }

    if let Some(u) = &settings.site.participate_url
        && !is_http_url(u)
    {
        problems.push(Problem::error(
            path,
            pos("site", "participate_url"),
            format!("`site.participate_url` must be an absolute http(s) URL, not `{u}`"),
        ));
        settings.site.participate_url = None;
    }

    if settings.feeds.limit == 0 {
        problems.push(Problem::error(
            path,
            pos("feeds", "limit"),
            "`feeds.limit` must be at least 1",
        ));
        settings.feeds.limit = defaults.feeds.limit;
    }

    let schedule = match parse_schedule(&settings.digest.schedule) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem::error(
                path,
                pos("digest", "schedule"),
                format!(
                    "`digest.schedule` is not a cron expression with seconds (like `0 0 9 * * Mon`): `{}`: {e}",
                    settings.digest.schedule
                ),
            ));
            settings.digest.schedule = defaults.digest.schedule.clone();
            parse_schedule(&defaults.digest.schedule).unwrap_or_else(|_| default_schedule())
        }
    };
    let mut duration =
        |section: &str, key: &str, value: &mut String, default: &str| -> std::time::Duration {
            match humantime::parse_duration(value) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(Problem::error(
                    path,
                    pos(section, key),
                    format!(
                        "`{section}.{key}` is not a duration like `24h` or `14days`: `{value}`: {e}"
                    ),
                ));
                    *value = default.to_string();
                    humantime::parse_duration(default).unwrap_or_default()
                }
            }
        };
    let to_chrono =
        |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let lookback = to_chrono(duration(
        "digest",
        "lookback",
        &mut settings.digest.lookback,
        &defaults.digest.lookback,
    ));
    let max_delay = to_chrono(duration(
        "digest",
        "max_delay",
        &mut settings.digest.max_delay,
        &defaults.digest.max_delay,
    ));
    let retry_delay = duration(
        "mail",
        "retry_delay",
        &mut settings.mail.retry_delay,
        &defaults.mail.retry_delay,
    );
    let mut header_timeout = duration(
        "server",
        "header_timeout",
        &mut settings.server.header_timeout,
        &defaults.server.header_timeout,
    );
    let mut request_timeout = duration(
        "server",
        "request_timeout",
        &mut settings.server.request_timeout,
        &defaults.server.request_timeout,
    );
    // Zero would close every connection before its first request.
    for (key, value, setting, default) in [
        (
            "header_timeout",
            &mut header_timeout,
            &mut settings.server.header_timeout,
            &defaults.server.header_timeout,
        ),
        (
            "request_timeout",
            &mut request_timeout,
            &mut settings.server.request_timeout,
            &defaults.server.request_timeout,
        ),
    ] {
        if value.is_zero() {
            problems.push(Problem::error(
                path,
                pos("server", key),
                format!("`server.{key}` must be longer than 0"),
            ));
            setting.clone_from(default);
            *value = humantime::parse_duration(default).unwrap_or_default();
        }
    }

    let from = match settings.mail.from.parse::<lettre::message::Mailbox>() {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::error(
                path,
                pos("mail", "from"),
                format!("`mail.from` is not an email address like `Name <digest@example.org>`: `{}`: {e}", settings.mail.from),
            ));
            default_from()
        }
    };
    // The environment overrides the file; a problem names whichever was used.
    let mail_url = match std::env::var(MAIL_URL_ENV) {
        Ok(u) if !u.trim().is_empty() => {
            let u = u.trim().to_string();
            if let Err(e) = check_mail_url(&u) {
                problems.push(Problem::env(MAIL_URL_ENV, format!("value {e}")));
            }
            u
        }
        _ => {
            if let Err(e) = check_mail_url(&settings.mail.url) {
                problems.push(Problem::error(
                    path,
                    pos("mail", "url"),
                    format!("`mail.url` {e}"),
                ));
            }
            settings.mail.url.clone()
        }
    };
    if let Some(dkim) = &settings.mail.dkim {
        check_dkim(dkim, &from, |key| {
            locate(text, &[Seg::Key("mail"), Seg::Key("dkim"), Seg::Key(key)])
                .or_else(|| locate(text, &[Seg::Key("mail"), Seg::Key("dkim")]))
                .unwrap_or((1, 1))
        })
        .into_iter()
        .for_each(|(pos, severity, message)| {
            problems.push(Problem {
                severity,
                ..Problem::error(path, pos, message)
            })
        });
    }
    if settings.mail.connections == 0 {
        problems.push(Problem::error(
            path,
            pos("mail", "connections"),
            "`mail.connections` must be at least 1",
        ));
        settings.mail.connections = 1;
    }
    if settings.mail.max_attempts == 0 {
        problems.push(Problem::error(
            path,
            pos("mail", "max_attempts"),
            "`mail.max_attempts` must be at least 1",
        ));
        settings.mail.max_attempts = 1;
    }
    if !(settings.mail.rate >= 0.0 && settings.mail.rate.is_finite()) {
        problems.push(Problem::error(
            path,
            pos("mail", "rate"),
            "`mail.rate` must be a number of messages per second, or 0 for no limit",
        ));
        settings.mail.rate = 0.0;
    }
    if settings
        .server
        .listen
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        problems.push(Problem::error(
            path,
            pos("server", "listen"),
            format!(
                "`server.listen` must be an address and port like `127.0.0.1:8080`, not `{}`",
                settings.server.listen
            ),
        ));
        settings.server.listen = defaults.server.listen.clone();
    }
    let secret = std::env::var("BOOKWEEK_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes);
    if secret.as_ref().is_some_and(|s| s.len() < 16) {
        problems.push(Problem::env(
            "BOOKWEEK_SECRET",
            "shorter than 16 bytes; use a long random value (e.g. `openssl rand -hex 32`)",
        ));
    }

    let archive = archive_rules(path, text, &mut settings.archive, problems);
    let max_file_size = match parse_size(&settings.content.max_file_size) {
        Some(n) if n > 0 => n,
        _ => {
            problems.push(Problem::error(
                path,
                pos("content", "max_file_size"),
                format!(
                    "`content.max_file_size` must be a size like `4 MiB`, `500 KB` or a number of bytes, not `{}`",
                    settings.content.max_file_size
                ),
            ));
            settings.content.max_file_size = defaults.content.max_file_size.clone();
            DEFAULT_MAX_FILE_SIZE
        }
    };

    Config {
        settings,
        base_url,
        timezone,
        schedule,
        lookback,
        max_delay,
        retry_delay,
        header_timeout,
        request_timeout,
        mail_url,
        from,
        secret,
        archive,
        max_file_size,
    }
}

/// Checks `archive:`: durations, skip patterns (regular expressions), the
/// Slack channel ID, and SLACK_TOKEN / BOOKWEEK_SLACK_API_URL.
fn archive_rules(
    path: &Path,
    text: &str,
    archive: &mut Archive,
    problems: &mut Vec<Problem>,
) -> ArchiveRules {
    let defaults = Archive::default();
    let pos = |keys: &[Seg]| locate(text, keys).unwrap_or((1, 1));
    let mut duration = |keys: &[&str], value: &str, default: &str| -> chrono::Duration {
        let parsed = humantime::parse_duration(value).or_else(|e| {
            let segs: Vec<Seg> = keys.iter().map(|k| Seg::Key(k)).collect();
            problems.push(Problem::error(
                path,
                pos(&segs),
                format!(
                    "`{}` is not a duration like `2h` or `1day`: `{value}`: {e}",
                    keys.join(".")
                ),
            ));
            humantime::parse_duration(default)
        });
        chrono::Duration::from_std(parsed.unwrap_or_default()).unwrap_or(chrono::Duration::MAX)
    };
    let before = duration(&["archive", "before"], &archive.before, &defaults.before);
    let after = duration(&["archive", "after"], &archive.after, &defaults.after);
    let slack = archive.slack.as_ref().map(|s| {
        let after = duration(&["archive", "slack", "after"], &s.after, "2h");
        (s.channel.clone(), after)
    });
    let mut skip = Vec::new();
    for (i, pattern) in archive.skip.iter().enumerate() {
        match regex::Regex::new(pattern) {
            Ok(r) => skip.push(r),
            Err(e) => {
                // The regex crate draws the pattern over several lines; its
                // last line says what is wrong.
                let e = e.to_string();
                let why = e
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                problems.push(Problem::error(
                    path,
                    pos(&[Seg::Key("archive"), Seg::Key("skip"), Seg::Index(i)]),
                    format!(
                        "`archive.skip` entry {} is not a regular expression: {why}",
                        i + 1
                    ),
                ));
            }
        }
    }
    let slack = slack.map(|(channel, after)| {
        // The Web API takes the channel's ID; a name would need another scope.
        let is_id = channel.len() >= 9
            && channel.starts_with(['C', 'G'])
            && channel.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !is_id {
            problems.push(Problem::error(
                path,
                locate(text, &[Seg::Key("archive"), Seg::Key("slack"), Seg::Key("channel")])
                    .unwrap_or_else(|| pos(&[Seg::Key("archive"), Seg::Key("slack")])),
                format!(
                    "`archive.slack.channel` must be the channel's ID like `C0123456789` (the channel's details show it), not `{channel}`"
                ),
            ));
        }
        let token = std::env::var(SLACK_TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(SlackToken);
        if token.is_none() {
            problems.push(Problem {
                severity: Severity::Warning,
                ..Problem::env(
                    SLACK_TOKEN_ENV,
                    "not set: `archive.slack` is configured but no threads are fetched without a bot token",
                )
            });
        }
        let api_url = match std::env::var(SLACK_API_URL_ENV) {
            Ok(u) if !u.trim().is_empty() => {
                let u = u.trim().trim_end_matches('/').to_string();
                if !is_http_url(&u) {
                    problems.push(Problem::env(
                        SLACK_API_URL_ENV,
                        format!("must be an absolute http(s) URL, not `{u}`"),
                    ));
                }
                u
            }
            _ => SLACK_API_URL.to_string(),
        };
        SlackFetch {
            channel,
            after,
            token,
            api_url,
        }
    });
    ArchiveRules {
        channel: archive.channel.clone().filter(|c| !c.trim().is_empty()),
        before,
        after,
        skip,
        slack,
    }
}

/// A size in bytes: `4194304`, `4 MiB`, `4MiB`, `500 KB`, `80 kB`, `1 GiB`.
/// KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024; units ignore case.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "kb" | "k" => 1000,
        "kib" => 1 << 10,
        "mb" | "m" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" | "g" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return None,
    };
    let bytes = (number * scale as f64).round();
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Parses a cron expression exactly as tokio-cron-scheduler does (seconds
/// required, day-of-month AND day-of-week), so the daemon and `once` agree.
pub fn parse_schedule(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
}

fn default_schedule() -> croner::Cron {
    #[allow(clippy::expect_used)]
    parse_schedule("0 0 9 * * Mon").expect("the built-in schedule is a valid cron expression")
}

fn default_from() -> lettre::message::Mailbox {
    #[allow(clippy::expect_used)]
    "Book of the Week <digest@example.org>"
        .parse()
        .expect("the built-in From address is valid")
}

/// The environment variable that overrides `mail.url` (credentials belong
/// there, not in a file under version control).
pub const MAIL_URL_ENV: &str = "BOOKWEEK_MAIL_URL";

/// Checks a transport URL: smtp://, smtps:// (lettre's URL form) or file://DIR,
/// with the parser the sender uses, without connecting. The message never
/// repeats the URL: it may hold a password.
pub fn check_mail_url(url: &str) -> Result<(), String> {
    if let Some(dir) = url.strip_prefix("file://") {
        return if dir.is_empty() {
            Err("`file://` needs a folder, like `file://outbox`".into())
        } else {
            Ok(())
        };
    }
    if url.starts_with("smtp://") || url.starts_with("smtps://") {
        return crate::smtp::SmtpConfig::from_url(url)
            .map(|_| ())
            .map_err(|e| format!("is not a usable SMTP URL: {e}"));
    }
    Err(format!(
        "must start with smtp://, smtps:// or file:// (got `{}`)",
        url.split("://").next().unwrap_or(url)
    ))
}

/// What can be told about the DKIM settings without reading the key (that
/// is `bookweek check`'s job, with the code that signs): each problem with
/// the key it is about, placed by `pos`.
fn check_dkim(
    dkim: &Dkim,
    from: &lettre::message::Mailbox,
    pos: impl Fn(&str) -> (usize, usize),
) -> Vec<((usize, usize), Severity, String)> {
    let mut out = Vec::new();
    let domain = dkim.domain.trim_end_matches('.').to_ascii_lowercase();
    if !is_dns_name(&domain) {
        out.push((
            pos("domain"),
            Severity::Error,
            format!(
                "`mail.dkim.domain` must be the domain that publishes the key, like `example.org` (got `{}`)",
                dkim.domain
            ),
        ));
    } else {
        // DMARC passes on DKIM only when the signing domain aligns with the
        // From domain (relaxed: one is the other or a parent of it).
        let from_domain = from.email.domain().to_ascii_lowercase();
        let aligned = from_domain == domain
            || from_domain.ends_with(&format!(".{domain}"))
            || domain.ends_with(&format!(".{from_domain}"));
        if !aligned {
            out.push((
                pos("domain"),
                Severity::Warning,
                format!(
                    "`mail.dkim.domain` {domain} does not align with the From address's domain {from_domain}: DMARC, and Gmail and Yahoo, need the DKIM domain to be the From domain or share its parent"
                ),
            ));
        }
    }
    if !is_dns_name(&dkim.selector) {
        out.push((
            pos("selector"),
            Severity::Error,
            format!(
                "`mail.dkim.selector` must be a DNS label like `bookweek2026` (got `{}`)",
                dkim.selector
            ),
        ));
    }
    if dkim.private_key.as_os_str().is_empty() {
        out.push((
            pos("private_key"),
            Severity::Error,
            "`mail.dkim.private_key` must name the key file (make one with `bookweek dkim keygen`)"
                .into(),
        ));
    }
    out
}

/// Letters, digits, `-` and `_` in dot-separated labels: what a DKIM
/// selector or signing domain may hold.
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn default_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse("https://example.org/").expect("the built-in base URL is a valid URL")
}

/// True for absolute http and https URLs with a host.
/// `%xx` escapes decoded; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub fn is_http_url(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Loaded {
        parse(Path::new("bookweek.yaml"), text)
    }

    #[test]
    fn urls_of_the_site_map_to_files_in_the_output_folder() {
        let c = p("site:\n  base_url: https://example.org/club\n").config;
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            c.output_path(&url("https://example.org/club/books/a%20b.html#q1"))
                .as_deref(),
            Some("books/a b.html")
        );
        assert_eq!(
            c.output_path(&url("https://example.org/club/")).as_deref(),
            Some("index.html")
        );
        assert_eq!(
            c.output_path(&url("https://example.org/club/x/"))
                .as_deref(),
            Some("x/index.html")
        );
        for elsewhere in [
            "https://example.org/other.html",
            "https://example.net/club/a.html",
            "http://example.org/club/a.html",
        ] {
            assert_eq!(c.output_path(&url(elsewhere)), None, "{elsewhere}");
        }
        assert!(c.makes_book_pages());
        assert_eq!(
            c.thread_url("b", 14).unwrap().as_str(),
            "https://example.org/club/books/b.html#q14"
        );
        assert_eq!(
            c.archive_url("b").unwrap().as_str(),
            "https://example.org/club/books/b.html#archive"
        );
        assert_eq!(c.assets_dir(), Path::new("content"));
    }

    #[test]
    fn book_pages_on_another_site_are_linked_as_they_are() {
        let c =
            p("site:\n  book_path: https://books.example.net/{slug}/\npaths:\n  assets: static\n")
                .config;
        assert!(!c.makes_book_pages());
        assert_eq!(
            c.thread_url("b", 14).unwrap().as_str(),
            "https://books.example.net/b/#answers"
        );
        assert_eq!(
            c.archive_url("b").unwrap().as_str(),
            "https://books.example.net/b/"
        );
        assert_eq!(c.assets_dir(), Path::new("static"));
    }

    #[test]
    fn empty_config_gives_defaults() {
        let l = p("");
        assert!(l.problems.is_empty());
        assert_eq!(l.config.settings.feeds.limit, 50);
        assert_eq!(l.config.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(l.config.base_url.as_str(), "https://example.org/");
    }

    fn messages(l: &Loaded) -> Vec<String> {
        l.problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn unknown_keys_are_errors_with_a_hint() {
        let l = p("site:\n  title: X\n  timzone: UTC\n");
        assert_eq!(
            messages(&l),
            ["bookweek.yaml:3:3: error: unknown key `timzone`; did you mean `timezone`?"]
        );
        // The rest is still read, so `check` can report everything at once.
        assert_eq!(l.config.settings.site.title, "X");
    }

    #[test]
    fn a_key_at_the_wrong_level_names_where_it_belongs() {
        let l = p("title: X\nsite:\n  base_url: https://x.org\ntimzone: UTC\n");
        assert_eq!(
            messages(&l),
            [
                "bookweek.yaml:1:1: error: unknown key `title` at the top level; did you mean `site.title`?",
                "bookweek.yaml:4:1: error: unknown key `timzone` at the top level; did you mean `site.timezone`?",
            ]
        );
    }

    #[test]
    fn an_unknown_key_with_no_close_name_lists_the_keys() {
        let l = p("feeds:\n  zzz: 3\n");
        assert_eq!(
            messages(&l),
            ["bookweek.yaml:2:3: error: unknown key `zzz`; the keys under `feeds` are `limit`"]
        );
    }

    #[test]
    fn keys_of_optional_sections_are_checked_too() {
        let l =
            p("mail:\n  dkim:\n    domain: example.org\n    selector: s1\n    privat_key: k.pem\n");
        let msgs = messages(&l);
        assert!(
            msgs.contains(
                &"bookweek.yaml:5:5: error: unknown key `privat_key`; did you mean `private_key`?"
                    .to_string()
            ),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"bookweek.yaml:2:3: error: `mail.dkim.private_key` must name the key file (make one with `bookweek dkim keygen`)".to_string()),
            "{msgs:?}"
        );
    }

    #[test]
    fn empty_optional_keys_stay_unset() {
        let l = p("site:\n  participate_url:\nmail:\n  dkim:\n");
        assert!(l.problems.is_empty(), "{:?}", messages(&l));
        assert_eq!(l.config.settings.site.participate_url, None);
        assert!(l.config.settings.mail.dkim.is_none());
    }

    #[test]
    fn the_shipped_config_knows_every_key_it_documents() {
        // Uncommented, the optional keys must be known too.
        let text = include_str!("../config/bookweek.yaml")
            .replace("  # participate_url:", "  participate_url:")
            .replace("  # dkim:", "  dkim:")
            .replace("  # channel:", "  channel:")
            .replace("  # slack:", "  slack:")
            .replace("  #   ", "    ");
        assert!(text.contains("    private_key:"), "{text}");
        let l = p(&text);
        // Errors only: a warning about SLACK_TOKEN depends on the environment.
        assert!(!l.has_errors(), "{:?}", messages(&l));
        assert!(l.config.settings.mail.dkim.is_some());
    }

    #[test]
    fn dkim_domain_not_aligned_with_from_is_a_warning() {
        let l = p(
            "mail:\n  from: a@example.org\n  dkim:\n    domain: mailer.example.net\n    selector: s1\n    private_key: k\n",
        );
        assert_eq!(
            messages(&l),
            [
                "bookweek.yaml:4:5: warning: `mail.dkim.domain` mailer.example.net does not align with the From address's domain example.org: DMARC, and Gmail and Yahoo, need the DKIM domain to be the From domain or share its parent"
            ]
        );
        let l = p(
            "mail:\n  from: a@news.example.org\n  dkim:\n    domain: example.org\n    selector: s1\n    private_key: k\n",
        );
        assert!(l.problems.is_empty(), "{:?}", messages(&l));
    }

    #[test]
    fn errors_on_unknown_timezone_at_its_line() {
        let l = p("site:\n  timezone: Europe/Berlim\n");
        assert_eq!(
            l.problems[0].to_string(),
            "bookweek.yaml:2:3: error: unknown time zone `Europe/Berlim` (did you mean `Europe/Berlin`?); use an IANA name like `Europe/Berlin`"
        );
    }

    #[test]
    fn errors_on_relative_base_url_and_wrong_types() {
        let l = p("site:\n  base_url: example.org\nfeeds:\n  limit: many\n");
        let msgs: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        assert!(msgs.contains(&"bookweek.yaml:2:3: error: `site.base_url` must be an absolute http(s) URL, not `example.org`".to_string()), "{msgs:?}");
        assert!(
            msgs.contains(
                &"bookweek.yaml:4:3: error: `feeds.limit` must be a whole number, not text"
                    .to_string()
            ),
            "{msgs:?}"
        );
    }

    #[test]
    fn reports_yaml_syntax_errors_with_line() {
        let l = p("site:\n  title: [unclosed\n");
        assert!(l.has_errors());
        assert!(l.problems[0].to_string().starts_with("bookweek.yaml:"));
    }

    #[test]
    fn server_timeouts_are_durations_longer_than_zero() {
        let l = p("");
        assert_eq!(l.config.header_timeout, std::time::Duration::from_secs(10));
        assert_eq!(l.config.request_timeout, std::time::Duration::from_secs(60));
        let l = p("server:\n  header_timeout: 0s\n  request_timeout: soon\n");
        let msgs: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "bookweek.yaml:3:3: error: `server.request_timeout` is not a duration like `24h` or `14days`: `soon`: expected number at 0",
                "bookweek.yaml:2:3: error: `server.header_timeout` must be longer than 0",
            ]
        );
        assert_eq!(l.config.header_timeout, std::time::Duration::from_secs(10));
        assert_eq!(l.config.request_timeout, std::time::Duration::from_secs(60));
    }

    #[test]
    fn archive_settings_are_checked_at_their_lines() {
        let l = p(
            "archive:\n  before: soon\n  skip:\n  - The lucky winners\n  - '(unclosed'\n  slack:\n    channel: general\n",
        );
        let errors: Vec<String> = l
            .problems
            .iter()
            .filter(|p| p.is_error())
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("bookweek.yaml:2:3: error: `archive.before` is not a duration like `2h` or `1day`: `soon`"), "{errors:?}");
        assert_eq!(
            errors[1],
            "bookweek.yaml:5:3: error: `archive.skip` entry 2 is not a regular expression: unclosed group"
        );
        assert_eq!(
            errors[2],
            "bookweek.yaml:7:5: error: `archive.slack.channel` must be the channel's ID like `C0123456789` (the channel's details show it), not `general`"
        );
        // The good pattern is kept; the defaults apply where nothing is said.
        assert_eq!(l.config.archive.skip.len(), 1);
        assert_eq!(l.config.archive.after, chrono::Duration::days(2));
        assert_eq!(
            l.config.archive.slack.as_ref().map(|s| s.after),
            Some(chrono::Duration::hours(2))
        );
        assert_eq!(
            messages(&p("archive:\n  skip: The lucky winners\n")),
            ["bookweek.yaml:2:3: error: `archive.skip` must be a list, not text"]
        );
        let l = p("");
        assert_eq!(l.config.archive.skip.len(), 3);
        assert!(l.config.archive.channel.is_none() && l.config.archive.slack.is_none());
    }

    #[test]
    fn the_slack_token_never_shows_in_debug_output() {
        let token = SlackToken("xoxb-secret".into());
        assert_eq!(format!("{token:?}"), "SlackToken(…)");
    }

    #[test]
    fn reads_sizes_with_units() {
        assert_eq!(parse_size("4 MiB"), Some(4 << 20));
        assert_eq!(parse_size("4MiB"), Some(4 << 20));
        assert_eq!(parse_size("500 KB"), Some(500_000));
        assert_eq!(parse_size("1.5 kib"), Some(1536));
        assert_eq!(parse_size("80000"), Some(80_000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("4 parsecs"), None);
        assert_eq!(p("").config.max_file_size, DEFAULT_MAX_FILE_SIZE);
        assert_eq!(
            parse_size(&Content::default().max_file_size),
            Some(DEFAULT_MAX_FILE_SIZE)
        );
        let l = p("content:\n  max_file_size: big\n");
        assert_eq!(
            l.problems[0].to_string(),
            "bookweek.yaml:2:3: error: `content.max_file_size` must be a size like `4 MiB`, `500 KB` or a number of bytes, not `big`"
        );
        assert_eq!(
            p("content:\n  max_file_size: 100000\n")
                .config
                .max_file_size,
            100_000
        );
    }

    #[test]
    fn base_url_with_path_keeps_it() {
        let l = p("site:\n  base_url: https://x.org/community\n");
        assert_eq!(
            l.config.book_url("a").map(|u| u.to_string()),
            Some("https://x.org/community/books/a.html".into())
        );
    }
}
