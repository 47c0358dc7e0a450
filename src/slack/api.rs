//! A small client for the three Slack Web API methods the archive needs:
//! `conversations.history` and `conversations.replies` (cursor pagination)
//! and `users.info` (cached per run).
//!
//! A 429 answer is retried after its `Retry-After`, up to [`MAX_WAIT`] per
//! run; an `ok: false` answer is an error carrying Slack's error code, for
//! the caller to report and retry on its next run. Every answer is bounded
//! ([`MAX_RESPONSE_BYTES`]) and so is pagination ([`MAX_PAGES`]). The token
//! travels only in the Authorization header and is never logged; the client
//! follows no redirects, so it goes nowhere else.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::select::Ts;
use super::{RawMessage, RawUser};
use crate::config::SlackToken;

/// The largest answer read.
pub const MAX_RESPONSE_BYTES: u64 = 32 << 20;
/// The most pages one listing may take (200 messages each).
pub const MAX_PAGES: usize = 200;
/// The longest a run waits in all for Slack's rate limit.
pub const MAX_WAIT: Duration = Duration::from_secs(120);
/// How many 429 answers in a row one call accepts.
const MAX_RETRIES: u32 = 5;
const PAGE_SIZE: &str = "200";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method}: Slack answered `{error}`")]
    Slack { method: String, error: String },
    #[error("{method}: rate limited; Slack asks to wait {retry_after} s more than this run waits")]
    RateLimited { method: String, retry_after: u64 },
    #[error("{method}: HTTP status {status}")]
    Http { method: String, status: u16 },
    #[error("{method}: {message}")]
    Transport { method: String, message: String },
    #[error("{method}: {message}")]
    Invalid { method: String, message: String },
    #[error("stopped while waiting for Slack's rate limit")]
    Stopped,
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: SlackToken,
    users: RefCell<HashMap<String, RawUser>>,
    waited: Cell<Duration>,
    /// Set when the process is shutting down: waits end early.
    stop: Option<Arc<AtomicBool>>,
}

impl Client {
    /// A client for the API at `base` (`https://slack.com/api`).
    pub fn new(base: &str, token: SlackToken, stop: Option<Arc<AtomicBool>>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(20)))
            .user_agent(concat!("bookweek/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token,
            users: RefCell::new(HashMap::new()),
            waited: Cell::new(Duration::ZERO),
            stop,
        }
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Sleeps `d`, in short steps so a shutdown does not wait for it.
    fn wait(&self, d: Duration) -> Result<(), ApiError> {
        let step = Duration::from_millis(100);
        let mut left = d;
        while !left.is_zero() {
            if self.stopped() {
                return Err(ApiError::Stopped);
            }
            let now = left.min(step);
            std::thread::sleep(now);
            left -= now;
        }
        Ok(())
    }

    /// One call; waits out 429 answers within the run's budget.
    fn call(&self, method: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
        let mut retries = 0;
        loop {
            let mut request = self
                .agent
                .get(format!("{}/{method}", self.base))
                .header("Authorization", format!("Bearer {}", self.token.expose()));
            for (k, v) in params {
                request = request.query(*k, *v);
            }
            let mut response = request.call().map_err(|e| ApiError::Transport {
                method: method.into(),
                message: e.to_string(),
            })?;
            let status = response.status().as_u16();
            if status == 429 {
                // Slack always sends Retry-After (seconds); be patient without it.
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(5);
                let total = self.waited.get() + Duration::from_secs(wait);
                if retries >= MAX_RETRIES || total > MAX_WAIT {
                    return Err(ApiError::RateLimited {
                        method: method.into(),
                        retry_after: wait,
                    });
                }
                tracing::info!(method, wait_s = wait, "Slack rate limit: waiting");
                self.wait(Duration::from_secs(wait))?;
                self.waited.set(total);
                retries += 1;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(ApiError::Http {
                    method: method.into(),
                    status,
                });
            }
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE_BYTES)
                .read_to_string()
                .map_err(|e| ApiError::Invalid {
                    method: method.into(),
                    message: format!("cannot read the answer: {e}"),
                })?;
            let value: Value = serde_json::from_str(&body).map_err(|e| ApiError::Invalid {
                method: method.into(),
                message: format!("the answer is not JSON: {e}"),
            })?;
            if value["ok"] != Value::Bool(true) {
                return Err(ApiError::Slack {
                    method: method.into(),
                    error: value["error"]
                        .as_str()
                        .unwrap_or("unknown_error")
                        .to_string(),
                });
            }
            return Ok(value);
        }
    }

    /// Every page of a listing of messages.
    fn messages(&self, method: &str, params: &[(&str, &str)]) -> Result<Vec<RawMessage>, ApiError> {
        let invalid = |message: String| ApiError::Invalid {
            method: method.into(),
            message,
        };
        let mut out = Vec::new();
        let mut cursor = String::new();
        let mut cursors = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut page_params: Vec<(&str, &str)> = params.to_vec();
            page_params.push(("limit", PAGE_SIZE));
            if !cursor.is_empty() {
                page_params.push(("cursor", &cursor));
            }
            let mut value = self.call(method, &page_params)?;
            let page: Vec<RawMessage> = serde_json::from_value(value["messages"].take())
                .map_err(|e| invalid(format!("unexpected `messages`: {e}")))?;
            let origin = format!("{}/{method}", self.base);
            out.extend(page.into_iter().map(|mut m| {
                m.origin = origin.clone();
                m
            }));
            let next = value["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if next.is_empty() {
                return Ok(out);
            }
            if !cursors.insert(next.clone()) {
                return Err(invalid("Slack repeated a page cursor".into()));
            }
            cursor = next;
        }
        Err(invalid(format!(
            "more than {MAX_PAGES} pages; a week of one channel has far fewer"
        )))
    }

    /// The channel's messages from `oldest` to `latest`, both included.
    pub fn history(
        &self,
        channel: &str,
        oldest: Ts,
        latest: Ts,
    ) -> Result<Vec<RawMessage>, ApiError> {
        let (oldest, latest) = (oldest.to_string(), latest.to_string());
        self.messages(
            "conversations.history",
            &[
                ("channel", channel),
                ("oldest", &oldest),
                ("latest", &latest),
                ("inclusive", "true"),
            ],
        )
    }

    /// A thread: its parent and every reply.
    pub fn replies(&self, channel: &str, ts: Ts) -> Result<Vec<RawMessage>, ApiError> {
        let ts = ts.to_string();
        self.messages(
            "conversations.replies",
            &[("channel", channel), ("ts", &ts)],
        )
    }

    /// A user, asked once per run.
    pub fn user(&self, id: &str) -> Result<RawUser, ApiError> {
        if let Some(u) = self.users.borrow().get(id) {
            return Ok(u.clone());
        }
        let mut value = self.call("users.info", &[("user", id)])?;
        let user: RawUser =
            serde_json::from_value(value["user"].take()).map_err(|e| ApiError::Invalid {
                method: "users.info".into(),
                message: format!("unexpected `user`: {e}"),
            })?;
        self.users.borrow_mut().insert(id.to_string(), user.clone());
        Ok(user)
    }
}
