//! The report as an email: the status page's facts as the HTML part, a few lines of text as
//! the plain part, sent through an `email` sink's transport like any message (its templates
//! are not used: the report is its own message).

use crate::alert::fields::Fields;
use crate::severity::Severity;
use crate::sink::{Format, Message, Render};

use super::facts::Facts;

/// The report's texts, in each form a mail takes.
pub(crate) struct ReportMail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

impl ReportMail {
    /// The mail of `facts`, rendered as `report --format html` writes it.
    pub(crate) fn of(facts: &Facts, html: String) -> ReportMail {
        let blind = match facts.blind {
            0 => String::new(),
            n => format!(", {n} streams need a look"),
        };
        let subject = format!(
            "trailwatch report since {}: {} alerts{blind}",
            facts.since, facts.week_total
        );
        let mut text = format!("{subject}\n\n");
        for (status, n) in &facts.statuses {
            text.push_str(&format!("{n} {status}\n"));
        }
        text.push_str("\nthe rules that raised the most:\n");
        for (rule, n) in &facts.rules {
            text.push_str(&format!("  {rule}: {n}\n"));
        }
        text.push_str("\nThe HTML part of this mail has the whole report.\n");
        ReportMail {
            subject,
            html,
            text,
        }
    }

    /// The message a sink sends (no record, no thread).
    pub(crate) fn message<'a>(&'a self, facts: &'a Fields) -> Message<'a> {
        let mut m = Message::new(facts, Severity::Info, self);
        m.id = format!("report.{}", jiff::Timestamp::now().as_second());
        m
    }
}

impl Render for ReportMail {
    fn render(&self, format: Format, _: &Fields) -> String {
        match format {
            Format::Subject | Format::SubjectMarkup => self.subject.clone(),
            Format::MailHtml => self.html.clone(),
            Format::Text | Format::Markup | Format::MailText => self.text.clone(),
        }
    }
}
