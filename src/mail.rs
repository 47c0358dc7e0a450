//! Email: building the digest messages (headers, parts, DKIM) and delivering
//! the pending delivery rows over SMTP or into a folder, with retries.
//!
//! Exactly-once rests on the ledger: a delivery is marked sent, in a
//! committed transaction, only after the server's 250 to DATA, and a
//! connection sends the content of its next message (whose terminator is
//! what makes the server accept it) only once its last one is recorded
//! (see `Worker`). Messages that finish together are recorded in one
//! transaction (one commit per message was most of a run's time). A crash
//! can repeat at most one message per connection and never loses one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, FixedOffset};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::{Address, FileTransport, Message, Transport as _};

use crate::config::Config;
use crate::digest::Rendered;
use crate::smtp::{Prepared, SmtpClient, SmtpConfig, SmtpError};
use crate::state::{Delivery, DigestRecord, State, StateError};
use crate::token::{Purpose, Signer};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot set up mail transport {url}: {message}")]
    Transport { url: String, message: String },
    #[error("cannot read DKIM key {path}: {message}")]
    Dkim { path: PathBuf, message: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// How a send failed, which decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 4xx: try this recipient again later.
    Transient(String),
    /// 5xx: do not try again; counts towards a bounce.
    Permanent(String),
    /// The server could not be reached or the connection broke: nothing was
    /// accepted, try again when it is back.
    Unreachable(String),
    /// The message could not be built (a bad stored address).
    Invalid(String),
}

/// Where messages go: an SMTP relay, or `.eml` files in a folder.
///
/// SMTP goes through [`crate::smtp`], not lettre's transport: lettre 0.11.23
/// stalls 40 ms on every message (Nagle's algorithm, see src/smtp.rs).
pub enum Transport {
    Smtp(SmtpConfig),
    File(FileTransport),
}

impl Transport {
    /// From `smtp://…`, `smtps://…` (lettre's URL form) or `file://DIR`.
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        let err = |message: String| MailError::Transport {
            url: redact(url),
            message,
        };
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            return Ok(Self::File(FileTransport::new(dir)));
        }
        let mut cfg = SmtpConfig::from_url(url).map_err(err)?;
        cfg.timeout = Duration::from_secs(60);
        Ok(Self::Smtp(cfg))
    }

    /// A sender that keeps one connection open across messages: one per
    /// sending thread.
    pub fn sender(&self) -> Sender<'_> {
        Sender {
            transport: self,
            client: None,
            file_open: None,
        }
    }

    /// Sends one message on a connection of its own.
    pub fn send(&self, message: &Message) -> Result<(), Failure> {
        let mut sender = self.sender();
        let result = sender.send(&Outgoing::from_message(message));
        sender.finish();
        result
    }
}

/// One connection's worth of sending.
///
/// A message goes in two steps: [`Sender::open`] sends its envelope, and
/// [`Sender::complete`] its content, together with the envelope of the
/// next message when the server pipelines (RFC 2920): one exchange per
/// message instead of two. The server accepts a message only on its
/// content's terminator, so a message whose envelope is open is not sent.
pub struct Sender<'t> {
    transport: &'t Transport,
    client: Option<SmtpClient>,
    /// The File transport's open message.
    file_open: Option<Outgoing>,
}

impl Sender<'_> {
    /// One message, start to finish.
    pub fn send(&mut self, message: &Outgoing) -> Result<(), Failure> {
        self.open(message)?;
        self.complete(None).0
    }

    /// Sends the envelope of `message` (connecting first if needed); `Ok`
    /// when the server waits for its content.
    pub fn open(&mut self, message: &Outgoing) -> Result<(), Failure> {
        let cfg = match self.transport {
            Transport::File(_) => {
                self.file_open = Some(message.clone());
                return Ok(());
            }
            Transport::Smtp(cfg) => cfg,
        };
        let client = match &mut self.client {
            Some(c) => c,
            None => self
                .client
                .insert(SmtpClient::connect(cfg).map_err(|e| Failure::Unreachable(e.to_string()))?),
        };
        let result = prepare(client, message).and_then(|p| client.open(p));
        if client.is_broken() {
            self.client = None;
        }
        result.map_err(failure)
    }

    /// Sends the content of the open message and returns the server's
    /// verdict on it. `next`'s envelope goes in the same write when the
    /// server pipelines: then the second result says whether `next` is now
    /// open; `None` means it was not sent (open it with [`Sender::open`]).
    pub fn complete(
        &mut self,
        next: Option<&Outgoing>,
    ) -> (Result<(), Failure>, Option<Result<(), Failure>>) {
        if let Transport::File(t) = self.transport {
            let Some(message) = self.file_open.take() else {
                return (Err(Failure::Invalid("no message is open".into())), None);
            };
            let sent = t
                .send_raw(&message.envelope, &message.bytes)
                .map(|_| ())
                .map_err(|e| Failure::Unreachable(e.to_string()));
            return (sent, None);
        }
        let Some(client) = self.client.as_mut() else {
            let lost = "the connection closed with a message open".to_string();
            return (Err(Failure::Unreachable(lost)), None);
        };
        // A next message that cannot be sent as it is goes through `open`,
        // which reports why.
        let mut prepared = next.and_then(|n| prepare(client, n).ok());
        let had_next = prepared.is_some();
        let (sent, opened) = client.complete(&mut prepared);
        if client.is_broken() {
            self.client = None;
        }
        let opened = opened.filter(|_| had_next).map(|r| r.map_err(failure));
        (sent.map_err(failure), opened)
    }

    /// Says goodbye to the server politely.
    pub fn finish(self) {
        if let Some(c) = self.client {
            c.quit();
        }
    }
}

/// The message checked and formatted for `client`.
fn prepare(client: &SmtpClient, message: &Outgoing) -> Result<Prepared, SmtpError> {
    let envelope = &message.envelope;
    let from = envelope.from().map_or("", |a| a.as_ref());
    let to: Vec<&str> = envelope.to().iter().map(|a| a.as_ref()).collect();
    client.prepare(from, &to, &message.bytes)
}

