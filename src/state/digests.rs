//! Digests, the items each included, and their delivery rows: the part of
//! the ledger that makes sending exactly-once. Delivery rows are created with
//! the digest in one transaction; each is marked sent, in a committed
//! transaction, only after the server accepted the message (messages that
//! finished together share one transaction).

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use rusqlite::{OptionalExtension, params};

use super::{State, StateError, ts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestStatus {
    /// Created; deliveries may still be pending.
    Sending,
    Sent,
    /// Nothing new at that tick: recorded, not sent.
    Empty,
    /// The tick was stale when bookweek got to it: recorded, never sent.
    Skipped,
}

impl DigestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Empty => "empty",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Result<Self, StateError> {
        Ok(match s {
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "empty" => Self::Empty,
            "skipped" => Self::Skipped,
            other => {
                return Err(StateError::Invalid(format!(
                    "unknown digest status `{other}`"
                )));
            }
        })
    }
}

/// A digest as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRecord {
    pub id: i64,
    pub tick: String,
    pub created: String,
    pub status: DigestStatus,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub body_hash: String,
}

/// What goes into a new digest: rendered once, per-subscriber parts are
/// substituted at send time.
#[derive(Debug, Clone)]
pub struct NewDigest {
    pub tick: DateTime<FixedOffset>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub body_hash: String,
    /// (item id, item date)
    pub items: Vec<(String, DateTime<FixedOffset>)>,
}

/// A pending delivery with what sending it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub digest_id: i64,
    pub subscriber_id: i64,
    pub email: String,
    pub name: Option<String>,
    /// The subscriber's status now: someone who unsubscribed after the
    /// digest was created is skipped.
    pub subscriber_active: bool,
    pub attempts: u32,
}

/// How a digest's deliveries stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: usize,
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
}

fn record(row: &rusqlite::Row) -> rusqlite::Result<DigestRecord> {
    let status: String = row.get(3)?;
    let status = DigestStatus::parse(&status).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(DigestRecord {
        id: row.get(0)?,
        tick: row.get(1)?,
        created: row.get(2)?,
        status,
        subject: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        html: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
        text: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
        body_hash: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
    })
}

const DIGEST_COLUMNS: &str = "id, tick, created, status, subject, html, text, body_hash";

