//! `bookweek subscribers …` run as the real binary: what the operator sees,
//! exit codes, and the ledger it leaves behind (read back through `list` and
//! through `export`, parsed with the csv crate).

use crate::support::{Run, Site};

const T1: &str = "2026-01-05T10:00:00Z";
const T2: &str = "2026-01-06T23:30:00-02:00"; // 2026-01-07 in UTC

fn run(site: &Site, now: &str, args: &[&str]) -> Run {
    let mut all = vec!["subscribers"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--now", now]);
    site.run(&all)
}

fn ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}stderr:\n{}",
        run.stdout, run.stderr
    );
}

/// `export` parsed by an independent reader: (email, name, status, since).
fn exported(site: &Site) -> Vec<[String; 4]> {
    let run = run(site, T2, &["export"]);
    ok(&run);
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        &csv::StringRecord::from(vec!["email", "name", "status", "since"])
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            [0, 1, 2, 3].map(|i| r[i].to_string())
        })
        .collect()
}

fn statuses(site: &Site) -> Vec<(String, String)> {
    exported(site)
        .into_iter()
        .map(|[email, _, status, _]| (email, status))
        .collect()
}

#[test]
fn add_then_list_shows_an_aligned_line_per_subscriber() {
    let site = Site::empty("");
    let r = run(
        &site,
        T1,
        &["add", " Jane@Example.ORG ", "--name", "Jane Doe"],
    );
    ok(&r);
    assert_eq!(r.stdout, "added Jane@example.org\n");
    ok(&run(&site, T2, &["add", "bob@example.org"]));
    assert!(site.path().join("state/bookweek.db").is_file());

    let list = run(&site, T2, &["list"]);
    ok(&list);
    assert_eq!(
        list.stdout,
        "Jane@example.org  Jane Doe  active  2026-01-05\n\
         bob@example.org   -         active  2026-01-07\n"
    );
    assert_eq!(list.stderr, "");
}