/// What an SMTP error means for a delivery.
fn failure(e: SmtpError) -> Failure {
    match e {
        SmtpError::Transient { .. } => Failure::Transient(e.to_string()),
        SmtpError::Permanent { .. } => Failure::Permanent(e.to_string()),
        SmtpError::Invalid(m) => Failure::Invalid(m),
        SmtpError::Connection(m) => Failure::Unreachable(m),
    }
}

/// A transport URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Builds the messages of one digest; shared by the sending threads.
pub struct Composer<'a> {
    config: &'a Config,
    signer: &'a Signer,
    digest: &'a DigestRecord,
    /// The digest's subject, cut to [`MAX_SUBJECT_CHARS`].
    subject: String,
    list_id: String,
    dkim: Option<lettre::message::dkim::DkimConfig>,
    date: SystemTime,
    /// The bodies encoded once for every subscriber (see [`Encoded`]).
    encoded: Option<Encoded>,
    /// The whole message formatted once, when nothing in it is signed
    /// (see [`Template`]).
    template: Option<Template>,
    /// `…/unsubscribe/`: a subscriber's link is this and their token.
    unsubscribe_base: Option<String>,
}

/// A message ready for the transport: the envelope and the bytes of the
/// message as formatted (headers and body, CRLF line ends).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub envelope: lettre::address::Envelope,
    pub bytes: Vec<u8>,
}

impl Outgoing {
    /// A message lettre built (confirmations, signed digests).
    pub fn from_message(message: &Message) -> Self {
        Self {
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
        }
    }
}

/// The formatted message of one digest for a prototype subscriber, cut
/// around the lines that differ between subscribers (`To`, `Message-ID`),
/// with a run of `~` wherever the unsubscribe link goes (bodies and the
/// `List-Unsubscribe` header, see [`Encoded`]). A subscriber's message is
/// these pieces copied with their lines and link written in: building each
/// one with lettre (headers parsed back into an envelope, bodies copied
/// three times) was a third of a run's time per message at 10 KB. Not used
/// with DKIM: each signature covers that subscriber's headers.
struct Template {
    /// The message before the first per-subscriber line, between the two,
    /// and after the second.
    pieces: [Vec<u8>; 3],
    /// Which line goes after the first and the second piece.
    order: [Line; 2],
    /// Runs of `~` in each piece.
    links: [usize; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    To,
    MessageId,
}

impl Template {
    /// Cuts `prototype` (formatted with `to_line` and `id_line` and the
    /// masked link); `None` when either line is not found exactly once in
    /// the header or the links are not where `expected` says.
    fn new(
        prototype: &[u8],
        to_line: &[u8],
        id_line: &[u8],
        url_len: usize,
        expected: usize,
    ) -> Option<Self> {
        let head_end = memchr::memmem::find(prototype, b"\r\n\r\n")? + 2;
        let head = &prototype[..head_end];
        let find_once = |line: &[u8]| {
            let mut at = memchr::memmem::find_iter(head, line);
            let first = at.next()?;
            // A line starts the message or follows a CRLF.
            let starts_line = first == 0 || head[..first].ends_with(b"\r\n");
            (at.next().is_none() && starts_line).then_some(first)
        };
        let to = find_once(to_line)?;
        let id = find_once(id_line)?;
        let (first, first_len, second, second_len, order) = if to < id {
            (
                to,
                to_line.len(),
                id,
                id_line.len(),
                [Line::To, Line::MessageId],
            )
        } else {
            (
                id,
                id_line.len(),
                to,
                to_line.len(),
                [Line::MessageId, Line::To],
            )
        };
        if first + first_len > second {
            return None;
        }
        let pieces = [
            prototype[..first].to_vec(),
            prototype[first + first_len..second].to_vec(),
            prototype[second + second_len..].to_vec(),
        ];
        let mask = vec![b'~'; url_len];
        let mut scratch = Vec::new();
        let links = [0, 1, 2].map(|i| Encoded::fill_into(&mut scratch, &pieces[i], &mask));
        (links.iter().sum::<usize>() == expected).then_some(Self {
            pieces,
            order,
            links,
        })
    }

