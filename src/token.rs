//! Signed subscriber links: an HMAC-SHA256 over the subscriber and the
//! purpose (unsubscribe, confirm), so a link works for exactly one person and
//! one action and cannot be forged or altered.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a link does; part of the signed data, so an unsubscribe token
/// cannot be used to confirm and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Unsubscribe,
    Confirm,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::Confirm => "confirm",
        }
    }
}

/// The key that signs and checks tokens.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(…)")
    }
}

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, subscriber: i64, purpose: Purpose) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.label().as_bytes());
        mac.update(b":");
        mac.update(&subscriber.to_be_bytes());
        mac
    }

    /// `<subscriber id>.<base64url mac>`: URL-safe, no padding. The id is
    /// zero-padded to twelve digits so every token of a site has the same
    /// length (the digest is encoded once and each link written in place).
    pub fn token(&self, subscriber: i64, purpose: Purpose) -> String {
        let tag = self.mac(subscriber, purpose).finalize().into_bytes();
        format!("{subscriber:012}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The subscriber a token is for, if it is genuine for `purpose`. The
    /// comparison is constant-time.
    pub fn verify(&self, token: &str, purpose: Purpose) -> Option<i64> {
        let (id, tag) = token.split_once('.')?;
        let id: i64 = id.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(id, purpose).verify_slice(&tag).ok()?;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let s = Signer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.token(42, Purpose::Unsubscribe);
        assert_eq!(s.verify(&t, Purpose::Unsubscribe), Some(42));
        assert_eq!(s.verify(&t, Purpose::Confirm), None);
        assert_eq!(
            s.verify(&t.replacen("42.", "43.", 1), Purpose::Unsubscribe),
            None
        );
        let mut bad = t.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(s.verify(&bad, Purpose::Unsubscribe), None);
        assert_eq!(
            Signer::new(b"another key, also long enough").verify(&t, Purpose::Unsubscribe),
            None
        );
        assert_eq!(s.verify("garbage", Purpose::Unsubscribe), None);
    }
}
