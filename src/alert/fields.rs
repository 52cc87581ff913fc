//! The facts an alert shows, taken from its CloudTrail record: who did what, where, when, from
//! which address, and a link to the event in the CloudTrail console. Every value is
//! attacker-influenced text: control characters are made visible here and each output format
//! escapes the rest.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::Alert;

/// Longest value shown for one field; longer values are cut at a character boundary.
pub const MAX_FIELD: usize = 300;

/// Longest pretty-printed record carried by an email (mail servers refuse huge messages).
pub const MAX_RECORD: usize = 64 * 1024;

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
    /// Further alerts of the same rule and principal summed up in this message.
    pub more: u64,
    /// A threshold rule's count: "5 in 10m (sourceIPAddress=…): id, id, …".
    pub threshold: String,
    /// What to check and what to do (the rule's runbook).
    pub runbook: String,
    pub test: bool,
    /// The record, pretty-printed (email only).
    pub record_pretty: String,
}

/// Cuts `s` to at most `max` characters, marking the cut, never splitting a character.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// Shows control characters (CR, LF, ESC…) as `\u{..}` so a value stays on its line.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
            )
        {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
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

/// The target of the action: the user created or deleted, the role, the bucket…
fn target(r: &Value) -> String {
    const KEYS: &[&str] = &[
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
    ];
    let Some(p) = r.get("requestParameters").and_then(Value::as_object) else {
        return String::new();
    };
    KEYS.iter()
        .find_map(|k| {
            p.get(*k)
                .and_then(Value::as_str)
                .map(|v| format!("{k}={}", clean(v)))
        })
        .unwrap_or_default()
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
    format!(
        "https://{0}.console.aws.amazon.com/cloudtrailv2/home?region={0}#/events/{1}",
        url_part(region),
        url_part(event_id)
    )
}

/// The record pretty-printed, cut at `MAX_RECORD` characters.
fn pretty(r: &Value) -> String {
    let p = serde_json::to_string_pretty(r).unwrap_or_default();
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

/// A threshold alert's count and events, from the record's `trailwatch.threshold`.
fn threshold_text(r: &Value) -> String {
    let Some(t) = r.get("trailwatch").and_then(|t| t.get("threshold")) else {
        return String::new();
    };
    let ids: Vec<&str> = t["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["eventID"].as_str()).collect())
        .unwrap_or_default();
    let shown: Vec<&str> = ids.iter().take(10).copied().collect();
    let more = if ids.len() > shown.len() {
        format!(" … (+{})", ids.len() - shown.len())
    } else {
        String::new()
    };
    clean(&format!(
        "{} in {} ({}): {}{more}",
        t["count"],
        t["period"].as_str().unwrap_or(""),
        t["group"].as_str().unwrap_or(""),
        shown.join(", ")
    ))
}

impl Fields {
    /// The fields of an alert; `tz` is the configured time zone, `alias` the account's name.
    pub fn of(alert: &Alert, tz: &TimeZone, tz_name: &str, alias: Option<&str>) -> Fields {
        let r: Value = crate::record::parse_value(&alert.record).unwrap_or(Value::Null);
        let time: Option<Timestamp> = alert.event_time.parse().ok();
        let region = text(&r, &["awsRegion"]);
        Fields {
            rule: clean(&alert.rule),
            title: clean(&alert.title),
            subject: clean(&alert.subject),
            severity: alert.severity.to_string(),
            account: first_text(
                &r,
                &[&["recipientAccountId"], &["userIdentity", "accountId"]],
            ),
            account_alias: alias.map(clean).unwrap_or_default(),
            time_utc: time
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| clean(&alert.event_time)),
            time_local: time
                .map(|t| {
                    t.to_zoned(tz.clone())
                        .strftime("%Y-%m-%d %H:%M:%S %Z")
                        .to_string()
                })
                .unwrap_or_default(),
            timezone: tz_name.to_string(),
            event_name: text(&r, &["eventName"]),
            event_source: text(&r, &["eventSource"]),
            principal_type: text(&r, &["userIdentity", "type"]),
            principal_arn: first_text(
                &r,
                &[&["userIdentity", "arn"], &["userIdentity", "principalId"]],
            ),
            source_ip: text(&r, &["sourceIPAddress"]),
            user_agent: text(&r, &["userAgent"]),
            mfa: first_text(
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
            ),
            error_code: text(&r, &["errorCode"]),
            // Error messages carry the reason (an IAM denial names the action): keep more of them.
            error_message: match r.get("errorMessage") {
                Some(Value::String(m)) => visible(&truncate(m, 4 * MAX_FIELD)),
                _ => String::new(),
            },
            target: target(&r),
            event_id: clean(&alert.event_id),
            console_link: console_link(&region, &alert.event_id),
            more: 0,
            threshold: threshold_text(&r),
            runbook: String::new(),
            test: false,
            record_pretty: pretty(&r),
            region,
        }
    }

    /// The principal whose repeats are grouped.
    pub fn principal(&self) -> &str {
        &self.principal_arn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_characters_whole_and_controls_visible() {
        assert_eq!(truncate("계정경보", 2), "계정…");
        assert_eq!(truncate("ab", 2), "ab");
        assert_eq!(visible("a\r\nb\u{1b}"), "a\\u{d}\\u{a}b\\u{1b}");
    }
}