    /// The message for one subscriber: its `To` and `Message-ID` lines as
    /// formatted by lettre, and its unsubscribe link (as long as the mask).
    fn fill(&self, to_line: &[u8], id_line: &[u8], url: &[u8]) -> Option<Vec<u8>> {
        let size = self.pieces.iter().map(Vec::len).sum::<usize>() + to_line.len() + id_line.len();
        let mut out = Vec::with_capacity(size);
        for (i, piece) in self.pieces.iter().enumerate() {
            if Encoded::fill_into(&mut out, piece, url) != self.links[i] {
                return None;
            }
            if let Some(line) = self.order.get(i) {
                out.extend_from_slice(match line {
                    Line::To => to_line,
                    Line::MessageId => id_line,
                });
            }
        }
        Some(out)
    }
}

/// One header formatted as lettre formats it in a message (name, folded
/// and encoded value, CRLF).
fn header_line<H: lettre::message::header::Header>(header: H) -> Vec<u8> {
    let mut headers = lettre::message::header::Headers::new();
    headers.set(header);
    headers.to_string().into_bytes()
}

/// The two bodies, quoted-printable encoded once per digest with a run of
/// `~` where each subscriber's unsubscribe link goes. Links all have the
/// same length and need no escaping, so the run and the link break over
/// the same soft line breaks: writing a link in place is a copy, not a
/// re-encoding of 30 KB per message.
struct Encoded {
    text: Vec<u8>,
    html: Vec<u8>,
    links_in_text: usize,
    links_in_html: usize,
}

impl Encoded {
    fn new(digest: &DigestRecord, sample_url: &str) -> Option<Self> {
        let plain = sample_url.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'=' | b'~' | b'&' | b'<' | b'>' | b'"' | b'\'')
        });
        if !plain {
            return None;
        }
        let mask = "~".repeat(sample_url.len());
        let (html, text) = Rendered::personalize(&digest.html, &digest.text, &mask);
        let encode = |s: String| {
            Body::new_with_encoding(s, ContentTransferEncoding::QuotedPrintable)
                .ok()
                .map(Body::into_vec)
        };
        Some(Self {
            text: encode(text)?,
            html: encode(html)?,
            links_in_text: digest
                .text
                .matches(crate::digest::UNSUBSCRIBE_PLACEHOLDER)
                .count(),
            links_in_html: digest
                .html
                .matches(crate::digest::UNSUBSCRIBE_PLACEHOLDER)
                .count(),
        })
    }

    /// The encoded body with `url` written over each run; `None` if the runs
    /// found are not exactly the links expected (then the slow path is used).
    fn fill(encoded: &[u8], url: &[u8], expected: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(encoded.len());
        (Self::fill_into(&mut out, encoded, url) == expected).then_some(out)
    }

    /// Appends `encoded` to `out` with `url` written over each whole run of
    /// `url.len()` tildes; returns how many runs it wrote over.
    fn fill_into(out: &mut Vec<u8>, encoded: &[u8], url: &[u8]) -> usize {
        let mut found = 0;
        let mut i = 0;
        // Jump from tilde to tilde: everything between is copied as is.
        while let Some(at) = memchr::memchr(b'~', &encoded[i..]) {
            out.extend_from_slice(&encoded[i..i + at]);
            i += at;
            // Match url.len() tildes, allowing soft line breaks between.
            let (mut j, mut k) = (i, 0);
            while k < url.len() && j < encoded.len() {
                if encoded[j] == b'~' {
                    k += 1;
                    j += 1;
                } else if encoded[j..].starts_with(b"=\r\n") {
                    j += 3;
                } else {
                    break;
                }
            }
            let whole_run = i == 0 || encoded[i - 1] != b'~';
            if whole_run && k == url.len() && encoded.get(j) != Some(&b'~') {
                // k == url.len(): one byte of the link for each tilde.
                let mut next = url.iter();
                for &b in &encoded[i..j] {
                    out.push(if b == b'~' {
                        next.next().copied().unwrap_or(b)
                    } else {
                        b
                    });
                }
                found += 1;
                i = j;
            } else {
                out.push(b'~');
                i += 1;
            }
        }
        out.extend_from_slice(&encoded[i..]);
        found
    }

    fn bodies(&self, url: &str) -> Option<MultiPart> {
        let text = Self::fill(&self.text, url.as_bytes(), self.links_in_text)?;
        let html = Self::fill(&self.html, url.as_bytes(), self.links_in_html)?;
        let part = |content_type: ContentType, body: Vec<u8>| {
            SinglePart::builder()
                .header(content_type)
                .body(Body::dangerous_pre_encoded(
                    body,
                    ContentTransferEncoding::QuotedPrintable,
                ))
        };
        Some(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, text))
                .singlepart(part(ContentType::TEXT_HTML, html)),
        )
    }
}

impl<'a> Composer<'a> {
    pub fn new(
        config: &'a Config,
        signer: &'a Signer,
        digest: &'a DigestRecord,
        now: DateTime<FixedOffset>,
    ) -> Result<Self, MailError> {
        let dkim = match &config.settings.mail.dkim {
            Some(d) => Some(dkim_config(d)?),
            None => None,
        };
        let host = config.id_host();
        let slug: String = config
            .settings
            .site
            .title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let list_id = format!(
            "{} <{}.{host}>",
            quote_phrase(&cut(&config.settings.site.title, MAX_SUBJECT_CHARS)),
            if slug.is_empty() {
                "bookweek".to_string()
            } else {
                slug
            }
        );
        let mut composer = Self {
            config,
            signer,
            digest,
            subject: cut(&digest.subject, MAX_SUBJECT_CHARS),
            list_id,
            dkim,
            date: SystemTime::from(now),
            encoded: None,
            template: None,
            unsubscribe_base: None,
        };
        let sample = composer.unsubscribe_url(0);
        composer.encoded = Encoded::new(digest, &sample);
        // Tokens need no escaping in a URL, so a link is the base and the
        // token; checked once rather than assumed.
        composer.unsubscribe_base = config
            .absolute("unsubscribe/")
            .map(|u| u.to_string())
            .filter(|base| format!("{base}{}", signer.token(0, Purpose::Unsubscribe)) == sample);
        if composer.dkim.is_none() {
            composer.template = composer.prototype(sample.len());
        }
        Ok(composer)
    }

    /// The message cut into a [`Template`]; `None` when it cannot be
    /// (then each message is built with lettre).
    fn prototype(&self, url_len: usize) -> Option<Template> {
        let encoded = self.encoded.as_ref()?;
        let mask = "~".repeat(url_len);
        let to = Mailbox::new(None, "prototype@example.invalid".parse().ok()?);
        let id = self.message_id(0);
        let message = self
            .build(to.clone(), id.clone(), &mask, encoded.bodies(&mask)?)
            .ok()?;
        Template::new(
            &message.formatted(),
            &header_line(lettre::message::header::To::from(Mailboxes::from(to))),
            &header_line(lettre::message::header::MessageId::from(id)),
            url_len,
            // Both bodies and List-Unsubscribe.
            encoded.links_in_text + encoded.links_in_html + 1,
        )
    }

    /// The unsubscribe link of a subscriber (also in `List-Unsubscribe`).
    pub fn unsubscribe_url(&self, subscriber_id: i64) -> String {
        let token = self.signer.token(subscriber_id, Purpose::Unsubscribe);
        if let Some(base) = &self.unsubscribe_base {
            return format!("{base}{token}");
        }
        self.config
            .absolute(&format!("unsubscribe/{token}"))
            .map_or_else(|| format!("unsubscribe/{token}"), |u| u.to_string())
    }

