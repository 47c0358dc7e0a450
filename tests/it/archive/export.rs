//! The hand-made export (tests/fixtures/archive/handmade): every message kind
//! the import reads or drops, as a folder and as a ZIP; a book file whose
//! every byte outside `archive:` must stay; and the errors for bad input.

use std::io::Write;
use std::path::Path;

use super::{Archive, archive_of, front_matter};
use crate::support::{Site, copy_dir, fixture};

const NOW: &str = "2023-02-01T00:00:00Z";
const BOOK: &str = "content/books/20230102-handmade.md";

fn site() -> Site {
    Site::with_content(
        &fixture("archive/handmade/content"),
        "archive:\n  channel: book-of-the-week\n",
    )
}

fn export_dir() -> std::path::PathBuf {
    fixture("archive/handmade/export")
}

fn import(site: &Site, export: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["--now", NOW, "archive", "import", export.to_str().unwrap()];
    args.extend_from_slice(extra);
    site.run(&args)
}

/// A ZIP of a folder, the way Slack packs an export (files at the root).
fn zip_of(dir: &Path, to: &Path) {
    let file = std::fs::File::create(to).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    fn add(
        zip: &mut zip::ZipWriter<std::fs::File>,
        root: &Path,
        dir: &Path,
        o: zip::write::SimpleFileOptions,
    ) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if p.is_dir() {
                zip.add_directory(format!("{rel}/"), o).unwrap();
                add(zip, root, &p, o);
            } else {
                zip.start_file(rel, o).unwrap();
                zip.write_all(&std::fs::read(&p).unwrap()).unwrap();
            }
        }
    }
    add(&mut zip, dir, dir, options);
    zip.finish().unwrap();
}

fn m(name: &str, text: &str) -> (String, String) {
    (name.to_string(), text.to_string())
}

/// What the hand-made export holds for the book, message kind by kind.
fn expected() -> Archive {
    vec![
        // The day before the week; an old export's `replies` list, one reply
        // with no thread_ts at all.
        (
            "Ann Reader".into(),
            "Early bird question 👋 what should I read first?".into(),
            vec![m("Jane Doe", "Start with chapter 1."), m("Jane Doe", "Then chapter 2.")],
        ),
        // Mentions, a labelled link with an escaped &, entities, <!here>; a
        // skin tone, a channel, an unknown code; a broadcast reply kept once;
        // a bot's reply dropped; a reply days after the week kept.
        (
            "Ann Reader".into(),
            "Hi Jane Doe! Is [this page](https://example.org/a?x=1&y=2) right? 1 < 2 && 3 > 2 @here".into(),
            vec![
                m("Jane Doe", "Yes 👍🏻 see https://example.org/b and #general :nosuchemoji:"),
                m("Jane Doe", "Everyone: the answer is 42 @channel"),
                m("Ann Reader", "Thanks, that helps!"),
            ],
        ),
        // Shared files: their title as a link (a deleted file left out), and
        // an old `file_share` whose text links the file already.
        (
            "Ann Reader".into(),
            "my notes\n[Notes.pdf](https://ws.slack.com/files/U02READER/F01NOTES/notes.pdf)".into(),
            vec![],
        ),
        (
            "Ann Reader".into(),
            "Ann Reader uploaded a file: [pic.png](https://ws.slack.com/files/ann/F02PIC/pic.png)".into(),
            vec![],
        ),
        // Empty `text`: Slack's rich-text blocks.
        (
            "Ann Reader".into(),
            "Two more questions for Jane Doe:\n1. Which chapter is *hardest*?\n2. Is there `code`? 🤔\n```\nprint(1)\n```\n> a quote".into(),
            vec![],
        ),
        // A deactivated user known only by the top-level real_name.
        ("Old Timer".into(), "waves".into(), vec![]),
        // Two days after the end still counts.
        ("Ann Reader".into(), "Late thought: thanks Jane Doe 🎉".into(), vec![]),
    ]
}

