//! The rendered message: an alert's facts (`alert::fields`) put through the templates of its
//! rule and sink, in every form a sink may send.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use super::template::Templates;
use crate::alert::fields::Fields;
use crate::alert::Alert;
use crate::config::Settings;
use crate::severity::Severity;

/// A rendered message, in every form a sink may use.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: String,
    /// The chat form (markup escaped).
    pub markup: String,
    /// The plain-text forms: short (console) and with the record (email).
    pub text: String,
    pub mail_text: String,
    pub mail_html: String,
    pub title: String,
    pub link: String,
    pub severity: Severity,
}

/// Turns alerts into messages: the templates, the time zone and the account aliases.
pub struct Renderer {
    templates: Templates,
    tz: TimeZone,
    tz_name: String,
    aliases: BTreeMap<String, String>,
    /// Each rule's runbook, in the configured language.
    runbooks: BTreeMap<String, String>,
}

impl Renderer {
    pub fn new(s: &Settings) -> Renderer {
        Renderer {
            templates: s.templates.clone(),
            tz: s.timezone.clone(),
            tz_name: s.timezone_name.clone(),
            aliases: s.account_aliases.clone(),
            runbooks: s
                .rules
                .all()
                .iter()
                .filter_map(|r| Some((r.name.clone(), r.runbook_in(s.language)?.to_string())))
                .collect(),
        }
    }

    /// The facts of an alert, with its account's alias.
    pub fn fields(&self, a: &Alert) -> Fields {
        let account = crate::record::parse_value(&a.record).ok().and_then(|v| {
            v.get("recipientAccountId")
                .and_then(|x| x.as_str())
                .map(str::to_string)
        });
        let alias = account.and_then(|id| self.aliases.get(&id).cloned());
        let mut f = Fields::of(a, &self.tz, &self.tz_name, alias.as_deref());
        if let Some(r) = self.runbooks.get(&a.rule) {
            f.runbook = r.trim().to_string();
        }
        f
    }

    /// Renders a message for one sink: the rule's templates, else the sink's, else the defaults.
    pub fn message(&self, sink: &str, rule: &str, f: &Fields, sev: Severity) -> Message {
        let rule_t = format!("rule:{rule}");
        let sink_t = format!("sink:{sink}");
        let names = [rule_t.as_str(), sink_t.as_str()];
        let r = |which| self.templates.render(&names, which, f);
        Message {
            subject: r("subject").trim().to_string(),
            markup: r("md"),
            text: r("txt"),
            mail_text: r("mail.txt"),
            mail_html: r("mail.html"),
            title: f.title.clone(),
            link: f.console_link.clone(),
            severity: sev,
        }
    }
}
