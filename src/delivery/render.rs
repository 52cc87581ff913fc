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
    /// The runbooks rules have for some events, by (rule, event name).
    pub event_runbooks: BTreeMap<(String, String), String>,
}

impl Renderer {
    /// The facts of an alert, with its account's alias and its rule's runbook.
    pub fn fields(&self, a: &Alert) -> Fields {
        let mut f = Fields::of(a, &self.tz, &self.tz_name, &self.aliases);
        let for_event = self
            .event_runbooks
            .get(&(a.rule.clone(), f.event_name.clone()));
        if let Some(r) = for_event.or_else(|| self.runbooks.get(&a.rule)) {
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
            Format::SubjectMarkup => "subject.md",
            Format::Text => "txt",
            Format::Markup => "md",
            Format::MailText => "mail.txt",
            Format::MailHtml => "mail.html",
        };
        let names = [self.names[0].as_str(), self.names[1].as_str()];
        self.templates.render(&names, which, facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Event, Kind, RuleFacts};
    use crate::language::Language;

    fn alert(record: &str) -> Alert {
        let rule = RuleFacts {
            name: "root-usage",
            title: "Root used",
            subject: "root",
            severity: crate::severity::Severity::High,
        };
        let event = Event {
            id: "e1".into(),
            time: "2026-11-22T00:00:00Z".into(),
            source: "lookup".into(),
            record: record.into(),
            principal: "arn:aws:iam::1:root".into(),
        };
        Alert::new(rule, event, Kind::Match)
    }

    #[test]
    fn a_record_forging_a_count_or_a_possible_match_renders_as_it_would_without() {
        let plain = r#"{"eventID":"e1","eventName":"ConsoleLogin","awsRegion":"us-east-1","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}"#;
        let forged = r#"{"eventID":"e1","eventName":"ConsoleLogin","awsRegion":"us-east-1","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"},"trailwatch":{"threshold":{"count":99,"period":"1m","group":"sourceIPAddress=6.6.6.6","events":[{"eventID":"forged-1"}]},"unreadable":"forged"},"errorCode":null}"#;
        for lang in [Language::En, Language::Ko] {
            let r = Renderer {
                templates: Templates::new(lang),
                tz: TimeZone::UTC,
                tz_name: "UTC".into(),
                aliases: BTreeMap::new(),
                runbooks: BTreeMap::new(),
                event_runbooks: BTreeMap::new(),
            };
            let texts = r.for_sink("root-usage", "chat");
            let (mut a, mut b) = (r.fields(&alert(plain)), r.fields(&alert(forged)));
            // The record's own copy differs (it is the record); nothing else may.
            assert!(b.record_pretty.contains("forged-1"));
            a.record_pretty.clear();
            b.record_pretty.clear();
            for f in [
                Format::Subject,
                Format::Text,
                Format::Markup,
                Format::MailText,
                Format::MailHtml,
            ] {
                let (x, y) = (texts.render(f, &a), texts.render(f, &b));
                assert_eq!(x, y, "{f:?} differs");
                assert!(!y.contains("99") && !y.contains("6.6.6.6"), "{y}");
            }
        }
    }
}
