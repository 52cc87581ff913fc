//! The facts an alert shows, taken from its CloudTrail record (parsed once, here): who did
//! what, where, when, from which address, and a link to the event in the CloudTrail console;
//! what the alert is (a count, a possible match) comes from the alert, never from the record.
//! Every value is attacker-influenced text: characters that change how text reads are made
//! visible here (`text::visible`) and each output format escapes the rest.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::{Alert, Count, Kind};
use crate::text::{json_visible, truncate, visible};

/// Longest value shown for one field; longer values are cut at a character boundary.
pub(crate) const MAX_FIELD: usize = 300;

/// Longest pretty-printed record carried by an email (mail servers refuse huge messages).
pub(crate) const MAX_RECORD: usize = 64 * 1024;

/// One fact of a chat message: its label and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
    /// Long text (a sentence, a list, a user agent): shown on a line of its own rather than
    /// in a grid of short values.
    pub wide: bool,
}

/// What a message template sees.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Fields {
    pub rule: String,
    pub title: String,
    pub subject: String,
    pub severity: String,
    pub account: String,
    pub account_alias: String,
    pub region: String,
    pub time_utc: String,
    pub time_local: String,
    pub timezone: String,
    pub event_name: String,
    pub event_source: String,
    pub principal_type: String,
    pub principal_arn: String,
    pub source_ip: String,
    pub user_agent: String,
    pub mfa: String,
    pub error_code: String,
    pub error_message: String,
    pub target: String,
    pub event_id: String,
    pub console_link: String,
    /// The principal's short name: `alice`, `Role/session`, `root`.
    pub principal_name: String,
    /// The account's alias when known, else its ID.
    pub account_label: String,
    /// The other rules the event matched: "title (severity)", joined.
    pub also: String,
    /// A summary: how many alerts of this rule by this principal it stands for (held since
    /// the first message), and one line for each (time, event, target, eventID).
    pub more: u64,
    pub held: Vec<String>,
    /// A threshold rule's count: "5 in 10m (sourceIPAddress=…): id, id, …".
    pub threshold: String,
    /// What an alert of trailwatch itself says, or why a record could not be judged whole.
    pub detail: String,
    /// Why a first-seen rule's alert is new: "first time in 30 days: … on AS64500".
    pub novelty: String,
    /// What to check and what to do (the rule's runbook).
    pub runbook: String,
    pub test: bool,
    /// The severity's colour (`#rrggbb`), for HTML.
    pub color: String,
    /// The record, pretty-printed (email only).
    pub record_pretty: String,
}

fn clean(s: &str) -> String {
    visible(&truncate(s, MAX_FIELD))
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn text(v: &Value, path: &[&str]) -> String {
    match at(v, path) {
        Some(Value::String(s)) => clean(s),
        Some(Value::Null) | None => String::new(),
        Some(other) => clean(&other.to_string()),
    }
}

/// The request parameters that name what a call acted on, most telling first.
const TARGETS: &[&str] = &[
    "userName",
    "roleName",
    "groupName",
    "policyArn",
    "bucketName",
    "trailName",
    "name",
    "keyId",
    "groupId",
    "instanceId",
    "dBInstanceIdentifier",
    "functionName",
    "secretId",
];

/// What the call acted on (the user created or deleted, the role, the bucket…): the request
/// parameter that names it, and its value as the record has it.
pub(crate) fn target_of(r: &Value) -> Option<(&'static str, &str)> {
    let p = r.get("requestParameters")?.as_object()?;
    TARGETS
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str).map(|v| (*k, v)))
}

/// The target of the action, as the message shows it (`userName=mallory`).
fn target(r: &Value) -> String {
    target_of(r).map_or_else(String::new, |(k, v)| format!("{k}={}", clean(v)))
}

fn url_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first of `paths` that holds a value.
fn first_text(r: &Value, paths: &[&[&str]]) -> String {
    paths
        .iter()
        .map(|p| text(r, p))
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

/// The event in the CloudTrail console.
fn console_link(region: &str, event_id: &str) -> String {
    if region.is_empty() || event_id.is_empty() {
        return String::new();
    }
    let (region, id) = (url_part(region), url_part(event_id));
    match crate::partition::of(&region) {
        p if p.name == "aws" => format!(
            "https://{region}.{}/cloudtrailv2/home?region={region}#/events/{id}",
            p.console
        ),
        // China's and GovCloud's consoles have one host for every region.
        p => format!(
            "https://{}/cloudtrailv2/home?region={region}#/events/{id}",
            p.console
        ),
    }
}

/// The record pretty-printed, cut at `MAX_RECORD` characters.
fn pretty(r: &Value) -> String {
    let p = json_visible(&serde_json::to_string_pretty(r).unwrap_or_default());
    let n = p.chars().count();
    if n > MAX_RECORD {
        format!(
            "{}\n(record cut at {MAX_RECORD} of {n} characters)",
            truncate(&p, MAX_RECORD)
        )
    } else {
        p
    }
}

/// A severity's colour: red, orange, amber, blue, grey.
pub(crate) fn color(s: crate::severity::Severity) -> &'static str {
    use crate::severity::Severity::*;
    match s {
        Critical => "#b3261e",
        High => "#d9480f",
        Medium => "#9a6700",
        Low => "#0969da",
        Info => "#57606a",
    }
}

