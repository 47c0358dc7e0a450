//! The bodies the server sends for the feeds and the site's files, ready
//! before any request asks: each file is gzipped once, when a publish makes
//! it (brotli once too, on the first request that asks for it), and every
//! representation carries the headers a response needs, built in advance.
//! A request only picks one by its `Accept-Encoding`
//! ([`Coding::negotiate`]) and clones reference-counted bytes and a
//! prepared header map.
//!
//! Why compress at publish rather than per request: a feed of the real
//! corpus is ~300 KB, and gzipping it per request held the server to ~60
//! requests a second on two cores; compressed once it is a memory copy.
//! Levels are chosen for latency (a saved edit must be served within
//! 300 ms): gzip 6 (zlib-rs) and brotli 5 take 4 and 13 ms on a 300 KB feed
//! (brotli 5 is ~7 % smaller than gzip 9), and the 136 files of the real
//! corpus's site 0.07 and 0.18 s together; brotli 11 would take half a
//! second per feed.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::conditional::encoded_etag;
use super::zerocopy::FileBacked;

/// Bodies smaller than this go out as they are: they fit in a packet or
/// two either way, and compressing them saves the client nothing.
pub(super) const MIN_COMPRESSED: usize = 1024;

/// gzip's level: flate2's default, the best size for the time here.
const GZIP_LEVEL: u32 = 6;

/// Brotli's quality (0–11); see the module docs.
const BROTLI_QUALITY: i32 = 5;

/// A content coding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Coding {
    /// From the server's first choice to its last when a client likes
    /// several equally: the smallest body first.
    const PREFERENCE: [Coding; 3] = [Coding::Br, Coding::Gzip, Coding::Identity];

    fn name(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Br => "br",
        }
    }

    /// The coding to answer with, among those `available`, for the
    /// `Accept-Encoding` values of a request (RFC 9110 §12.5.3): the highest
    /// q-value wins, ties go to the smaller body; `q=0` rules a coding out;
    /// `*` stands for every coding not named; identity is acceptable unless
    /// excluded. No header, an empty one, or nothing acceptable among what
    /// we have: identity (a body is better than a 406 for a feed reader).
    pub(super) fn negotiate<'a>(
        accept: impl Iterator<Item = &'a HeaderValue>,
        available: impl Fn(Coding) -> bool,
    ) -> Coding {
        let mut named = Weights::default();
        let mut any = false;
        for value in accept {
            any = true;
            // A value that is not visible ASCII names nothing we know.
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or("").trim();
                if name.is_empty() {
                    continue;
                }
                let mut q = Some(1000);
                for param in parts {
                    let (key, val) = param.split_once('=').unwrap_or((param, ""));
                    if key.trim().eq_ignore_ascii_case("q") {
                        q = qvalue(val.trim());
                    }
                }
                // A malformed q-value: the item is ignored, as if absent.
                let Some(q) = q else { continue };
                let slot =
                    if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                        &mut named.gzip
                    } else if name.eq_ignore_ascii_case("br") {
                        &mut named.br
                    } else if name.eq_ignore_ascii_case("identity") {
                        &mut named.identity
                    } else if name == "*" {
                        &mut named.star
                    } else {
                        continue;
                    };
                *slot = Some(slot.map_or(q, |old: u16| old.max(q)));
            }
        }
        if !any {
            return Coding::Identity;
        }
        let weight = |c: Coding| -> u16 {
            let explicit = match c {
                Coding::Identity => named.identity,
                Coding::Gzip => named.gzip,
                Coding::Br => named.br,
            };
            match (explicit, named.star, c) {
                (Some(q), _, _) => q,
                (None, Some(q), _) => q,
                // Identity needs no mention to be acceptable.
                (None, None, Coding::Identity) => 1,
                (None, None, _) => 0,
            }
        };
        let mut best = (Coding::Identity, 0);
        for c in Coding::PREFERENCE {
            let w = weight(c);
            if w > best.1 && available(c) {
                best = (c, w);
            }
        }
        best.0
    }
}

