//! Connections: accepting them, timeouts, the cap on open connections,
//! eviction, and graceful shutdown. [`serve`] replaces `axum::serve`, which
//! has no header or request deadline and no connection limit, so a few
//! hundred clients that trickle their headers used to exhaust the open files
//! and stop `accept` (and `/healthz`) altogether.
//!
//! - **Header deadline.** hyper's `header_read_timeout` (HTTP/1.1 only):
//!   hyper 1.12 starts it when it first waits for a request head, which is
//!   at once for a new connection and right after the previous response on
//!   a kept-alive one, and does not restart it when a byte arrives. So one
//!   deadline covers a client that connects and sends nothing, one that sends
//!   a byte every few seconds, and a kept-alive connection left idle: each is
//!   closed `server.header_timeout` after it last had something to do.
//! - **Request deadline.** A request whose body is still being read, or whose
//!   response is still being written, `server.request_timeout` after its head
//!   arrived (a slow upload, a reader that never reads) has its connection
//!   closed by a sweep once a second.
//! - **Cap and eviction.** At start the soft limit on open files is raised to
//!   the hard limit (as Go and nginx do); the cap on open connections is that
//!   limit less a reserve for everything else the daemon opens (the state
//!   database per request, SMTP connections, the watcher, content files).
//!   At the cap a new connection is still accepted, and the oldest connection
//!   with no request in flight (still waiting for its head, or idle between
//!   requests) is closed to make room: a flood of slow clients churns through
//!   itself while a new honest client gets its answer. A connection is only
//!   a candidate once hyper has had to wait for it to send something: an
//!   honest client's request, already in the socket when it is accepted, is
//!   read before the connection can be chosen. When no connection is a
//!   candidate, accepting waits until one is (or one closes).
//! - **Accept errors.** Out of file descriptors (`EMFILE`, `ENFILE`) or of
//!   memory, the loop closes the oldest idle connection and backs off briefly
//!   instead of spinning; errors about a single connection (reset before it
//!   was accepted) are skipped.
//! - **Shutdown.** New connections are refused, idle ones closed at once, and
//!   requests in flight answered before their connection closes.
//! - **Large bodies.** The socket wrapper sends a feed's body registered in
//!   [`super::zerocopy`] with `sendfile`, its head just before it with
//!   `MSG_MORE` so both leave in the same segments; everything else is
//!   written as hyper hands it over.
//!
//! Requests carry the peer address as `ConnectInfo<SocketAddr>`, as with
//! `into_make_service_with_connect_info` (the subscribe limit keys on it).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tower_service::Service;

use super::{lock, zerocopy};
use crate::config::Config;

/// File descriptors kept back from the connection cap, as a share of the
/// open-file limit within these bounds: enough for the state database
/// opened by each request that needs it, the digest's SMTP connections,
/// the watcher and the content files being read.
const RESERVE_SHARE: u64 = 4;
const RESERVE_MIN: u64 = 64;
const RESERVE_MAX: u64 = 1024;

/// Connections the kernel completes and queues before we accept them (it
/// caps this at `net.core.somaxconn`). The usual 128 overflows in a burst
/// of new connections, and each client whose SYN is dropped then waits a
/// second or more to retry.
const BACKLOG: u32 = 4096;

/// Out of descriptors, `accept` is retried after this pause.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How often requests in flight are checked against their deadline.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Warnings about the cap or accept errors at most this often, so a flood
/// does not turn into a flood of log lines.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What [`serve`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl Limits {
    /// Raises the process's open-file limit as far as allowed and derives
    /// the connection cap from it (`server.max_connections`, when set, can
    /// only lower it). Logs what it decided.
    pub fn for_process(config: &Config) -> Self {
        let files = raise_open_file_limit();
        let derived = connection_cap(files);
        let configured = config.settings.server.max_connections;
        let max_connections = match configured {
            0 => derived,
            n if n > derived => {
                tracing::warn!(
                    "server.max_connections is {n}, but the open-file limit ({files}) allows {derived}; serving at most {derived}"
                );
                derived
            }
            n => n,
        };
        tracing::info!(open_files = files, max_connections, "connection limit");
        Self {
            max_connections,
            header_timeout: config.header_timeout,
            request_timeout: config.request_timeout,
        }
    }
}

