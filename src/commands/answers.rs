//! `bookweek answers <slug>`: a book's best author answers, and why.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::answers::{self, Verdict};
use crate::cli::Format;
use crate::content;
use crate::diag::did_you_mean;
use crate::text;

use super::{EXIT_FATAL, EXIT_PROBLEMS, exit, load_config, print_problems};

/// The JSON output (`--format json`); field names are a stable interface.
#[derive(Serialize)]
struct Output<'a> {
    book: &'a str,
    title: &'a str,
    threads: usize,
    answers: Vec<JsonAnswer<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Vec<JsonThread<'a>>>,
}

#[derive(Serialize)]
struct JsonAnswer<'a> {
    rank: usize,
    thread: usize,
    score: f64,
    pinned: bool,
    asker: &'a str,
    question: String,
    parts: Vec<JsonPart<'a>>,
}

#[derive(Serialize)]
struct JsonPart<'a> {
    author: &'a str,
    text: String,
}

#[derive(Serialize)]
struct JsonThread<'a> {
    thread: usize,
    asker: &'a str,
    picked: bool,
    #[serde(flatten)]
    verdict: &'a Verdict,
}

pub fn run(
    config_path: Option<&Path>,
    slug: &str,
    limit: Option<usize>,
    explain: bool,
    format: Format,
) -> ExitCode {
    let loaded = load_config(config_path);
    print_problems(&loaded.problems, true);
    if loaded.has_errors() {
        return exit(EXIT_FATAL);
    }
    let config = loaded.config;
    let content = match content::load_with(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit(EXIT_FATAL);
        }
    };
    let entries = match super::entries(&content.catalog) {
        Ok(entries) => entries,
        Err(code) => return code,
    };
    let Some(book) = entries.iter().find(|b| b.slug() == slug) else {
        let rejected = content
            .rejected
            .iter()
            .any(|p| p.file_stem().is_some_and(|s| s == slug));
        if rejected {
            let own: Vec<_> = content
                .problems
                .iter()
                .filter(|p| p.path.file_stem().is_some_and(|s| s == slug))
                .cloned()
                .collect();
            print_problems(&own, true);
            eprintln!("error: book `{slug}` has errors; fix them first");
            return exit(EXIT_PROBLEMS);
        }
        let hint = did_you_mean(slug, entries.iter().map(|b| b.slug()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprintln!(
            "error: no book `{slug}` in {}{hint}",
            config.settings.paths.content.join("books").display()
        );
        return exit(EXIT_FATAL);
    };
    let book = match content.catalog.full(book) {
        Ok(book) => book,
        Err(e) => {
            eprintln!(
                "error: {}: cannot read its archive back: {e}",
                book.path().display()
            );
            return exit(EXIT_FATAL);
        }
    };
    let book = book.as_ref();
    let limit = limit.unwrap_or(config.settings.digest.answers);
    let ranking = answers::rank(book, &content.catalog.people, limit);
    match format {
        Format::Json => {
            let out = Output {
                book: &book.slug,
                title: &book.title,
                threads: book.thread_count(),
                answers: ranking
                    .answers
                    .iter()
                    .enumerate()
                    .map(|(i, a)| JsonAnswer {
                        rank: i + 1,
                        thread: a.thread,
                        score: a.score,
                        pinned: a.pinned,
                        asker: &a.question.name,
                        question: text::chat_to_plain(&a.question.text),
                        parts: a
                            .parts
                            .iter()
                            .map(|p| JsonPart {
                                author: &p.author,
                                text: text::chat_to_plain(&p.text),
                            })
                            .collect(),
                    })
                    .collect(),
                explain: explain.then(|| {
                    ranking
                        .threads
                        .iter()
                        .map(|(n, post, verdict)| JsonThread {
                            thread: *n,
                            asker: &post.name,
                            picked: ranking.answers.iter().any(|a| a.thread == *n),
                            verdict,
                        })
                        .collect()
                }),
            };
            match serde_json::to_string_pretty(&out) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit(EXIT_FATAL);
                }
            }
        }
        Format::Text => print!("{}", render_text(book, &ranking, explain)),
    }
    ExitCode::SUCCESS
}

fn one_line(s: &str, max: usize) -> String {
    let plain = text::chat_to_plain(s)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    text::truncate_words(&plain, max)
}

