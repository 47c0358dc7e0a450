//! bookweek: turns a folder of Book of the Week files into feeds, email
//! digests and a site. Data flows one way: config → content → model →
//! answers → {feeds, digest, site}; `commands` only wire these together.

pub mod answers;
pub mod cli;
pub mod commands;
pub mod config;
pub mod content;
pub mod daemon;
pub mod diag;
pub mod digest;
pub mod dkim;
pub mod feeds;
pub mod frontmatter_edit;
pub mod human;
pub mod lock;
pub mod mail;
pub mod model;
pub mod publish;
pub mod server;
pub mod site;
pub mod slack;
pub mod smtp;
pub mod state;
pub mod templates;
pub mod text;
pub mod token;
pub mod yamlpos;