/// q-values in thousandths, per coding named in `Accept-Encoding`.
#[derive(Default)]
struct Weights {
    identity: Option<u16>,
    gzip: Option<u16>,
    br: Option<u16>,
    star: Option<u16>,
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths; `None` when malformed.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// One representation: its body and the complete headers of a 200 and of
/// a 304.
#[derive(Debug)]
pub(super) struct Representation {
    pub(super) body: Bytes,
    /// Quotes included; the identity ETag with `-gzip` or `-br` appended
    /// for a compressed body, so caches never mix representations.
    pub(super) etag: String,
    ok: HeaderMap,
    not_modified: HeaderMap,
    /// A large body's copy that the kernel sends without copying it again
    /// ([`super::zerocopy`]); registered while this lives.
    _zero_copy: Option<FileBacked>,
}

impl Representation {
    fn new(
        coding: Coding,
        body: Bytes,
        identity_etag: &str,
        common: &HeaderMap,
        sending: Sending,
    ) -> Self {
        let etag = match coding {
            Coding::Identity => identity_etag.to_string(),
            c => encoded_etag(identity_etag, c.name()),
        };
        let mut ok = common.clone();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            ok.insert(header::ETAG, v);
        }
        if coding != Coding::Identity {
            ok.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(coding.name()),
            );
        }
        // Set here so the router does not format it for every response.
        ok.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        // RFC 9110 §15.4.5: the fields a 200 would carry that caches need.
        let mut not_modified = HeaderMap::new();
        for name in [
            header::ETAG,
            header::LAST_MODIFIED,
            header::CACHE_CONTROL,
            header::VARY,
            header::EXPIRES,
            header::CONTENT_LOCATION,
        ] {
            for v in ok.get_all(&name) {
                not_modified.append(name.clone(), v.clone());
            }
        }
        Self {
            _zero_copy: match sending {
                Sending::Sendfile => FileBacked::new(&body),
                Sending::Copied => None,
            },
            body,
            etag,
            ok,
            not_modified,
        }
    }

    /// The 200: the body shares the prepared bytes.
    pub(super) fn ok(&self) -> Response {
        let mut res = Response::new(Body::from(self.body.clone()));
        *res.headers_mut() = self.ok.clone();
        res
    }

    /// The 304 for a client that holds this representation.
    pub(super) fn not_modified(&self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        *res.headers_mut() = self.not_modified.clone();
        res
    }
}

/// Every representation of one file: identity always; gzip, made with the
/// file, and brotli, made when first asked for, when the file is text of at
/// least [`MIN_COMPRESSED`] bytes and they come out smaller.
///
/// Why brotli waits for a request: it is ~3 times gzip's work (13 ms for a
/// 300 KB feed) for a body ~7 % smaller, browsers only ask for it over
/// HTTPS (usually a proxy's business), and a publish, which a saved edit
/// waits for, should not pay for it. The first request for it after a
/// publish compresses on the blocking pool; the requests meanwhile wait for
/// the same result rather than compress again.
#[derive(Debug)]
pub(super) struct Encodings {
    identity: Representation,
    gzip: Option<Representation>,
    /// Whether brotli is worth trying (text, large enough).
    brotli_wanted: bool,
    br: tokio::sync::OnceCell<Option<Representation>>,
    /// What the brotli representation's headers start from.
    common: HeaderMap,
    sending: Sending,
}

/// How a file's large bodies are written to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sending {
    /// From memory, copied into the socket.
    Copied,
    /// With `sendfile` from a memfd when large ([`super::zerocopy`]): for
    /// the feeds, asked for all the time. Each such body holds a file
    /// descriptor, so not for the site's pages, which could be thousands.
    Sendfile,
}

impl Encodings {
    /// Gzips `bytes` when worth it. `common` holds the headers every
    /// representation shares (type, caching, `Vary`); the ETag,
    /// `Content-Encoding` and `Content-Length` are added per
    /// representation.
    pub(super) fn new(
        bytes: Bytes,
        etag: &str,
        common: &HeaderMap,
        content_type: &str,
        sending: Sending,
    ) -> Self {
        let wanted = bytes.len() >= MIN_COMPRESSED && compressible(content_type);
        let gzip = wanted
            .then(|| gzip(&bytes))
            .flatten()
            .filter(|b| b.len() < bytes.len())
            .map(|b| Representation::new(Coding::Gzip, Bytes::from(b), etag, common, sending));
        Self {
            gzip,
            brotli_wanted: wanted,
            br: tokio::sync::OnceCell::new(),
            common: if wanted {
                common.clone()
            } else {
                HeaderMap::new()
            },
            identity: Representation::new(Coding::Identity, bytes, etag, common, sending),
            sending,
        }
    }

