//! No input makes `check` or `build` panic or hang: real books
//! (tests/fixtures/fuzz) mutated by deterministic seeded mutations (byte
//! flips, truncations, deleted and duplicated lines, odd dates, huge numbers,
//! bytes that are not UTF-8, deep nesting, alias bombs, chat markup), first
//! thousands through the library functions `check` and `build` call, then a
//! few dozen mutated sites through the real binary with a timeout.
//!
//! `BOOKWEEK_FUZZ_SCALE=20 cargo test --release --test it fuzz -- --nocapture`
//! runs twenty times as many; a failure prints the seed that reproduces it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bookweek::content;
use chrono::DateTime;

use crate::support::{Feeds, Site, copy_dir, fixture};

/// How many times the default counts to run.
fn scale() -> usize {
    std::env::var("BOOKWEEK_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// SplitMix64: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Dates that have broken, or could break, date handling: outside the
/// years 1 to 9999, days and hours that do not exist, a daylight-saving gap
/// and an ambiguous hour in Europe/Berlin, the edges of chrono's range.
const ODD_DATES: &[&str] = &[
    "0000-01-01 00:00:00",
    "-0001-01-01 00:00:00",
    "10000-01-01 00:00:00",
    "+262143-12-31 23:59:59",
    "-262144-01-01 00:00:00",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "2022-02-30 00:00:00",
    "2022-12-32",
    "2022-12-05 24:00:00",
    "2022-12-05 23:59:60",
    "2022-03-27 02:30:00",
    "2022-10-30 02:30:00",
    "1893-03-31 23:59:59",
    "1850-01-01 00:00:00",
    "2022-12-05T00:00:00-23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "2022-12-05",
    "1e400",
    "99999999999999999999999",
    "[]",
    "{a: 1}",
    "~",
    "\"\"",
    "!!binary aGVsbG8=",
];

/// Values (YAML double-quoted, so escapes apply) that exercise text
/// handling: markup, entities, control characters, bidi overrides, very long
/// words, chat mentions and links.
const ODD_TEXTS: &[&str] = &[
    "\"<script>alert(1)</script><img src=x onerror=alert(1)>\"",
    "\"<@U0123|someone> <#C0123|general> <!here> <mailto:a@b.org|a@b.org> <tel:+1|call>\"",
    "\"*bold _it ~strike `code ```fence\\n  x\\n``` *_~`\"",
    "\"\\u0000\\u0001\\u001F\\u007F\\u0085\\uFEFF\\u202E\\uFFFE\\uFFFF nul\"",
    "\"&amp; &lt; &#0; &#xD800; &#1114112; &bogus; & < > \\\" '\"",
    "\"[x](javascript:alert(1)) [y](http://) <https://a.org/<b>> https://a.org/a_b_c_(d)\"",
    "\":smile: :not-an-emoji: :+1::skin-tone-9: \\U0001F604 \\U0001F3FD\"",
    "\"# h\\n> q\\n> > q\\n1. a\\n   1. b\\n- [ ] t\\n| a | b |\\n|---|---|\\n\"",
    "\"Kevin -- thanks! 🙏\\nKrzysztof -- see above\"",
    "\"\"",
    "\"   \"",
    "\"a\\rb\\r\\nc\\td\"",
    "\"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\"",
];

/// Lines that exercise numbers, nesting, aliases and markup.
fn odd_line(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => "pin: [99999999999999999999999, -1, 1e308, .nan, 0]".into(),
        1 => "hide: 18446744073709551616".into(),
        2 => format!("title: {}", "[".repeat(200 + rng.below(300))),
        3 => format!(
            "archive: {}x{}",
            "[".repeat(100 + rng.below(200)),
            "]".repeat(100 + rng.below(200))
        ),
        4 => format!(
            "aliases: {}",
            "{a: ".repeat(150) + "b" + &"}".repeat(150)
        ),
        5 => "x: &a [1, 2, 3, 4, 5, 6, 7, 8]\ny: [*a, *a, *a, *a, *a, *a, *a, *a]".into(),
        6 => "  text: \"<script>alert(1)</script> <@U12|x> <#C1|chan> <mailto:a@b|a> :smile: *b* _i_ ```x``` &amp; & < \\u0000 \\x01 \\uFFFE\"".into(),
        7 => "- name: \u{0}\u{1}\u{7f}\u{202e}\u{fffe}".into(),
        8 => "authors: [\"\", ~, 1, [x], {a: b}, \"A B\", a-slug-nobody-has]".into(),
        9 => "links: [{text: x, link: \"javascript:alert(1)\"}, {link: \"http://\"}, {link: \"https://[::1\"}]".into(),
        10 => "\tstart:\t2022-12-05".into(),
        _ => format!("cover: {}", "../".repeat(50)),
    }
}

/// Applies one to three mutations to a file's bytes.
fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..1 + rng.below(3) {
        bytes = mutate_once(rng, bytes);
    }
    bytes
}

fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn mutate_once(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.is_empty() {
        return b"---\n".to_vec();
    }
    match rng.below(14) {
        // Flip one to eight bits or bytes anywhere.
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(bytes.len());
                if rng.below(2) == 0 {
                    bytes[i] ^= 1 << rng.below(8);
                } else {
                    bytes[i] = rng.next() as u8;
                }
            }
            bytes
        }
        // Truncate at a random point (often inside a UTF-8 sequence).
        1 => {
            bytes.truncate(rng.below(bytes.len()));
            bytes
        }
        // Delete, duplicate or swap lines.
        2..=4 => {
            let mut lines = lines_of(&bytes);
            let i = rng.below(lines.len());
            match rng.below(3) {
                0 => {
                    let n = 1 + rng.below(4);
                    lines.drain(i..(i + n).min(lines.len()));
                }
                1 => {
                    let line = lines[i].clone();
                    for _ in 0..1 + rng.below(3) {
                        lines.insert(i, line.clone());
                    }
                }
                _ => {
                    let j = rng.below(lines.len());
                    lines.swap(i, j);
                }
            }
            lines.concat()
        }
        // An odd date for `start` or `end`.
        5 | 6 => {
            let key: &[u8] = if rng.below(2) == 0 {
                b"start:"
            } else {
                b"end:"
            };
            let date = rng.pick(ODD_DATES);
            let mut lines = lines_of(&bytes);
            match lines.iter().position(|l| l.starts_with(key)) {
                Some(i) => {
                    lines[i] = [key, b" ", date.as_bytes(), b"\n"].concat();
                }
                None => lines.insert(
                    1.min(lines.len()),
                    [key, b" ", date.as_bytes(), b"\n"].concat(),
                ),
            }
            lines.concat()
        }
        // A line of odd YAML inside the front matter.
        7 | 8 => {
            let mut lines = lines_of(&bytes);
            let i = 1 + rng.below(lines.len().saturating_sub(1).max(1));
            let mut line = odd_line(rng).into_bytes();
            line.push(b'\n');
            lines.insert(i.min(lines.len()), line);
            lines.concat()
        }
        // Bytes that are not UTF-8, or a byte order mark, somewhere.
        9 => {
            let i = rng.below(bytes.len());
            const JUNK: [&[u8]; 6] = [
                b"\xff\xfe",
                b"\xc3",
                b"\xef\xbb\xbf",
                b"\xed\xa0\x80",
                b"\0",
                b"\r",
            ];
            let junk = *rng.pick(&JUNK);
            bytes.splice(i..i, junk.iter().copied());
            bytes
        }
        // An odd value for a name or a text, in valid YAML: what chat
        // archives bring.
        11 | 12 => {
            let mut lines = lines_of(&bytes);
            let keys: [&[u8]; 4] = [b"text: ", b"name: ", b"title: ", b"description: "];
            let candidates: Vec<usize> = (0..lines.len())
                .filter(|&i| {
                    let l = &lines[i];
                    keys.iter().any(|k| l.windows(k.len()).any(|w| w == *k))
                })
                .collect();
            if candidates.is_empty() {
                return bytes;
            }
            let i = *rng.pick(&candidates);
            let at = keys
                .iter()
                .filter_map(|k| {
                    lines[i]
                        .windows(k.len())
                        .position(|w| w == *k)
                        .map(|p| p + k.len())
                })
                .min()
                .unwrap_or(0);
            let value = rng.pick(ODD_TEXTS);
            lines[i].truncate(at);
            lines[i].extend_from_slice(value.as_bytes());
            lines[i].push(b'\n');
            lines.concat()
        }
        // Markdown and chat markup in the body.
        13 => {
            let mut out = bytes;
            for _ in 0..1 + rng.below(5) {
                out.extend_from_slice(rng.pick(ODD_TEXTS).trim_matches('"').as_bytes());
                out.push(b'\n');
            }
            out
        }
        // Re-indent a line (YAML structure errors, or silently other nesting).
        _ => {
            let mut lines = lines_of(&bytes);
            let i = rng.below(lines.len());
            let trimmed: Vec<u8> = lines[i]
                .iter()
                .copied()
                .skip_while(|b| *b == b' ')
                .collect();
            lines[i] = [vec![b' '; rng.below(9)], trimmed].concat();
            lines.concat()
        }
    }
}