#[test]
fn add_does_not_duplicate_and_rejects_bad_addresses() {
    let site = Site::empty("");
    ok(&run(&site, T1, &["add", "jane@example.org"]));
    let again = run(&site, T2, &["add", "JANE@EXAMPLE.ORG", "--name", "Other"]);
    ok(&again);
    assert_eq!(again.stdout, "jane@example.org is already subscribed\n");

    let bad = run(&site, T1, &["add", "foo@"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "error: not a valid email address: \"foo@\" (nothing after the @)\n"
    );
    let injected = run(&site, T1, &["add", "a@b.co\r\nBcc: victim@example.org"]);
    assert_eq!(injected.code, 1);
    assert_eq!(
        injected.stderr,
        "error: not a valid email address: \"a@b.co\\r\\nBcc: victim@example.org\"\n"
    );
    assert_eq!(
        exported(&site),
        [[
            "jane@example.org".to_string(),
            String::new(),
            "active".into(),
            "2026-01-05T10:00:00Z".into()
        ]]
    );
}

#[test]
fn pending_add_awaits_confirmation_and_a_plain_add_activates_it() {
    let site = Site::empty("");
    let r = run(&site, T1, &["add", "p@example.org", "--pending"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "added p@example.org (pending: awaits confirmation)\n"
    );
    let r = run(&site, T1, &["add", "p@example.org", "--pending"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "p@example.org is already pending (awaits confirmation)\n"
    );
    let pending = run(&site, T1, &["list", "--status", "pending"]);
    assert_eq!(pending.stdout, "p@example.org  -  pending  2026-01-05\n");

    let r = run(&site, T2, &["add", "p@example.org"]);
    ok(&r);
    assert_eq!(r.stdout, "p@example.org was pending; now active\n");
    assert_eq!(statuses(&site), [("p@example.org".into(), "active".into())]);
}

#[test]
fn import_reports_bad_rows_with_file_and_line_and_is_idempotent() {
    let site = Site::empty("");
    site.write(
        "subs.csv",
        "\u{feff}Email,Name,Source\n\
         jane@example.org,Jane Doe,meetup\n\
         bad@,Bad,meetup\n\
         \n\
         bob@Example.org,,web\n\
         JANE@example.org,Jane again,web\n",
    );
    let first = run(&site, T1, &["import", "subs.csv"]);
    assert_eq!(first.code, 1, "{}{}", first.stdout, first.stderr);
    assert_eq!(
        first.stderr,
        "subs.csv:3: not a valid email address: \"bad@\" (nothing after the @)\n"
    );
    assert_eq!(
        first.stdout,
        "imported 2, already there 0, 1 bad row (1 repeated address counted once)\n"
    );
    let before = exported(&site);
    assert_eq!(
        before,
        [
            [
                "jane@example.org",
                "Jane Doe",
                "active",
                "2026-01-05T10:00:00Z"
            ]
            .map(String::from),
            ["bob@example.org", "", "active", "2026-01-05T10:00:00Z"].map(String::from),
        ]
    );

    let second = run(&site, T2, &["import", "subs.csv"]);
    assert_eq!(second.code, 1);
    assert_eq!(
        second.stdout,
        "imported 0, already there 2, 1 bad row (1 repeated address counted once)\n"
    );
    assert_eq!(exported(&site), before);
}

#[test]
fn a_clean_import_exits_0_and_pending_import_says_they_await_confirmation() {
    let site = Site::empty("");
    site.write("a.csv", "email\na@example.org\nb@example.org\n");
    let r = run(&site, T1, &["import", "a.csv", "--pending"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "imported 2, already there 0, 0 bad rows\n2 new subscribers await confirmation\n"
    );
    assert_eq!(r.stderr, "");
    let r = run(&site, T1, &["list", "--status", "pending"]);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
}

#[test]
fn remove_keeps_the_row_so_import_and_add_cannot_resubscribe() {
    let site = Site::empty("");
    site.write(
        "subs.csv",
        "email,name\ngone@example.org,Gone\nstay@example.org,Stay\n",
    );
    ok(&run(&site, T1, &["import", "subs.csv"]));

    let r = run(&site, T2, &["remove", "Gone@example.org"]);
    ok(&r);
    assert_eq!(r.stdout, "unsubscribed gone@example.org\n");
    let r = run(&site, T2, &["remove", "gone@example.org"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "gone@example.org was already unsubscribed (since 2026-01-07)\n"
    );

    let r = run(&site, T2, &["import", "subs.csv"]);
    ok(&r);
    assert_eq!(r.stdout, "imported 0, already there 2, 0 bad rows\n");
    let r = run(&site, T2, &["add", "GONE@example.org"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: gone@example.org is unsubscribed (since 2026-01-07); not changed\n"
    );
    assert_eq!(
        statuses(&site),
        [
            ("gone@example.org".into(), "unsubscribed".into()),
            ("stay@example.org".into(), "active".into()),
        ]
    );
    let r = run(&site, T2, &["list", "--status", "unsubscribed"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "gone@example.org  Gone  unsubscribed  2026-01-07\n"
    );
}

#[test]
fn remove_of_an_unknown_address_exits_1() {
    let site = Site::empty("");
    let r = run(&site, T1, &["remove", "nobody@example.org"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "error: no subscriber nobody@example.org\n");
    let r = run(&site, T1, &["remove", "nobody"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: not a valid email address: \"nobody\" (no @)\n"
    );
}

#[test]
fn list_filters_by_status_and_says_when_there_is_nothing() {
    let site = Site::empty("");
    let empty = run(&site, T1, &["list"]);
    ok(&empty);
    assert_eq!(
        (empty.stdout.as_str(), empty.stderr.as_str()),
        ("", "no subscribers\n")
    );
    ok(&run(&site, T1, &["add", "a@example.org"]));
    ok(&run(&site, T1, &["add", "b@example.org", "--pending"]));
    let active = run(&site, T1, &["list", "--status", "active"]);
    assert_eq!(active.stdout, "a@example.org  -  active  2026-01-05\n");
    let bounced = run(&site, T1, &["list", "--status", "bounced"]);
    ok(&bounced);
    assert_eq!(bounced.stdout, "");
    assert_eq!(bounced.stderr, "no bounced subscribers\n");
}

#[test]
fn export_round_trips_through_import_with_statuses() {
    let site = Site::empty("");
    ok(&run(
        &site,
        T1,
        &["add", "a@example.org", "--name", "Doe, Jane \"JD\""],
    ));
    ok(&run(&site, T1, &["add", "b@example.org", "--pending"]));
    ok(&run(&site, T1, &["add", "c@example.org", "--name", "C"]));
    ok(&run(&site, T2, &["remove", "c@example.org"]));
    let rows = exported(&site);
    assert_eq!(
        rows,
        [
            [
                "a@example.org",
                "Doe, Jane \"JD\"",
                "active",
                "2026-01-05T10:00:00Z"
            ],
            ["b@example.org", "", "pending", "2026-01-05T10:00:00Z"],
            ["c@example.org", "C", "unsubscribed", "2026-01-07T01:30:00Z"],
        ]
        .map(|r| r.map(String::from))
    );

    // Restoring the export elsewhere keeps everyone's status: the
    // unsubscribed address is not subscribed again.
    let export = run(&site, T2, &["export"]).stdout;
    let other = Site::empty("");
    other.write("backup.csv", export);
    let r = run(&other, T2, &["import", "backup.csv"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "imported 3, already there 0, 0 bad rows\n1 new subscriber awaits confirmation\n"
    );
    let strip_since = |rows: Vec<[String; 4]>| -> Vec<[String; 3]> {
        rows.into_iter().map(|[e, n, s, _]| [e, n, s]).collect()
    };
    assert_eq!(strip_since(exported(&other)), strip_since(rows));
}

#[test]
fn import_without_a_usable_file_exits_2_and_imports_nothing() {
    let site = Site::empty("");
    let r = run(&site, T1, &["import", "missing.csv"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: cannot read missing.csv: "),
        "{}",
        r.stderr
    );

    site.write("nohead.csv", "jane@example.org,Jane\nbob@example.org,Bob\n");
    let r = run(&site, T1, &["import", "nohead.csv"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: nohead.csv: no `email` column in the header; the first line looks like an address, \
         but it must be a header like `email,name`; nothing was imported\n"
    );
    site.write("wrong.csv", "mail,name\njane@example.org,Jane\n");
    let r = run(&site, T1, &["import", "wrong.csv"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: wrong.csv: no `email` column in the header (found `mail`, `name`); \
         the first line must be a header like `email,name`; nothing was imported\n"
    );
    assert_eq!(exported(&site), Vec::<[String; 4]>::new());
}
