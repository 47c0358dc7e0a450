//! Integration tests: run the real `bookweek` binary on real files and read
//! its output with independent parsers (feed-rs, jing).

mod answers;
mod archive;
mod build;
mod check;
mod cli;
mod concurrency;
mod config;
mod daemon;
mod digest;
mod dkim;
mod fuzz;
mod hostile;
mod lastgood;
mod once;
mod operator;
mod pipelined;
mod preview;
mod readers;
mod security;
mod server;
mod site;
mod snapshots;
mod subscribers;
mod support;
mod validate;
mod watcher;
