//! A small blocking SMTP submission client: one connection per [`SmtpClient`],
//! used by one sending thread.
//!
//! Why it exists: lettre 0.11.23's `SmtpTransport` never sets TCP_NODELAY and
//! writes the DATA terminator `\r\n.\r\n` as its own small write after the
//! body, so Nagle holds it back until the server's delayed ACK (40 ms). We
//! measured 20 messages/s per connection against a local server. Here the
//! socket is no-delay, the dot-stuffed body and its terminator go out in one
//! write, and MAIL/RCPT/DATA are pipelined when the server offers PIPELINING.
//! The upstream fix (lettre/lettre#1159) is merged but not released: once a
//! lettre release carries it, switch back to lettre's transport and delete
//! this file. lettre still builds the messages, signs them and parses
//! addresses.
//!
//! What a result tells the caller: [`SmtpError::Transient`] (4xx) and
//! [`SmtpError::Permanent`] (5xx) are the server's answer about this message;
//! after [`SmtpError::Connection`] nothing can be assumed delivered (if the
//! connection broke while waiting for the final reply, a retry may repeat
//! the message: SMTP cannot tell); [`SmtpError::Invalid`] means the message
//! was not sent because SMTP cannot carry it as given. Reconnect when
//! [`SmtpClient::is_broken`] says so (after I/O errors, timeouts and any 421).

use std::fmt::{self, Write as _};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Longest reply line read; RFC 5321 allows 512 octets, some servers say more.
const MAX_LINE: u64 = 4096;
/// Most lines in one reply (EHLO sends one per extension).
const MAX_LINES: usize = 256;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text (`smtp://host`).
    None,
    /// STARTTLS when the server offers it (`smtp://host?tls=opportunistic`).
    StartTlsOpportunistic,
    /// STARTTLS, or no connection (`smtp://host?tls=required`).
    StartTlsRequired,
    /// TLS from the first byte (`smtps://host`).
    Implicit,
}

/// Where and how to connect; checked once, then shared by all connections.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// User name and password for AUTH PLAIN or LOGIN.
    pub credentials: Option<(String, String)>,
    /// The name given in EHLO / HELO.
    pub hello_name: String,
    /// For every read and write once connected (zero counts as 1 ms).
    pub timeout: Duration,
    /// For the TCP connect and the server's greeting: an unreachable server
    /// is given up on quickly, a slow one mid-message is not.
    pub connect_timeout: Duration,
}

/// Never shows the password.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("hello_name", &self.hello_name)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// Parses lettre's URL form: `smtp://host[:port]` (plain, port 25),
    /// `smtp://[user:pass@]host[:port]?tls=required|opportunistic` (STARTTLS,
    /// port 587), `smtps://[user:pass@]host[:port]` (implicit TLS, port 465).
    /// Credentials are percent-decoded. The EHLO name is the URL's path, as in
    /// lettre (`smtp://host/client.example.org`), or `?ehlo_name=`; by default
    /// the machine's host name. Timeouts: 10 s to connect and be greeted,
    /// 60 s for each read or write after that. Errors never contain the URL.
    pub fn from_url(url: &str) -> Result<SmtpConfig, String> {
        let u = url::Url::parse(url).map_err(|e| format!("is not a valid URL: {e}"))?;
        let query = |key: &str| {
            u.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let (security, default_port) = match (u.scheme(), query("tls").as_deref()) {
            ("smtp", None) => (Security::None, 25),
            ("smtp", Some("opportunistic")) => (Security::StartTlsOpportunistic, 587),
            ("smtp", Some("required")) => (Security::StartTlsRequired, 587),
            ("smtp", Some(other)) => {
                return Err(format!(
                    "has `tls={other}`; expected `tls=required` or `tls=opportunistic`"
                ));
            }
            ("smtps", _) => (Security::Implicit, 465),
            (scheme, _) => {
                return Err(format!(
                    "has scheme `{scheme}://`; expected `smtp://` or `smtps://`"
                ));
            }
        };
        let host = match u.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("has no host".into()),
        };
        let credentials = match (u.username(), u.password()) {
            ("", None) => None,
            (user, Some(pass)) => Some((percent_decode(user)?, percent_decode(pass)?)),
            (_, None) => return Err("has a user name but no password".into()),
        };
        let path = u.path().trim_matches('/');
        let hello_name = match query("ehlo_name") {
            Some(name) => name,
            None if !path.is_empty() => path.to_string(),
            None => lettre::transport::smtp::extension::ClientId::default().to_string(),
        };
        // The name goes into a command line: nothing that could end or split it.
        if hello_name.is_empty()
            || hello_name.contains(|c: char| c.is_whitespace() || c.is_control())
        {
            return Err(format!("has an unusable EHLO name {hello_name:?}"));
        }
        Ok(SmtpConfig {
            host,
            port: u.port().unwrap_or(default_port),
            security,
            credentials,
            hello_name,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        })
    }

    /// `host:port`, for messages.
    fn peer(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `jane@bücher.de` → `jane@xn--bcher-kva.de`; anything else as it is.
fn ascii_domain(address: &str) -> std::borrow::Cow<'_, str> {
    if let Some((local, domain)) = address.rsplit_once('@')
        && !domain.is_ascii()
        && let Ok(url::Host::Domain(ascii)) = url::Host::parse(domain)
    {
        return format!("{local}@{ascii}").into();
    }
    address.into()
}

/// `%XX` → byte, then UTF-8 (`+` stays `+`: this is not a form).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "has credentials that are not UTF-8".to_string())
}

/// How a command or a message failed. Display is the server's reply, e.g.
/// `451 4.7.1 Try again later` (enhanced status code kept in `message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    /// A 4xx reply: the server may accept this message later. After 421 the
    /// connection is closed ([`SmtpClient::is_broken`]).
    #[error("{code} {message}")]
    Transient { code: u16, message: String },
    /// A 5xx reply: the server refuses this message.
    #[error("{code} {message}")]
    Permanent { code: u16, message: String },
    /// Connecting, resolving, TLS, AUTH, I/O, a timeout or a protocol error:
    /// nothing can be assumed delivered; the connection is unusable.
    #[error("{0}")]
    Connection(String),
    /// The message cannot be sent as given (no recipients, an address SMTP
    /// cannot carry, 8-bit content the server does not accept). Nothing was
    /// sent and the connection is still usable.
    #[error("{0}")]
    Invalid(String),
}