/// Raises the soft limit on open files to the hard limit and returns the
/// limit now in force. The default soft limit (often 1,024) is a leftover
/// of `select(2)`, which nothing here uses.
fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The connections served at once under an open-file limit of `files`.
pub fn connection_cap(files: u64) -> usize {
    let reserve = (files / RESERVE_SHARE).clamp(RESERVE_MIN, RESERVE_MAX);
    let cap = files.saturating_sub(reserve).max(16);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Binds `addr` (`server.listen`, checked by the config) with a listen
/// queue of [`BACKLOG`].
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restart can bind again while old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` completes, then closes
/// idle connections, lets requests in flight finish, and returns when every
/// connection is closed (callers bound the wait with a timeout).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let registry = Arc::new(Registry::default());
    let (stopping_tx, stopping) = watch::channel(false);
    let sweeper = tokio::spawn(sweep(Arc::clone(&registry), limits.request_timeout));
    let mut warned = Warned::default();
    tokio::pin!(shutdown);
    loop {
        // At the cap, accept nothing while an evicted connection has not
        // yet let go of its descriptor (so a burst of clients cannot
        // outrun the closing), nor while no connection may be evicted (all
        // busy, or not read from yet); new clients wait in the listen
        // queue meanwhile.
        if registry.len() >= limits.max_connections
            && (registry.closing() > 0 || !registry.has_idle())
        {
            tokio::select! {
                () = &mut shutdown => break,
                () = registry.changed.notified() => continue,
            }
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if registry.len() >= limits.max_connections && registry.evict_oldest_idle() {
                    warned.evicted += 1;
                    warned.maybe_warn_cap(limits.max_connections);
                }
                let conn = registry.add();
                tokio::spawn(connection(
                    stream,
                    peer,
                    router.clone(),
                    conn,
                    limits,
                    stopping.clone(),
                ));
            }
            Err(e) if is_per_connection(&e) => {}
            Err(e) => {
                // Out of descriptors or memory: make room and pause rather
                // than spin on an error that repeats until something closes.
                let evicted = registry.evict_oldest_idle();
                warned.maybe_warn_accept(&e, registry.len(), evicted);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    sweeper.abort();
    let _ = stopping_tx.send(true);
    while registry.len() > 0 {
        registry.changed.notified().await;
    }
}

/// Errors that concern one connection that was reset before we took it.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Rate-limited warnings of the accept loop.
#[derive(Default)]
struct Warned {
    evicted: u64,
    cap_at: Option<Instant>,
    accept_at: Option<Instant>,
}

impl Warned {
    fn due(at: &mut Option<Instant>) -> bool {
        let due = at.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            *at = Some(Instant::now());
        }
        due
    }

    fn maybe_warn_cap(&mut self, cap: usize) {
        if Self::due(&mut self.cap_at) {
            tracing::warn!(
                evicted = self.evicted,
                "at the connection cap ({cap}): closing the oldest idle connections to serve new ones"
            );
        }
    }

    fn maybe_warn_accept(&mut self, e: &io::Error, open: usize, evicted: bool) {
        if Self::due(&mut self.accept_at) {
            tracing::error!(
                open,
                evicted,
                "accept error: {e}; retrying in {} ms",
                ACCEPT_BACKOFF.as_millis()
            );
        }
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Registry {
    /// Open connections, including evicted ones whose task has not closed
    /// the socket yet: they still hold a descriptor.
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    /// Of those, the evicted ones.
    closing: AtomicUsize,
    next_id: AtomicU64,
    /// A connection closed or finished a request: the accept loop may go on.
    changed: Notify,
}

impl Registry {
    fn add(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            registry: Arc::downgrade(self),
            ..Conn::default()
        });
        lock(&self.open).insert(id, Arc::clone(&conn));
        Registered {
            conn,
            registry: Arc::clone(self),
        }
    }

    fn len(&self) -> usize {
        lock(&self.open).len()
    }

    fn closing(&self) -> usize {
        self.closing.load(Ordering::Acquire)
    }

    fn has_idle(&self) -> bool {
        lock(&self.open).values().any(|c| c.is_evictable())
    }

    /// Tells the oldest connection with no request in flight to close;
    /// false when there is none. It counts against the cap until its task
    /// has closed the socket.
    fn evict_oldest_idle(&self) -> bool {
        let open = lock(&self.open);
        let Some(conn) = open.values().find(|c| c.is_evictable()) else {
            return false;
        };
        conn.evicted.store(true, Ordering::Release);
        self.closing.fetch_add(1, Ordering::AcqRel);
        conn.close.notify_one();
        true
    }

    /// Connections whose request has been in flight longer than `limit`.
    fn overdue(&self, limit: Duration, now: Instant) -> Vec<Arc<Conn>> {
        lock(&self.open)
            .values()
            .filter(|c| c.busy_for(now).is_some_and(|d| d > limit))
            .cloned()
            .collect()
    }
}

/// One connection as the accept loop and the sweep see it.
#[derive(Default)]
struct Conn {
    id: u64,
    registry: std::sync::Weak<Registry>,
    /// Requests in flight: from the head's arrival until hyper has taken the
    /// response's last byte.
    busy: AtomicUsize,
    /// When the current request began.
    since: Mutex<Option<Instant>>,
    /// hyper holds response bytes the client has not taken yet: closing now
    /// would cut a response short.
    write_blocked: AtomicBool,
    /// Tells the connection's task to close the connection now.
    close: Notify,
    /// Chosen for eviction.
    evicted: AtomicBool,
    /// hyper has waited for bytes from the client at least once. Until then
    /// a connection is not evicted: under a flood of new connections its
    /// task may not have run yet, and an honest client's request may be
    /// sitting unread in the socket.
    waited: AtomicBool,
}

impl Conn {
    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && !self.write_blocked.load(Ordering::Acquire)
    }

    fn is_evictable(&self) -> bool {
        self.is_idle()
            && self.waited.load(Ordering::Acquire)
            && !self.evicted.load(Ordering::Acquire)
    }

    fn busy_for(&self, now: Instant) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) == 0 {
            return None;
        }
        (*lock(&self.since)).map(|t| now.saturating_duration_since(t))
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        *lock(&self.since) = Some(Instant::now());
        self.busy.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }
}

/// A request in flight; dropped when hyper is done with its response body
/// (or the connection goes away).
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        if let Some(registry) = self.0.registry.upgrade() {
            registry.changed.notify_one();
        }
    }
}

/// The registry entry of a connection's task; removes it when the task ends
/// however it ends.
struct Registered {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.registry.open).remove(&self.conn.id);
        if self.conn.evicted.load(Ordering::Acquire) {
            self.registry.closing.fetch_sub(1, Ordering::AcqRel);
        }
        self.registry.changed.notify_one();
    }
}

/// Closes the connections of requests in flight for too long.
async fn sweep(registry: Arc<Registry>, limit: Duration) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for conn in registry.overdue(limit, Instant::now()) {
            tracing::debug!(
                connection = conn.id,
                "request not done after {limit:?}: closing"
            );
            conn.close.notify_one();
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    registered: Registered,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    // Responses are written whole; waiting for more to send only adds delay.
    let _ = stream.set_nodelay(true);
    let conn = Arc::clone(&registered.conn);
    let io = TokioIo::new(Tracked {
        stream,
        conn: Arc::clone(&conn),
    });
    let service = {
        let conn = Arc::clone(&conn);
        service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = conn.begin();
            let response = router.clone().call(req);
            async move {
                let response = response.await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracking {
                    body,
                    _in_flight: in_flight,
                }))
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    // Timeouts and clients that went away: routine, and a
                    // flood of them must not flood the log.
                    tracing::debug!(connection = conn.id, "connection: {e}");
                }
                break;
            }
            () = conn.close.notified() => break,
            changed = stopping.wait_for(|s| *s), if !shutting_down => {
                shutting_down = true;
                if changed.is_err() || conn.is_idle() {
                    break;
                }
                // Answer the request in flight, then close.
                served.as_mut().graceful_shutdown();
            }
        }
    }
    drop(registered);
}

/// The response body, holding the request's [`InFlight`] until hyper has
/// taken the last frame.
struct Tracking {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracking {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, noting whether hyper had to wait for the client, and
/// whether the client is keeping up with what hyper writes.
struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl Tracked {
    fn note<T>(&self, poll: Poll<T>) -> Poll<T> {
        self.conn
            .write_blocked
            .store(poll.is_pending(), Ordering::Release);
        poll
    }

    /// `send(2)` with `MSG_MORE`: the kernel waits for what follows.
    fn poll_send_more(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_io(tokio::io::Interest::WRITABLE, || {
                zerocopy::send_more(&self.stream, buf)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    /// Sends `len` bytes of a registered body's memfd from `offset`, as
    /// much as the socket takes now.
    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        fd: &std::os::fd::OwnedFd,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_io(tokio::io::Interest::WRITABLE, || {
                zerocopy::send(&self.stream, fd, offset, len)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        if poll.is_pending() && !self.conn.waited.swap(true, Ordering::AcqRel) {
            // It may be evicted now: tell an accept loop waiting for room.
            if let Some(registry) = self.conn.registry.upgrade() {
                registry.changed.notify_one();
            }
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = match zerocopy::lookup(buf) {
            Some((fd, offset)) => self.poll_sendfile(cx, &fd, offset, buf.len()),
            None => Pin::new(&mut self.stream).poll_write(cx, buf),
        };
        self.note(poll)
    }

    /// A response is written as its head, then the body's bytes; a body
    /// registered in [`zerocopy`] goes out with `sendfile` (the head first,
    /// in a write of its own).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let found = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| zerocopy::lookup(b).map(|found| (i, found)));
        let poll = match found {
            Some((0, (fd, offset))) => self.poll_sendfile(cx, &fd, offset, bufs[0].len()),
            // The head alone, held back until the body follows (MSG_MORE),
            // so that they leave in the same segments.
            Some((1, _)) => self.poll_send_more(cx, &bufs[0]),
            Some((i, _)) => Pin::new(&mut self.stream).poll_write_vectored(cx, &bufs[..i]),
            None => Pin::new(&mut self.stream).poll_write_vectored(cx, bufs),
        };
        self.note(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.note(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_of_descriptors() {
        assert_eq!(connection_cap(1024), 768);
        assert_eq!(connection_cap(65536), 64512);
        assert_eq!(connection_cap(256), 192);
        // Tiny limits still serve someone.
        assert_eq!(connection_cap(64), 16);
        assert_eq!(connection_cap(0), 16);
    }

    #[tokio::test]
    async fn eviction_takes_the_oldest_connection_with_no_request_in_flight() {
        let registry = Arc::new(Registry::default());
        let oldest = registry.add();
        let busy = registry.add();
        let writing = registry.add();
        let newest = registry.add();
        let unread = registry.add();
        for c in [&oldest, &busy, &writing, &newest] {
            c.conn.waited.store(true, Ordering::Release);
        }
        let _request = busy.conn.begin();
        writing.conn.write_blocked.store(true, Ordering::Release);
        // The oldest goes first; it counts until its task lets go of it.
        assert!(registry.evict_oldest_idle());
        assert_eq!((registry.len(), registry.closing()), (5, 1));
        tokio::time::timeout(Duration::from_secs(1), oldest.conn.close.notified())
            .await
            .unwrap();
        drop(oldest);
        assert_eq!((registry.len(), registry.closing()), (4, 0));
        // …then, skipping the one with a request in flight, the one still
        // writing and the one not read from yet, the newest.
        assert!(registry.evict_oldest_idle());
        tokio::time::timeout(Duration::from_secs(1), newest.conn.close.notified())
            .await
            .unwrap();
        assert!(!registry.evict_oldest_idle());
        assert!(!registry.has_idle());
        assert_eq!((registry.len(), registry.closing()), (4, 1));
        drop(newest);
        unread.conn.waited.store(true, Ordering::Release);
        assert!(registry.has_idle());
        drop(unread);
        assert!(!registry.has_idle());
        drop(_request);
        assert!(registry.has_idle());
        drop((busy, writing));
        assert_eq!((registry.len(), registry.closing()), (0, 0));
    }

    #[test]
    fn requests_past_their_deadline_are_overdue() {
        let registry = Arc::new(Registry::default());
        let idle = registry.add();
        let busy = registry.add();
        let _request = busy.conn.begin();
        let now = Instant::now();
        assert!(registry.overdue(Duration::from_secs(60), now).is_empty());
        let later = now + Duration::from_secs(61);
        let overdue = registry.overdue(Duration::from_secs(60), later);
        assert_eq!(overdue.len(), 1);
        assert_eq!(overdue[0].id, busy.conn.id);
        drop(idle);
    }
}