impl State {
    /// The digest recorded for a schedule tick, if any.
    pub fn digest_for_tick(
        &self,
        tick: DateTime<FixedOffset>,
    ) -> Result<Option<DigestRecord>, StateError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {DIGEST_COLUMNS} FROM digests WHERE tick = ?1"),
                params![ts(tick)],
                record,
            )
            .optional()?)
    }

    /// Every digest that went out (or is going out), newest first: what the
    /// web archive of digests shows. Ticks with nothing to send are not in it.
    pub fn published_digests(&self) -> Result<Vec<DigestRecord>, StateError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DIGEST_COLUMNS} FROM digests
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL ORDER BY id DESC"
        ))?;
        Ok(stmt.query_map([], record)?.collect::<Result<Vec<_>, _>>()?)
    }

    /// A cheap summary of [`State::published_digests`] (how many, and the
    /// newest id) that changes whenever a digest is created: part of the
    /// input fingerprint of `once`.
    pub fn published_digests_mark(&self) -> Result<String, StateError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM digests
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL",
            [],
            |r| Ok(format!("{}:{}", r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?)
    }

    /// The id the next digest will get (for `--dry-run`).
    pub fn next_digest_id(&self) -> Result<i64, StateError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM digests", [], |r| {
                r.get(0)
            })?)
    }

    /// Which of these item ids an earlier digest already included.
    pub fn included_items(&self, ids: &[String]) -> Result<HashSet<String>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM digest_items i JOIN digests d ON d.id = i.digest_id
             WHERE i.item_id = ?1 AND d.status IN ('sending', 'sent') LIMIT 1",
        )?;
        let mut out = HashSet::new();
        for id in ids {
            if stmt.exists(params![id])? {
                out.insert(id.clone());
            }
        }
        Ok(out)
    }

    /// Records a tick that sends nothing (empty or skipped). Idempotent: a
    /// tick already recorded keeps its first record.
    pub fn record_unsent(
        &self,
        tick: DateTime<FixedOffset>,
        status: DigestStatus,
        now: DateTime<FixedOffset>,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO digests (tick, created, status) VALUES (?1, ?2, ?3)",
            params![ts(tick), ts(now), status.as_str()],
        )?;
        Ok(())
    }

    /// Creates a digest, its items and one pending delivery per active
    /// subscriber in one transaction: either all of it exists or none.
    /// Returns the digest id and the number of recipients, or `None` when
    /// the tick was already recorded (by another process, say): a tick's
    /// digest is created once.
    pub fn create_digest(
        &mut self,
        d: &NewDigest,
        now: DateTime<FixedOffset>,
    ) -> Result<Option<(i64, usize)>, StateError> {
        // IMMEDIATE: take the write lock before reading, so two processes
        // cannot both decide the tick is new.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO digests (tick, created, status, subject, html, text, body_hash)
             VALUES (?1, ?2, 'sending', ?3, ?4, ?5, ?6) ON CONFLICT (tick) DO NOTHING",
            params![ts(d.tick), ts(now), d.subject, d.html, d.text, d.body_hash],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let id = tx.last_insert_rowid();
        {
            let mut item = tx.prepare(
                "INSERT INTO digest_items (digest_id, item_id, item_date) VALUES (?1, ?2, ?3)",
            )?;
            for (item_id, date) in &d.items {
                item.execute(params![id, item_id, ts(*date)])?;
            }
        }
        let recipients = tx.execute(
            "INSERT INTO deliveries (digest_id, subscriber_id, status)
             SELECT ?1, id, 'pending' FROM subscribers WHERE status = 'active'",
            params![id],
        )?;
        tx.commit()?;
        Ok(Some((id, recipients)))
    }

    /// How many subscribers a digest created now would go to.
    pub fn active_subscribers(&self) -> Result<usize, StateError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM subscribers WHERE status = 'active'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// Digests with deliveries still to do, oldest first.
    pub fn sending_digests(&self) -> Result<Vec<DigestRecord>, StateError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DIGEST_COLUMNS} FROM digests WHERE status = 'sending' ORDER BY id"
        ))?;
        Ok(stmt.query_map([], record)?.collect::<Result<Vec<_>, _>>()?)
    }

    /// The next `limit` pending deliveries of a digest after a subscriber id:
    /// callers page through them so memory does not grow with the list.
    pub fn pending_batch(
        &self,
        digest_id: i64,
        after_subscriber: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.digest_id, d.subscriber_id, s.email, s.name, s.status = 'active', d.attempts
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.digest_id = ?1 AND d.status = 'pending' AND d.subscriber_id > ?2
             ORDER BY d.subscriber_id LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![digest_id, after_subscriber, limit as i64], |r| {
                Ok(Delivery {
                    digest_id: r.get(0)?,
                    subscriber_id: r.get(1)?,
                    email: r.get(2)?,
                    name: r.get(3)?,
                    subscriber_active: r.get(4)?,
                    attempts: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Marks deliveries sent, all in one transaction: each was accepted by
    /// the server (its 250 to DATA) before it is passed here. One commit for
    /// the messages that finished together is what lets a run keep up with
    /// the relay; the caller bounds how many wait for it (see
    /// `mail::deliver`), which bounds what a crash can repeat.
    pub fn mark_all_sent(
        &mut self,
        digest_id: i64,
        subscriber_ids: &[i64],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StateError> {
        let now = ts(now);
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE deliveries SET status = 'sent', sent_at = ?3, attempts = attempts + 1, last_error = NULL
                 WHERE digest_id = ?1 AND subscriber_id = ?2",
            )?;
            for id in subscriber_ids {
                update.execute(params![digest_id, id, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a temporary failure; the delivery stays pending. Returns the
    /// attempts made so far.
    pub fn mark_retry(
        &self,
        digest_id: i64,
        subscriber_id: i64,
        error: &str,
        next_attempt: DateTime<FixedOffset>,
    ) -> Result<u32, StateError> {
        Ok(self.conn.query_row(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?3, next_attempt = ?4
             WHERE digest_id = ?1 AND subscriber_id = ?2 RETURNING attempts",
            params![digest_id, subscriber_id, error, ts(next_attempt)],
            |r| r.get(0),
        )?)
    }

    /// Records a permanent failure and counts a bounce; after `bounce_after`
    /// of them the subscriber is marked bounced. Returns whether they were.
    pub fn mark_failed(
        &mut self,
        digest_id: i64,
        subscriber_id: i64,
        error: &str,
        permanent: bool,
        bounce_after: u32,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StateError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?3
             WHERE digest_id = ?1 AND subscriber_id = ?2",
            params![digest_id, subscriber_id, error],
        )?;
        let mut bounced = false;
        if permanent {
            tx.execute(
                "UPDATE subscribers SET bounces = bounces + 1, updated = ?2 WHERE id = ?1",
                params![subscriber_id, ts(now)],
            )?;
            bounced = tx.execute(
                "UPDATE subscribers SET status = 'bounced', updated = ?2
                 WHERE id = ?1 AND status = 'active' AND bounces >= ?3",
                params![subscriber_id, ts(now), bounce_after],
            )? > 0;
        }
        tx.commit()?;
        Ok(bounced)
    }

    /// Marks one delivery skipped (the subscriber left since the digest was made).
    pub fn mark_skipped(
        &self,
        digest_id: i64,
        subscriber_id: i64,
        reason: &str,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "UPDATE deliveries SET status = 'skipped', last_error = ?3
             WHERE digest_id = ?1 AND subscriber_id = ?2 AND status = 'pending'",
            params![digest_id, subscriber_id, reason],
        )?;
        Ok(())
    }

    /// Skips every pending delivery of a digest (it became too late to send).
    pub fn skip_pending(&self, digest_id: i64, reason: &str) -> Result<usize, StateError> {
        Ok(self.conn.execute(
            "UPDATE deliveries SET status = 'skipped', last_error = ?2 WHERE digest_id = ?1 AND status = 'pending'",
            params![digest_id, reason],
        )?)
    }

    pub fn delivery_counts(&self, digest_id: i64) -> Result<Counts, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT status, COUNT(*) FROM deliveries WHERE digest_id = ?1 GROUP BY status",
        )?;
        let mut counts = Counts::default();
        for row in stmt.query_map(params![digest_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (status, n) = row?;
            let n = n as usize;
            match status.as_str() {
                "pending" => counts.pending = n,
                "sent" => counts.sent = n,
                "failed" => counts.failed = n,
                _ => counts.skipped = n,
            }
        }
        Ok(counts)
    }

    /// Marks a digest sent once none of its deliveries is pending.
    pub fn finish_if_done(&self, digest_id: i64) -> Result<bool, StateError> {
        Ok(self.conn.execute(
            "UPDATE digests SET status = 'sent' WHERE id = ?1 AND status = 'sending'
             AND NOT EXISTS (SELECT 1 FROM deliveries WHERE digest_id = ?1 AND status = 'pending')",
            params![digest_id],
        )? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn add(state: &State, email: &str, status: &str) -> i64 {
        state
            .conn
            .execute(
                "INSERT INTO subscribers (email, status, since, updated) VALUES (?1, ?2, 'x', 'x')",
                params![email, status],
            )
            .unwrap();
        state.conn.last_insert_rowid()
    }

    #[test]
    fn creates_deliveries_for_active_subscribers_only_and_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let a = add(&s, "a@x.org", "active");
        add(&s, "b@x.org", "unsubscribed");
        let c = add(&s, "c@x.org", "active");
        let d = NewDigest {
            tick: t("2022-12-12T09:00:00+01:00"),
            subject: "S".into(),
            html: "H".into(),
            text: "T".into(),
            body_hash: "h".into(),
            items: vec![("i1".into(), t("2022-12-09T23:59:59+01:00"))],
        };
        let now = t("2022-12-12T09:00:01+01:00");
        let (id, n) = s.create_digest(&d, now).unwrap().unwrap();
        assert_eq!(n, 2);
        assert!(s.digest_for_tick(d.tick).unwrap().is_some());
        assert_eq!(
            s.included_items(&["i1".into(), "i2".into()]).unwrap().len(),
            1
        );
        let batch = s.pending_batch(id, 0, 10).unwrap();
        assert_eq!(
            batch.iter().map(|d| d.subscriber_id).collect::<Vec<_>>(),
            [a, c]
        );
        assert_eq!(s.pending_batch(id, a, 10).unwrap().len(), 1);
        s.mark_all_sent(id, &[a], now).unwrap();
        assert!(!s.finish_if_done(id).unwrap());
        assert!(!s.mark_failed(id, c, "550 no", true, 3, now).unwrap());
        assert!(s.finish_if_done(id).unwrap());
        assert_eq!(
            s.delivery_counts(id).unwrap(),
            Counts {
                pending: 0,
                sent: 1,
                failed: 1,
                skipped: 0
            }
        );
        // The same tick is created once; the second attempt learns so.
        assert_eq!(s.create_digest(&d, now).unwrap(), None);
        assert_eq!(s.delivery_counts(id).unwrap().sent, 1);
    }

    #[test]
    fn bounces_after_repeated_permanent_failures() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&dir.path().join("s.db")).unwrap();
        let a = add(&s, "a@x.org", "active");
        let mut bounced = vec![];
        for day in 1..=3 {
            let tick = t(&format!("2022-12-0{day}T09:00:00+01:00"));
            let d = NewDigest {
                tick,
                subject: String::new(),
                html: String::new(),
                text: String::new(),
                body_hash: String::new(),
                items: vec![],
            };
            let (id, _) = s.create_digest(&d, tick).unwrap().unwrap();
            bounced.push(s.mark_failed(id, a, "550", true, 2, tick).unwrap());
        }
        assert_eq!(bounced, [false, true, false]);
    }
}