/// One reply: its code and the text of each line (after `250-` / `250 `).
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn is(&self, class: u16) -> bool {
        self.code / 100 == class
    }
}

/// What EHLO announced, as far as this client uses it.
#[derive(Debug, Default, Clone, Copy)]
struct Extensions {
    pipelining: bool,
    starttls: bool,
    size: bool,
    eight_bit_mime: bool,
    smtputf8: bool,
    auth_plain: bool,
    auth_login: bool,
}

impl Extensions {
    /// From the lines of a 250 reply to EHLO; the first is the server's name.
    fn parse(lines: &[String]) -> Self {
        let mut ext = Self::default();
        for line in lines.iter().skip(1) {
            let line = line.to_ascii_uppercase();
            // `AUTH=LOGIN PLAIN` is an old spelling of `AUTH LOGIN PLAIN`.
            let mut words = line.split([' ', '=']).filter(|w| !w.is_empty());
            match words.next().unwrap_or("") {
                "PIPELINING" => ext.pipelining = true,
                "STARTTLS" => ext.starttls = true,
                "SIZE" => ext.size = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "AUTH" => {
                    for mechanism in words {
                        ext.auth_plain |= mechanism == "PLAIN";
                        ext.auth_login |= mechanism == "LOGIN";
                    }
                }
                _ => {}
            }
        }
        ext
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// One SMTP connection, ready for transactions after [`SmtpClient::connect`].
pub struct SmtpClient {
    io: BufReader<Stream>,
    /// `host:port`, for error messages.
    peer: String,
    timeout: Duration,
    ext: Extensions,
    tls: bool,
    broken: bool,
    /// Commands waiting to be written; reused so a send does not allocate.
    out: Vec<u8>,
    /// The content (dot-stuffed, with its terminator) of the message whose
    /// envelope the server accepted, until [`SmtpClient::complete`] sends it.
    open: Option<Vec<u8>>,
}

/// A message checked against the server's extensions and formatted for one
/// transaction: see [`SmtpClient::prepare`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// MAIL, one RCPT per recipient, DATA; each line with its CRLF.
    commands: Vec<u8>,
    /// How many commands (and so replies).
    count: usize,
    /// The content, dot-stuffed, with its terminator.
    data: Vec<u8>,
}

impl SmtpClient {
    /// Connects (each resolved address in turn), reads the greeting, says
    /// EHLO (HELO if refused), starts TLS and authenticates as configured. Any
    /// failure here, server replies included, is a [`SmtpError::Connection`]:
    /// it says nothing about a message.
    pub fn connect(cfg: &SmtpConfig) -> Result<SmtpClient, SmtpError> {
        let peer = cfg.peer();
        let fail = |what: String| SmtpError::Connection(format!("{peer}: {what}"));
        let timeout = cfg.timeout.max(Duration::from_millis(1));
        let connect_timeout = cfg.connect_timeout.max(Duration::from_millis(1));
        let addrs = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(|e| fail(format!("cannot resolve: {e}")))?;
        let mut last_error = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| match last_error {
            Some(e) => fail(format!("cannot connect: {e}")),
            None => fail("resolves to no address".into()),
        })?;
        let loopback = tcp.peer_addr().is_ok_and(|a| a.ip().is_loopback());
        // Without TCP_NODELAY each small write waits for the server's ACK.
        tcp.set_nodelay(true)
            .and_then(|()| tcp.set_read_timeout(Some(connect_timeout)))
            .and_then(|()| tcp.set_write_timeout(Some(connect_timeout)))
            .map_err(|e| fail(e.to_string()))?;
        // Once greeted, the server is there: give each read and write the
        // longer timeout.
        let tcp_after_greeting = tcp.try_clone().map_err(|e| fail(e.to_string()))?;
        let implicit = cfg.security == Security::Implicit;
        let stream = if implicit {
            tls_connect(tcp, &cfg.host).map_err(fail)?
        } else {
            Stream::Plain(tcp)
        };
        let mut client = SmtpClient {
            io: BufReader::new(stream),
            peer: peer.clone(),
            // Until greeted; the longer timeout after (for messages too).
            timeout: connect_timeout,
            ext: Extensions::default(),
            tls: implicit,
            broken: false,
            out: Vec::new(),
            open: None,
        };
        let greeting = client.read_reply()?;
        client.expect(greeting, 2, "greeting")?;
        tcp_after_greeting
            .set_read_timeout(Some(timeout))
            .and_then(|()| tcp_after_greeting.set_write_timeout(Some(timeout)))
            .map_err(|e| fail(e.to_string()))?;
        drop(tcp_after_greeting);
        client.timeout = timeout;
        client.hello(&cfg.hello_name)?;
        let starttls = match cfg.security {
            Security::StartTlsRequired => true,
            Security::StartTlsOpportunistic => client.ext.starttls,
            Security::None | Security::Implicit => false,
        };
        if starttls {
            if !client.ext.starttls {
                return Err(fail(
                    "does not offer STARTTLS, which `tls=required` needs".into(),
                ));
            }
            client = client.start_tls(&cfg.host)?;
            client.hello(&cfg.hello_name)?;
        }
        if let Some((user, password)) = &cfg.credentials {
            if !client.tls && !loopback {
                return Err(fail(
                    "refusing to send the password unencrypted; use smtps:// or ?tls=required"
                        .into(),
                ));
            }
            client.auth(user, password)?;
        }
        Ok(client)
    }

