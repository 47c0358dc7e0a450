//! Which of a channel's messages make a book's archive, grouped into threads.
//!
//! Top-level posts count from `archive.before` before the window's start
//! until `archive.after` after its end; a thread's replies count whenever
//! they were posted. A message is a reply when its `thread_ts` names another
//! message (newer exports and the Web API) or when a parent lists it in its
//! `replies` (older exports). Joins and leaves, bots, deleted messages and
//! tombstones, and every other system message are dropped; a
//! `thread_broadcast` is kept once, as the reply it is, never as a thread of
//! its own (the channel shows a copy of it).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};

use super::RawMessage;
use crate::config::ArchiveRules;
use crate::model::Window;

/// A Slack timestamp (`1670323200.000100`): seconds and microseconds since
/// the epoch. It is also a message's ID within its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts {
    pub secs: i64,
    pub micros: u32,
}

impl Ts {
    pub fn parse(s: &str) -> Option<Self> {
        let (secs, frac) = s.trim().split_once('.').unwrap_or((s.trim(), "0"));
        if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let micros = format!("{frac:0<6}").parse().ok()?;
        Some(Self {
            secs: secs.parse().ok()?,
            micros,
        })
    }

    pub fn of<Z: TimeZone>(t: &DateTime<Z>) -> Self {
        Self {
            secs: t.timestamp(),
            micros: t.timestamp_subsec_micros().min(999_999),
        }
    }

    pub fn to_utc(self) -> Option<DateTime<Utc>> {
        Utc.timestamp_opt(self.secs, self.micros * 1000).single()
    }
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:06}", self.secs, self.micros)
    }
}

/// When a book's top-level posts may have been written (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Ts,
    pub to: Ts,
}

impl Range {
    pub fn of(window: &Window, rules: &ArchiveRules) -> Self {
        Self {
            from: Ts::of(&(window.start() - rules.before)),
            to: Ts::of(&(window.end() + rules.after)),
        }
    }

    pub fn contains(&self, ts: Ts) -> bool {
        self.from <= ts && ts <= self.to
    }
}

/// A top-level post and its replies, in time order, still in Slack's form.
#[derive(Debug, Clone)]
pub struct RawThread {
    pub post: RawMessage,
    pub replies: Vec<RawMessage>,
}

/// The threads whose top-level post is in `range`, oldest first.
pub fn threads(messages: &[RawMessage], range: &Range) -> Vec<RawThread> {
    // By timestamp, once: the Web API gives a broadcast reply both in the
    // channel's history and in its thread.
    let mut by_ts: BTreeMap<Ts, &RawMessage> = BTreeMap::new();
    for m in messages {
        if let Some(ts) = Ts::parse(&m.ts) {
            by_ts.entry(ts).or_insert(m);
        }
    }
    let mut listed_parent: HashMap<Ts, Ts> = HashMap::new();
    for (ts, m) in &by_ts {
        for r in m.replies.iter().flatten() {
            if let Some(reply) = r.ts.as_deref().and_then(Ts::parse).filter(|r| r != ts) {
                listed_parent.insert(reply, *ts);
            }
        }
    }
    let parent_of = |ts: &Ts, m: &RawMessage| -> Option<Ts> {
        m.thread_ts
            .as_deref()
            .and_then(Ts::parse)
            .filter(|p| p != ts)
            .or_else(|| listed_parent.get(ts).copied())
    };
    let mut threads: BTreeMap<Ts, RawThread> = BTreeMap::new();
    for (ts, m) in &by_ts {
        if parent_of(ts, m).is_none() && range.contains(*ts) && kept(m) {
            threads.insert(
                *ts,
                RawThread {
                    post: (*m).clone(),
                    replies: Vec::new(),
                },
            );
        }
    }
    for (ts, m) in &by_ts {
        if let Some(parent) = parent_of(ts, m)
            && let Some(thread) = threads.get_mut(&parent)
            && kept(m)
        {
            thread.replies.push((*m).clone());
        }
    }
    threads.into_values().collect()
}