    pub(super) fn identity(&self) -> &Representation {
        &self.identity
    }

    /// The representation in `coding` if there is one, brotli only once
    /// made.
    pub(super) fn get(&self, coding: Coding) -> Option<&Representation> {
        match coding {
            Coding::Identity => Some(&self.identity),
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Br => self.br.get().and_then(Option::as_ref),
        }
    }

    /// Whether there is, or may be once made, a representation in `coding`.
    fn may_have(&self, coding: Coding) -> bool {
        match coding {
            Coding::Br => self.brotli_wanted && self.br.get().is_none_or(Option::is_some),
            c => self.get(c).is_some(),
        }
    }

    /// The brotli representation, made on the blocking pool by the first
    /// caller; `None` when it would not be smaller.
    async fn brotli(&self) -> Option<&Representation> {
        self.br
            .get_or_init(|| async {
                let bytes = self.identity.body.clone();
                let plain = bytes.len();
                let compressed = tokio::task::spawn_blocking(move || brotli(&bytes))
                    .await
                    .ok()
                    .flatten()
                    .filter(|b| b.len() < plain)?;
                Some(Representation::new(
                    Coding::Br,
                    Bytes::from(compressed),
                    &self.identity.etag,
                    &self.common,
                    self.sending,
                ))
            })
            .await
            .as_ref()
    }

    /// The representation for a request's `Accept-Encoding` values.
    pub(super) async fn choose(&self, headers: &HeaderMap) -> &Representation {
        let accept = || headers.get_all(header::ACCEPT_ENCODING).iter();
        let coding = Coding::negotiate(accept(), |c| self.may_have(c));
        if coding == Coding::Br
            && let Some(br) = self.brotli().await
        {
            return br;
        }
        // Brotli came out no smaller: the best of the others.
        let coding = Coding::negotiate(accept(), |c| c != Coding::Br && self.may_have(c));
        self.get(coding).unwrap_or(&self.identity)
    }
}

/// Text compresses; images (but SVG) and archives already are.
fn compressible(content_type: &str) -> bool {
    let ty = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ty.starts_with("text/")
        || ty.ends_with("+xml")
        || ty.ends_with("+json")
        || matches!(
            ty.as_str(),
            "application/xml" | "application/json" | "application/javascript"
        )
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(GZIP_LEVEL),
    );
    e.write_all(bytes).ok()?;
    e.finish().ok()
}

