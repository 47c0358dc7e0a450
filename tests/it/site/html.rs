//! Reading published HTML with an independent parser (html5ever, the
//! HTML5 parsing algorithm browsers use, through markup5ever_rcdom): its
//! parse errors, the links and anchors of a page, and whatever in it could
//! run; and a link checker that resolves every link against the output
//! folder and the daemon's routes, offline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use html5ever::driver::ParseOpts;
use html5ever::tendril::TendrilSink;
use html5ever::tokenizer::TokenizerOpts;
use html5ever::tree_builder::TreeBuilderOpts;
use markup5ever_rcdom::{Handle, NodeData, RcDom};
use url::Url;

/// An element as parsed: its name, attributes and where it sits.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// The names of the elements it is inside, outermost first.
    pub ancestors: Vec<String>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed document (or fragment).
pub struct Doc {
    /// html5ever's parse errors, with their exact messages.
    pub errors: Vec<String>,
    pub elements: Vec<Element>,
    /// All text, as the reader sees it.
    pub text: String,
    /// The first DOCTYPE's name, if any.
    pub doctype: Option<String>,
}

impl Doc {
    pub fn ids(&self) -> BTreeSet<String> {
        self.elements
            .iter()
            .filter_map(|e| e.attr("id"))
            .map(str::to_string)
            .collect()
    }

    pub fn all(&self, name: &str) -> Vec<&Element> {
        self.elements.iter().filter(|e| e.name == name).collect()
    }

    /// Every link to follow: `href` of `a` and `link`, `src` of `img`,
    /// `action` of `form`, `content` of `og:url`/`og:image`.
    pub fn links(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.elements {
            let attr = match e.name.as_str() {
                "a" | "link" => "href",
                "img" => "src",
                "form" => "action",
                "meta" if matches!(e.attr("property"), Some("og:url" | "og:image")) => "content",
                _ => continue,
            };
            if let Some(v) = e.attr(attr) {
                out.push(v.to_string());
            }
        }
        out
    }
}

fn opts() -> ParseOpts {
    ParseOpts {
        tokenizer: TokenizerOpts {
            exact_errors: true,
            ..Default::default()
        },
        tree_builder: TreeBuilderOpts {
            exact_errors: true,
            ..Default::default()
        },
    }
}

/// Parses a whole document.
pub fn parse(html: &str) -> Doc {
    let dom = html5ever::parse_document(RcDom::default(), opts())
        .from_utf8()
        .one(html.as_bytes());
    read(dom)
}

/// Parses a fragment (a feed item's content) as the body of a page.
pub fn parse_fragment(html: &str) -> Doc {
    parse(&format!(
        "<!doctype html><html lang=en><title>x</title><body>{html}</body></html>"
    ))
}

fn read(dom: RcDom) -> Doc {
    let mut doc = Doc {
        errors: dom.errors.borrow().iter().map(|e| e.to_string()).collect(),
        elements: Vec::new(),
        text: String::new(),
        doctype: None,
    };
    walk(&dom.document, &mut Vec::new(), &mut doc);
    doc
}

fn walk(node: &Handle, ancestors: &mut Vec<String>, doc: &mut Doc) {
    match &node.data {
        NodeData::Element { name, attrs, .. } => {
            let el = Element {
                name: name.local.to_string(),
                attrs: attrs
                    .borrow()
                    .iter()
                    .map(|a| (a.name.local.to_string(), a.value.to_string()))
                    .collect(),
                ancestors: ancestors.clone(),
            };
            ancestors.push(el.name.clone());
            doc.elements.push(el);
            for c in node.children.borrow().iter() {
                walk(c, ancestors, doc);
            }
            ancestors.pop();
            return;
        }
        NodeData::Text { contents } => doc.text.push_str(&contents.borrow()),
        NodeData::Doctype { name, .. } if doc.doctype.is_none() => {
            doc.doctype = Some(name.to_string());
        }
        _ => {}
    }
    for c in node.children.borrow().iter() {
        walk(c, ancestors, doc);
    }
}