fn render_text(book: &crate::model::Book, ranking: &answers::Ranking, explain: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}): best {} of {} threads",
        book.title,
        book.slug,
        ranking.answers.len(),
        book.thread_count()
    );
    for (i, a) in ranking.answers.iter().enumerate() {
        let pin = if a.pinned { ", pinned" } else { "" };
        let _ = writeln!(
            out,
            "\n{}. thread {} (score {:.2}{pin})\n   Q {}: {}",
            i + 1,
            a.thread,
            a.score,
            a.question.name,
            one_line(&a.question.text, 200)
        );
        for p in &a.parts {
            let _ = writeln!(out, "   A {}: {}", p.author, one_line(&p.text, 300));
        }
    }
    if explain {
        let _ = writeln!(
            out,
            "\nEvery thread (score = substance of the best author answer + question + co-authors):"
        );
        for (n, post, verdict) in &ranking.threads {
            let picked = if ranking.answers.iter().any(|a| a.thread == *n) {
                "*"
            } else {
                " "
            };
            let q = one_line(&post.text, 70);
            match verdict {
                Verdict::Announcement => {
                    let _ = writeln!(out, " {picked}#{n:<3} announcement by {}: {q}", post.name);
                }
                Verdict::AnswerTo { thread } => {
                    let _ = writeln!(
                        out,
                        " {picked}#{n:<3} answer by {} to thread {thread}: {q}",
                        post.name
                    );
                }
                Verdict::NoAuthorAnswer => {
                    let _ = writeln!(out, " {picked}#{n:<3} no author answer: {}: {q}", post.name);
                }
                Verdict::Scored {
                    score,
                    question_words,
                    parts,
                } => {
                    let hidden = if book.hide.contains(n) {
                        " (hidden)"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        out,
                        " {picked}#{n:<3} {score:>5.2}{hidden}  {}: {q}  [question words {question_words}]",
                        post.name
                    );
                    for p in parts {
                        let s = &p.signals;
                        let mut flags = vec![format!("words {}", s.words)];
                        if s.links > 0 {
                            flags.push(format!("links {}", s.links));
                        }
                        for (on, name) in [
                            (s.placeholder, "placeholder"),
                            (s.filler, "filler"),
                            (s.meta, "meta"),
                            (s.pointer, "pointer"),
                            (s.reaction, "reaction"),
                            (s.thanked, "thanked"),
                        ] {
                            if on {
                                flags.push(name.to_string());
                            }
                        }
                        let _ = writeln!(
                            out,
                            "          {:>5.2}  {} [{}]",
                            p.score,
                            p.author,
                            flags.join(", ")
                        );
                    }
                }
            }
        }
        let _ = writeln!(out, "\n* picked.\n");
        out.push_str(&weights_table());
    }
    out
}

/// The weights as a reader needs them: what each one multiplies or adds.
/// Destructured so a new weight cannot be left out of the table.
fn weights_table() -> String {
    use std::fmt::Write;
    let answers::Weights {
        words,
        question_words,
        links,
        placeholder,
        filler,
        meta,
        pointer,
        reaction,
        thanked,
        co_author,
    } = answers::WEIGHTS;
    let mut out = String::from("Weights (WEIGHTS in src/answers.rs):\n");
    let mut rows = |heading: &str, rows: &[(&str, f64, &str)]| {
        let _ = writeln!(out, "  {heading}");
        for (name, weight, meaning) in rows {
            let line = format!("    {name:<15}{weight:>6.2}  {meaning}");
            let _ = writeln!(out, "{}", line.trim_end());
        }
    };
    rows(
        "answer = words × ln(1 + words of substance) + the weight of each signal it has",
        &[
            ("words", words, ""),
            ("links", links, "has links and is not a pointer"),
            (
                "placeholder",
                placeholder,
                "promises an answer instead of giving one",
            ),
            ("filler", filler, "greets, thanks or agrees and little else"),
            (
                "meta",
                meta,
                "talks about the channel, giveaways or the event",
            ),
            (
                "pointer",
                pointer,
                "sends the reader elsewhere with few words of its own",
            ),
            (
                "reaction",
                reaction,
                "a one-word reaction, a joke or an emote",
            ),
            (
                "thanked",
                thanked,
                "the asker thanked the author afterwards",
            ),
        ],
    );
    rows(
        "thread = best answer + question_words × ln(1 + words of the question) + co_author for each co-author who also answered",
        &[
            ("question_words", question_words, ""),
            ("co_author", co_author, ""),
        ],
    );
    out
}
