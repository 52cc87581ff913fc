//! Counting alerts the way a team tunes its rules: per rule, how many were delivered and how
//! many were kept quiet (and why), who and which addresses set it off most, and its busiest
//! day. `report` counts the history; `rules replay` counts a past window read again.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::alert::Alert;
use crate::text::{truncate, visible};

/// How many alerts of one rule ended how, and who set them off.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(super) struct RuleNoise {
    pub total: u64,
    /// By what became of them: delivered (or would be), silenced, excepted, shadow, dead…
    pub by_status: BTreeMap<String, u64>,
    pub principals: BTreeMap<String, u64>,
    pub sources: BTreeMap<String, u64>,
    pub days: BTreeMap<String, u64>,
}

/// Every rule's noise.
#[derive(Debug, Default)]
pub(super) struct Noise {
    pub rules: BTreeMap<String, RuleNoise>,
}

impl Noise {
    /// Counts one alert that ended as `status`.
    pub(super) fn add(&mut self, a: &Alert, status: &str) {
        let r = self.rules.entry(a.rule.clone()).or_default();
        r.total += 1;
        *r.by_status.entry(status.to_string()).or_default() += 1;
        let record: serde_json::Value = serde_json::from_str(&a.record).unwrap_or_default();
        let who = crate::alert::principal_of(&record);
        if !who.is_empty() {
            *r.principals.entry(who).or_default() += 1;
        }
        if let Some(ip) = record["sourceIPAddress"].as_str() {
            *r.sources.entry(ip.to_string()).or_default() += 1;
        }
        let day = a.event_time.get(..10).unwrap_or("-").to_string();
        *r.days.entry(day).or_default() += 1;
    }

    /// Alerts counted.
    pub(super) fn total(&self) -> u64 {
        self.rules.values().map(|r| r.total).sum()
    }

    /// Alerts counted that ended as `status`.
    pub(super) fn with_status(&self, status: &str) -> u64 {
        self.rules
            .values()
            .filter_map(|r| r.by_status.get(status))
            .sum()
    }

    /// A table: a line per rule, busiest first, with the columns given (statuses).
    pub(super) fn table(&self, columns: &[&str]) -> String {
        let mut rules: Vec<(&String, &RuleNoise)> = self.rules.iter().collect();
        rules.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
        let w = rules.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
        let mut out = format!("{:w$}  {:>6}", "RULE", "TOTAL");
        for c in columns {
            let _ = write!(out, "  {:>9}", c.to_uppercase());
        }
        out.push_str("  TOP PRINCIPALS; TOP SOURCE ADDRESSES; BUSIEST DAY\n");
        for (name, r) in rules {
            let _ = write!(out, "{name:w$}  {:>6}", r.total);
            for c in columns {
                let _ = write!(out, "  {:>9}", r.by_status.get(*c).copied().unwrap_or(0));
            }
            let _ = writeln!(
                out,
                "  {}; {}; {}",
                top(&r.principals, 3),
                top(&r.sources, 3),
                top(&r.days, 1)
            );
        }
        out
    }

    /// One JSON object per rule.
    pub(super) fn json(&self) -> String {
        let mut out = String::new();
        for (name, r) in &self.rules {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["rule"] = name.clone().into();
            v["top_principals"] = tops(&r.principals, 5);
            v["top_sources"] = tops(&r.sources, 5);
            v["busiest_day"] = tops(&r.days, 1);
            for k in ["principals", "sources", "days"] {
                if let Some(o) = v.as_object_mut() {
                    o.remove(k);
                }
            }
            let _ = writeln!(out, "{v}");
        }
        out
    }
}

/// The `n` largest counts, largest first ("ci-bot (8), eve (2)"), shown safely.
pub(super) fn top(counts: &BTreeMap<String, u64>, n: usize) -> String {
    let mut v: Vec<(&String, &u64)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> = v
        .iter()
        .take(n)
        .map(|(k, c)| format!("{} ({c})", truncate(&visible(short(k)), 48)))
        .collect();
    if shown.is_empty() {
        "-".into()
    } else {
        shown.join(", ")
    }
}

/// The `n` largest counts as JSON: `[{"value": …, "count": …}]`.
fn tops(counts: &BTreeMap<String, u64>, n: usize) -> serde_json::Value {
    let mut v: Vec<(&String, &u64)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .take(n)
        .map(|(k, c)| serde_json::json!({"value": k, "count": c}))
        .collect()
}

/// An ARN's last part (`user/ci-bot`, `assumed-role/ci/session`), anything else as it is.
fn short(arn: &str) -> &str {
    match arn.strip_prefix("arn:") {
        Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(arn),
        None => arn,
    }
}
