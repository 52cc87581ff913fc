//! The alert: what a rule match becomes, as it waits in the outbox and as sinks render it.
//! It carries the record's text exactly as it was read — never rewritten — beside what the
//! match is (`Kind`): a plain match, a threshold reached (the count and its events), a
//! possible match of a record that could not be read whole (why), or an alert of trailwatch
//! itself. What an alert says about itself is never read back out of the record, so a record
//! cannot forge it. `fields` turns an alert into the facts its messages show.

pub(crate) mod fields;
pub mod headline;

use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// One rule matching one CloudTrail record (or one count of them).
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
    /// The record's JSON text as it was read (for a possible match, as much of its text as is
    /// kept; empty for an alert of trailwatch itself).
    pub record: String,
    /// What the match is.
    #[serde(default)]
    pub kind: Kind,
    /// Who acted (`userIdentity.arn`, else its `principalId`), taken when the record matched:
    /// repeats of a rule by one principal are summed up.
    #[serde(default)]
    pub principal: String,
    /// A threshold rule's key for this record (the values at its `group_by`), taken when the
    /// record matched; not kept.
    #[serde(skip)]
    pub tally_key: Option<String>,
    /// A first-seen rule's combination for this record, taken when the record matched (the
    /// record is not parsed again to judge it); not kept: a standby's alert is read again.
    #[serde(skip)]
    pub seen_key: Option<SeenKey>,
    /// The other rules the same event matched (one event, one message): the alert stands for
    /// them too, at the highest severity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Also>,
    /// The network of the record's source address in words (`AS64500 Example VPS, NL`), from
    /// the databases when it was raised; never read from the record.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network: String,
    /// Why a first-seen rule's alert is new ("first time in 30 days: … on AS64500").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub novelty: String,
}

/// What a first-seen rule judges of one record: its account, the values of its fields, and its
/// source's network in words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SeenKey {
    pub account: String,
    pub combo: Vec<String>,
    pub said: String,
}

/// Another rule that matched the same event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Also {
    pub rule: String,
    pub title: String,
    pub severity: Severity,
}

/// What an alert stands for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum Kind {
    /// The record matched the rule.
    #[default]
    Match,
    /// The rule's threshold was reached: the record is the last match's.
    Threshold(Count),
    /// The record could not be read whole, but its text holds what the rule looks for.
    Possible {
        /// Why it could not be judged, and where it was read.
        why: String,
    },
    /// An alert of trailwatch itself (a failing source, a late event…); no record.
    Own { detail: String },
}

/// A threshold reached: how many matches, in what period, for which key, and which events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Count {
    pub count: usize,
    /// As written (`10m`).
    pub period: String,
    /// `path=value` for each `group_by` path.
    pub group: String,
    /// The events counted: (eventID, eventTime), oldest first.
    pub events: Vec<(String, String)>,
}

/// The event an alert is about, as read.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub id: String,
    pub time: String,
    pub source: String,
    pub record: String,
    pub principal: String,
}

/// What an alert takes from its rule.
pub struct RuleFacts<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub subject: &'a str,
    pub severity: Severity,
}

impl Alert {
    /// The alert of `rule` about `event`.
    pub fn new(rule: RuleFacts<'_>, event: Event, kind: Kind) -> Alert {
        Alert {
            rule: rule.name.to_string(),
            title: rule.title.to_string(),
            subject: rule.subject.to_string(),
            severity: rule.severity,
            event_id: event.id,
            event_time: event.time,
            source: event.source,
            record: event.record,
            kind,
            principal: event.principal,
            tally_key: None,
            seen_key: None,
            also: Vec::new(),
            network: String::new(),
            novelty: String::new(),
        }
    }

    /// One alert for every rule that matched one event: the most severe rule's (the first of
    /// them on a tie), naming the others.
    pub fn merge(parts: &[&Alert]) -> Alert {
        let Some((first, _)) = parts
            .iter()
            .enumerate()
            .max_by_key(|(i, a)| (a.severity, std::cmp::Reverse(*i)))
        else {
            panic!("an event's alert merges at least one match");
        };
        let mut a = parts[first].clone();
        a.also = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != first)
            .flat_map(|(_, p)| {
                std::iter::once(Also {
                    rule: p.rule.clone(),
                    title: p.title.clone(),
                    severity: p.severity,
                })
                .chain(p.also.iter().cloned())
            })
            .collect();
        a
    }

    /// The rules the alert stands for: its own and the others its event matched.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.rule.as_str()).chain(self.also.iter().map(|a| a.rule.as_str()))
    }

    /// The key that makes an alert unique: one per event and rule, whichever source read it.
    pub fn dedupe_key(&self) -> Vec<u8> {
        dedupe_key(&self.event_id, &self.rule)
    }
}

/// The key of one rule's match of one event.
pub fn dedupe_key(event_id: &str, rule: &str) -> Vec<u8> {
    let mut k = event_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(rule.as_bytes());
    k
}

impl Alert {
    /// The key of every rule the alert stands for.
    pub fn dedupe_keys(&self) -> Vec<Vec<u8>> {
        self.rules()
            .map(|r| dedupe_key(&self.event_id, r))
            .collect()
    }
}

/// Who acted in a record: `userIdentity.arn`, else its `principalId`.
pub fn principal_of(record: &serde_json::Value) -> String {
    let who = &record["userIdentity"];
    who["arn"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or_else(|| who["principalId"].as_str())
        .unwrap_or_default()
        .to_string()
}
