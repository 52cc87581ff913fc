//! Storms: when one sink has more alerts to send in one pass than `storm_after`, the first
//! `storm_after` go one by one and the rest become one message that counts them by rule and
//! principal and names the first events — not hundreds of posts to a person's phone. Every
//! alert stays in the state: nothing is lost, only not sent one by one.

use std::collections::{BTreeMap, HashMap};

use crate::alert::{Alert, Event, Kind, RuleFacts};
use crate::language::Language;
use crate::names::OwnAlert;
use crate::severity::Severity;
use crate::state::{EntryId, OutboxEntry};

/// How many events a storm message names.
const NAMED: usize = 20;

/// One pass's count of messages per sink, and the alerts held back for a storm message.
#[derive(Default)]
pub(crate) struct Storm {
    sent: HashMap<String, usize>,
    pub(crate) held: BTreeMap<String, Vec<EntryId>>,
}

impl Storm {
    /// True when `sink` already sent `limit` messages in this pass (0: no limit).
    pub(crate) fn full(&self, sink: &str, limit: usize) -> bool {
        limit > 0 && self.sent.get(sink).copied().unwrap_or(0) >= limit
    }

    /// A message went to `sink`.
    pub(crate) fn sent(&mut self, sink: &str) {
        *self.sent.entry(sink.to_string()).or_default() += 1;
    }

    /// Entry `id` waits for `sink`'s storm message.
    pub(crate) fn hold(&mut self, sink: &str, id: EntryId) {
        self.held.entry(sink.to_string()).or_default().push(id);
    }
}

/// The storm message for `entries` (the alerts held back for one sink): counts by rule and by
/// principal, the first events, at the highest severity among them.
pub(crate) fn storm_alert(entries: &[&OutboxEntry], sent: usize, lang: Language) -> Alert {
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    let mut principals: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        *rules.entry(&e.alert.title).or_default() += 1;
        *principals.entry(&e.alert.principal).or_default() += 1;
    }
    let top = |m: BTreeMap<&str, usize>| {
        let mut v: Vec<(&str, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.iter()
            .take(10)
            .map(|(k, n)| format!("{n} × {}", if k.is_empty() { "-" } else { k }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let events: Vec<String> = entries
        .iter()
        .take(NAMED)
        .map(|e| {
            format!(
                "{} {} ({})",
                e.alert.event_time, e.alert.rule, e.alert.event_id
            )
        })
        .collect();
    let n = entries.len();
    let (title, detail) = match lang {
        Language::En => (
            format!("trailwatch: alert storm, {n} more alerts not sent one by one"),
            format!("{sent} alerts were sent one by one in this pass; these {n} more are summed up here. By rule: {}. By principal: {}. First events: {}. Every alert is kept by trailwatch (`trailwatch state show`).", top(rules), top(principals), events.join("; ")),
        ),
        Language::Ko => (
            format!("trailwatch: 경보 폭주, {n}건을 하나로 묶음"),
            format!("이번에 {sent}건을 하나씩 보냈고, 나머지 {n}건을 여기에 묶었습니다. 규칙별: {}. 주체별: {}. 처음 이벤트: {}. 모든 경보는 trailwatch 가 보관합니다 (`trailwatch state show`).", top(rules), top(principals), events.join("; ")),
        ),
    };
    let severity = entries
        .iter()
        .map(|e| e.alert.severity)
        .max()
        .unwrap_or(Severity::Medium);
    let now = jiff::Timestamp::now();
    let facts = RuleFacts {
        name: OwnAlert::Storm.name(),
        title: &title,
        subject: &title,
        severity,
    };
    let event = Event {
        id: OwnAlert::Storm.id(&now.as_millisecond().to_string()),
        time: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        source: "trailwatch".into(),
        record: String::new(),
        principal: "trailwatch".into(),
    };
    Alert::new(facts, event, Kind::Own { detail })
}
