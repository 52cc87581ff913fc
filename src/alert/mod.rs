//! The alert: what a rule match becomes, as it waits in the outbox and as sinks render it.
//! An alert carries the whole record, so that messages can show any field and nothing depends
//! on the source it came from.

pub mod fields;

use serde::{Deserialize, Serialize};

use crate::config::Language;
use crate::rules::Rule;
use crate::severity::Severity;

/// One rule matching one CloudTrail record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub rule: String,
    pub title: String,
    pub subject: String,
    pub severity: Severity,
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// The record's `eventTime` (RFC 3339), as written.
    pub event_time: String,
    /// The source that read it (`lookup`, `trail-logs`, `backfill`…).
    pub source: String,
    /// The record's JSON text.
    pub record: String,
}

impl Alert {
    /// An alert of `rule`, its title and subject in `lang`.
    pub fn new(
        rule: &Rule,
        lang: Language,
        event_id: &str,
        event_time: &str,
        source: &str,
        record: &str,
    ) -> Self {
        Alert {
            rule: rule.name.clone(),
            title: rule.title_in(lang).to_string(),
            subject: rule.subject_in(lang).to_string(),
            severity: rule.severity,
            event_id: event_id.to_string(),
            event_time: event_time.to_string(),
            source: source.to_string(),
            record: record.to_string(),
        }
    }

    /// The key that makes an alert unique: one per event and rule, whichever source read it.
    pub fn dedupe_key(&self) -> Vec<u8> {
        let mut k = self.event_id.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(self.rule.as_bytes());
        k
    }
}
