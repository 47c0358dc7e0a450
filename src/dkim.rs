//! DKIM keys: making a new signing key in the form lettre signs with, and
//! the DNS records that go with it (the key's TXT record, SPF and DMARC
//! examples). Writing the key file is the command's job; signing is `mail`'s.
//!
//! lettre 0.11 reads an RSA key as PKCS#1 PEM (`-----BEGIN RSA PRIVATE
//! KEY-----`) and an Ed25519 key as the base64 of its 32 secret bytes; see
//! `mail::dkim_config`.

use base64::Engine as _;
use lettre::message::dkim::{DkimSigningAlgorithm, DkimSigningKey};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePublicKey as _;

/// RSA modulus size: what Gmail and Yahoo ask of bulk senders (1024 is the
/// minimum they accept; 2048 is the common recommendation).
pub const RSA_BITS: usize = 2048;

/// The longest string a DNS TXT record holds in one piece (RFC 1035); longer
/// values are split into several quoted strings that receivers join.
const TXT_CHUNK: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSA-SHA256: verified by every receiver.
    Rsa,
    /// Ed25519-SHA256 (RFC 8463): short keys, not yet verified everywhere.
    Ed25519,
}

impl Algorithm {
    /// The `k=` tag of the DNS record.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("cannot generate the RSA key: {0}")]
    Rsa(String),
    /// A generated key that lettre cannot read back: a bug, caught before
    /// anything is written.
    #[error("the generated key does not load for signing: {0}")]
    Unusable(String),
}

/// A new key: the private key file's text (a secret) and the public key as
/// it goes into DNS (`p=`).
pub struct NewKey {
    pub algorithm: Algorithm,
    pub private: String,
    pub public_base64: String,
}

impl NewKey {
    /// The DKIM record's value: `v=DKIM1; k=ed25519; p=…`.
    pub fn record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.tag(),
            self.public_base64
        )
    }
}

/// Makes a new key from the operating system's random source.
pub fn generate(algorithm: Algorithm) -> Result<NewKey, DkimError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = match algorithm {
        Algorithm::Ed25519 => {
            let seed: [u8; 32] = rand::random();
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            NewKey {
                algorithm,
                private: format!("{}\n", b64.encode(seed)),
                public_base64: b64.encode(signing.verifying_key().as_bytes()),
            }
        }
        Algorithm::Rsa => {
            let mut rng = rsa::rand_core::OsRng;
            let private = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS)
                .map_err(|e| DkimError::Rsa(e.to_string()))?;
            let pem = private
                .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| DkimError::Rsa(e.to_string()))?;
            // p= is the SubjectPublicKeyInfo in DER, what `openssl rsa
            // -pubout` gives and every verifier reads.
            let public = private
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| DkimError::Rsa(e.to_string()))?;
            NewKey {
                algorithm,
                private: pem.to_string(),
                public_base64: b64.encode(public.as_bytes()),
            }
        }
    };
    check_loads(&key)?;
    Ok(key)
}

/// Reads the key back the way the sender will (`mail::dkim_config`).
fn check_loads(key: &NewKey) -> Result<(), DkimError> {
    let result = match key.algorithm {
        Algorithm::Rsa => DkimSigningKey::new(&key.private, DkimSigningAlgorithm::Rsa),
        Algorithm::Ed25519 => {
            DkimSigningKey::new(key.private.trim(), DkimSigningAlgorithm::Ed25519)
        }
    };
    result
        .map(|_| ())
        .map_err(|e| DkimError::Unusable(e.to_string()))
}

/// A TXT record in zone-file form, its value split into quoted strings of
/// at most 255 bytes: `name. TXT "…" "…"`.
pub fn zone_line(name: &str, value: &str) -> String {
    let chunks: Vec<String> = value
        .as_bytes()
        .chunks(TXT_CHUNK)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("{name}. TXT {}", chunks.join(" "))
}

/// Where the key's record goes: `selector._domainkey.domain`.
pub fn record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_key_is_the_base64_of_32_bytes_with_its_public_key() {
        let key = generate(Algorithm::Ed25519).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let seed = b64.decode(key.private.trim()).unwrap();
        assert_eq!(seed.len(), 32);
        let expected = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().unwrap())
            .verifying_key()
            .to_bytes();
        assert_eq!(b64.decode(&key.public_base64).unwrap(), expected);
        assert!(key.record().starts_with("v=DKIM1; k=ed25519; p="));
    }

    #[test]
    fn long_records_are_split_into_255_byte_strings() {
        let value = "x".repeat(600);
        let line = zone_line("s._domainkey.example.org", &value);
        let parts: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(parts.concat(), value);
        assert!(line.starts_with("s._domainkey.example.org. TXT \""));
    }
}