#[test]
fn every_message_kind_from_a_folder_and_from_a_zip() {
    let folder = site();
    let run = import(&folder, &export_dir(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "20230102-handmade: 7 threads, 5 replies; authors recognized: Jane Doe"
    );
    // The other author never wrote: a warning, not an error.
    assert_eq!(
        run.stderr.trim(),
        "warning: 20230102-handmade: author Bob Smith never appears in the threads"
    );
    let text = folder.read(BOOK);
    assert_eq!(archive_of(&text), expected());
    // Nothing of what was dropped made it in.
    for dropped in [
        "Too early",
        "joined",
        "Looking forward",
        "bot",
        "deleted",
        "orphaned",
        "beep",
        "lucky",
        "emails",
        "left the channel",
        "After the week",
        "Wrong channel",
        "IGNORED",
        "xoxe",
    ] {
        assert!(!text.contains(dropped), "{dropped}: {text}");
    }

    let zipped = site();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("slack export.zip");
    zip_of(&export_dir(), &zip);
    let run = import(&zipped, &zip, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        zipped.read(BOOK),
        text,
        "the ZIP gives the same file as the folder"
    );

    // A ZIP holding the export in a folder of its own reads the same.
    let nested = tempfile::tempdir().unwrap();
    copy_dir(
        &export_dir(),
        &nested.path().join("My Workspace Slack export"),
    );
    let zip2 = dir.path().join("nested.zip");
    zip_of(nested.path(), &zip2);
    let again = site();
    let run = import(&again, &zip2, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(again.read(BOOK), text);
}

#[test]
fn dry_run_prints_the_yaml_and_writes_nothing_and_a_second_import_changes_nothing() {
    let site = site();
    let before = site.read(BOOK);
    let run = import(&site, &export_dir(), &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(site.read(BOOK), before);
    assert!(
        run.stdout
            .starts_with("# 20230102-handmade: 7 threads, 5 replies"),
        "{}",
        run.stdout
    );
    // The printed YAML is the archive an independent parser reads back.
    let printed: serde_yaml::Value = serde_yaml::from_str(&run.stdout).unwrap();
    let wrapped = format!("---\n{}---\n", serde_yaml::to_string(&printed).unwrap());
    assert_eq!(archive_of(&wrapped), expected());

    assert_eq!(import(&site, &export_dir(), &[]).code, 0);
    let written = site.read(BOOK);
    // The book has an archive now: by default there is nothing to do…
    let run = import(&site, &export_dir(), &[]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("nothing to import"), "{}", run.stdout);
    // …naming it without --replace is refused…
    let run = import(&site, &export_dir(), &["--book", "20230102-handmade"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("has an archive already (thread count 7); pass --replace to overwrite it"),
        "{}",
        run.stderr
    );
    // …and --replace writes the same bytes again.
    let run = import(
        &site,
        &export_dir(),
        &["--book", "20230102-handmade", "--replace"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.ends_with("(file unchanged)\n"), "{}", run.stdout);
    assert_eq!(site.read(BOOK), written);
}

#[test]
fn a_book_file_keeps_every_byte_outside_archive() {
    // Comments, odd quoting, a flow list, a folded scalar, CRLF line endings,
    // an old archive with comments inside, a comment and a key after it, a
    // body with a YAML-looking line.
    let head = "---\r\n# Edited by hand; keep this comment.\r\ntitle:   \"Handmade: the \\\"odd\\\" one\"   # trailing comment\r\nauthors: [ 'Jane Doe' ,\"Bob Smith\" ]\r\nstart: '2023-01-02 00:00:00'\r\nend: \"2023-01-06 23:59:59\"\r\ndescription: >-\r\n  Folded\r\n  text\r\n\r\n";
    let old_archive = "archive:   # pasted from the notebook\r\n# a comment inside\r\n- name: Old\r\n  text: 'old ''quoted''\r\n\r\n    text'\r\n  replies:\r\n    - {name: X, text: \"y\"}\r\n";
    let tail = "\r\n# links come last\r\nlinks:\r\n- text: Page\r\n  link: https://example.org/\r\n---\r\nBody line one.\r\narchive: this is body text, not YAML\r\n\r\nLast line without a newline";
    let site = site();
    site.write(BOOK, format!("{head}{old_archive}{tail}"));
    let run = import(
        &site,
        &export_dir(),
        &["--book", "20230102-handmade", "--replace"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let got = std::fs::read(site.path().join(BOOK)).unwrap();
    let got = String::from_utf8(got).unwrap();
    assert!(got.starts_with(head), "{got:?}");
    assert!(got.ends_with(tail), "{got:?}");
    let new_archive = &got[head.len()..got.len() - tail.len()];
    assert!(
        new_archive.starts_with("archive:\r\n- name: Ann Reader\r\n"),
        "{new_archive:?}"
    );
    assert!(
        !new_archive.replace("\r\n", "").contains('\n'),
        "only CRLF line endings: {new_archive:?}"
    );
    assert_eq!(archive_of(&got.replace("\r\n", "\n")), expected());
    // The other keys read as before.
    let yaml = |t: &str| -> serde_yaml::Value {
        serde_yaml::from_str(front_matter(&t.replace("\r\n", "\n"))).unwrap()
    };
    let (old, new) = (yaml(&format!("{head}{old_archive}{tail}")), yaml(&got));
    for key in ["title", "authors", "start", "end", "description", "links"] {
        assert_eq!(old[key], new[key], "{key}");
    }
    assert_eq!(new["title"], "Handmade: the \"odd\" one");

    // No archive yet: it is added before the closing line, nothing else moves.
    let site2 = self::site();
    site2.write(BOOK, format!("{head}{}", tail.trim_start_matches("\r\n")));
    let run = import(&site2, &export_dir(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let got2 = site2.read(BOOK);
    let close = tail.find("---\r\n").unwrap();
    let (fm_tail, body) = tail.trim_start_matches("\r\n").split_at(close - 2);
    assert!(
        got2.starts_with(&format!(
            "{head}{fm_tail}archive:\r\n- name: Ann Reader\r\n"
        )),
        "{got2:?}"
    );
    assert!(got2.ends_with(body), "{got2:?}");
}

#[test]
fn bad_input_is_a_clear_error_naming_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let site = site();
    let before = site.read(BOOK);

    // A damaged ZIP.
    let bad_zip = dir.path().join("export.zip");
    zip_of(&export_dir(), &bad_zip);
    let mut bytes = std::fs::read(&bad_zip).unwrap();
    bytes.truncate(bytes.len() - 30);
    std::fs::write(&bad_zip, bytes).unwrap();
    let run = import(&site, &bad_zip, &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!(
            "error: {}: not a readable ZIP archive",
            bad_zip.display()
        )),
        "{}",
        run.stderr
    );

    // No users.json.
    let no_users = dir.path().join("no-users");
    copy_dir(&export_dir(), &no_users);
    std::fs::remove_file(no_users.join("users.json")).unwrap();
    let run = import(&site, &no_users, &[]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "error: {}: no users.json: not a Slack workspace export (one has users.json, channels.json and a folder per channel)",
            no_users.display()
        )
    );

    // A channel the export does not have.
    let run = import(&site, &export_dir(), &["--channel", "book-of-the-wek"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "error: {}: no channel `book-of-the-wek` in this export; did you mean `book-of-the-week`?",
            export_dir().join("channels.json").display()
        )
    );

    // A message by a user the export does not know: that book fails, with
    // the day file named.
    let unknown = dir.path().join("unknown-user");
    copy_dir(&export_dir(), &unknown);
    let day = unknown.join("book-of-the-week/2023-01-08.json");
    std::fs::write(
        &day,
        std::fs::read_to_string(&day)
            .unwrap()
            .replace("U02READER", "U09NOBODY"),
    )
    .unwrap();
    let run = import(&site, &unknown, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "error: 20230102-handmade: {}: message 1673208000.000100: unknown user id `U09NOBODY` (its author); nothing written for this book",
            day.display()
        )
    );
    // A mention of an unknown user.
    std::fs::write(
        &day,
        std::fs::read_to_string(&day)
            .unwrap()
            .replace("U09NOBODY", "U02READER")
            .replace("<@U01JANE>", "<@U09GHOST>"),
    )
    .unwrap();
    let run = import(&site, &unknown, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("unknown user id `U09GHOST` (mentioned in its text)"),
        "{}",
        run.stderr
    );

    // A day file that is not JSON.
    std::fs::write(&day, "<html>oops</html>").unwrap();
    let run = import(&site, &unknown, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: {}: not the JSON a Slack export has:",
            day.display()
        )),
        "{}",
        run.stderr
    );

    // No channel at all.
    let plain = Site::with_content(&fixture("archive/handmade/content"), "");
    let run = import(&plain, &export_dir(), &[]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "error: which channel? pass --channel NAME or set `archive.channel` in the config"
    );
    // An unknown book.
    let run = import(&site, &export_dir(), &["--book", "20230102-handmad"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no book `20230102-handmad`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `20230102-handmade`?"),
        "{}",
        run.stderr
    );

    assert_eq!(site.read(BOOK), before, "nothing was written");
    assert_eq!(
        std::fs::read_dir(site.path().join("content/books"))
            .unwrap()
            .count(),
        1,
        "no temp files left"
    );
}

/// Bits of a deflate stream, least significant first (RFC 1951).
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// A Huffman code, sent most significant bit first.
    fn code(&mut self, code: u64, count: u32) {
        let reversed = (0..count).fold(0, |r, i| r | (((code >> i) & 1) << (count - 1 - i)));
        self.put(reversed, count);
    }
}

/// A deflate stream that inflates to `[` and `size - 1` spaces: one fixed
/// Huffman block of 258-byte copies, a few bytes per 64 KiB.
fn deflate_bomb(size: u64) -> Vec<u8> {
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // the final block
    b.put(1, 2); // fixed Huffman codes
    b.code(0x30 + u64::from(b'['), 8);
    b.code(0x30 + u64::from(b' '), 8);
    for _ in 0..(size - 2) / 258 {
        b.code(0xC0 + (285 - 280), 8); // length 258
        b.code(0, 5); // distance 1
    }
    b.code(0, 7); // end of block
    b.put(0, 7);
    b.out
}

fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &byte| {
        (0..8).fold(crc ^ u32::from(byte), |c, _| {
            if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            }
        })
    })
}

