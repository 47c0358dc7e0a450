//! Subscribers in the ledger: address validation and normalization, add,
//! remove (unsubscribe, keeping the row), status changes, listing, and CSV
//! import and export.
//!
//! Two rules hold everywhere here. An address that unsubscribed or bounced is
//! never made active again by the operator's tools (add, import): only the
//! subscriber's own confirmation may do that. And addresses are matched
//! without regard to ASCII case, so `Jane@example.org` in a CSV file finds the
//! row of `jane@example.org`, who may have unsubscribed.

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{State, StateError, ts};

/// Where a subscriber stands. Only `Active` subscribers receive digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Signed up (or added with `--pending`) and not confirmed yet.
    Pending,
    Active,
    /// Asked to stop. Kept so that nothing but their own confirmation
    /// subscribes them again.
    Unsubscribed,
    /// Mail to them bounced for good.
    Bounced,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Active,
        Status::Unsubscribed,
        Status::Bounced,
    ];

    /// The name stored in the database, shown to users and used in CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Unsubscribed => "unsubscribed",
            Status::Bounced => "bounced",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}` (expected pending, active, unsubscribed or bounced)")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    /// Case-insensitive, surrounding blanks ignored: CSV files come from
    /// spreadsheets.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownStatus(t.to_string()))
    }
}

impl From<crate::cli::StatusArg> for Status {
    fn from(arg: crate::cli::StatusArg) -> Self {
        use crate::cli::StatusArg;
        match arg {
            StatusArg::Pending => Status::Pending,
            StatusArg::Active => Status::Active,
            StatusArg::Unsubscribed => Status::Unsubscribed,
            StatusArg::Bounced => Status::Bounced,
        }
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e: UnknownStatus| FromSqlError::Other(Box::new(e)))
    }
}

/// One row of the `subscribers` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: i64,
    /// Normalized (see [`normalize_email`]).
    pub email: String,
    /// Free of control characters (see [`normalize_name`]).
    pub name: Option<String>,
    pub status: Status,
    /// When the subscriber entered their current status (RFC 3339, UTC): the
    /// day they subscribed for an active one, the day they left for an
    /// unsubscribed one.
    pub since: String,
    /// When the row last changed (RFC 3339, UTC).
    pub updated: String,
    pub bounces: i64,
}

impl Subscriber {
    /// The `YYYY-MM-DD` part of `since` (UTC).
    pub fn since_date(&self) -> &str {
        self.since.get(..10).unwrap_or(&self.since)
    }
}

/// What [`State::add_subscriber`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// A new row.
    Added(Subscriber),
    /// The address was pending and the operator added it as active: it is
    /// active now (the operator vouches for it).
    Activated(Subscriber),
    /// The address was already there and nothing changed; look at its status
    /// (an unsubscribed or bounced address is deliberately left alone).
    Exists(Subscriber),
}

/// What [`State::import_csv`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New rows.
    pub added: usize,
    /// Of `added`, how many are pending (they await confirmation).
    pub pending: usize,
    /// Rows whose address was already in the ledger; they were not changed.
    pub existing: usize,
    /// Rows whose address appeared earlier in the same file; counted once.
    pub duplicates: usize,
    /// (line number in the file, message), in file order.
    pub errors: Vec<(usize, String)>,
}

/// Checks an address with lettre's parser and returns its normalized form:
/// surrounding blanks trimmed and the domain lower-cased. The local part keeps
/// its case (RFC 5321 lets a server tell `Jane` from `jane`), but lookups
/// here ignore ASCII case anyway.
///
/// Only bare addresses are accepted: `Jane <jane@example.org>` is refused
/// with a hint, as are a domain without a dot (`jane@gmail`, nearly always a
/// typo in a newsletter list) and anything with blanks or control characters
/// (so no CR/LF can ever reach a mail header through an address).
pub fn normalize_email(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("missing email address".to_string());
    }
    let invalid = |why: &str| format!("not a valid email address: {s:?}{why}");
    if s.contains(['<', '>']) {
        return Err(invalid(
            " (give the address alone, without a name or <>; the name has its own field)",
        ));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(""));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(invalid(" (no @)"));
    };
    if is_ip_literal(domain) {
        return Err(format!(
            "not accepted: {s:?} has an IP address for a domain; mail relays refuse those, use the address with a domain name"
        ));
    }
    if local.is_empty() {
        return Err(invalid(" (nothing before the @)"));
    }
    if domain.is_empty() {
        return Err(invalid(" (nothing after the @)"));
    }
    let normalized = format!("{local}@{}", domain.to_lowercase());
    let address = lettre::Address::from_str(&normalized).map_err(|e| {
        invalid(match e {
            lettre::address::AddressError::InvalidUser => " (the part before the @ is not valid)",
            lettre::address::AddressError::InvalidDomain => " (the domain is not valid)",
            _ => "",
        })
    })?;
    if !address.domain().contains('.') {
        return Err(invalid(" (the domain has no dot)"));
    }
    Ok(address.to_string())
}

/// `[127.0.0.1]`, `[IPv6:::1]`, `127.0.0.1`: an IP address where a domain
/// belongs. Relays refuse them in the envelope and no real subscriber has
/// one, so such an address would only stay pending or bounce forever.
fn is_ip_literal(domain: &str) -> bool {
    domain.starts_with('[')
        || domain.parse::<std::net::IpAddr>().is_ok()
        || domain
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a (normalized) address may join the list: a non-ASCII local part
/// (`jörg@example.de`) needs SMTPUTF8 from every relay on the way, so it is
/// refused at the door, with the reason, unless `smtputf8` says the
/// operator's relay has it; otherwise it would fail at every send and count
/// as a bounce. (A non-ASCII domain is fine: it travels in its ASCII form.)
pub fn check_new_address(email: &str, smtputf8: bool) -> Result<(), String> {
    let local = email.rsplit_once('@').map_or(email, |(local, _)| local);
    if !local.is_ascii() && !smtputf8 {
        return Err(format!(
            "not accepted: {email:?} has non-ASCII characters before the @, which only relays with SMTPUTF8 deliver (set `mail.smtputf8: true` if yours does)"
        ));
    }
    Ok(())
}

/// The longest display name kept, in characters: enough for any real name,
/// and short enough that a `To:` header stays well within RFC 5322's 998
/// octets a line, however its characters are encoded.
pub const MAX_NAME_CHARS: usize = 100;

/// A display name as it will be stored: control characters (CR, LF, tab, …)
/// and runs of blanks become one space, the ends are trimmed, it is cut to
/// [`MAX_NAME_CHARS`], and an empty name is no name. Names may end up in a
/// `To:` header, so no CR/LF may survive.
pub fn normalize_name(input: Option<&str>) -> Option<String> {
    let cleaned: String = input?
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let joined = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = joined.chars().take(MAX_NAME_CHARS).collect();
    let cut = cut.trim_end();
    (!cut.is_empty()).then(|| cut.to_string())
}

const COLUMNS: &str = "id, email, name, status, since, updated, bounces";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Subscriber> {
    Ok(Subscriber {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        status: r.get(3)?,
        since: r.get(4)?,
        updated: r.get(5)?,
        bounces: r.get(6)?,
    })
}

/// The subscriber with this (normalized) address, ignoring ASCII case like
/// SQLite's NOCASE. Should the table hold case variants of one address
/// (written by hand, or by an older version), the oldest row wins.
fn find_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<Subscriber>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM subscribers WHERE email = ?1 COLLATE NOCASE ORDER BY id LIMIT 1"
        ),
        params![email],
        from_row,
    )
    .optional()
}

fn find_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Subscriber>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1"),
        params![id],
        from_row,
    )
    .optional()
}

/// Inserts a new row and returns it.
fn insert(
    conn: &Connection,
    email: &str,
    name: Option<&str>,
    status: Status,
    at: &str,
) -> rusqlite::Result<Subscriber> {
    conn.execute(
        "INSERT INTO subscribers (email, name, status, since, updated) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![email, name, status, at],
    )?;
    Ok(Subscriber {
        id: conn.last_insert_rowid(),
        email: email.to_string(),
        name: name.map(str::to_string),
        status,
        since: at.to_string(),
        updated: at.to_string(),
        bounces: 0,
    })
}

/// Changes the status of row `id` if it differs; `since` then restarts.
/// Returns whether anything changed.
fn update_status(conn: &Connection, id: i64, status: Status, at: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE subscribers SET status = ?2, since = ?3, updated = ?3 WHERE id = ?1 AND status <> ?2",
        params![id, status, at],
    )?;
    Ok(n > 0)
}

/// The key under which addresses are compared: ASCII case folded, as
/// SQLite's NOCASE does.
fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

impl State {
    /// Write transactions take the lock up front (`BEGIN IMMEDIATE`): a
    /// deferred one that reads first and then writes can fail at once with
    /// "database is locked" when another process wrote in between, whatever
    /// the busy timeout.
    fn write_tx(&self) -> rusqlite::Result<Transaction<'_>> {
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
    }

    pub fn subscriber(&self, id: i64) -> Result<Option<Subscriber>, StateError> {
        Ok(find_by_id(&self.conn, id)?)
    }

    /// Looks an address up (normalized first, ASCII case ignored). An input
    /// that is not an address at all is `StateError::Invalid`.
    pub fn subscriber_by_email(&self, email: &str) -> Result<Option<Subscriber>, StateError> {
        let email = normalize_email(email).map_err(StateError::Invalid)?;
        Ok(find_by_email(&self.conn, &email)?)
    }

    /// Sets a subscriber's status. A real change restarts `since`; setting
    /// the status it already has changes nothing. An unknown id is
    /// `StateError::Invalid`.
    pub fn set_status(
        &self,
        id: i64,
        status: Status,
        now: DateTime<FixedOffset>,
    ) -> Result<(), StateError> {
        let tx = self.write_tx()?;
        if !update_status(&tx, id, status, &ts(now))? && find_by_id(&tx, id)?.is_none() {
            return Err(StateError::Invalid(format!("no subscriber with id {id}")));
        }
        tx.commit()?;
        Ok(())
    }

    /// Activates a pending subscriber who confirmed; `false` when they were
    /// not pending. One statement, so a confirmation racing an unsubscribe
    /// cannot undo it. Old bounces are forgotten: a confirmed address works.
    pub fn confirm(&self, id: i64, now: DateTime<FixedOffset>) -> Result<bool, StateError> {
        let now = ts(now);
        Ok(self.conn.execute(
            "UPDATE subscribers SET status = 'active', bounces = 0, since = ?2, updated = ?2
             WHERE id = ?1 AND status = 'pending'",
            rusqlite::params![id, now],
        )? > 0)
    }

    /// Adds an address with `status` unless it is already there. An existing
    /// address is never duplicated and, above all, never reactivated when it
    /// unsubscribed or bounced ([`AddOutcome::Exists`]); the one change made
    /// is pending → active when `status` is `Active`, because the operator
    /// vouches for the address. An invalid address is `StateError::Invalid`
    /// with a message for the user.
    pub fn add_subscriber(
        &self,
        email: &str,
        name: Option<&str>,
        status: Status,
        now: DateTime<FixedOffset>,
    ) -> Result<AddOutcome, StateError> {
        let email = normalize_email(email).map_err(StateError::Invalid)?;
        check_new_address(&email, self.smtputf8).map_err(StateError::Invalid)?;
        let name = normalize_name(name);
        let at = ts(now);
        let tx = self.write_tx()?;
        let outcome = match find_by_email(&tx, &email)? {
            Some(existing) if existing.status == Status::Pending && status == Status::Active => {
                update_status(&tx, existing.id, Status::Active, &at)?;
                match find_by_id(&tx, existing.id)? {
                    Some(now_active) => AddOutcome::Activated(now_active),
                    None => AddOutcome::Exists(existing),
                }
            }
            Some(existing) => AddOutcome::Exists(existing),
            None => AddOutcome::Added(insert(&tx, &email, name.as_deref(), status, &at)?),
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Unsubscribes an address, keeping its row so that a later add or
    /// import cannot subscribe it again by accident. Returns the row as it
    /// was before (like `HashMap::remove`), so callers can tell "already
    /// unsubscribed"; `None` when the address is not in the ledger. Every
    /// case variant of the address is unsubscribed.
    pub fn remove_subscriber(
        &self,
        email: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Option<Subscriber>, StateError> {
        let email = normalize_email(email).map_err(StateError::Invalid)?;
        let tx = self.write_tx()?;
        let before = find_by_email(&tx, &email)?;
        if before.is_some() {
            tx.execute(
                "UPDATE subscribers SET status = ?2, since = ?3, updated = ?3
                 WHERE email = ?1 COLLATE NOCASE AND status <> ?2",
                params![email, Status::Unsubscribed, ts(now)],
            )?;
        }
        tx.commit()?;
        Ok(before)
    }

    /// All subscribers, or those with `status`, in the order they were added.
    pub fn list_subscribers(&self, status: Option<Status>) -> Result<Vec<Subscriber>, StateError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM subscribers WHERE ?1 IS NULL OR status = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![status], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Imports a CSV file (see [`parse_csv`] for the format). Rows with an
    /// address already in the ledger are left as they are, whatever their
    /// status, so importing the same file twice adds nothing the second time
    /// and an unsubscribed address stays unsubscribed. Bad rows are reported
    /// in the result and skipped; all good rows go in one transaction.
    ///
    /// `StateError::Invalid` (nothing imported) when the input cannot be read
    /// or has no `email` column.
    pub fn import_csv(
        &self,
        reader: impl Read,
        status: Status,
        now: DateTime<FixedOffset>,
    ) -> Result<ImportReport, StateError> {
        let parsed = parse_csv(reader, status).map_err(StateError::Invalid)?;
        let mut report = ImportReport {
            errors: parsed.errors,
            ..ImportReport::default()
        };
        let at = ts(now);
        let tx = self.write_tx()?;
        // One read of the known addresses instead of a NOCASE scan per row.
        let mut known: HashSet<String> = {
            let mut stmt = tx.prepare("SELECT email FROM subscribers")?;
            let emails = stmt.query_map([], |r| r.get::<_, String>(0))?;
            emails
                .map(|e| e.map(|e| email_key(&e)))
                .collect::<Result<_, _>>()?
        };
        let mut in_file = HashSet::new();
        for row in parsed.rows {
            let key = email_key(&row.email);
            if let Err(why) = check_new_address(&row.email, self.smtputf8) {
                report.errors.push((row.line, why));
            } else if !in_file.insert(key.clone()) {
                report.duplicates += 1;
            } else if known.contains(&key) {
                report.existing += 1;
            } else {
                insert(&tx, &row.email, row.name.as_deref(), row.status, &at)?;
                known.insert(key);
                report.added += 1;
                if row.status == Status::Pending {
                    report.pending += 1;
                }
            }
        }
        tx.commit()?;
        report.errors.sort_by_key(|(line, _)| *line);
        Ok(report)
    }

    /// Writes every subscriber as CSV with the header `email,name,status,since`,
    /// in the order they were added. The output imports back with its
    /// statuses (see [`parse_csv`]).
    pub fn export_csv(&self, writer: impl Write) -> Result<(), StateError> {
        let write_err = |e: csv::Error| StateError::Invalid(format!("cannot write the CSV: {e}"));
        let mut out = csv::Writer::from_writer(writer);
        out.write_record(["email", "name", "status", "since"])
            .map_err(write_err)?;
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM subscribers ORDER BY id"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let s = from_row(row)?;
            out.write_record([
                s.email.as_str(),
                s.name.as_deref().unwrap_or(""),
                s.status.as_str(),
                s.since.as_str(),
            ])
            .map_err(write_err)?;
        }
        out.flush()
            .map_err(|e| StateError::Invalid(format!("cannot write the CSV: {e}")))?;
        Ok(())
    }
}

/// A good row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    pub line: usize,
    pub email: String,
    pub name: Option<String>,
    pub status: Status,
}

/// An import file split into good rows and bad ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedCsv {
    pub rows: Vec<CsvRow>,
    /// (line number, message)
    pub errors: Vec<(usize, String)>,
}

/// Reads an import file. The first line names the columns, in any case and
/// order: `email` is required, `name` is optional, and `status` (as written
/// by `export`) is honoured when present so that restoring an export keeps
/// unsubscribed addresses unsubscribed; rows without one get `default`.
/// Other columns are ignored. A UTF-8 BOM is skipped, and a file whose
/// header holds no comma but semicolons or tabs (spreadsheets in many
/// locales) is split on those. Blank rows are skipped; every other bad row is
/// reported with its line number (the line where the row starts).
///
/// Errs, with a message for the user, when the input cannot be read or has
/// no `email` column.
pub fn parse_csv(mut reader: impl Read, default: Status) -> Result<ParsedCsv, String> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(&bytes))
        .from_reader(bytes.as_slice());
    let mut records = csv.byte_records();
    let header = match records.next() {
        None => {
            return Err(
                "the file is empty; the first line must be a header like `email,name`".into(),
            );
        }
        Some(Err(e)) => return Err(format!("cannot read: {e}")),
        Some(Ok(h)) => h,
    };
    let names: Vec<String> = header
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                .to_lowercase()
        })
        .collect();
    let column = |name: &str| names.iter().position(|n| n == name);
    let Some(email_col) = column("email") else {
        let first = names.first().map(String::as_str).unwrap_or("");
        let hint = if normalize_email(first).is_ok() {
            "; the first line looks like an address, but it must be a header like `email,name`"
                .to_string()
        } else {
            format!(
                " (found {}); the first line must be a header like `email,name`",
                names
                    .iter()
                    // Escaped: the file may hold anything, the terminal should not.
                    .map(|n| format!("`{}`", n.escape_debug()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(format!("no `email` column in the header{hint}"));
    };
    let columns = Columns {
        email: email_col,
        name: column("name"),
        status: column("status"),
    };

    let mut lines = LineCounter {
        bytes: &bytes,
        pos: 0,
        line: 1,
    };
    let mut parsed = ParsedCsv::default();
    for record in records {
        let record = record.map_err(|e| format!("cannot read: {e}"))?;
        // Spreadsheets like to end a file with rows of empty cells.
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let line = lines.at(record.position().map_or(0, |p| p.byte() as usize));
        match parse_row(&record, &columns, line, default) {
            Ok(row) => parsed.rows.push(row),
            Err(message) => parsed.errors.push((line, message)),
        }
    }
    Ok(parsed)
}

/// Line numbers from byte offsets, for files with any line ends. The csv
/// crate's own count is one short after a CRLF (it counts a record's `\n`
/// into the next record) and ignores lone CRs.
struct LineCounter<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
}

impl LineCounter<'_> {
    /// The line of the record that starts at or after `start`: a record's
    /// position may point at the line end before it, or at blank lines the
    /// reader skipped. Offsets must not decrease from call to call.
    fn at(&mut self, start: usize) -> usize {
        let bytes = self.bytes;
        let mut start = start.min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        while self.pos < start {
            let b = bytes[self.pos];
            if b == b'\n' || (b == b'\r' && bytes.get(self.pos + 1) != Some(&b'\n')) {
                self.line += 1;
            }
            self.pos += 1;
        }
        self.line
    }
}

/// Where the known columns are in an import file.
struct Columns {
    email: usize,
    name: Option<usize>,
    status: Option<usize>,
}

fn parse_row(
    record: &csv::ByteRecord,
    columns: &Columns,
    line: usize,
    default: Status,
) -> Result<CsvRow, String> {
    // A missing column (a short row) reads as an empty field.
    let field = |i: Option<usize>| -> Result<&str, String> {
        let bytes = i.and_then(|i| record.get(i)).unwrap_or(b"");
        std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text (save the file as UTF-8)".into())
    };
    let email = normalize_email(field(Some(columns.email))?)?;
    let name = normalize_name(Some(field(columns.name)?));
    let status = match field(columns.status)?.trim() {
        "" => default,
        s => s.parse().map_err(|e: UnknownStatus| e.to_string())?,
    };
    Ok(CsvRow {
        line,
        email,
        name,
        status,
    })
}

/// `,` unless the first line has none and has `;` or a tab.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(b"");
    if first.contains(&b',') {
        b','
    } else if first.contains(&b';') {
        b';'
    } else if first.contains(&b'\t') {
        b'\t'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    const T1: &str = "2026-01-05T10:00:00Z";
    const T2: &str = "2026-02-07T08:30:00+01:00";

    /// A ledger in a real file, as in production (WAL needs a file).
    fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("state.db")).unwrap();
        (dir, state)
    }

    fn added(o: AddOutcome) -> Subscriber {
        match o {
            AddOutcome::Added(s) => s,
            other => panic!("expected Added, got {other:?}"),
        }
    }

    #[test]
    fn confirm_activates_only_pending_and_forgets_bounces() {
        let (_dir, s) = state();
        let p = added(
            s.add_subscriber("p@x.org", None, Status::Pending, at(T1))
                .unwrap(),
        );
        s.conn
            .execute("UPDATE subscribers SET bounces = 2 WHERE id = ?1", [p.id])
            .unwrap();
        assert!(s.confirm(p.id, at(T2)).unwrap());
        let now = s.subscriber(p.id).unwrap().unwrap();
        assert_eq!((now.status, now.bounces), (Status::Active, 0));
        let u = added(
            s.add_subscriber("u@x.org", None, Status::Pending, at(T1))
                .unwrap(),
        );
        s.set_status(u.id, Status::Unsubscribed, at(T2)).unwrap();
        assert!(!s.confirm(u.id, at(T2)).unwrap());
        assert_eq!(
            s.subscriber(u.id).unwrap().unwrap().status,
            Status::Unsubscribed
        );
    }

    #[test]
    fn normalizes_by_trimming_and_lowercasing_the_domain_only() {
        assert_eq!(
            normalize_email("  Jane.Doe@Example.ORG \n").unwrap(),
            "Jane.Doe@example.org"
        );
        assert_eq!(normalize_email("a+tag@b.co").unwrap(), "a+tag@b.co");
        assert_eq!(normalize_email("jörg@BÜCHER.de").unwrap(), "jörg@bücher.de");
    }

    #[test]
    fn rejects_bad_addresses_with_a_clear_message() {
        assert_eq!(
            normalize_email("foo@").unwrap_err(),
            r#"not a valid email address: "foo@" (nothing after the @)"#
        );
        assert_eq!(
            normalize_email("foo").unwrap_err(),
            r#"not a valid email address: "foo" (no @)"#
        );
        assert_eq!(normalize_email("   ").unwrap_err(), "missing email address");
        assert_eq!(
            normalize_email("jane@gmail").unwrap_err(),
            r#"not a valid email address: "jane@gmail" (the domain has no dot)"#
        );
        assert_eq!(
            normalize_email("Jane <jane@example.org>").unwrap_err(),
            r#"not a valid email address: "Jane <jane@example.org>" (give the address alone, without a name or <>; the name has its own field)"#
        );
        for bad in [
            "@example.org",
            "a b@example.org",
            "a@exa mple.org",
            "a@@example.org",
            "a@example..org",
            "a@-example.org",
            "a,b@example.org",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn rejects_header_injection_through_the_address() {
        for bad in [
            "a@b.c\r\nBcc: x@y.z",
            "a@b.c\nBcc: x@y.z",
            "a@b.c\rBcc: x@y.z",
            "a\r\n@b.c",
            "a@b.c\u{0}",
        ] {
            let e = normalize_email(bad).unwrap_err();
            assert!(e.starts_with("not a valid email address: "), "{e}");
            assert!(
                !e.contains(['\r', '\n']),
                "the message itself carries CR/LF: {e:?}"
            );
        }
        assert_eq!(
            normalize_email("a@b.c\r\nBcc: x@y.z").unwrap_err(),
            r#"not a valid email address: "a@b.c\r\nBcc: x@y.z""#
        );
    }

    #[test]
    fn names_lose_control_characters_and_empty_names_are_none() {
        assert_eq!(
            normalize_name(Some("  Jane   Doe ")),
            Some("Jane Doe".into())
        );
        assert_eq!(
            normalize_name(Some("Jane\r\nBcc: x@y.z")),
            Some("Jane Bcc: x@y.z".into())
        );
        assert_eq!(
            normalize_name(Some("A\u{7}\u{1b}[31mB\tC")),
            Some("A [31mB C".into())
        );
        assert_eq!(normalize_name(Some(" \t ")), None);
        assert_eq!(normalize_name(None), None);
    }

    #[test]
    fn status_round_trips_through_its_name() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(" Active ".parse::<Status>().unwrap(), Status::Active);
        assert_eq!(
            "gone".parse::<Status>().unwrap_err().to_string(),
            "unknown status `gone` (expected pending, active, unsubscribed or bounced)"
        );
        assert_eq!(
            Status::from(crate::cli::StatusArg::Bounced),
            Status::Bounced
        );
    }

    #[test]
    fn adds_reads_back_and_does_not_duplicate() {
        let (_dir, st) = state();
        let s = added(
            st.add_subscriber("Jane@Example.org", Some(" Jane "), Status::Active, at(T1))
                .unwrap(),
        );
        assert_eq!(s.email, "Jane@example.org");
        assert_eq!(s.name.as_deref(), Some("Jane"));
        assert_eq!(s.status, Status::Active);
        assert_eq!(s.since, "2026-01-05T10:00:00Z");
        assert_eq!(s.since_date(), "2026-01-05");
        assert_eq!(st.subscriber(s.id).unwrap(), Some(s.clone()));
        // ASCII case does not make a new subscriber.
        assert_eq!(
            st.add_subscriber("jane@EXAMPLE.org", Some("Other"), Status::Active, at(T2))
                .unwrap(),
            AddOutcome::Exists(s.clone())
        );
        assert_eq!(
            st.subscriber_by_email(" JANE@example.org").unwrap(),
            Some(s)
        );
        assert_eq!(st.list_subscribers(None).unwrap().len(), 1);
        assert_eq!(st.subscriber_by_email("nobody@example.org").unwrap(), None);
        assert!(matches!(
            st.subscriber_by_email("nobody@"),
            Err(StateError::Invalid(_))
        ));
    }

    #[test]
    fn add_rejects_an_invalid_address_and_stores_nothing() {
        let (_dir, st) = state();
        let e = st
            .add_subscriber("a@b.c\r\nBcc: x@y.z", None, Status::Active, at(T1))
            .unwrap_err();
        assert!(matches!(e, StateError::Invalid(_)), "{e:?}");
        assert!(st.list_subscribers(None).unwrap().is_empty());
    }

    #[test]
    fn operator_add_activates_a_pending_address_but_pending_add_does_not() {
        let (_dir, st) = state();
        let s = added(
            st.add_subscriber("p@example.org", None, Status::Pending, at(T1))
                .unwrap(),
        );
        assert_eq!(s.status, Status::Pending);
        assert!(matches!(
            st.add_subscriber("p@example.org", None, Status::Pending, at(T2))
                .unwrap(),
            AddOutcome::Exists(_)
        ));
        match st
            .add_subscriber("p@example.org", None, Status::Active, at(T2))
            .unwrap()
        {
            AddOutcome::Activated(a) => {
                assert_eq!(a.status, Status::Active);
                assert_eq!(a.since, "2026-02-07T07:30:00Z");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn remove_keeps_the_row_and_add_does_not_reactivate_it() {
        let (_dir, st) = state();
        let s = added(
            st.add_subscriber("u@example.org", Some("U"), Status::Active, at(T1))
                .unwrap(),
        );
        let before = st
            .remove_subscriber("U@example.org", at(T2))
            .unwrap()
            .unwrap();
        assert_eq!(before.status, Status::Active);
        let after = st.subscriber(s.id).unwrap().unwrap();
        assert_eq!(after.status, Status::Unsubscribed);
        assert_eq!(after.since, "2026-02-07T07:30:00Z");
        assert_eq!(after.updated, "2026-02-07T07:30:00Z");
        assert_eq!(after.name.as_deref(), Some("U"));

        // Removing again is harmless and changes nothing.
        let again = st
            .remove_subscriber("u@example.org", at(T1))
            .unwrap()
            .unwrap();
        assert_eq!(again, after);
        assert_eq!(st.subscriber(s.id).unwrap().unwrap(), after);

        for status in [Status::Active, Status::Pending] {
            assert_eq!(
                st.add_subscriber("u@example.org", None, status, at(T1))
                    .unwrap(),
                AddOutcome::Exists(after.clone())
            );
        }
        assert_eq!(
            st.remove_subscriber("nobody@example.org", at(T1)).unwrap(),
            None
        );
    }

    #[test]
    fn bounced_is_not_reactivated_by_add() {
        let (_dir, st) = state();
        let s = added(
            st.add_subscriber("b@example.org", None, Status::Active, at(T1))
                .unwrap(),
        );
        st.set_status(s.id, Status::Bounced, at(T2)).unwrap();
        match st
            .add_subscriber("b@example.org", None, Status::Active, at(T2))
            .unwrap()
        {
            AddOutcome::Exists(e) => assert_eq!(e.status, Status::Bounced),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn set_status_restarts_since_only_on_a_change_and_refuses_unknown_ids() {
        let (_dir, st) = state();
        let s = added(
            st.add_subscriber("s@example.org", None, Status::Pending, at(T1))
                .unwrap(),
        );
        st.set_status(s.id, Status::Pending, at(T2)).unwrap();
        assert_eq!(st.subscriber(s.id).unwrap().unwrap(), s);
        st.set_status(s.id, Status::Active, at(T2)).unwrap();
        let a = st.subscriber(s.id).unwrap().unwrap();
        assert_eq!(
            (a.status, a.since.as_str()),
            (Status::Active, "2026-02-07T07:30:00Z")
        );
        assert!(matches!(
            st.set_status(999, Status::Active, at(T2)),
            Err(StateError::Invalid(m)) if m == "no subscriber with id 999"
        ));
    }

    #[test]
    fn lists_in_insertion_order_with_an_optional_status_filter() {
        let (_dir, st) = state();
        for (email, status) in [
            ("c@example.org", Status::Active),
            ("a@example.org", Status::Pending),
            ("b@example.org", Status::Active),
        ] {
            st.add_subscriber(email, None, status, at(T1)).unwrap();
        }
        let emails = |v: Vec<Subscriber>| v.into_iter().map(|s| s.email).collect::<Vec<_>>();
        assert_eq!(
            emails(st.list_subscribers(None).unwrap()),
            ["c@example.org", "a@example.org", "b@example.org"]
        );
        assert_eq!(
            emails(st.list_subscribers(Some(Status::Active)).unwrap()),
            ["c@example.org", "b@example.org"]
        );
        assert!(
            st.list_subscribers(Some(Status::Bounced))
                .unwrap()
                .is_empty()
        );
    }

    const CSV: &str = "\u{feff}Name,E-Mail-ignored,EMAIL\n\
        Jane Doe,x,jane@Example.org\n\
        ,x,bob@example.org\n\
        Bad,x,bad@\n\
        \"Multi\nLine\",x,multi@example.org\n\
        Dup,x,JANE@example.org\n\
        ,,\n\
        No Address,x,\n\
        Last,x,last@example.org\n";

    #[test]
    fn parses_headers_in_any_case_and_order_and_reports_line_numbers() {
        let p = parse_csv(CSV.as_bytes(), Status::Active).unwrap();
        let rows: Vec<_> = p
            .rows
            .iter()
            .map(|r| (r.line, r.email.as_str(), r.name.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [
                (2, "jane@example.org", Some("Jane Doe")),
                (3, "bob@example.org", None),
                (5, "multi@example.org", Some("Multi Line")),
                (7, "JANE@example.org", Some("Dup")),
                (10, "last@example.org", Some("Last")),
            ]
        );
        assert_eq!(
            p.errors,
            [
                (
                    4,
                    r#"not a valid email address: "bad@" (nothing after the @)"#.to_string()
                ),
                (9, "missing email address".to_string()),
            ]
        );
    }

    #[test]
    fn import_is_idempotent_and_counts_in_file_duplicates_once() {
        let (_dir, st) = state();
        let first = st
            .import_csv(CSV.as_bytes(), Status::Active, at(T1))
            .unwrap();
        assert_eq!(
            (
                first.added,
                first.pending,
                first.existing,
                first.duplicates,
                first.errors.len()
            ),
            (4, 0, 0, 1, 2)
        );
        let before = st.list_subscribers(None).unwrap();
        assert_eq!(before.len(), 4);
        let second = st
            .import_csv(CSV.as_bytes(), Status::Active, at(T2))
            .unwrap();
        assert_eq!(
            (
                second.added,
                second.existing,
                second.duplicates,
                second.errors.len()
            ),
            (0, 4, 1, 2)
        );
        assert_eq!(st.list_subscribers(None).unwrap(), before);
    }

    #[test]
    fn import_never_resubscribes_an_unsubscribed_or_bounced_address() {
        let (_dir, st) = state();
        st.add_subscriber("gone@example.org", None, Status::Active, at(T1))
            .unwrap();
        st.remove_subscriber("gone@example.org", at(T1)).unwrap();
        let b = added(
            st.add_subscriber("b@example.org", None, Status::Active, at(T1))
                .unwrap(),
        );
        st.set_status(b.id, Status::Bounced, at(T1)).unwrap();
        let r = st
            .import_csv(
                "email\nGone@example.org\nb@EXAMPLE.org\nnew@example.org\n".as_bytes(),
                Status::Active,
                at(T2),
            )
            .unwrap();
        assert_eq!((r.added, r.existing), (1, 2));
        let statuses: Vec<_> = st
            .list_subscribers(None)
            .unwrap()
            .into_iter()
            .map(|s| (s.email, s.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("gone@example.org".to_string(), Status::Unsubscribed),
                ("b@example.org".to_string(), Status::Bounced),
                ("new@example.org".to_string(), Status::Active),
            ]
        );
    }

    #[test]
    fn import_as_pending_and_with_a_status_column() {
        let (_dir, st) = state();
        let r = st
            .import_csv(
                "email,status\na@example.org,\nb@example.org,unsubscribed\nc@example.org,Active\nd@example.org,gone\n"
                    .as_bytes(),
                Status::Pending,
                at(T1),
            )
            .unwrap();
        assert_eq!((r.added, r.pending), (3, 1));
        assert_eq!(
            r.errors,
            [(
                5,
                "unknown status `gone` (expected pending, active, unsubscribed or bounced)"
                    .to_string()
            )]
        );
        let statuses: Vec<_> = st
            .list_subscribers(None)
            .unwrap()
            .into_iter()
            .map(|s| s.status)
            .collect();
        assert_eq!(
            statuses,
            [Status::Pending, Status::Unsubscribed, Status::Active]
        );
    }

    #[test]
    fn import_refuses_a_file_without_an_email_column_and_imports_nothing() {
        let (_dir, st) = state();
        let e = st
            .import_csv(
                "name,mail\nJane,jane@example.org\n".as_bytes(),
                Status::Active,
                at(T1),
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no `email` column in the header (found `name`, `mail`); the first line must be a header like `email,name`"
        );
        let e = st
            .import_csv("jane@example.org,Jane\n".as_bytes(), Status::Active, at(T1))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no `email` column in the header; the first line looks like an address, but it must be a header like `email,name`"
        );
        let e = st
            .import_csv("".as_bytes(), Status::Active, at(T1))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the file is empty; the first line must be a header like `email,name`"
        );
        assert!(st.list_subscribers(None).unwrap().is_empty());
    }

    #[test]
    fn line_numbers_hold_for_crlf_cr_and_blank_lines() {
        for (file, ends) in [
            ("email\n\nbad\n\n\nworse\n", "LF"),
            ("email\r\n\r\nbad\r\n\r\n\r\nworse\r\n", "CRLF"),
            ("email\r\rbad\r\r\rworse\r", "CR"),
        ] {
            let p = parse_csv(file.as_bytes(), Status::Active).unwrap();
            let lines: Vec<_> = p.errors.iter().map(|(l, _)| *l).collect();
            assert_eq!(lines, [3, 6], "{ends}");
        }
    }

    #[test]
    fn import_reads_semicolon_files_and_reports_non_utf8_rows() {
        let p = parse_csv(
            &b"email;name\r\na@example.org;A, Jr.\r\nb@example.org;\xe9\r\n"[..],
            Status::Active,
        )
        .unwrap();
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].name.as_deref(), Some("A, Jr."));
        assert_eq!(
            p.errors,
            [(3, "not UTF-8 text (save the file as UTF-8)".to_string())]
        );
    }

    #[test]
    fn export_writes_every_subscriber_and_imports_back_with_statuses() {
        let (_dir, st) = state();
        st.add_subscriber(
            "a@example.org",
            Some("Doe, Jane \"JD\""),
            Status::Active,
            at(T1),
        )
        .unwrap();
        st.add_subscriber("b@example.org", None, Status::Pending, at(T1))
            .unwrap();
        st.add_subscriber("c@example.org", None, Status::Active, at(T1))
            .unwrap();
        st.remove_subscriber("c@example.org", at(T2)).unwrap();
        let mut out = Vec::new();
        st.export_csv(&mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "email,name,status,since\n\
             a@example.org,\"Doe, Jane \"\"JD\"\"\",active,2026-01-05T10:00:00Z\n\
             b@example.org,,pending,2026-01-05T10:00:00Z\n\
             c@example.org,,unsubscribed,2026-02-07T07:30:00Z\n"
        );

        let (_dir2, fresh) = state();
        let r = fresh
            .import_csv(out.as_slice(), Status::Active, at(T2))
            .unwrap();
        assert_eq!((r.added, r.errors.len()), (3, 0));
        let view = |s: &State| -> Vec<_> {
            s.list_subscribers(None)
                .unwrap()
                .into_iter()
                .map(|s| (s.email, s.name, s.status))
                .collect()
        };
        assert_eq!(view(&fresh), view(&st));
    }
}
