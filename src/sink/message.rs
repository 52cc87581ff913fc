//! What a sink is given to send: the alert's facts (each already safe to show as text) and its
//! texts, rendered on demand through the templates in the form the sink asks for, so that a
//! sink renders only what it sends.

use crate::alert::fields::Fields;
use crate::severity::Severity;

/// The forms a message's texts come in; each has its own escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line: email subjects.
    Subject,
    /// One line in chat markup, values in inline code: chat previews.
    SubjectMarkup,
    /// Plain text (console).
    Text,
    /// Chat markup (Dooray): every record value in inline code, so it shows as written.
    Markup,
    /// Plain text with the record (email).
    MailText,
    /// HTML (email).
    MailHtml,
}

/// Renders a message's texts (the delivery worker's templates for one rule and one sink).
pub trait Render: Sync {
    fn render(&self, format: Format, facts: &Fields) -> String;
}

/// One alert as one sink sends it.
pub struct Message<'a> {
    pub facts: &'a Fields,
    pub severity: Severity,
    /// The record's JSON text as it was read (empty for an alert of trailwatch itself).
    pub record: &'a str,
    /// What identifies this message, the same at every attempt (an email's Message-ID, a
    /// PagerDuty dedup key), and the first message of its thread (the first alert of its rule
    /// by its principal), when this one follows it.
    pub id: String,
    pub thread: Option<String>,
    /// The rules the alert stands for.
    pub rules: Vec<String>,
    render: &'a dyn Render,
}

impl<'a> Message<'a> {
    pub fn new(facts: &'a Fields, severity: Severity, render: &'a dyn Render) -> Message<'a> {
        Message {
            facts,
            severity,
            record: "",
            id: String::new(),
            thread: None,
            rules: Vec::new(),
            render,
        }
    }

    /// A text of the message, in `format`.
    pub fn text(&self, format: Format) -> String {
        self.render.render(format, self.facts)
    }

    /// The subject, on one line.
    pub fn subject(&self) -> String {
        self.text(Format::Subject).trim().to_string()
    }
}
