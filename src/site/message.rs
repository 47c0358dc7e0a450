//! The pages `bookweek run` answers requests with (subscribed, confirm,
//! unsubscribe, not found, …), from `page/message.html.j2`: a heading,
//! paragraphs, and maybe a button that posts back to the page's own URL or
//! the subscribe form. They have no canonical URL: they are answers, not
//! pages of the site.

use minijinja::context;
use serde::Serialize;

use super::view::{PageMeta, site_view};
use crate::config::Config;
use crate::templates::{RenderError, Templates};

/// What a message page says. Every field is always given to the template
/// (templates are strict about undefined values).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Message {
    pub heading: String,
    pub paragraphs: Vec<String>,
    /// The words of a button posting back to the same URL.
    pub button: Option<String>,
    /// Whether the subscribe form follows.
    pub subscribe_form: bool,
    /// Why the address in the form was refused, and the address typed.
    pub error: String,
    pub email: String,
}

impl Message {
    pub fn new(heading: impl Into<String>) -> Self {
        Self {
            heading: heading.into(),
            ..Self::default()
        }
    }

    pub fn paragraph(mut self, p: impl Into<String>) -> Self {
        self.paragraphs.push(p.into());
        self
    }

    pub fn button(mut self, words: impl Into<String>) -> Self {
        self.button = Some(words.into());
        self
    }

    pub fn with_form(mut self) -> Self {
        self.subscribe_form = true;
        self
    }
}

pub fn render(config: &Config, templates: &Templates, m: &Message) -> Result<String, RenderError> {
    let page = PageMeta {
        title: m.heading.clone(),
        description: None,
        url: None,
        image: None,
        kind: "website",
    };
    templates.render(
        "page/message.html.j2",
        context! {
            site => site_view(config),
            page => page,
            heading => &m.heading,
            paragraphs => &m.paragraphs,
            button => &m.button,
            subscribe_form => m.subscribe_form,
            error => &m.error,
            email => &m.email,
        },
    )
}