fn brotli(bytes: &[u8]) -> Option<Vec<u8>> {
    // The default window (22). A window fitted to a small file looks
    // cheaper but is not: at quality 5 the encoder then picks a hasher that
    // took ten times as long over the corpus's pages (2.1 s against 0.18 s
    // for 136 files, 3.9 MB).
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 3);
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pick(values: &[&str], available: &[Coding]) -> Coding {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        Coding::negotiate(values.iter(), |c| available.contains(&c))
    }

    const ALL: &[Coding] = &[Coding::Identity, Coding::Gzip, Coding::Br];
    const NO_BR: &[Coding] = &[Coding::Identity, Coding::Gzip];
    const PLAIN: &[Coding] = &[Coding::Identity];

    #[test]
    fn negotiates_by_q_value_then_by_size() {
        use Coding::{Br, Gzip, Identity};
        for (values, available, expected) in [
            (&[][..], ALL, Identity),
            (&[""], ALL, Identity),
            (&["gzip"], ALL, Gzip),
            (&["x-gzip"], ALL, Gzip),
            (&["GZIP"], ALL, Gzip),
            (&["gzip, deflate, br"], ALL, Br),
            (&["gzip, deflate, br"], NO_BR, Gzip),
            (&["gzip, br"], PLAIN, Identity),
            // Split over two header lines.
            (&["deflate", "br"], ALL, Br),
            (&["gzip;q=1.0, br;q=0.9"], ALL, Gzip),
            (&["gzip; q=0.5, identity"], ALL, Identity),
            (&["gzip;q=0.5, identity;q=0.4"], ALL, Gzip),
            (&["br;q=0, gzip"], ALL, Gzip),
            (&["br;q=0.000, gzip;q=0"], ALL, Identity),
            (&["gzip;Q=0"], ALL, Identity),
            (&["*"], ALL, Br),
            (&["*;q=0.5, br;q=0.4"], ALL, Gzip),
            (&["*;q=0.5, br;q=0"], ALL, Gzip),
            (&["*;q=0, identity"], ALL, Identity),
            (&["identity;q=0, gzip"], ALL, Gzip),
            // Nothing acceptable among what we have: identity anyway.
            (&["identity;q=0, zstd"], ALL, Identity),
            (&["*;q=0"], ALL, Identity),
            (&["identity;q=0"], ALL, Identity),
            (&["deflate"], ALL, Identity),
            // Malformed q-values drop their item.
            (&["gzip;q=2, br;q=0.5x"], ALL, Identity),
            (&["gzip;q=, br"], ALL, Br),
            (&["gzip;q=0.0001"], ALL, Identity),
            (&[" , ,gzip ,"], ALL, Gzip),
        ] {
            assert_eq!(
                pick(values, available),
                expected,
                "{values:?} {available:?}"
            );
        }
    }

    #[test]
    fn reads_q_values() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.05"), Some(50));
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0."), Some(0));
        for bad in ["1.5", "2", "0.1234", "", "-0", "0.a", ".5"] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }

    fn common() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        h
    }

    fn accepting(coding: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(coding));
        h
    }

    #[tokio::test]
    async fn compressed_bodies_decode_to_the_original() {
        let text: String = (0..400)
            .map(|i| format!("<item><title>Book {i}</title></item>\n"))
            .collect();
        let e = Encodings::new(
            Bytes::from(text.clone()),
            "\"e\"",
            &common(),
            "text/html",
            Sending::Copied,
        );
        // Brotli waits for the first request that asks for it.
        assert!(e.get(Coding::Br).is_none());
        assert_eq!(e.choose(&accepting("gzip, br")).await.etag, "\"e-br\"");
        let gz = e.get(Coding::Gzip).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz.body[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let br = e.get(Coding::Br).unwrap();
        let mut out = String::new();
        brotli::Decompressor::new(&br.body[..], 4096)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        assert!(br.body.len() < text.len() / 4 && gz.body.len() < text.len() / 4);
        assert_eq!(
            (gz.etag.as_str(), br.etag.as_str()),
            ("\"e-gzip\"", "\"e-br\"")
        );
        let res = br.ok();
        assert_eq!(res.headers()["content-encoding"], "br");
        assert_eq!(res.headers()["etag"], "\"e-br\"");
        assert_eq!(
            res.headers()["content-length"],
            br.body.len().to_string().as_str()
        );
        let res = e.get(Coding::Identity).unwrap().not_modified();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers()["etag"], "\"e\"");
        assert_eq!(res.headers()["vary"], "accept-encoding");
        assert!(res.headers().get("content-type").is_none());
    }

    #[tokio::test]
    async fn small_files_and_images_are_not_compressed() {
        let small = Encodings::new(
            Bytes::from("x".repeat(MIN_COMPRESSED - 1)),
            "\"s\"",
            &common(),
            "text/html",
            Sending::Copied,
        );
        assert!(small.get(Coding::Gzip).is_none() && small.get(Coding::Br).is_none());
        let image = Encodings::new(
            Bytes::from(vec![0u8; 10_000]),
            "\"i\"",
            &common(),
            "image/png",
            Sending::Copied,
        );
        assert!(image.get(Coding::Gzip).is_none());
        let svg = Encodings::new(
            Bytes::from(vec![b' '; 10_000]),
            "\"v\"",
            &common(),
            "image/svg+xml",
            Sending::Copied,
        );
        assert!(svg.get(Coding::Gzip).is_some());
        assert_eq!(image.choose(&accepting("gzip, br")).await.etag, "\"i\"");
        assert!(image.get(Coding::Br).is_none());
        // Brotli no smaller than the body (random bytes): the next best.
        let mut noise = Vec::with_capacity(4096);
        let mut x: u32 = 1;
        while noise.len() < 4096 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        let noise = Encodings::new(
            Bytes::from(noise),
            "\"n\"",
            &common(),
            "text/plain",
            Sending::Copied,
        );
        assert_eq!(noise.choose(&accepting("br")).await.etag, "\"n\"");
        assert_eq!(
            noise.choose(&accepting("br, gzip;q=0.5")).await.etag,
            "\"n\""
        );
        assert!(!noise.may_have(Coding::Br));
        assert!(compressible("application/rss+xml; charset=utf-8"));
        assert!(compressible("application/feed+json; charset=utf-8"));
        assert!(!compressible("image/jpeg"));
    }
}