fn fixture_files(folder: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(fixture("fuzz").join(folder))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (
                PathBuf::from(format!("content/{folder}")).join(path.file_name().unwrap()),
                bytes,
            )
        })
        .collect();
    files.sort();
    files
}

/// Thousands of mutated books through what `check` and `build` call: decode,
/// parse, the author hints of `check`, and rendering all three feeds with
/// the book in the catalog. Any panic fails the test (with its seed).
#[test]
fn mutated_books_never_panic_the_library() {
    let loaded = content::load(&fixture("fuzz"), chrono_tz::Europe::Berlin).unwrap();
    assert_eq!(loaded.catalog.books.len(), 4, "{:?}", loaded.problems);
    let people = loaded.catalog.people.clone();
    let config = bookweek::config::parse(Path::new("fuzz.yaml"), "feeds:\n  limit: 100\n").config;
    let (templates, problems) =
        bookweek::templates::Templates::load(Path::new("no-such-templates-folder"));
    assert!(problems.is_empty());
    let books = fixture_files("books");
    let persons = fixture_files("people");
    let nows = [
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        DateTime::parse_from_rfc3339("2021-09-15T12:00:00+02:00").unwrap(),
    ];
    let iterations = 5000 * scale();
    let started = Instant::now();
    let (mut good, mut broken, mut rendered, mut items) = (0, 0, 0, 0);
    for seed in 0..iterations as u64 {
        let mut rng = Rng(seed.wrapping_mul(0x5851_F42D_4C95_7F2D) ^ 0xB00C);
        // One in ten mutates a people file instead.
        if rng.below(10) == 0 {
            let (path, bytes) = rng.pick(&persons);
            let mutated = mutate(&mut rng, bytes);
            if let Ok(text) = content::decode_text(path, mutated) {
                let problems = match content::parse_person(path, &text) {
                    Ok((_, problems)) | Err(problems) => problems,
                };
                assert!(problems.iter().all(|p| !p.to_string().is_empty()));
            }
            continue;
        }
        let (path, bytes) = rng.pick(&books);
        let mutated = mutate(&mut rng, bytes);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let text = match content::decode_text(path, mutated.clone()) {
                Ok(t) => t,
                Err(p) => return (false, 0, p.to_string().len()),
            };
            let (book, problems) =
                content::parse_book(path, &text, &people, chrono_tz::Europe::Berlin);
            let shown: usize = problems.iter().map(|p| p.to_string().len()).sum();
            assert!(
                problems.len() <= content::MAX_PROBLEMS_PER_FILE + 1,
                "{} problems",
                problems.len()
            );
            let Some(book) = book else {
                return (false, 0, shown);
            };
            // `check`'s author hints.
            let _ = bookweek::answers::Resolver::new(&book, &people).missing_author_hints(&book);
            // `build`: the book among the others, as the loader would sort them.
            let mut catalog = loaded.catalog.clone();
            let mut entries: Vec<bookweek::model::Entry> = catalog
                .books
                .iter()
                .map(|b| b.unwrap().into_owned())
                .filter(|b| b.slug() != book.slug)
                .collect();
            entries.push(bookweek::model::Entry::new(book));
            catalog.books = bookweek::model::Books::here(entries);
            catalog.books.sort();
            let now = nows[seed as usize % nows.len()];
            let (built, feeds) = bookweek::feeds::render_all(&catalog, &config, &templates, now)
                .unwrap_or_else(|e| panic!("render failed: {e}"));
            assert!(feeds.left_out.is_empty(), "{:?}", feeds.left_out);
            (true, built.len(), shown)
        }));
        match result {
            Ok((true, n, _)) => {
                good += 1;
                rendered += 1;
                items += n;
            }
            Ok((false, _, _)) => broken += 1,
            Err(_) => {
                let dump = std::env::temp_dir().join(format!("bookweek-fuzz-{seed}.md"));
                std::fs::write(&dump, &mutated).unwrap();
                panic!(
                    "seed {seed} ({}) panicked; the mutated file is {}",
                    path.display(),
                    dump.display()
                );
            }
        }
    }
    eprintln!(
        "fuzz (library): {iterations} mutations in {:.1?}: {good} books still good ({rendered} rendered, {items} items), {broken} rejected with errors",
        started.elapsed()
    );
    // The mutations must reach both sides, or the test proves little.
    assert!(
        good > iterations / 20 && broken > iterations / 20,
        "{good} good, {broken} broken"
    );
}