    /// The Message-ID of a (digest, subscriber): the same on every retry, so a
    /// repeated message can be recognized as one by the receiver.
    pub fn message_id(&self, subscriber_id: i64) -> String {
        let domain = self.config.from.email.domain();
        let tag = self.digest.body_hash.get(..12).unwrap_or("0");
        format!(
            "<bookweek.{}.{}.{tag}@{domain}>",
            self.digest.id, subscriber_id
        )
    }

    /// A subscriber's message as sent: from the `Template` when there is
    /// one, else built (and signed) with lettre.
    pub fn outgoing(&self, delivery: &Delivery) -> Result<Outgoing, Failure> {
        let Some(template) = &self.template else {
            return self.message(delivery).map(|m| Outgoing::from_message(&m));
        };
        let to = self.mailbox(delivery)?;
        let address = to.email.clone();
        let url = self.unsubscribe_url(delivery.subscriber_id);
        let to_line = header_line(lettre::message::header::To::from(Mailboxes::from(to)));
        let id_line = header_line(lettre::message::header::MessageId::from(
            self.message_id(delivery.subscriber_id),
        ));
        match template.fill(&to_line, &id_line, url.as_bytes()) {
            Some(bytes) => Ok(Outgoing {
                envelope: lettre::address::Envelope::new(
                    Some(self.config.from.email.clone()),
                    vec![address],
                )
                .map_err(|e| Failure::Invalid(e.to_string()))?,
                bytes,
            }),
            None => self.message(delivery).map(|m| Outgoing::from_message(&m)),
        }
    }

    /// The recipient: a checked address and a name fit for a header.
    fn mailbox(&self, delivery: &Delivery) -> Result<Mailbox, Failure> {
        let address: Address = delivery
            .email
            .parse()
            .map_err(|e| Failure::Invalid(format!("bad address {:?}: {e}", delivery.email)))?;
        // A name reaches a header: no control characters, ever, and cut to
        // a length that keeps the line short (rows from older versions too).
        let name = crate::state::normalize_name(delivery.name.as_deref());
        Ok(Mailbox::new(name, address))
    }

    /// A subscriber's message built with lettre, and signed when DKIM is
    /// configured.
    pub fn message(&self, delivery: &Delivery) -> Result<Message, Failure> {
        let to = self.mailbox(delivery)?;
        let unsubscribe = self.unsubscribe_url(delivery.subscriber_id);
        let bodies = match self.encoded.as_ref().and_then(|e| e.bodies(&unsubscribe)) {
            Some(b) => b,
            None => {
                let (html, text) =
                    Rendered::personalize(&self.digest.html, &self.digest.text, &unsubscribe);
                MultiPart::alternative_plain_html(text, html)
            }
        };
        let mut message = self.build(
            to,
            self.message_id(delivery.subscriber_id),
            &unsubscribe,
            bodies,
        )?;
        if let Some(dkim) = &self.dkim {
            lettre::message::dkim::dkim_sign(&mut message, dkim);
        }
        Ok(message)
    }

    /// The message with every header, unsigned.
    fn build(
        &self,
        to: Mailbox,
        message_id: String,
        unsubscribe: &str,
        bodies: MultiPart,
    ) -> Result<Message, Failure> {
        let mut message = Message::builder()
            .from(self.config.from.clone())
            .to(to)
            .subject(self.subject.clone())
            .date(self.date)
            .message_id(Some(message_id))
            .multipart(bodies)
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let headers = message.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Id"),
            self.list_id.clone(),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{unsubscribe}>"),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".into(),
        ));
        Ok(message)
    }
}

/// The email that asks a new subscriber to confirm, rendered from the
/// `confirm.*.j2` templates.
pub fn confirmation(
    config: &Config,
    templates: &crate::templates::Templates,
    email: &str,
    confirm_url: &str,
    now: DateTime<FixedOffset>,
) -> Result<Message, String> {
    #[derive(serde::Serialize)]
    struct View<'a> {
        site_title: &'a str,
        site_url: String,
        language: &'a str,
        confirm_url: &'a str,
        subject: String,
    }
    let site = &config.settings.site;
    let mut view = View {
        site_title: &site.title,
        site_url: config.base_url.to_string(),
        language: &site.language,
        confirm_url,
        subject: String::new(),
    };
    let subject = templates
        .render("confirm.subject.j2", &view)
        .map_err(|e| e.to_string())?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    view.subject = subject.clone();
    let text = templates
        .render("confirm.txt.j2", &view)
        .map_err(|e| e.to_string())?;
    let html = templates
        .render("confirm.html.j2", &view)
        .map_err(|e| e.to_string())?;
    let to: Address = email
        .parse()
        .map_err(|e| format!("bad address {email:?}: {e}"))?;
    // On the From domain, like the digests' (lettre's default would name this
    // machine); a new request is a new message, so the time is part of it.
    let link_hash = <sha2::Sha256 as sha2::Digest>::digest(confirm_url.as_bytes());
    let message_id = format!(
        "<bookweek.confirm.{}.{}@{}>",
        now.timestamp(),
        link_hash[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        config.from.email.domain()
    );
    Message::builder()
        .from(config.from.clone())
        .to(Mailbox::new(None, to))
        .subject(cut(&subject, MAX_SUBJECT_CHARS))
        .date(SystemTime::from(now))
        .message_id(Some(message_id))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())
}

/// The longest subject (and list name) sent, in characters. lettre folds
/// long headers only at blanks, so a title without any could otherwise make
/// a line longer than RFC 5322's 998 octets.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// `s` cut to `max` characters, with an ellipsis when something was cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", s[..end].trim_end()),
    }
}