/// A ZIP written by hand: (name, method, data, crc, uncompressed size).
fn zip_raw(entries: &[(&str, u16, Vec<u8>, u32, u32)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, method, data, crc, size) in entries {
        let offset = out.len() as u32;
        let fields = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes());
            }
            for v in [20u16, 0, *method, 0, 0x21] {
                h.extend(v.to_le_bytes());
            }
            for v in [*crc, data.len() as u32, *size] {
                h.extend(v.to_le_bytes());
            }
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes());
            if central {
                h.extend([0u8; 10]); // comment, disk, attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(fields(0x0403_4b50, false));
        out.extend(data);
        central.extend(fields(0x0201_4b50, true));
    }
    let (cd_offset, cd_size) = (out.len() as u32, central.len() as u32);
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[test]
fn a_zip_bomb_is_an_error_not_an_exhausted_machine() {
    // users.json inflates to 300 MiB from about 2 MiB.
    let size: u32 = 300 << 20;
    let channels = br#"[{"id":"C1","name":"book-of-the-week"}]"#.to_vec();
    let bomb = deflate_bomb(u64::from(size));
    assert!(bomb.len() < 3 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.zip");
    let channels_crc = crc32(&channels);
    let channels_len = channels.len() as u32;
    std::fs::write(
        &path,
        zip_raw(&[
            ("channels.json", 0, channels, channels_crc, channels_len),
            // The CRC is never reached: reading stops at the limit.
            ("users.json", 8, bomb, 0, size),
        ]),
    )
    .unwrap();
    let site = site();
    let run = import(&site, &path, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "error: {}:users.json: larger than 256 MiB; not a file of a Slack export",
            path.display()
        )
    );
}