/// Runs the binary with a time limit; a run that takes longer is killed and
/// fails the test.
fn run_with_timeout(dir: &Path, args: &[&str], limit: Duration) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bookweek"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let err = reader.join().unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`bookweek {}` in {} did not finish within {limit:?}",
                args.join(" "),
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A few dozen sites of mutated books through the real binary: `check` and
/// `build` exit 0 or 1 (never 101, a panic), within a time limit, and the
/// feeds `build` writes parse.
#[test]
fn mutated_sites_never_panic_or_hang_the_binary() {
    let books = fixture_files("books");
    let sites = 40 * scale();
    let started = Instant::now();
    let mut codes = [0usize; 2];
    for seed in 0..sites as u64 {
        let mut rng = Rng(seed ^ 0x51_7E5);
        // Some sites in a time zone with other gaps and a skipped day.
        let tz = *rng.pick(&["Europe/Berlin", "Pacific/Apia", "America/New_York", "UTC"]);
        let site = Site::empty(&format!(
            "site:\n  timezone: {tz}\nfeeds:\n  limit: 100\ncontent:\n  max_file_size: 64 KiB\n"
        ));
        copy_dir(&fixture("fuzz/people"), &site.path().join("content/people"));
        for (path, bytes) in &books {
            // Half the books are left alone, so that some sites are all good.
            let mutated = if rng.below(2) == 0 {
                bytes.clone()
            } else {
                mutate(&mut rng, bytes)
            };
            site.write(path.to_str().unwrap(), mutated);
        }
        let limit = Duration::from_secs(30);
        let (code, err) = run_with_timeout(site.path(), &["check"], limit);
        assert!(
            code == 0 || code == 1,
            "seed {seed}: check exited {code}: {err}"
        );
        codes[code as usize] += 1;
        let (code, err) = run_with_timeout(
            site.path(),
            &["build", "--now", "2026-01-01T00:00:00Z"],
            limit,
        );
        assert!(
            code == 0 || code == 1,
            "seed {seed}: build exited {code}: {err}"
        );
        codes[code as usize] += 1;
        // Whatever was published is well-formed.
        let _ = Feeds::read(&site.path().join("public"));
    }
    eprintln!(
        "fuzz (binary): {sites} mutated sites, {} runs in {:.1?}: {} exited 0, {} exited 1",
        sites * 2,
        started.elapsed(),
        codes[0],
        codes[1]
    );
    assert!(codes[1] > 0, "no mutation produced an error");
}