/// A display name as an RFC 5322 phrase: quoted when it has specials.
fn quote_phrase(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().all(|c| c.is_alphanumeric() || c == ' ') {
        clean
    } else {
        format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The DKIM signer for the configured key; `bookweek check` calls it too, so
/// a key the sender cannot use is reported before a digest is due.
pub fn dkim_config(
    d: &crate::config::Dkim,
) -> Result<lettre::message::dkim::DkimConfig, MailError> {
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    let err = |message: String| MailError::Dkim {
        path: d.private_key.clone(),
        message,
    };
    let pem = std::fs::read_to_string(&d.private_key).map_err(|e| err(e.to_string()))?;
    // lettre reads RSA keys as PKCS#1 PEM and Ed25519 keys as the base64 of
    // the 32 raw key bytes.
    let key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa)
    } else if pem.contains("-----BEGIN") {
        return Err(err(
            "not a key bookweek can sign with: use an RSA key in PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`) or an Ed25519 key as the base64 of its 32 bytes; `bookweek dkim keygen` writes either".into(),
        ));
    } else {
        DkimSigningKey::new(pem.trim(), DkimSigningAlgorithm::Ed25519)
    }
    .map_err(|e| err(e.to_string()))?;
    // relaxed/relaxed: lettre folds the DKIM-Signature header when it writes
    // the message, which breaks "simple" header canonicalization; and it
    // signs a multipart Content-Type differently from how it writes it, so
    // that header is left out (both found by verifying with dkimpy). The
    // List-Unsubscribe headers are signed: large mailbox providers honour
    // one-click unsubscribe only when they are.
    let headers = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ]
    .into_iter()
    .map(HeaderName::new_from_ascii_str)
    .collect();
    Ok(DkimConfig::new(
        d.selector.clone(),
        d.domain.clone(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// What a delivery run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub sent: usize,
    pub skipped: usize,
    pub retried: usize,
    pub failed: usize,
    pub bounced: usize,
    /// Deliveries left pending because the server stayed unreachable.
    pub left_pending: usize,
}

/// See [`Policy::give_up_after`].
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// How a delivery run behaves; from the config, but tests may shorten waits.
#[derive(Debug, Clone)]
pub struct Policy {
    pub connections: usize,
    pub max_attempts: u32,
    pub bounce_after: u32,
    pub retry_delay: Duration,
    /// Messages per second, 0 for no limit.
    pub rate: f64,
    /// How long the server may stay unreachable (connection refused, a
    /// connect timeout) before the run stops and leaves the rest pending
    /// for the next one: a cron run must not hold its lock for minutes.
    pub give_up_after: Duration,
    /// Set by a shutting-down daemon: hand out no new messages; those in
    /// flight finish and are recorded, the rest stay pending.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        let m = &config.settings.mail;
        Self {
            connections: m.connections.max(1),
            max_attempts: m.max_attempts.max(1),
            bounce_after: m.bounce_after.max(1),
            retry_delay: config.retry_delay,
            rate: m.rate,
            give_up_after: GIVE_UP_AFTER,
            stop: None,
        }
    }

    /// Exponential backoff with jitter: delay × 2^(attempt-1) × [0.5, 1.5),
    /// capped at ten minutes.
    fn backoff(&self, attempt: u32) -> Duration {
        let base =
            self.retry_delay.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
        let jitter = 0.5 + rand::random::<f64>();
        Duration::from_secs_f64((base * jitter).min(600.0))
    }
}

/// Reports progress: a bar on a terminal, periodic log lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_log: Instant,
    done: u64,
    total: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            last_log: Instant::now(),
            done: 0,
            total,
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if self.last_log.elapsed() >= Duration::from_secs(5) => {
                self.last_log = Instant::now();
                tracing::info!(done = self.done, total = self.total, "delivering");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

struct Job {
    delivery: Delivery,
    attempt: u32,
    /// When it was handed to a sender: an outage is timed from the first
    /// attempt that failed, connect timeout included.
    dispatched: Instant,
}

/// How many delivery rows are read from the database at a time: memory
/// stays flat whatever the number of subscribers.
const BATCH: usize = 1000;

/// Jobs a connection holds at most: the one being sent and the next, whose
/// envelope goes out with the content of the first.
const PER_CONNECTION: usize = 2;

/// A result from a connection.
struct Outcome {
    line: usize,
    job: Job,
    result: Result<(), Failure>,
}

/// From the run to a connection, once for each of its results recorded
/// and whenever it is given a job.
struct Go {
    job: Option<Job>,
    /// How many of this connection's results are recorded.
    recorded: u64,
    /// No jobs will follow.
    closing: bool,
}

/// The run's side of one connection.
struct Connection {
    go: crossbeam_channel::Sender<Go>,
    /// Jobs handed to it and not yet recorded.
    held: usize,
    recorded: u64,
}

impl Connection {
    fn send(&mut self, job: Option<Job>) {
        self.held += usize::from(job.is_some());
        let go = Go {
            job,
            recorded: self.recorded,
            closing: false,
        };
        // A connection that is gone has no use for it.
        let _ = self.go.send(go);
    }

    fn close(&mut self) {
        let go = Go {
            job: None,
            recorded: self.recorded,
            closing: true,
        };
        let _ = self.go.send(go);
    }
}

/// One connection's thread. Exactly-once rests on one rule here: the
/// content of a message (whose terminator makes the server accept it) is
/// sent only once every result this connection reported is recorded. So
/// at most one accepted message per connection is ever unrecorded, and a
/// crash repeats at most that one. Envelopes are not bound by it: a
/// message whose envelope is open and whose content never came is dropped
/// by the server.
struct Worker<'c, 't> {
    index: usize,
    composer: &'c Composer<'c>,
    sender: Sender<'t>,
    go: crossbeam_channel::Receiver<Go>,
    results: crossbeam_channel::Sender<Outcome>,
    /// Jobs received and not yet opened, with the message if built.
    jobs: VecDeque<(Job, Option<Outgoing>)>,
    reported: u64,
    recorded: u64,
    closing: bool,
}

impl Worker<'_, '_> {
    fn run(mut self) {
        // The job whose envelope is open on the connection.
        let mut open: Option<Job> = None;
        loop {
            let idle = open.is_none() && self.jobs.is_empty();
            let gated = open.is_some() && self.recorded < self.reported;
            if idle && self.closing {
                break;
            }
            if idle || gated {
                match self.go.recv() {
                    Ok(go) => self.take(go),
                    // The run is gone: nothing more will be recorded.
                    Err(_) => break,
                }
                continue;
            }
            while let Ok(go) = self.go.try_recv() {
                self.take(go);
            }
            match open.take() {
                None => {
                    let Some((job, message)) = self.jobs.pop_front() else {
                        continue;
                    };
                    let opened = match message {
                        Some(m) => self.sender.open(&m),
                        None => self
                            .composer
                            .outgoing(&job.delivery)
                            .and_then(|m| self.sender.open(&m)),
                    };
                    match opened {
                        Ok(()) => open = Some(job),
                        Err(e) => self.report(job, Err(e)),
                    }
                }
                Some(job) => open = self.complete(job),
            }
        }
        self.sender.finish();
    }

    /// Sends the open job's content, with the next job's envelope when
    /// there is one; returns the next job if it is now open.
    fn complete(&mut self, job: Job) -> Option<Job> {
        let mut next = self.jobs.pop_front();
        if let Some((next_job, message @ None)) = &mut next {
            match self.composer.outgoing(&next_job.delivery) {
                Ok(m) => *message = Some(m),
                Err(e) => {
                    if let Some((next_job, _)) = next.take() {
                        self.report(next_job, Err(e));
                    }
                }
            }
        }
        let (sent, opened) = self
            .sender
            .complete(next.as_ref().and_then(|(_, m)| m.as_ref()));
        self.report(job, sent);
        match (next, opened) {
            (Some((next_job, _)), Some(Ok(()))) => Some(next_job),
            (Some((next_job, _)), Some(Err(e))) => {
                self.report(next_job, Err(e));
                None
            }
            // Not sent: it is opened on its own (after a reconnect).
            (Some(next), None) => {
                self.jobs.push_front(next);
                None
            }
            (None, _) => None,
        }
    }

    fn take(&mut self, go: Go) {
        self.recorded = self.recorded.max(go.recorded);
        self.closing |= go.closing;
        if let Some(job) = go.job {
            self.jobs.push_back((job, None));
        }
    }

    fn report(&mut self, job: Job, result: Result<(), Failure>) {
        self.reported += 1;
        let outcome = Outcome {
            line: self.index,
            job,
            result,
        };
        // The run only goes away after every connection has.
        let _ = self.results.send(outcome);
    }
}

/// The bookkeeping of one delivery run.
struct Run {
    digest_id: i64,
    policy: Policy,
    now: DateTime<FixedOffset>,
    summary: Summary,
    progress: Progress,
    /// Jobs ready to go, in subscriber order (retries jump the queue).
    queue: VecDeque<Job>,
    /// Retries waiting for their time: (when, subscriber id).
    retries: BinaryHeap<Reverse<(Instant, i64)>>,
    waiting: HashMap<i64, Job>,
    in_flight: usize,
    /// Consecutive "server unreachable" results, and since when.
    unreachable_streak: u32,
    outage_since: Option<Instant>,
    paused_until: Option<Instant>,
    /// The server stayed unreachable: stop and leave the rest pending.
    aborted: bool,
}

impl Run {
    /// Records the results that arrived together and empties `results`:
    /// the messages the server accepted in one transaction, the others
    /// each in its own. Every result here is of a message the server has
    /// answered, and no sender is handed another message before its last
    /// one is recorded, so a crash repeats at most one per connection.
    fn record_all(
        &mut self,
        state: &mut State,
        results: &mut Vec<Outcome>,
    ) -> Result<(), MailError> {
        let sent: Vec<i64> = results
            .iter()
            .filter(|r| r.result.is_ok())
            .map(|r| r.job.delivery.subscriber_id)
            .collect();
        if !sent.is_empty() {
            state.mark_all_sent(self.digest_id, &sent, self.now)?;
        }
        for r in results.drain(..) {
            self.record(state, r.job, r.result)?;
        }
        Ok(())
    }

    /// Books one result; a failure is written in its own transaction, a
    /// success was written by [`Run::record_all`].
    fn record(
        &mut self,
        state: &mut State,
        job: Job,
        outcome: Result<(), Failure>,
    ) -> Result<(), MailError> {
        self.in_flight -= 1;
        let d = &job.delivery;
        let (id, sub) = (self.digest_id, d.subscriber_id);
        match outcome {
            Ok(()) => {
                self.server_answered();
                self.summary.sent += 1;
                self.progress.tick();
            }
            Err(Failure::Permanent(e) | Failure::Invalid(e)) => {
                self.server_answered();
                if state.mark_failed(id, sub, &e, true, self.policy.bounce_after, self.now)? {
                    self.summary.bounced += 1;
                }
                tracing::warn!(to = %d.email, error = %e, "delivery failed permanently");
                self.summary.failed += 1;
                self.progress.tick();
            }
            Err(Failure::Transient(e)) => {
                self.server_answered();
                if job.attempt >= self.policy.max_attempts {
                    state.mark_failed(id, sub, &e, false, self.policy.bounce_after, self.now)?;
                    tracing::warn!(to = %d.email, error = %e, attempts = job.attempt, "delivery failed after retries");
                    self.summary.failed += 1;
                    self.progress.tick();
                } else {
                    let delay = self.policy.backoff(job.attempt);
                    let next = self.now + chrono::Duration::from_std(delay).unwrap_or_default();
                    state.mark_retry(id, sub, &e, next)?;
                    self.summary.retried += 1;
                    self.retries.push(Reverse((Instant::now() + delay, sub)));
                    self.waiting.insert(
                        sub,
                        Job {
                            attempt: job.attempt + 1,
                            delivery: job.delivery,
                            dispatched: job.dispatched,
                        },
                    );
                }
            }
            Err(Failure::Unreachable(e)) => {
                // Nothing was accepted: the delivery stays pending and keeps
                // its attempts. Pause everything and back off, for as long
                // as the outage budget allows.
                self.unreachable_streak += 1;
                let since = *self.outage_since.get_or_insert(job.dispatched);
                let delay = self.policy.backoff(self.unreachable_streak);
                if since.elapsed() + delay > self.policy.give_up_after {
                    if !self.aborted {
                        tracing::error!(error = %e, "mail server unreachable; leaving the rest for the next run");
                    }
                    self.aborted = true;
                } else {
                    tracing::warn!(error = %e, retry_in = %crate::human::duration(delay), "mail server unreachable; retrying");
                    self.paused_until = Some(Instant::now() + delay);
                    self.queue.push_front(job);
                }
            }
        }
        Ok(())
    }

    /// The server replied (whatever it said): any outage is over.
    fn server_answered(&mut self) {
        self.unreachable_streak = 0;
        self.outage_since = None;
    }

    /// Moves retries whose time has come to the front of the queue.
    fn release_retries(&mut self) {
        while let Some(Reverse((due, sub))) = self.retries.peek().copied() {
            if due > Instant::now() {
                break;
            }
            self.retries.pop();
            if let Some(job) = self.waiting.remove(&sub) {
                self.queue.push_front(job);
            }
        }
    }

    /// How long to wait for a result when nothing can be dispatched.
    fn idle_wait(&self) -> Duration {
        if self.in_flight > 0 {
            return Duration::from_millis(50);
        }
        let now = Instant::now();
        let until_retry = self
            .retries
            .peek()
            .map(|Reverse((t, _))| t.saturating_duration_since(now));
        let until_resume = self.paused_until.map(|t| t.saturating_duration_since(now));
        until_retry
            .into_iter()
            .chain(until_resume)
            .min()
            .unwrap_or(Duration::from_millis(50))
            .max(Duration::from_millis(1))
    }
}

/// Delivers every pending delivery of a digest over `policy.connections`
/// parallel connections. Stops early, leaving rows pending for the next
/// run, when the server stays unreachable.
pub fn deliver(
    state: &mut State,
    composer: &Composer,
    transport: &Transport,
    policy: Policy,
    now: DateTime<FixedOffset>,
) -> Result<Summary, MailError> {
    let digest_id = composer.digest.id;
    let total = state.delivery_counts(digest_id)?.pending as u64;
    let mut run = Run {
        digest_id,
        policy: policy.clone(),
        now,
        summary: Summary::default(),
        progress: Progress::new(total),
        queue: VecDeque::new(),
        retries: BinaryHeap::new(),
        waiting: HashMap::new(),
        in_flight: 0,
        unreachable_streak: 0,
        outage_since: None,
        paused_until: None,
        aborted: false,
    };
    let min_gap = (policy.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / policy.rate));
    let connections = policy.connections;

    std::thread::scope(|scope| -> Result<(), MailError> {
        let (result_tx, result_rx) = crossbeam_channel::unbounded::<Outcome>();
        let mut lines = Vec::with_capacity(connections);
        for index in 0..connections {
            let (go_tx, go_rx) = crossbeam_channel::unbounded::<Go>();
            lines.push(Connection {
                go: go_tx,
                held: 0,
                recorded: 0,
            });
            let worker = Worker {
                index,
                composer,
                sender: transport.sender(),
                go: go_rx,
                results: result_tx.clone(),
                jobs: VecDeque::new(),
                reported: 0,
                recorded: 0,
                closing: false,
            };
            scope.spawn(move || worker.run());
        }
        drop(result_tx);

        let mut after = 0i64;
        let mut exhausted = false;
        let mut last_dispatch: Option<Instant> = None;
        let mut results: Vec<Outcome> = Vec::with_capacity(connections);
        // A job for `line`, if one may go now (pacing by `mail.rate`).
        let mut take_job = |run: &mut Run, line: &Connection| -> Option<Job> {
            let paused = run.paused_until.is_some_and(|t| t > Instant::now());
            if paused || run.aborted || line.held >= PER_CONNECTION {
                return None;
            }
            let mut job = run.queue.pop_front()?;
            if let (Some(gap), Some(last)) = (min_gap, last_dispatch) {
                std::thread::sleep(gap.saturating_sub(last.elapsed()));
            }
            last_dispatch = Some(Instant::now());
            job.dispatched = Instant::now();
            run.in_flight += 1;
            Some(job)
        };
        let outcome = (|| -> Result<(), MailError> {
            loop {
                // Refill from the database, one page at a time.
                if run.queue.is_empty() && !exhausted && !run.aborted {
                    let batch = state.pending_batch(digest_id, after, BATCH)?;
                    exhausted = batch.len() < BATCH;
                    for d in batch {
                        after = d.subscriber_id;
                        if !d.subscriber_active {
                            state.mark_skipped(
                                digest_id,
                                d.subscriber_id,
                                "unsubscribed after the digest was created",
                            )?;
                            run.summary.skipped += 1;
                            run.progress.tick();
                            continue;
                        }
                        let attempt = d.attempts + 1;
                        run.queue.push_back(Job {
                            delivery: d,
                            attempt,
                            dispatched: Instant::now(),
                        });
                    }
                }
                if run
                    .policy
                    .stop
                    .as_ref()
                    .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
                {
                    // Stopping counts as an outage: nothing new goes out.
                    run.aborted = true;
                }
                if !run.aborted {
                    run.release_retries();
                }
                // The connection holding the fewest jobs gets the next one.
                let mut dispatched = false;
                if let Some(line) = lines.iter_mut().min_by_key(|l| l.held)
                    && let Some(job) = take_job(&mut run, line)
                {
                    line.send(Some(job));
                    dispatched = true;
                }
                if !dispatched {
                    let done = run.in_flight == 0
                        && (run.aborted
                            || (run.queue.is_empty() && exhausted && run.retries.is_empty()));
                    if done {
                        break;
                    }
                    if let Ok(result) = result_rx.recv_timeout(run.idle_wait()) {
                        results.push(result);
                    }
                }
                results.extend(result_rx.try_iter());
                if !results.is_empty() {
                    let from: Vec<usize> = results.iter().map(|r| r.line).collect();
                    run.record_all(state, &mut results)?;
                    // Tell each connection its result is recorded, with its
                    // next job when there is one.
                    for index in from {
                        let line = &mut lines[index];
                        line.held -= 1;
                        line.recorded += 1;
                        let job = take_job(&mut run, line);
                        line.send(job);
                    }
                }
            }
            Ok(())
        })();
        // No more jobs; the messages the connections hold are still sent and
        // recorded, each after the one before it.
        for line in &mut lines {
            line.close();
        }
        let mut results = Vec::new();
        while let Ok(result) = result_rx.recv() {
            results.push(result);
            results.extend(result_rx.try_iter());
            let from: Vec<usize> = results.iter().map(|r| r.line).collect();
            run.record_all(state, &mut results)?;
            for index in from {
                let line = &mut lines[index];
                line.held -= 1;
                line.recorded += 1;
                line.send(None);
            }
        }
        outcome
    })?;
    run.progress.finish();
    run.summary.left_pending = state.delivery_counts(digest_id)?.pending;
    state.finish_if_done(digest_id)?;
    Ok(run.summary)
}

#[cfg(test)]
mod encoded_tests {
    use super::*;

    #[test]
    fn links_are_written_over_runs_split_by_soft_breaks() {
        let enc = b"a ~~=\r\n~~ b ~~~~\r\n~~~ c";
        assert_eq!(
            Encoded::fill(enc, b"wxyz", 2).unwrap(),
            b"a wx=\r\nyz b wxyz\r\n~~~ c"
        );
        // A run of the wrong length is left alone, and then the count is off.
        assert_eq!(Encoded::fill(enc, b"wxyz", 3), None);
    }
}

#[cfg(test)]
mod header_tests {
    use super::*;

    fn digest(subject: &str) -> DigestRecord {
        DigestRecord {
            id: 1,
            tick: "2022-12-12T08:00:00Z".into(),
            created: "2022-12-12T08:00:00Z".into(),
            status: crate::state::DigestStatus::Sending,
            subject: subject.into(),
            html: format!("<p>{}</p>", crate::digest::UNSUBSCRIBE_PLACEHOLDER),
            text: crate::digest::UNSUBSCRIBE_PLACEHOLDER.into(),
            body_hash: "0123456789abcdef".into(),
        }
    }

    /// `raw` with its MIME boundary replaced by `B`: each lettre build
    /// draws a new one.
    fn same_boundary(raw: &[u8]) -> String {
        let text = String::from_utf8(raw.to_vec()).unwrap();
        let start = text.find("boundary=\"").unwrap() + "boundary=\"".len();
        let end = start + text[start..].find('"').unwrap();
        text.replace(&text[start..end].to_string(), "B")
    }

    #[test]
    fn the_template_writes_the_message_lettre_would() {
        let config = crate::config::parse(std::path::Path::new("bookweek.yaml"), "").config;
        let signer = Signer::new(&[7; 32]);
        let now = DateTime::parse_from_rfc3339("2022-12-12T09:00:00+01:00").unwrap();
        let link = crate::digest::UNSUBSCRIBE_PLACEHOLDER;
        let mut record = digest(
            "Book of the Week: Ünïcode ~ and a long subject line that lettre has to fold somewhere",
        );
        // Long lines (soft breaks inside the links), a tilde of its own, and
        // the link several times in each body.
        record.html = format!(
            "<p>{}</p><a href=\"{link}\">Unsubscribe</a> ~ <p>{}</p><a href=\"{link}\">again</a>\n",
            "Wörds and more words ".repeat(40),
            "x".repeat(300)
        );
        record.text = format!("{}\nUnsubscribe: {link}\n~~~\n{link}", "Text ".repeat(100));
        let composer = Composer::new(&config, &signer, &record, now).unwrap();
        assert!(composer.template.is_some(), "the template applies");
        for (id, email, name) in [
            (1, "reader@example.net", Some("Jane Reader")),
            (42, "x@example.org", None),
            (
                123_456_789,
                "ñame@bücher.example",
                Some("Ñoño \"Quoted\" Ü, Jr."),
            ),
            (7, "long@example.net", Some("word ".repeat(40).as_str())),
            (
                8,
                "tilde@example.net",
                Some("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"),
            ),
        ] {
            let delivery = Delivery {
                digest_id: 1,
                subscriber_id: id,
                email: email.into(),
                name: name.map(str::to_string),
                subscriber_active: true,
                attempts: 0,
            };
            let fast = composer.outgoing(&delivery).unwrap();
            let slow = composer.message(&delivery).unwrap();
            assert_eq!(
                same_boundary(&fast.bytes),
                same_boundary(&slow.formatted()),
                "{email}"
            );
            assert_eq!(&fast.envelope, slow.envelope());
        }
    }

    #[test]
    fn no_header_line_exceeds_998_octets_whatever_the_name_or_subject() {
        let config = crate::config::parse(std::path::Path::new("bookweek.yaml"), "").config;
        let signer = Signer::new(&[7; 32]);
        let now = DateTime::parse_from_rfc3339("2022-12-12T09:00:00+01:00").unwrap();
        for (name, subject) in [
            ("N".repeat(5000), "S ".repeat(2500)),
            ("Ñ".repeat(5000), "Ü".repeat(5000)),
            ("word ".repeat(1000), "Book of the Week".into()),
            ("Jane".into(), "S".repeat(5000)),
        ] {
            let record = digest(&subject);
            let composer = Composer::new(&config, &signer, &record, now).unwrap();
            let delivery = Delivery {
                digest_id: 1,
                subscriber_id: 1,
                email: "reader@example.net".into(),
                name: Some(name),
                subscriber_active: true,
                attempts: 0,
            };
            let built = composer.message(&delivery).unwrap().formatted();
            let sent = composer.outgoing(&delivery).unwrap().bytes;
            for raw in [built, sent] {
                let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                for line in raw[..head_end].split(|b| *b == b'\n') {
                    assert!(
                        line.len() <= 998,
                        "{} octets: {}",
                        line.len(),
                        String::from_utf8_lossy(&line[..80])
                    );
                }
            }
        }
    }
}
