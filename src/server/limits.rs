//! Limits on what clients may ask of the server: request body size, and the
//! sliding-window rate limits of the subscribe form, keyed by client address
//! (IPv6 grouped by /64, `X-Forwarded-For` believed only from a loopback
//! proxy).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use chrono::{DateTime, FixedOffset, TimeDelta};

use super::lock;

/// Request bodies are a form with one address or an RFC 8058 one-click
/// body: anything larger is not ours.
pub const BODY_LIMIT: usize = 16 * 1024;

/// A sliding-window limit of `max` events per `window` for each key, in
/// bounded memory: when `capacity` keys are tracked, expired ones are dropped
/// and, if that is not enough, the key seen longest ago is forgotten.
pub struct RateLimiter {
    max: usize,
    window: TimeDelta,
    capacity: usize,
    hits: Mutex<HashMap<String, VecDeque<DateTime<FixedOffset>>>>,
}

impl RateLimiter {
    pub fn new(max: usize, window: TimeDelta, capacity: usize) -> Self {
        Self {
            max,
            window,
            capacity: capacity.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records an event for `key` at `now`, or refuses it with the number of
    /// seconds until one is allowed again. Refused events are not recorded,
    /// so a client that waits always gets through.
    pub fn check(&self, key: &str, now: DateTime<FixedOffset>) -> Result<(), u64> {
        let cutoff = now - self.window;
        let mut hits = lock(&self.hits);
        if !hits.contains_key(key) && hits.len() >= self.capacity {
            hits.retain(|_, times| times.back().is_some_and(|t| *t > cutoff));
            if hits.len() >= self.capacity {
                let stalest = hits
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(k, _)| k.clone());
                if let Some(k) = stalest {
                    hits.remove(&k);
                }
            }
        }
        let times = hits.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| *t <= cutoff) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let wait = times
                .front()
                .map_or(self.window, |t| *t + self.window - now);
            // Round up: "retry in 0 seconds" would invite an immediate retry.
            let secs = (wait.num_milliseconds() + 999) / 1000;
            return Err(u64::try_from(secs).unwrap_or(0).max(1));
        }
        times.push_back(now);
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.hits).len()
    }
}

/// Who is asking, for the rate limit: the peer address, or with a reverse
/// proxy on the same machine (a loopback peer) the address it forwarded.
pub(super) struct Client(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ConnectInfo(addr)| addr);
        Ok(Client(client_key(peer, &parts.headers)))
    }
}

/// The rate-limit key of a client. `X-Forwarded-For` is believed only from
/// a loopback peer, and then only its *last* entry: a proxy appends the
/// address it saw, while everything before it came from the client and can
/// be made up to dodge the limit. IPv6 clients are grouped by /64, the
/// block one subscriber line usually gets.
pub(super) fn client_key(peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let Some(peer) = peer else {
        return "unknown".to_string();
    };
    let mut ip = peer.ip().to_canonical();
    if ip.is_loopback()
        && let Some(forwarded) = forwarded_for(headers)
    {
        ip = forwarded.to_canonical();
    }
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()?
        .trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn rate_limiter_slides_and_stays_bounded() {
        let limiter = RateLimiter::new(2, TimeDelta::minutes(10), 3);
        let t = at("2026-03-02T10:00:00Z");
        assert!(limiter.check("a", t).is_ok());
        assert!(limiter.check("a", t + TimeDelta::minutes(5)).is_ok());
        assert_eq!(limiter.check("a", t + TimeDelta::minutes(6)), Err(240));
        assert!(limiter.check("a", t + TimeDelta::minutes(10)).is_ok());
        for (i, k) in ["b", "c", "d", "e"].into_iter().enumerate() {
            let when = t + TimeDelta::minutes(11 + i as i64);
            assert!(limiter.check(k, when).is_ok());
            assert!(limiter.tracked() <= 3);
        }
        let zero = RateLimiter::new(0, TimeDelta::seconds(30), 1);
        assert_eq!(zero.check("a", t), Err(30));
    }

    #[test]
    fn client_keys_group_ipv6_and_trust_forwarding_only_from_loopback() {
        let none = HeaderMap::new();
        let mut fwd = HeaderMap::new();
        fwd.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 192.0.2.5"),
        );
        let public: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let v6a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8:1:2:bbbb::2]:1".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:1".parse().unwrap();
        assert_eq!(client_key(Some(public), &fwd), "203.0.113.9");
        assert_eq!(client_key(Some(local), &fwd), "192.0.2.5");
        assert_eq!(client_key(Some(local), &none), "127.0.0.1");
        assert_eq!(client_key(Some(v6a), &none), client_key(Some(v6b), &none));
        assert_eq!(client_key(Some(v6a), &none), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some(mapped), &none), "192.0.2.7");
        assert_eq!(client_key(None, &none), "unknown");
    }
}