/// What in a parsed page could run or act: script-capable elements,
/// event handler attributes, script or data URLs, styles that load
/// anything, forms that post anywhere but the subscribe route (or back to
/// the page itself), and style elements outside the head.
pub fn executable(doc: &Doc, subscribe_action: &str) -> Vec<String> {
    const ELEMENTS: &[&str] = &[
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
        "base", "input", "textarea", "select", "details", "template", "video", "audio",
    ];
    const URL_ATTRS: &[&str] = &[
        "href",
        "src",
        "action",
        "formaction",
        "data",
        "poster",
        "background",
        "srcset",
        "xlink:href",
        "cite",
        "longdesc",
        "ping",
    ];
    let mut found = Vec::new();
    for e in &doc.elements {
        // The subscribe form's own email input is ours.
        let ours = e.name == "input"
            && e.attr("name") == Some("email")
            && e.ancestors.iter().any(|a| a == "form");
        if ELEMENTS.contains(&e.name.as_str()) && !ours {
            found.push(format!("<{}>", e.name));
        }
        if e.name == "style" && !e.ancestors.iter().any(|a| a == "head") {
            found.push("<style> outside the head".into());
        }
        if e.name == "meta"
            && e.attr("http-equiv")
                .is_some_and(|v| v.eq_ignore_ascii_case("refresh"))
        {
            found.push("<meta http-equiv=refresh>".into());
        }
        if e.name == "form" {
            match e.attr("action") {
                Some(a) if a == subscribe_action => {}
                other => found.push(format!("<form action={other:?}>")),
            }
        }
        for (name, value) in &e.attrs {
            let v = value.trim().to_ascii_lowercase();
            if name.starts_with("on") {
                found.push(format!("<{} {name}=…>", e.name));
            }
            if URL_ATTRS.contains(&name.as_str())
                && ["javascript:", "vbscript:", "data:"]
                    .iter()
                    .any(|s| v.replace(['\t', '\n', '\r', ' '], "").starts_with(s))
            {
                found.push(format!("<{} {name}={value}>", e.name));
            }
            if name == "style"
                && (v.contains("url(") || v.contains("expression") || v.contains("@import"))
            {
                found.push(format!("<{} style={value}>", e.name));
            }
        }
    }
    found
}

/// Resolves links against a published site: a URL under `base` must be a
/// file in `out` (a folder URL its `index.html`) or one of the daemon's
/// routes, and its `#fragment` an `id` in that page. Links elsewhere are
/// not followed (offline).
pub struct Checker {
    pub base: Url,
    pub out: PathBuf,
    ids: BTreeMap<PathBuf, BTreeSet<String>>,
    pub checked: usize,
    pub broken: Vec<String>,
}

/// What the daemon answers besides the files: forms and links in mail.
const ROUTES: &[&str] = &["subscribe", "confirm/", "unsubscribe/", "healthz"];

impl Checker {
    pub fn new(base: &str, out: &Path) -> Self {
        Self {
            base: Url::parse(base).unwrap(),
            out: out.to_path_buf(),
            ids: BTreeMap::new(),
            checked: 0,
            broken: Vec::new(),
        }
    }

    /// The URL a file of the output folder is published at.
    pub fn url_of(&self, file: &Path) -> Url {
        let rel = file.strip_prefix(&self.out).unwrap().to_string_lossy();
        let rel = rel.strip_suffix("index.html").unwrap_or(&rel);
        self.base.join(rel).unwrap()
    }

    /// Checks `link` found in `source` (whose own address is `at`).
    pub fn check(&mut self, source: &str, at: &Url, link: &str) {
        let Ok(url) = at.join(link.trim()) else {
            self.broken
                .push(format!("{source}: unparsable link {link:?}"));
            return;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return;
        }
        let Some(rest) = url
            .as_str()
            .split('#')
            .next()
            .and_then(|u| u.split('?').next())
            .and_then(|u| u.strip_prefix(self.base.as_str()))
        else {
            if url.host_str() == self.base.host_str() {
                self.broken
                    .push(format!("{source}: {link} is outside the site's base URL"));
            }
            return;
        };
        self.checked += 1;
        if ROUTES
            .iter()
            .any(|r| rest == *r || (r.ends_with('/') && rest.starts_with(r)))
        {
            if url.fragment().is_some() {
                self.broken
                    .push(format!("{source}: a fragment on a route: {link}"));
            }
            return;
        }
        let rest = percent_decode(rest);
        let file = if rest.is_empty() || rest.ends_with('/') {
            self.out.join(format!("{rest}index.html"))
        } else {
            self.out.join(&rest)
        };
        if !file.is_file() {
            self.broken
                .push(format!("{source}: {link} → no file {}", file.display()));
            return;
        }
        if let Some(fragment) = url.fragment() {
            let ids = self.ids.entry(file.clone()).or_insert_with(|| {
                parse(&std::fs::read_to_string(&file).unwrap_or_default()).ids()
            });
            if !ids.contains(&percent_decode(fragment)) {
                self.broken.push(format!(
                    "{source}: {link} → no #{fragment} in {}",
                    file.display()
                ));
            }
        }
    }

    /// Checks every link of an HTML document found at `at`.
    pub fn check_html(&mut self, source: &str, at: &Url, doc: &Doc) {
        for link in doc.links() {
            self.check(source, at, &link);
        }
    }

    /// Checks every `http(s)://` URL written in plain text (a mail's text part).
    pub fn check_text(&mut self, source: &str, text: &str) {
        for word in text.split_whitespace() {
            let word = word
                .trim_end_matches(['.', ',', ')', ';', '>'])
                .trim_start_matches(['(', '<']);
            if word.starts_with("http://") || word.starts_with("https://") {
                let at = self.base.clone();
                self.check(source, &at, word);
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every file under `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The contrast ratio of two `#rrggbb` colours (WCAG 2).
pub fn contrast(a: &str, b: &str) -> f64 {
    fn luminance(hex: &str) -> f64 {
        let hex = hex.trim_start_matches('#');
        let c = |i: usize| {
            let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(0) + 0.7152 * c(2) + 0.0722 * c(4)
    }
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}
