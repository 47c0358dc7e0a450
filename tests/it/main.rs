//! Integration tests: run the real `bookweek` binary on real files and read
//! its output with independent parsers (feed-rs, jing).

mod answers;
mod build;
mod check;
mod daemon;
mod digest;
mod fuzz;
mod hostile;
mod lastgood;
mod once;
mod security;
mod snapshots;
mod subscribers;
mod support;
mod validate;