    /// True once the connection cannot be used again (I/O error, timeout,
    /// protocol error, 421): connect a new client.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sends a lettre message to its envelope's recipients.
    pub fn send_message(&mut self, message: &lettre::Message) -> Result<(), SmtpError> {
        let envelope = message.envelope();
        let from = envelope.from().map_or("", |a| a.as_ref());
        let to: Vec<&str> = envelope.to().iter().map(|a| a.as_ref()).collect();
        self.send(from, &to, &message.formatted())
    }

    /// One transaction; all or nothing: if any recipient is refused, no
    /// message is sent and the first refusal is returned. `from` may be empty
    /// (null sender). The connection stays usable unless [`Self::is_broken`].
    pub fn send(&mut self, from: &str, to: &[&str], message: &[u8]) -> Result<(), SmtpError> {
        let prepared = self.prepare(from, to, message)?;
        self.open(prepared)?;
        self.complete(&mut None).0
    }

    /// Checks a message against what the server offers and formats its
    /// commands and content, without sending anything.
    pub fn prepare(&self, from: &str, to: &[&str], message: &[u8]) -> Result<Prepared, SmtpError> {
        if to.is_empty() || to.contains(&"") {
            return Err(SmtpError::Invalid("a message needs a recipient".into()));
        }
        let unsafe_char = |c: char| c.is_control() || c.is_whitespace() || c == '<' || c == '>';
        if let Some(bad) = std::iter::once(&from)
            .chain(to)
            .find(|a| a.contains(unsafe_char))
        {
            return Err(SmtpError::Invalid(format!(
                "address {bad:?} cannot go into an SMTP envelope"
            )));
        }
        // An internationalized domain goes into the envelope as its ASCII
        // form (RFC 5890), so only a non-ASCII local part needs SMTPUTF8.
        let from = ascii_domain(from);
        let to: Vec<std::borrow::Cow<str>> = to.iter().map(|a| ascii_domain(a)).collect();
        let utf8 = !from.is_ascii() || to.iter().any(|a| !a.is_ascii());
        if utf8 && !self.ext.smtputf8 {
            return Err(SmtpError::Invalid(format!(
                "{}: non-ASCII address, but the server does not offer SMTPUTF8",
                self.peer
            )));
        }
        let eight_bit = !message.is_ascii();
        if eight_bit && !self.ext.eight_bit_mime {
            return Err(SmtpError::Invalid(format!(
                "{}: 8-bit message, but the server does not offer 8BITMIME",
                self.peer
            )));
        }
        let mut data = Vec::new();
        data_payload(message, &mut data);
        let mut commands = format!("MAIL FROM:<{from}>");
        if eight_bit {
            commands.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            commands.push_str(" SMTPUTF8");
        }
        if self.ext.size {
            let _ = write!(commands, " SIZE={}", data.len());
        }
        commands.push_str("\r\n");
        for r in &to {
            let _ = write!(commands, "RCPT TO:<{r}>\r\n");
        }
        commands.push_str("DATA\r\n");
        Ok(Prepared {
            commands: commands.into_bytes(),
            count: to.len() + 2,
            data,
        })
    }

    /// Sends the envelope of a message (MAIL, RCPTs, DATA; in one write
    /// with PIPELINING, RFC 2920). `Ok` when the server answered 354 and
    /// waits for the content, which [`Self::complete`] sends; otherwise
    /// nothing is open (a refused recipient refuses the whole message).
    pub fn open(&mut self, message: Prepared) -> Result<(), SmtpError> {
        if self.broken {
            return Err(SmtpError::Connection(format!(
                "{}: the connection is closed",
                self.peer
            )));
        }
        if self.open.is_some() {
            return Err(SmtpError::Invalid("a message is already open".into()));
        }
        if self.ext.pipelining {
            self.write_bytes(&message.commands)?;
            self.envelope_replies(message.count)?;
        } else {
            self.envelope_step_by_step(&message.commands)?;
        }
        self.open = Some(message.data);
        Ok(())
    }

    /// Sends the content of the open message and its terminator and reads
    /// the server's verdict on it. With PIPELINING, the envelope of `next`
    /// goes in the same write (RFC 2920 lets message content start a group)
    /// and is taken out of `next`: the second result says whether it is now
    /// open; `None` when `next` was not sent (no PIPELINING, or the
    /// connection broke before its replies: it was not accepted then, and
    /// stays in `next` to be sent again).
    pub fn complete(
        &mut self,
        next: &mut Option<Prepared>,
    ) -> (Result<(), SmtpError>, Option<Result<(), SmtpError>>) {
        let Some(mut data) = self.open.take() else {
            return (Err(SmtpError::Invalid("no message is open".into())), None);
        };
        let content = data.len();
        let piggyback = self.ext.pipelining && next.is_some() && !self.broken;
        if let (true, Some(n)) = (piggyback, next.as_ref()) {
            data.extend_from_slice(&n.commands);
        }
        let written = self.write_bytes(&data);
        data.truncate(content);
        if let Err(e) = written {
            return (Err(e), None);
        }
        let sent = match self.read_reply() {
            Ok(reply) if reply.is(2) => Ok(()),
            Ok(reply) => Err(self.reply_error(&reply)),
            Err(e) => Err(e),
        };
        if !piggyback || self.broken {
            return (sent, None);
        }
        let Some(n) = next.take() else {
            return (sent, None);
        };
        match self.envelope_replies(n.count) {
            Ok(()) => {
                self.open = Some(n.data);
                (sent, Some(Ok(())))
            }
            Err(_) if self.broken => {
                // The connection is gone (or closing, 421) with `next` not
                // accepted: the caller sends it again on a new one.
                *next = Some(n);
                (sent, None)
            }
            Err(e) => (sent, Some(Err(e))),
        }
    }

