//! Rendering: an alert's facts (`alert::fields`, computed once per alert and pass, and only
//! when a sink sends it) put through the templates of its rule and sink, in the form the sink
//! asks for.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use super::template::Templates;
use crate::alert::fields::Fields;
use crate::alert::Alert;
use crate::sink::{Format, Render};

/// Turns alerts into facts and texts: the templates, the time zone, the account aliases and
/// each rule's runbook.
pub struct Renderer {
    pub templates: Templates,
    pub tz: TimeZone,
    pub tz_name: String,
    pub aliases: BTreeMap<String, String>,
    /// Each rule's runbook, in the configured language.
    pub runbooks: BTreeMap<String, String>,
}

impl Renderer {
    /// The facts of an alert, with its account's alias and its rule's runbook.
    pub fn fields(&self, a: &Alert) -> Fields {
        let mut f = Fields::of(a, &self.tz, &self.tz_name, &self.aliases);
        if let Some(r) = self.runbooks.get(&a.rule) {
            f.runbook = r.trim().to_string();
        }
        f
    }

    /// The texts of one rule's alerts for one sink: the rule's templates, else the sink's,
    /// else the defaults.
    pub fn for_sink<'a>(&'a self, rule: &str, sink: &str) -> SinkTexts<'a> {
        SinkTexts {
            templates: &self.templates,
            names: [format!("rule:{rule}"), format!("sink:{sink}")],
        }
    }
}

/// The templates that render one rule's alerts for one sink.
pub struct SinkTexts<'a> {
    templates: &'a Templates,
    names: [String; 2],
}

impl Render for SinkTexts<'_> {
    fn render(&self, format: Format, facts: &Fields) -> String {
        let which = match format {
            Format::Subject => "subject",
            Format::Text => "txt",
            Format::Markup => "md",
            Format::MailText => "mail.txt",
            Format::MailHtml => "mail.html",
        };
        let names = [self.names[0].as_str(), self.names[1].as_str()];
        self.templates.render(&names, which, facts)
    }
}