/// Whether a message is someone's words: not a bot's, not a system message
/// (joins, leaves, topic changes, …), not deleted.
pub fn kept(m: &RawMessage) -> bool {
    let by_person = m.user.as_deref().is_some_and(|u| !u.is_empty()) && m.bot_id.is_none();
    let kind = matches!(
        m.subtype.as_deref(),
        None | Some("file_share" | "me_message" | "thread_broadcast")
    );
    by_person && kind && m.hidden != Some(true)
}

/// The parents among `messages` that have replies to fetch.
pub fn parents(messages: &[RawMessage]) -> Vec<Ts> {
    messages
        .iter()
        .filter(|m| {
            m.reply_count.is_some_and(|n| n > 0)
                || m.thread_ts.as_deref().is_some_and(|t| t == m.ts)
        })
        .filter_map(|m| Ts::parse(&m.ts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ts: &str, user: &str, text: &str) -> RawMessage {
        RawMessage {
            ts: ts.into(),
            user: Some(user.into()),
            text: Some(text.into()),
            ..RawMessage::default()
        }
    }

    fn range(from: i64, to: i64) -> Range {
        Range {
            from: Ts {
                secs: from,
                micros: 0,
            },
            to: Ts {
                secs: to,
                micros: 0,
            },
        }
    }

    #[test]
    fn parses_timestamps_with_and_without_fractions() {
        assert_eq!(
            Ts::parse("1670323200.000100"),
            Some(Ts {
                secs: 1670323200,
                micros: 100
            })
        );
        assert_eq!(Ts::parse("1670323200.5").map(|t| t.micros), Some(500_000));
        assert_eq!(Ts::parse("x.1"), None);
        assert_eq!(Ts::parse("1.1234567"), None);
        assert_eq!(
            Ts::parse("1670323200.000100").unwrap().to_string(),
            "1670323200.000100"
        );
    }

    #[test]
    fn groups_replies_by_thread_ts_and_by_old_replies_lists() {
        let mut parent = msg("100.000001", "U1", "q?");
        parent.thread_ts = Some("100.000001".into());
        let mut new_style = msg("150.000000", "U2", "a");
        new_style.thread_ts = Some("100.000001".into());
        let mut old_parent = msg("120.000000", "U1", "q2?");
        old_parent.replies = Some(vec![super::super::ReplyRef {
            ts: Some("130.000000".into()),
        }]);
        let old_reply = msg("130.000000", "U3", "a2");
        let t = threads(&[new_style, old_reply, old_parent, parent], &range(0, 1000));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].post.ts, "100.000001");
        assert_eq!(t[0].replies[0].ts, "150.000000");
        assert_eq!(t[1].post.ts, "120.000000");
        assert_eq!(t[1].replies[0].ts, "130.000000");
    }

    #[test]
    fn top_level_posts_outside_the_range_are_left_out_but_late_replies_kept() {
        let early = msg("50.0", "U1", "too early");
        let mut q = msg("100.0", "U1", "q");
        q.thread_ts = Some("100.0".into());
        let mut late_reply = msg("5000.0", "U2", "late answer");
        late_reply.thread_ts = Some("100.0".into());
        let t = threads(&[early, q, late_reply], &range(60, 1000));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].replies.len(), 1);
    }

    #[test]
    fn drops_system_and_bot_messages_and_keeps_broadcasts_once_as_replies() {
        let mut join = msg("10.0", "U1", "<@U1> has joined the channel");
        join.subtype = Some("channel_join".into());
        let mut bot = msg("11.0", "U9", "beep");
        bot.bot_id = Some("B1".into());
        let mut bot2 = msg("12.0", "", "beep");
        bot2.user = None;
        bot2.subtype = Some("bot_message".into());
        let mut tomb = msg("13.0", "USLACKBOT", "This message was deleted.");
        tomb.subtype = Some("tombstone".into());
        tomb.hidden = Some(true);
        let mut q = msg("20.0", "U1", "q");
        q.thread_ts = Some("20.0".into());
        let mut b = msg("21.0", "U2", "everyone should see this");
        b.subtype = Some("thread_broadcast".into());
        b.thread_ts = Some("20.0".into());
        let t = threads(&[join, bot, bot2, tomb, q, b.clone(), b], &range(0, 100));
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].replies.len(), 1);
    }
}
