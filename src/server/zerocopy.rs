//! Large prepared bodies go out with `sendfile(2)`, as nginx sends static
//! files: the kernel hands the socket its own pages instead of copying the
//! bytes from our memory for every response. For a 300 KB feed that copy
//! was a third of the work of a response; without it the plain feed kept
//! up with nginx's.
//!
//! How: a prepared body of at least [`MIN_ZERO_COPY`] bytes gets a copy in
//! a sealed memfd (an anonymous, unchangeable in-memory file), registered
//! under the address of the body's bytes. hyper writes a response body as
//! a slice of those very bytes (it queues the `Bytes`, it does not copy
//! them), so the connection's writer ([`super::listen`]) looks the slice up
//! and, when it is one of ours, `sendfile`s the same range of the memfd.
//!
//! Why this is sound: the registration holds a clone of the body, so its
//! address cannot be reused by another allocation while registered; the
//! memfd is sealed against writes, so what the kernel sends is what was
//! prepared, even while an old feed is still being sent after a publish;
//! and anything not found is written the ordinary way.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;

/// Smaller bodies are copied: a memfd and a lookup cost more than the copy.
pub(super) const MIN_ZERO_COPY: usize = 64 * 1024;

type Registry = BTreeMap<usize, (Bytes, Arc<OwnedFd>)>;

/// Registered bodies by the address of their first byte.
static REGISTERED: RwLock<Registry> = RwLock::new(BTreeMap::new());

fn registry() -> std::sync::RwLockReadGuard<'static, Registry> {
    // A panic while holding the lock leaves the map as it was.
    REGISTERED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn registry_mut() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTERED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A body that can be sent from its memfd; unregistered when dropped.
#[derive(Debug)]
pub(super) struct FileBacked {
    start: usize,
    fd: Arc<OwnedFd>,
}

impl FileBacked {
    /// Copies `body` into a sealed memfd and registers it; `None` when it is
    /// too small or the memfd cannot be made (then it is simply copied).
    pub(super) fn new(body: &Bytes) -> Option<Self> {
        if body.len() < MIN_ZERO_COPY {
            return None;
        }
        let fd = match sealed_memfd(body) {
            Ok(fd) => Arc::new(fd),
            Err(e) => {
                tracing::debug!("no memfd for a body of {} bytes: {e}", body.len());
                return None;
            }
        };
        let start = body.as_ptr() as usize;
        registry_mut().insert(start, (body.clone(), Arc::clone(&fd)));
        Some(Self { start, fd })
    }
}

impl Drop for FileBacked {
    fn drop(&mut self) {
        let mut registered = registry_mut();
        // Two representations may share the same bytes (and so the same
        // address); remove only our own entry.
        if registered
            .get(&self.start)
            .is_some_and(|(_, fd)| Arc::ptr_eq(fd, &self.fd))
        {
            registered.remove(&self.start);
        }
    }
}

/// The memfd and offset holding `slice`, if it lies within a registered
/// body (hyper may have sent the body's start already).
pub(super) fn lookup(slice: &[u8]) -> Option<(Arc<OwnedFd>, u64)> {
    if slice.len() < MIN_ZERO_COPY / 4 {
        return None;
    }
    let at = slice.as_ptr() as usize;
    let registered = registry();
    let (start, (body, fd)) = registered.range(..=at).next_back()?;
    let offset = at - start;
    (offset + slice.len() <= body.len()).then(|| (Arc::clone(fd), offset as u64))
}

#[cfg(target_os = "linux")]
fn sealed_memfd(body: &[u8]) -> std::io::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};
    use std::io::Write;
    let fd = memfd_create(
        "bookweek-body",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(body)?;
    fcntl_add_seals(
        &file,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    Ok(OwnedFd::from(file))
}

#[cfg(not(target_os = "linux"))]
fn sealed_memfd(_: &[u8]) -> std::io::Result<OwnedFd> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// `sendfile(2)` of `len` bytes of `fd` from `offset` to the socket; how
/// many were sent (the socket is non-blocking: `WouldBlock` when none).
#[cfg(target_os = "linux")]
pub(super) fn send(
    socket: &impl std::os::fd::AsFd,
    fd: &OwnedFd,
    offset: u64,
    len: usize,
) -> std::io::Result<usize> {
    let mut offset = offset;
    Ok(rustix::fs::sendfile(socket, fd, Some(&mut offset), len)?)
}

/// `send(2)` with `MSG_MORE`.
#[cfg(target_os = "linux")]
pub(super) fn send_more(socket: &impl std::os::fd::AsFd, buf: &[u8]) -> std::io::Result<usize> {
    Ok(rustix::net::send(
        socket,
        buf,
        rustix::net::SendFlags::MORE,
    )?)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn send_more(_: &impl std::os::fd::AsFd, _: &[u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
pub(super) fn send(
    _: &impl std::os::fd::AsFd,
    _: &OwnedFd,
    _: u64,
    _: usize,
) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_registered_bodies_and_their_ranges_only() {
        let body = Bytes::from(vec![7u8; 2 * MIN_ZERO_COPY]);
        assert!(lookup(&body).is_none());
        let backed = FileBacked::new(&body).unwrap();
        let (fd, offset) = lookup(&body).unwrap();
        assert_eq!(offset, 0);
        assert!(Arc::ptr_eq(&fd, &backed.fd));
        assert_eq!(lookup(&body[1000..]).unwrap().1, 1000);
        // A copy of the bytes elsewhere is not ours; nor is a short slice.
        let elsewhere = body.to_vec();
        assert!(lookup(&elsewhere).is_none());
        assert!(lookup(&body[..100]).is_none());
        // The memfd holds the body and cannot be changed.
        let mut file = std::fs::File::from(fd.try_clone().unwrap());
        let mut read = vec![0u8; body.len()];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut read, 0).unwrap();
        assert_eq!(read, body);
        assert!(std::io::Write::write_all(&mut file, b"x").is_err());
        // A second registration of the same bytes outlives the first.
        let again = FileBacked::new(&body).unwrap();
        drop(backed);
        assert!(Arc::ptr_eq(&lookup(&body).unwrap().0, &again.fd));
        drop(again);
        assert!(lookup(&body).is_none());
        let small = Bytes::from(vec![1u8; MIN_ZERO_COPY - 1]);
        assert!(FileBacked::new(&small).is_none());
    }

    #[test]
    fn feeds_are_sent_from_memfds_and_pages_are_not() {
        // Each memfd is a file descriptor: a site's pages could be
        // thousands, the feeds are three.
        let text = "<item>a book</item>".repeat(MIN_ZERO_COPY / 10);
        let feed =
            super::super::FeedFile::new("feed.xml", super::super::RSS_TYPE, text.clone(), None);
        assert!(lookup(&feed.bytes).is_some());
        let page = super::super::SiteFile::new("text/html; charset=utf-8", text);
        assert!(lookup(&page.bytes).is_none());
    }
}
