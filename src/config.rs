//! Loading and checking `config/bookweek.yaml` into ready-to-use [`Settings`].
//!
//! Every key is optional: the built-in defaults make the binary run with no
//! config file at all. Unknown keys are warned about with a "did you mean"
//! hint; bad values are errors that name the file, line and column.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use url::Url;

use crate::diag::{Problem, did_you_mean};
use crate::yamlpos::{Seg, locate};

/// The config path used when `--config` is not given; a missing file there
/// simply means "built-in defaults".
pub const DEFAULT_PATH: &str = "config/bookweek.yaml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub site: Site,
    pub paths: Paths,
    pub feeds: Feeds,
    pub digest: Digest,
    pub mail: Mail,
    pub server: Server,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    /// Where `bookweek run` listens for HTTP (feeds, subscribe, unsubscribe).
    pub listen: String,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
pub struct Paths {
    pub content: PathBuf,
    pub output: PathBuf,
    pub templates: PathBuf,
    pub state: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Feeds {
    /// The newest items kept in each feed.
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
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
#[serde(default)]
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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dkim {
    pub domain: String,
    pub selector: String,
    /// PEM file with the RSA or Ed25519 private key.
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
    /// `mail.url`, or BOOKWEEK_MAIL_URL when set (credentials belong there).
    pub mail_url: String,
    pub from: lettre::message::Mailbox,
    /// BOOKWEEK_SECRET, when set: the key of subscriber links. Without it the
    /// state database keeps a generated one.
    pub secret: Option<Vec<u8>>,
    /// `content.max_file_size` in bytes.
    pub max_file_size: u64,
}

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
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
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
    let schema = serde_yaml::to_value(Settings::default()).unwrap_or(Value::Null);
    let value = check_keys(path, text, &value, &schema, &mut Vec::new(), &mut problems);
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
    Loaded { config, problems }
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

/// Warns about keys the schema does not know and returns the value without
/// them, so a typo never stops the program; also turns a wrongly typed value
/// into an error at its own line instead of one for the whole file.
fn check_keys(
    path: &Path,
    text: &str,
    value: &Value,
    schema: &Value,
    at: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Value {
    let segs = |at: &[String]| -> (usize, usize) {
        let segs: Vec<Seg> = at.iter().map(|k| Seg::Key(k)).collect();
        locate(text, &segs).unwrap_or((1, 1))
    };
    match (value, schema) {
        (Value::Mapping(map), Value::Mapping(known)) => {
            let mut kept = serde_yaml::Mapping::new();
            for (k, v) in map {
                let key = k.as_str().unwrap_or_default().to_string();
                at.push(key.clone());
                match known.get(k) {
                    Some(sub) => {
                        let checked = check_keys(path, text, v, sub, at, problems);
                        kept.insert(k.clone(), checked);
                    }
                    None => {
                        let names = known.keys().filter_map(Value::as_str);
                        let hint = did_you_mean(&key, names)
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        problems.push(Problem::warning(
                            path,
                            segs(at),
                            format!("unknown config key `{}`{hint}; it is ignored", at.join(".")),
                        ));
                    }
                }
                at.pop();
            }
            Value::Mapping(kept)
        }
        // An empty key (`limit:`) means "the default", not "nothing".
        (Value::Null, schema) => schema.clone(),
        (v, Value::Mapping(_)) => {
            problems.push(Problem::error(
                path,
                segs(at),
                format!(
                    "`{}` must be a mapping of keys, not {}",
                    display_at(at),
                    kind(v)
                ),
            ));
            schema.clone()
        }
        (v, Value::Number(_)) if !v.is_u64() => {
            problems.push(Problem::error(
                path,
                segs(at),
                format!(
                    "`{}` must be a whole number, not {}",
                    display_at(at),
                    kind(v)
                ),
            ));
            schema.clone()
        }
        (v, Value::String(_)) if !(v.is_string() || v.is_number() || v.is_bool()) => {
            problems.push(Problem::error(
                path,
                segs(at),
                format!("`{}` must be text, not {}", display_at(at), kind(v)),
            ));
            schema.clone()
        }
        (Value::Number(n), Value::String(_)) => Value::String(n.to_string()),
        (Value::Bool(b), Value::String(_)) => Value::String(b.to_string()),
        (v, _) => v.clone(),
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
    let mail_url = match std::env::var("BOOKWEEK_MAIL_URL") {
        Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => settings.mail.url.clone(),
    };
    if let Err(e) = check_mail_url(&mail_url) {
        let pos = if mail_url == settings.mail.url {
            pos("mail", "url")
        } else {
            (1, 1)
        };
        let source = if mail_url == settings.mail.url {
            "`mail.url`"
        } else {
            "BOOKWEEK_MAIL_URL"
        };
        problems.push(Problem::error(path, pos, format!("{source} {e}")));
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
        problems.push(Problem::error(
            path,
            (1, 1),
            "BOOKWEEK_SECRET is shorter than 16 bytes; use a long random value (e.g. `openssl rand -hex 32`)",
        ));
    }

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
        mail_url,
        from,
        secret,
        max_file_size,
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

/// Checks a transport URL: smtp://, smtps:// (lettre's URL form) or file://DIR.
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

fn default_base_url() -> Url {
    #[allow(clippy::expect_used)]
    Url::parse("https://example.org/").expect("the built-in base URL is a valid URL")
}

/// True for absolute http and https URLs with a host.
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
    fn empty_config_gives_defaults() {
        let l = p("");
        assert!(l.problems.is_empty());
        assert_eq!(l.config.settings.feeds.limit, 50);
        assert_eq!(l.config.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(l.config.base_url.as_str(), "https://example.org/");
    }

    #[test]
    fn warns_about_unknown_keys_with_hint() {
        let l = p("site:\n  title: X\n  timezon: UTC\n");
        assert_eq!(
            l.problems[0].to_string(),
            "bookweek.yaml:3:3: warning: unknown config key `site.timezon` (did you mean `timezone`?); it is ignored"
        );
        assert_eq!(l.config.settings.site.title, "X");
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