    /// Reads the replies to `count` pipelined envelope commands (MAIL,
    /// RCPTs, DATA). When one was refused, the transaction is cleared: a
    /// server that still answered DATA with 354 (having accepted some
    /// recipients) is hung up on, since a lone "." could deliver an empty
    /// message and closing mid-DATA makes it drop the transaction; otherwise
    /// RSET. The first refusal is returned.
    fn envelope_replies(&mut self, count: usize) -> Result<(), SmtpError> {
        let mut failure = None;
        let mut data_open = false;
        for i in 0..count {
            let reply = self.read_reply()?;
            let want = if i + 1 == count { 3 } else { 2 };
            if reply.is(want) {
                data_open = want == 3;
                continue;
            }
            let error = self.reply_error(&reply);
            if self.broken {
                // 421 or nonsense: the remaining replies will not come.
                return Err(error);
            }
            failure.get_or_insert(error);
        }
        let Some(error) = failure else {
            return Ok(());
        };
        if data_open {
            self.hang_up();
            return Err(error);
        }
        self.reset();
        Err(error)
    }

    /// The envelope one command at a time, for a server without PIPELINING;
    /// stops at the first refusal.
    fn envelope_step_by_step(&mut self, commands: &[u8]) -> Result<(), SmtpError> {
        let lines: Vec<&[u8]> = commands
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        for (i, line) in lines.iter().enumerate() {
            self.write_bytes(line)?;
            let reply = self.read_reply()?;
            let want = if i + 1 == lines.len() { 3 } else { 2 };
            if reply.is(want) {
                continue;
            }
            let error = self.reply_error(&reply);
            if !self.broken {
                self.reset();
            }
            return Err(error);
        }
        Ok(())
    }

    /// RSET after a refused envelope; a connection that cannot even do that
    /// is given up.
    fn reset(&mut self) {
        match self.command("RSET") {
            Ok(reply) if reply.is(2) => {}
            _ => self.broken = true,
        }
    }

    /// Closes the connection at once (mid-DATA, nothing more can be said).
    fn hang_up(&mut self) {
        self.broken = true;
        let _ = match self.io.get_mut() {
            Stream::Plain(s) => s.shutdown(Shutdown::Both),
            Stream::Tls(s) => s.sock.shutdown(Shutdown::Both),
        };
    }

    /// Says QUIT and closes; errors do not matter any more. With a message
    /// open (its envelope accepted, its content not sent) the connection is
    /// closed mid-DATA instead, which makes the server drop it.
    pub fn quit(mut self) {
        if self.open.is_some() {
            self.hang_up();
            return;
        }
        if !self.broken
            && self.command("QUIT").is_ok()
            && let Stream::Tls(s) = self.io.get_mut()
        {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
    }

    fn hello(&mut self, name: &str) -> Result<(), SmtpError> {
        let reply = self.command(&format!("EHLO {name}"))?;
        if reply.is(5) {
            let reply = self.command(&format!("HELO {name}"))?;
            self.expect(reply, 2, "HELO")?;
            self.ext = Extensions::default();
        } else {
            let reply = self.expect(reply, 2, "EHLO")?;
            self.ext = Extensions::parse(&reply.lines);
        }
        Ok(())
    }

    fn start_tls(mut self, host: &str) -> Result<Self, SmtpError> {
        let reply = self.command("STARTTLS")?;
        self.expect(reply, 2, "STARTTLS")?;
        // Bytes already read past the 220 came in plain text, where a man in
        // the middle could have injected them (CVE-2011-0411).
        if !self.io.buffer().is_empty() {
            return Err(self.broken_with("sent data after its STARTTLS reply"));
        }
        let Stream::Plain(tcp) = self.io.into_inner() else {
            return Err(SmtpError::Connection(format!("{}: TLS twice", self.peer)));
        };
        let stream = tls_connect(tcp, host)
            .map_err(|e| SmtpError::Connection(format!("{}: {e}", self.peer)))?;
        Ok(Self {
            io: BufReader::new(stream),
            tls: true,
            ext: Extensions::default(),
            ..self
        })
    }

    fn auth(&mut self, user: &str, password: &str) -> Result<(), SmtpError> {
        let reply = if self.ext.auth_plain {
            let token = BASE64.encode(format!("\0{user}\0{password}"));
            self.command(&format!("AUTH PLAIN {token}"))?
        } else if self.ext.auth_login {
            let reply = self.command("AUTH LOGIN")?;
            self.expect(reply, 3, "AUTH LOGIN")?;
            let reply = self.command(&BASE64.encode(user))?;
            self.expect(reply, 3, "AUTH LOGIN")?;
            self.command(&BASE64.encode(password))?
        } else {
            return Err(SmtpError::Connection(format!(
                "{}: the server offers no AUTH mechanism this client speaks (PLAIN, LOGIN)",
                self.peer
            )));
        };
        self.expect(reply, 2, "AUTH").map(drop)
    }

    /// `reply` if it is of `class`, else a connection error naming `what`.
    fn expect(&mut self, reply: Reply, class: u16, what: &str) -> Result<Reply, SmtpError> {
        if reply.is(class) {
            return Ok(reply);
        }
        Err(match self.reply_error(&reply) {
            e @ SmtpError::Connection(_) => e,
            e => SmtpError::Connection(format!("{}: {what} refused: {e}", self.peer)),
        })
    }

    fn reply_error(&mut self, reply: &Reply) -> SmtpError {
        let code = reply.code;
        let message = reply.lines.join(" ");
        match code / 100 {
            4 => SmtpError::Transient { code, message },
            5 => SmtpError::Permanent { code, message },
            _ => self.broken_with(&format!("unexpected reply {code} {message}")),
        }
    }

    fn command(&mut self, line: &str) -> Result<Reply, SmtpError> {
        self.write_line(line)?;
        self.read_reply()
    }

    fn write_line(&mut self, line: &str) -> Result<(), SmtpError> {
        self.out.clear();
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.flush_out()
    }

    fn flush_out(&mut self) -> Result<(), SmtpError> {
        let out = std::mem::take(&mut self.out);
        let result = self.write_bytes(&out);
        self.out = out;
        result
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), SmtpError> {
        let stream = self.io.get_mut();
        match stream.write_all(bytes).and_then(|()| stream.flush()) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.io_error("writing", e)),
        }
    }

    fn read_reply(&mut self) -> Result<Reply, SmtpError> {
        let mut lines = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut self.io).take(MAX_LINE).read_until(b'\n', &mut line);
            match read {
                Ok(0) => return Err(self.broken_with("the server closed the connection")),
                Ok(n) if line.last() != Some(&b'\n') => {
                    return Err(self.broken_with(if n as u64 == MAX_LINE {
                        "reply line too long"
                    } else {
                        "the server closed the connection mid-reply"
                    }));
                }
                Ok(_) => {}
                Err(e) => return Err(self.io_error("reading", e)),
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let code = text
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c));
            let (Some(code), Some(b' ' | b'-') | None) = (code, text.as_bytes().get(3)) else {
                return Err(self.broken_with(&format!("malformed reply {text:?}")));
            };
            lines.push(text.get(4..).unwrap_or("").to_string());
            if text.as_bytes().get(3) != Some(&b'-') {
                if code == 421 {
                    // "Service not available, closing transmission channel".
                    self.broken = true;
                }
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_LINES {
                return Err(self.broken_with("reply has too many lines"));
            }
        }
    }

    fn io_error(&mut self, doing: &str, e: io::Error) -> SmtpError {
        let e = match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!("timed out after {:?}", self.timeout)
            }
            _ => e.to_string(),
        };
        self.broken_with(&format!("{doing}: {e}"))
    }

    fn broken_with(&mut self, what: &str) -> SmtpError {
        self.broken = true;
        SmtpError::Connection(format!("{}: {what}", self.peer))
    }

    /// Lets the tests drive the pipelined path with the test server, which
    /// answers pipelined commands in order but does not announce PIPELINING.
    #[cfg(test)]
    fn force_pipelining(&mut self) {
        self.ext.pipelining = true;
    }
}