/// A principal's short name, from its ARN: the user, the role and session, `root`.
pub(crate) fn short_principal(arn: &str) -> String {
    if arn.ends_with(":root") {
        return "root".into();
    }
    let resource = arn.rsplit(':').next().unwrap_or(arn);
    match resource.split_once('/') {
        Some((_, rest)) if !rest.is_empty() => rest.to_string(),
        _ => resource.to_string(),
    }
}

/// A threshold alert's count and events.
fn threshold_text(c: &Count) -> String {
    let shown: Vec<&str> = c
        .events
        .iter()
        .take(10)
        .map(|(id, _)| id.as_str())
        .collect();
    let more = if c.events.len() > shown.len() {
        format!(" … (+{})", c.events.len() - shown.len())
    } else {
        String::new()
    };
    clean(&format!(
        "{} in {} ({}): {}{more}",
        c.count,
        c.period,
        c.group,
        shown.join(", ")
    ))
}

impl Fields {
    /// The facts of an alert; `tz` is the configured time zone, `aliases` the accounts' names.
    /// The record is parsed here, once.
    pub fn of(
        alert: &Alert,
        tz: &TimeZone,
        tz_name: &str,
        aliases: &BTreeMap<String, String>,
    ) -> Fields {
        let time: Option<Timestamp> = alert.event_time.parse().ok();
        let mut f = Fields {
            rule: clean(&alert.rule),
            title: clean(&alert.title),
            subject: clean(&alert.subject),
            severity: alert.severity.to_string(),
            color: color(alert.severity).into(),
            time_utc: time
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| clean(&alert.event_time)),
            // The local time, unless the time zone is UTC (it would say the same again).
            time_local: time
                .filter(|_| tz_name != "UTC")
                .map(|t| {
                    t.to_zoned(tz.clone())
                        .strftime("%Y-%m-%d %H:%M:%S %Z")
                        .to_string()
                })
                .unwrap_or_default(),
            timezone: tz_name.to_string(),
            event_id: clean(&alert.event_id),
            ..Fields::default()
        };
        f.also = alert
            .also
            .iter()
            .map(|a| format!("{} ({})", clean(&a.title), a.severity))
            .collect::<Vec<_>>()
            .join(", ");
        match &alert.kind {
            Kind::Match => f.take_record(alert, aliases),
            Kind::Threshold(c) => {
                f.take_record(alert, aliases);
                f.threshold = threshold_text(c);
            }
            Kind::Possible { why } => {
                f.error_code = "trailwatch:UnreadableRecord".into();
                f.error_message = visible(&truncate(why, 4 * MAX_FIELD));
                f.detail = f.error_message.clone();
                f.record_pretty = visible(&truncate(&alert.record, MAX_RECORD));
            }
            Kind::Own { detail } => {
                f.event_name = clean(&alert.rule);
                f.event_source = "trailwatch".into();
                f.principal_type = "trailwatch".into();
                f.detail = visible(detail);
            }
        }
        // The source address's network, as the databases said it when the alert was raised.
        if !alert.network.is_empty() && !f.source_ip.is_empty() {
            f.source_ip = format!("{} ({})", f.source_ip, clean(&alert.network));
        }
        f.novelty = visible(&truncate(&alert.novelty, 2 * MAX_FIELD));
        f.principal_name = short_principal(&f.principal_arn);
        f.account_label = if f.account_alias.is_empty() {
            f.account.clone()
        } else {
            f.account_alias.clone()
        };
        f
    }

    /// The facts every chat message shows (Slack's fields, Teams' fact rows), in the order
    /// the templates show them, each labelled; a fact with no value is left out. Values are
    /// text as written (already made visible): each sink escapes them for its format.
    pub fn facts(&self) -> Vec<Fact> {
        let joined = |a: &str, sep: &str, b: &str| match (a.is_empty(), b.is_empty()) {
            (_, true) => a.to_string(),
            (true, false) => b.to_string(),
            (false, false) => format!("{a}{sep}{b}"),
        };
        let within = |a: &str, b: &str| match b.is_empty() {
            true => a.to_string(),
            false => format!("{a} ({b})"),
        };
        let all = [
            ("Detail", self.detail.clone(), true),
            ("New", self.novelty.clone(), true),
            ("Also matched", self.also.clone(), true),
            ("Account", within(&self.account, &self.account_alias), false),
            ("Region", self.region.clone(), false),
            (
                "Time",
                joined(&self.time_utc, " / ", &self.time_local),
                false,
            ),
            ("Event", within(&self.event_name, &self.event_source), false),
            (
                "Principal",
                joined(&self.principal_type, " ", &self.principal_arn),
                false,
            ),
            ("Source IP", self.source_ip.clone(), false),
            ("User agent", self.user_agent.clone(), true),
            ("MFA used", self.mfa.clone(), false),
            (
                "Error",
                joined(&self.error_code, " ", &self.error_message),
                false,
            ),
            ("Target", self.target.clone(), false),
            ("eventID", self.event_id.clone(), false),
            ("Count", self.threshold.clone(), true),
        ];
        all.into_iter()
            .filter(|(_, v, _)| !v.trim().is_empty())
            .map(|(label, value, wide)| Fact { label, value, wide })
            .collect()
    }

    /// One line about this alert in a summary of held alerts.
    pub fn held_line(&self) -> String {
        let what = [self.event_name.as_str(), self.target.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        format!("{} {what} ({})", self.time_utc, self.event_id)
    }

    /// The facts the record holds.
    fn take_record(&mut self, alert: &Alert, aliases: &BTreeMap<String, String>) {
        let r: Value = crate::record::parse_value(&alert.record).unwrap_or(Value::Null);
        self.region = text(&r, &["awsRegion"]);
        self.account = first_text(
            &r,
            &[&["recipientAccountId"], &["userIdentity", "accountId"]],
        );
        self.account_alias = r["recipientAccountId"]
            .as_str()
            .and_then(|id| aliases.get(id))
            .map(|a| clean(a))
            .unwrap_or_default();
        self.event_name = text(&r, &["eventName"]);
        self.event_source = text(&r, &["eventSource"]);
        self.principal_type = text(&r, &["userIdentity", "type"]);
        self.principal_arn = first_text(
            &r,
            &[&["userIdentity", "arn"], &["userIdentity", "principalId"]],
        );
        self.source_ip = text(&r, &["sourceIPAddress"]);
        self.user_agent = text(&r, &["userAgent"]);
        self.mfa = first_text(
            &r,
            &[
                &["additionalEventData", "MFAUsed"],
                &[
                    "userIdentity",
                    "sessionContext",
                    "attributes",
                    "mfaAuthenticated",
                ],
            ],
        );
        self.error_code = text(&r, &["errorCode"]);
        // Error messages carry the reason (an IAM denial names the action): keep more of them.
        self.error_message = match r.get("errorMessage") {
            Some(Value::String(m)) => visible(&truncate(m, 4 * MAX_FIELD)),
            _ => String::new(),
        };
        self.target = target(&r);
        self.console_link = console_link(&self.region, &alert.event_id);
        self.record_pretty = pretty(&r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Event, RuleFacts};

    fn alert(record: &str, kind: Kind) -> Alert {
        let rule = RuleFacts {
            name: "r",
            title: "t",
            subject: "s",
            severity: crate::severity::Severity::High,
        };
        let event = Event {
            id: "e1".into(),
            time: "2026-11-22T00:00:00Z".into(),
            source: "x".into(),
            record: record.into(),
            principal: String::new(),
        };
        Alert::new(rule, event, kind)
    }

    #[test]
    fn chat_facts_leave_out_what_is_empty_even_when_composed() {
        let f = Fields {
            event_name: "CreateUser".into(),
            principal_arn: "arn:aws:iam::1:user/a".into(),
            account: "111122223333".into(),
            ..Fields::default()
        };
        let facts = f.facts();
        let labels: Vec<_> = facts.iter().map(|x| x.label).collect();
        // No "()" for an event without a source, no "Error" of a space.
        assert_eq!(labels, ["Account", "Event", "Principal"]);
        assert_eq!(facts[1].value, "CreateUser");
        assert_eq!(facts[2].value, "arn:aws:iam::1:user/a");
    }

    #[test]
    fn principals_have_short_names() {
        assert_eq!(short_principal("arn:aws:iam::1:root"), "root");
        assert_eq!(short_principal("arn:aws:iam::1:user/alice"), "alice");
        assert_eq!(
            short_principal("arn:aws:iam::1:user/ops/alice"),
            "ops/alice"
        );
        assert_eq!(
            short_principal("arn:aws:sts::1:assumed-role/Admin/bob"),
            "Admin/bob"
        );
        assert_eq!(short_principal("AIDAEXAMPLE"), "AIDAEXAMPLE");
        assert_eq!(short_principal(""), "");
    }

    #[test]
    fn a_record_cannot_forge_what_the_alert_is() {
        let plain = r#"{"eventID":"e1","eventName":"ConsoleLogin","awsRegion":"us-east-1"}"#;
        let forged = r#"{"eventID":"e1","eventName":"ConsoleLogin","awsRegion":"us-east-1","trailwatch":{"threshold":{"count":99,"period":"1m","group":"x","events":[{"eventID":"a"}]},"unreadable":"x"}}"#;
        let tz = TimeZone::UTC;
        let none = BTreeMap::new();
        let a = Fields::of(&alert(plain, Kind::Match), &tz, "UTC", &none);
        let b = Fields::of(&alert(forged, Kind::Match), &tz, "UTC", &none);
        assert_eq!(b.threshold, "", "no count line from the record");
        assert_eq!(b.error_code, a.error_code);
        assert_eq!(b.detail, a.detail);
    }
}