/// The DATA payload: line ends normalized to CRLF (bare LF or CR too), lines
/// starting with "." get another (RFC 5321 4.5.2), a final CRLF if missing,
/// then the terminating ".\r\n" — all in `out`, to be written at once.
fn data_payload(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 64 + 5);
    // Line by line with memchr: this runs over every byte of every message.
    let mut rest = message;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr2(b'\r', b'\n', rest) {
            Some(i) => {
                let end = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    i + 2
                } else {
                    i + 1
                };
                (&rest[..i], &rest[end..])
            }
            None => (rest, &rest[rest.len()..]),
        };
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        rest = next;
    }
    out.extend_from_slice(b".\r\n");
}

/// TLS the way lettre sets it up with its `rustls`, `ring` and
/// `webpki-roots` features: the process's default crypto provider if one is
/// installed, else ring; TLS 1.2 and 1.3; Mozilla's roots. Built once.
fn tls_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = rustls::crypto::CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(rustls::ALL_VERSIONS)
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("cannot set up TLS: {e}"))
        })
        .clone()
}

fn tls_connect(mut tcp: TcpStream, host: &str) -> Result<Stream, String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` cannot be checked against a certificate: {e}"))?;
    let mut conn = ClientConnection::new(tls_config()?, name).map_err(|e| format!("TLS: {e}"))?;
    // Handshake now, so a certificate problem is reported as one rather than
    // as a failed read later.
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
    }
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// The repository's test SMTP server (tests/smtp/server.py), on a free port.
    struct Server {
        child: Child,
        dir: tempfile::TempDir,
        port: u16,
    }

    impl Server {
        fn start(args: &[&str]) -> Server {
            let dir = tempfile::tempdir().unwrap();
            let mut command = Command::new("python3");
            command
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py"))
                .args(["--port", "0", "--dir"])
                .arg(dir.path().join("inbox"))
                .arg("--ready-file")
                .arg(dir.path().join("port"))
                .args(args);
            Server::spawn(command, dir)
        }

        /// Runs `command`, which writes its port to `dir/port` when ready.
        fn spawn(mut command: Command, dir: tempfile::TempDir) -> Server {
            let ready = dir.path().join("port");
            let child = command.stdout(Stdio::null()).spawn().unwrap();
            let started = Instant::now();
            let port = loop {
                if let Ok(s) = std::fs::read_to_string(&ready) {
                    break s.trim().parse().unwrap();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "server did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            Server { child, dir, port }
        }

        fn config(&self) -> SmtpConfig {
            SmtpConfig::from_url(&format!("smtp://127.0.0.1:{}", self.port)).unwrap()
        }

        fn connect(&self) -> SmtpClient {
            SmtpClient::connect(&self.config()).unwrap()
        }

        /// The accepted messages' files with extension `ext`, in arrival order.
        fn files(&self, ext: &str) -> Vec<PathBuf> {
            let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("inbox"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect();
            files.sort();
            files
        }

        fn messages(&self) -> Vec<Vec<u8>> {
            self.files("eml")
                .iter()
                .map(|p| std::fs::read(p).unwrap())
                .collect()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    const MESSAGE: &[u8] = b"From: digest@example.org\r\nTo: a@example.net\r\nSubject: Hi\r\n\r\n\
        line one\r\n.starts with a dot\r\n..two dots\r\n.\r\n\r\nend\r\n";

    #[test]
    fn delivers_the_message_byte_identical() {
        let server = Server::start(&[]);
        let mut client = server.connect();
        client
            .send("digest@example.org", &["a@example.net"], MESSAGE)
            .unwrap();
        client.quit();
        assert_eq!(server.messages(), vec![MESSAGE.to_vec()]);
        let meta = std::fs::read_to_string(&server.files("json")[0]).unwrap();
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(meta["mail_from"], "digest@example.org");
        assert_eq!(meta["rcpt_tos"], serde_json::json!(["a@example.net"]));
        // 7-bit: no BODY=8BITMIME; SIZE is offered, so it is declared.
        let size = format!("SIZE={}", MESSAGE.len() + 3 + 3);
        assert_eq!(meta["mail_options"], serde_json::json!([size]));
    }

    #[test]
    fn normalizes_line_ends_and_stuffs_dots() {
        let server = Server::start(&[]);
        let mut client = server.connect();
        client.force_pipelining();
        let cases: [(&[u8], &[u8]); 4] = [
            (b"Subject: x\n\n.a\nb", b"Subject: x\r\n\r\n.a\r\nb\r\n"),
            (
                b"Subject: x\r\n\r\nbare\rcr\r\n.",
                b"Subject: x\r\n\r\nbare\r\ncr\r\n.\r\n",
            ),
            (b"Subject: x\r\n\r\n...\r\n", b"Subject: x\r\n\r\n...\r\n"),
            (
                "Subject: x\r\n\r\nÜber\r\n".as_bytes(),
                "Subject: x\r\n\r\nÜber\r\n".as_bytes(),
            ),
        ];
        for (sent, _) in cases {
            client.send("", &["a@example.net"], sent).unwrap();
        }
        let expected: Vec<Vec<u8>> = cases.iter().map(|(_, e)| e.to_vec()).collect();
        assert_eq!(server.messages(), expected);
        let meta = std::fs::read_to_string(&server.files("json")[3]).unwrap();
        assert!(meta.contains("BODY=8BITMIME"), "{meta}");
        let mut payload = Vec::new();
        data_payload(b"a\r\n.b\r\n", &mut payload);
        assert_eq!(payload, b"a\r\n..b\r\n.\r\n");
    }

    /// Every failure test runs step by step and pipelined.
    fn both_modes(server: &Server, test: impl Fn(&mut SmtpClient)) {
        for pipelined in [false, true] {
            let mut client = server.connect();
            if pipelined {
                client.force_pipelining();
            }
            test(&mut client);
        }
    }

    #[test]
    fn rcpt_4xx_is_transient_and_the_connection_stays_usable() {
        let server = Server::start(&["--fail-rcpt", "later@example.net=451"]);
        both_modes(&server, |client| {
            let err = client
                .send("", &["later@example.net"], MESSAGE)
                .unwrap_err();
            assert_eq!(
                err,
                SmtpError::Transient {
                    code: 451,
                    message: "4.7.1 Try again later".into()
                }
            );
            assert_eq!(err.to_string(), "451 4.7.1 Try again later");
            assert!(!client.is_broken());
            client.send("", &["a@example.net"], MESSAGE).unwrap();
        });
        assert_eq!(server.messages().len(), 2);
    }

    #[test]
    fn rcpt_5xx_is_permanent_and_nothing_is_sent() {
        let server = Server::start(&["--fail-rcpt", "nobody@example.net=550"]);
        both_modes(&server, |client| {
            let err = client
                .send("", &["nobody@example.net"], MESSAGE)
                .unwrap_err();
            assert_eq!(err.to_string(), "550 5.1.1 No such user");
            assert!(matches!(err, SmtpError::Permanent { code: 550, .. }));
            assert!(!client.is_broken());
            client.send("", &["a@example.net"], MESSAGE).unwrap();
            // All or nothing: one refused recipient stops the whole message.
            let recipients = ["b@example.net", "nobody@example.net"];
            let err = client.send("", &recipients, MESSAGE).unwrap_err();
            assert!(matches!(err, SmtpError::Permanent { code: 550, .. }));
        });
        assert_eq!(server.messages().len(), 2);
    }

    #[test]
    fn data_refusal_is_reported_after_the_body() {
        let args = ["--fail-data-code", "554", "--fail-data-times", "1"];
        let server = Server::start(&args);
        let mut client = server.connect();
        let err = client.send("", &["a@example.net"], MESSAGE).unwrap_err();
        assert_eq!(err.to_string(), "554 5.6.0 Transaction failed");
        client.send("", &["a@example.net"], MESSAGE).unwrap();
        assert_eq!(server.messages().len(), 1);
    }

    #[test]
    fn reply_421_breaks_the_connection() {
        let server = Server::start(&["--fail-rcpt", "gone@example.net=421"]);
        both_modes(&server, |client| {
            let err = client.send("", &["gone@example.net"], MESSAGE).unwrap_err();
            assert!(
                matches!(err, SmtpError::Transient { code: 421, .. }),
                "{err}"
            );
            assert!(client.is_broken());
            let err = client.send("", &["a@example.net"], MESSAGE).unwrap_err();
            assert!(matches!(err, SmtpError::Connection(_)), "{err}");
        });
        assert!(server.messages().is_empty());
    }

    /// The next message's envelope goes out with the content of the open
    /// one, in one write, when the server offers PIPELINING.
    #[test]
    fn pipelines_the_next_envelope_after_the_content() {
        let server = Server::start(&["--pipelining", "--fail-rcpt", "nobody@example.net=550"]);
        let mut client = server.connect();
        assert!(client.ext.pipelining, "announced by --pipelining");
        let prepare = |c: &SmtpClient, to: &str, n: usize| {
            let text = format!("Subject: {n}\r\n\r\nmessage {n}\r\n");
            c.prepare("digest@example.org", &[to], text.as_bytes())
                .unwrap()
        };
        client.open(prepare(&client, "a@example.net", 1)).unwrap();
        for n in 2..=20 {
            let mut next = Some(prepare(&client, "a@example.net", n));
            let (sent, opened) = client.complete(&mut next);
            sent.unwrap();
            assert!(matches!(opened, Some(Ok(()))), "{opened:?}");
            assert!(next.is_none(), "taken: it is open now");
        }
        // A refused recipient in the piggybacked envelope: the open message
        // still goes, nothing else is open and the connection goes on.
        let mut next = Some(prepare(&client, "nobody@example.net", 21));
        let (sent, opened) = client.complete(&mut next);
        sent.unwrap();
        assert!(
            matches!(opened, Some(Err(SmtpError::Permanent { code: 550, .. }))),
            "{opened:?}"
        );
        assert!(!client.is_broken());
        let (_, opened) = client.complete(&mut None);
        assert!(opened.is_none());
        client
            .send("", &["a@example.net"], b"Subject: 22\r\n\r\nlast\r\n")
            .unwrap();
        client.quit();
        let received: Vec<String> = server
            .messages()
            .iter()
            .map(|m| {
                String::from_utf8_lossy(m)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let expected: Vec<String> = (1..=20)
            .chain([22])
            .map(|n| format!("Subject: {n}"))
            .collect();
        assert_eq!(received, expected);
    }

    /// A message refused at its terminator does not stop the next one,
    /// whose envelope went with it; without PIPELINING nothing is
    /// piggybacked and `next` stays with the caller.
    #[test]
    fn a_refused_content_leaves_the_next_envelope_open() {
        let args = [
            "--pipelining",
            "--fail-data-code",
            "554",
            "--fail-data-times",
            "1",
        ];
        let server = Server::start(&args);
        let mut client = server.connect();
        let one = client.prepare("", &["a@example.net"], b"Subject: 1\r\n\r\n1\r\n");
        client.open(one.unwrap()).unwrap();
        let mut next = client
            .prepare("", &["b@example.net"], b"Subject: 2\r\n\r\n2\r\n")
            .ok();
        let (sent, opened) = client.complete(&mut next);
        assert!(
            matches!(sent, Err(SmtpError::Permanent { code: 554, .. })),
            "{sent:?}"
        );
        assert!(matches!(opened, Some(Ok(()))), "{opened:?}");
        client.complete(&mut None).0.unwrap();
        client.quit();
        assert_eq!(server.messages().len(), 1);

        let plain = Server::start(&[]);
        let mut client = plain.connect();
        let one = client.prepare("", &["a@example.net"], b"Subject: 1\r\n\r\n1\r\n");
        client.open(one.unwrap()).unwrap();
        let mut next = client.prepare("", &["b@example.net"], b"2\r\n").ok();
        let (sent, opened) = client.complete(&mut next);
        sent.unwrap();
        assert!(
            opened.is_none() && next.is_some(),
            "not sent without PIPELINING"
        );
    }

    /// Hanging up with a message open (its envelope accepted, its content
    /// never sent) delivers nothing: the server drops the transaction.
    #[test]
    fn quitting_with_a_message_open_delivers_nothing() {
        let server = Server::start(&["--pipelining"]);
        let mut client = server.connect();
        let one = client.prepare("", &["a@example.net"], b"Subject: 1\r\n\r\n1\r\n");
        client.open(one.unwrap()).unwrap();
        client.quit();
        // A second client gets through, so the server saw the first go.
        server
            .connect()
            .send("", &["b@example.net"], MESSAGE)
            .unwrap();
        assert_eq!(server.messages(), vec![MESSAGE.to_vec()]);
    }

    #[test]
    fn reuses_one_connection_for_200_messages() {
        let server = Server::start(&[]);
        let mut client = server.connect();
        let started = Instant::now();
        for _ in 0..200 {
            client
                .send("digest@example.org", &["a@example.net"], MESSAGE)
                .unwrap();
        }
        let rate = 200.0 / started.elapsed().as_secs_f64();
        println!("200 messages over one connection to the test server: {rate:.0} msg/s");
        client.quit();
        assert_eq!(server.messages().len(), 200);
    }

    #[test]
    fn refused_connection_is_a_connection_error() {
        let up = tempfile::tempdir().unwrap();
        let flag = up.path().join("up");
        let server = Server::start(&["--down-until-file", flag.to_str().unwrap()]);
        let err = SmtpClient::connect(&server.config()).err().unwrap();
        let SmtpError::Connection(message) = err else {
            panic!("{err:?}")
        };
        assert!(message.starts_with(&format!("127.0.0.1:{}: cannot connect", server.port)));
        std::fs::write(&flag, "").unwrap();
        let started = Instant::now();
        while SmtpClient::connect(&server.config()).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn starttls_required_needs_the_server_to_offer_it() {
        let server = Server::start(&[]);
        let url = |q: &str| format!("smtp://127.0.0.1:{}?tls={q}", server.port);
        let cfg = SmtpConfig::from_url(&url("required")).unwrap();
        let err = SmtpClient::connect(&cfg).err().unwrap();
        assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
        // Opportunistic falls back to plain text.
        let cfg = SmtpConfig::from_url(&url("opportunistic")).unwrap();
        SmtpClient::connect(&cfg)
            .unwrap()
            .send("", &["a@example.net"], MESSAGE)
            .unwrap();
        // Credentials are allowed in plain text to loopback only, and need AUTH.
        let cfg = SmtpConfig::from_url(&format!("smtp://u:p@127.0.0.1:{}", server.port)).unwrap();
        let err = SmtpClient::connect(&cfg).err().unwrap();
        assert!(err.to_string().contains("no AUTH mechanism"), "{err}");
    }

    /// aiosmtpd with a self-signed certificate, offering STARTTLS or
    /// speaking TLS from the start.
    const TLS_SERVER: &str = r#"
import asyncio, os, ssl, sys
from aiosmtpd.smtp import SMTP
mode, cert, key, ready = sys.argv[1:]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
class Handler: pass
async def main():
    loop = asyncio.get_running_loop()
    if mode == "starttls":
        server = await loop.create_server(lambda: SMTP(Handler(), tls_context=ctx), "127.0.0.1", 0)
    else:
        server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0, ssl=ctx)
    with open(ready + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.replace(ready + ".tmp", ready)
    await asyncio.Event().wait()
asyncio.run(main())
"#;

    #[test]
    fn tls_refuses_an_untrusted_certificate() {
        for (mode, url) in [
            ("starttls", "smtp://localhost:PORT?tls=required"),
            ("starttls", "smtp://localhost:PORT?tls=opportunistic"),
            ("implicit", "smtps://localhost:PORT"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            let status = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
                .args(["-subj", "/CN=localhost", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            let mut command = Command::new("python3");
            command
                .args(["-c", TLS_SERVER, mode])
                .args([&cert, &key, &dir.path().join("port")]);
            let server = Server::spawn(command, dir);
            let cfg = SmtpConfig::from_url(&url.replace("PORT", &server.port.to_string())).unwrap();
            let err = SmtpClient::connect(&cfg).err().unwrap();
            assert!(matches!(err, SmtpError::Connection(_)), "{err:?}");
            assert!(
                err.to_string()
                    .contains("TLS handshake failed: invalid peer certificate"),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_envelopes_smtp_cannot_carry() {
        let server = Server::start(&[]);
        let mut client = server.connect();
        for to in ["a@example.net>\r\nRSET", "a b@example.net", ""] {
            let err = client.send("", &[to], MESSAGE).unwrap_err();
            assert!(matches!(err, SmtpError::Invalid(_)), "{err}");
        }
        assert!(matches!(
            client.send("", &[], MESSAGE),
            Err(SmtpError::Invalid(_))
        ));
        client.send("", &["a@example.net"], MESSAGE).unwrap();
    }

    #[test]
    fn parses_every_url_form() {
        let parse = |u: &str| SmtpConfig::from_url(u).unwrap();
        let c = parse("smtp://mail.example.org");
        assert_eq!(
            (c.host.as_str(), c.port, c.security),
            ("mail.example.org", 25, Security::None)
        );
        assert_eq!(c.credentials, None);
        assert!(!c.hello_name.is_empty());
        assert_eq!(parse("smtp://127.0.0.1:2525").port, 2525);
        assert_eq!(parse("smtp://[::1]:2525").host, "::1");
        let c = parse("smtp://me%40example.org:p%40ss%2Bw+rd@mail.example.org:587?tls=required");
        assert_eq!((c.port, c.security), (587, Security::StartTlsRequired));
        let expected = ("me@example.org".to_string(), "p@ss+w+rd".to_string());
        assert_eq!(c.credentials, Some(expected));
        let c = parse("smtp://mail.example.org?tls=opportunistic");
        assert_eq!((c.port, c.security), (587, Security::StartTlsOpportunistic));
        let c = parse("smtps://u:p@mail.example.org");
        assert_eq!((c.port, c.security), (465, Security::Implicit));
        assert_eq!(parse("smtps://mail.example.org:2465").port, 2465);
        assert_eq!(
            parse("smtp://h?ehlo_name=bookweek.example.org").hello_name,
            "bookweek.example.org"
        );
        assert_eq!(
            parse("smtp://h/client.example.org").hello_name,
            "client.example.org"
        );
    }

    #[test]
    fn rejects_bad_urls_without_showing_the_password() {
        let err = |u: &str| SmtpConfig::from_url(u).unwrap_err();
        assert_eq!(
            err("http://u:secret@h"),
            "has scheme `http://`; expected `smtp://` or `smtps://`"
        );
        assert!(err("smtp://u:secret@h?tls=always").contains("`tls=always`"));
        assert_eq!(err("smtp://u@h"), "has a user name but no password");
        assert_eq!(err("smtp://u:%FF@h"), "has credentials that are not UTF-8");
        assert!(err("smtp://h?ehlo_name=a%0D%0ARSET").contains("EHLO name"));
        assert!(err("not a url").starts_with("is not a valid URL"));
        for u in [
            "smtp://u:secret@h",
            "smtp://u:secret@h:1?tls=x",
            "smtp://u:secret@h:99999",
        ] {
            let shown = match SmtpConfig::from_url(u) {
                Ok(c) => format!("{c:?}"),
                Err(e) => e,
            };
            assert!(!shown.contains("secret"), "{shown}");
        }
    }

    /// Postfix's smtp-sink on a free port (it must run as `nobody` when we are root).
    fn start_sink(port: u16) -> Child {
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        let mut sink = Command::new("smtp-sink");
        if uid.trim_ascii() == b"0" {
            sink.args(["-u", "nobody"]);
        }
        let child = sink
            .arg(format!("127.0.0.1:{port}"))
            .arg("4096")
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "smtp-sink did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Sends `total` messages over `connections` clients in parallel; msg/s.
    fn send_parallel(cfg: &SmtpConfig, message: &[u8], total: usize, connections: usize) -> f64 {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..connections {
                scope.spawn(|| {
                    let mut client = SmtpClient::connect(cfg).unwrap();
                    for _ in 0..total / connections {
                        client
                            .send("digest@example.org", &["a@example.net"], message)
                            .unwrap();
                    }
                    client.quit();
                });
            }
        });
        total as f64 / started.elapsed().as_secs_f64()
    }

    #[test]
    #[ignore = "benchmark; needs Postfix's smtp-sink and smtp-source: \
        cargo test --release --lib smtp::tests::throughput -- --ignored --nocapture"]
    fn throughput_against_smtp_sink() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sink = start_sink(port);
        // ~15 KB, 76-column lines, some starting with a dot.
        let mut message =
            b"From: digest@example.org\r\nTo: a@example.net\r\nSubject: Bench\r\n\r\n".to_vec();
        while message.len() < 15_000 {
            message.extend_from_slice(
                b".Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tem\r\n",
            );
        }
        // smtp-sink announces PIPELINING and accepts any AUTH: both paths run.
        let cfg = SmtpConfig::from_url(&format!("smtp://u:p@127.0.0.1:{port}")).unwrap();
        assert!(SmtpClient::connect(&cfg).unwrap().ext.pipelining);
        let total = 2000;
        for connections in [1, 4] {
            let ours = send_parallel(&cfg, &message, total, connections);
            let started = Instant::now();
            let status = Command::new("smtp-source")
                .args([
                    "-d",
                    "-s",
                    &connections.to_string(),
                    "-m",
                    &total.to_string(),
                ])
                .args(["-l", &(message.len() - 133).to_string()])
                .arg(format!("127.0.0.1:{port}"))
                .status()
                .unwrap();
            assert!(status.success());
            let theirs = total as f64 / started.elapsed().as_secs_f64();
            println!(
                "{total} messages of {} bytes over {connections} connection(s): \
                 SmtpClient {ours:.0} msg/s, smtp-source {theirs:.0} msg/s, ratio {:.2}",
                message.len(),
                ours / theirs
            );
        }
        let _ = sink.kill();
        let _ = sink.wait();
    }
}
