//! Thresholds: a rule with `threshold`, `period` and `group_by` alerts only when that many of
//! its matches happen within `period` (by eventTime) for one key (the values at `group_by`), as
//! a CloudWatch alarm over a metric filter would: one alert that lists the events, then quiet
//! until `period` has passed. Each event counts once (polls read overlaps again). The tallies
//! live in a `Tallies` store: memory for `scan`, the state for the daemon (a restart keeps them).
//! The alert of a threshold reached says so in its kind (`alert::Count`); the record is the
//! last match's, untouched.
//!
//! Pure logic; the store is the caller's.

use std::collections::HashMap;

use serde_json::Value;

use super::rule::Threshold;
use super::RuleSet;
use crate::alert::{Alert, Count, Kind};
use crate::state::Tally;

/// Counts one match at `ms` (its eventTime) with ID `id` in `t`.
pub(crate) fn count(t: &mut Tally, th: &Threshold, ms: i64, id: &str) -> Counted {
    if ms < t.quiet_until || t.events.iter().any(|(_, i)| i == id) {
        return Counted::Ignored;
    }
    let period = i64::try_from(th.period.as_millis()).unwrap_or(i64::MAX);
    t.events.push((ms, id.to_string()));
    t.events.sort();
    // The window ends at the newest match.
    let newest = t.events.last().map_or(ms, |e| e.0);
    t.events
        .retain(|(at, _)| *at > newest.saturating_sub(period));
    if t.events.len() >= th.count as usize {
        let fired = std::mem::take(&mut t.events);
        t.quiet_until = newest.saturating_add(period);
        return Counted::Fired(fired);
    }
    Counted::Counting(t.events.len())
}

/// What counting one match did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counted {
    /// Counted before (a re-read), or in the quiet time after an alert.
    Ignored,
    /// Counted; this many in the window.
    Counting(usize),
    /// The threshold is reached: these events make the alert.
    Fired(Vec<(i64, String)>),
}

/// Where tallies are kept.
pub(crate) trait Tallies {
    type Error;
    fn get(&mut self, rule: &str, key: &str) -> Result<Tally, Self::Error>;
    fn put(&mut self, rule: &str, key: &str, t: &Tally) -> Result<(), Self::Error>;
}

/// Tallies in memory (`scan`, `backfill` without `--notify`).
#[derive(Debug, Default)]
pub(crate) struct InMemory(HashMap<(String, String), Tally>);

impl Tallies for InMemory {
    type Error = std::convert::Infallible;
    fn get(&mut self, rule: &str, key: &str) -> Result<Tally, Self::Error> {
        Ok(self
            .0
            .get(&(rule.to_string(), key.to_string()))
            .cloned()
            .unwrap_or_default())
    }
    fn put(&mut self, rule: &str, key: &str, t: &Tally) -> Result<(), Self::Error> {
        self.0
            .insert((rule.to_string(), key.to_string()), t.clone());
        Ok(())
    }
}

/// The value at a dotted path of a record, as text (`-` when absent).
pub(crate) fn at_path(v: &Value, path: &str) -> String {
    let mut cur = v;
    for p in path.split('.') {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return "-".into(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The key a record is counted under: `path=value` for each `group_by` path.
pub(crate) fn group_key(th: &Threshold, record: &Value) -> String {
    th.group_by
        .iter()
        .map(|p| format!("{p}={}", at_path(record, p)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts the alerts of threshold rules, in eventTime order, and puts one alert per threshold
/// reached in their place; the others pass as they are.
pub(crate) fn apply<T: Tallies>(
    rules: &RuleSet,
    alerts: Vec<Alert>,
    store: &mut T,
) -> Result<Vec<Alert>, T::Error> {
    let tagged = alerts.into_iter().map(|a| (a, ())).collect();
    let out = apply_tagged(rules, tagged, store)?;
    Ok(out.into_iter().map(|(a, _)| a).collect())
}

/// `apply`, each alert with a tag of the caller's that stays with it (a threshold reached
/// keeps the tag of the match that reached it).
pub(crate) fn apply_tagged<T: Tallies, X>(
    rules: &RuleSet,
    alerts: Vec<(Alert, X)>,
    store: &mut T,
) -> Result<Vec<(Alert, X)>, T::Error> {
    let mut out = Vec::with_capacity(alerts.len());
    let mut counted: Vec<(i64, Alert, X, &Threshold)> = Vec::new();
    for (a, x) in alerts {
        match rules.get(&a.rule).and_then(|r| r.threshold.as_ref()) {
            Some(th) if a.kind == Kind::Match => {
                let ms = crate::when::event_millis(&a.event_time);
                counted.push((ms, a, x, th));
            }
            _ => out.push((a, x)),
        }
    }
    counted.sort_by(|x, y| (x.0, &x.1.event_id).cmp(&(y.0, &y.1.event_id)));
    for (ms, a, x, th) in counted {
        // The key was taken when the record matched; parsed here only if it was not.
        let key = a.tally_key.clone().unwrap_or_else(|| {
            let record: Value = serde_json::from_str(&a.record).unwrap_or(Value::Null);
            group_key(th, &record)
        });
        let mut t = store.get(&a.rule, &key)?;
        let c = count(&mut t, th, ms, &a.event_id);
        if c != Counted::Ignored {
            store.put(&a.rule, &key, &t)?;
        }
        if let Counted::Fired(events) = c {
            out.push((fired(a, th, key, &events), x));
        }
    }
    Ok(out)
}

/// The alert of a threshold reached: the last match's record, the count and its events in its
/// kind, the count in its title.
fn fired(mut a: Alert, th: &Threshold, group: String, events: &[(i64, String)]) -> Alert {
    let period = humantime::format_duration(th.period).to_string();
    let events: Vec<(String, String)> = events
        .iter()
        .map(|(ms, id)| {
            let time = jiff::Timestamp::from_millisecond(*ms)
                .map(|t| t.to_string())
                .unwrap_or_default();
            (id.clone(), time)
        })
        .collect();
    a.title = format!("{} ({}× in {period})", a.title, events.len());
    a.kind = Kind::Threshold(Count {
        count: events.len(),
        period,
        group,
        events,
    });
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn th(count: u32, mins: u64) -> Threshold {
        Threshold {
            count,
            period: Duration::from_secs(mins * 60),
            group_by: vec!["sourceIPAddress".into()],
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn fires_once_at_the_count_then_stays_quiet_for_the_period() {
        let th = th(3, 10);
        let mut t = Tally::default();
        assert_eq!(count(&mut t, &th, 0, "a"), Counted::Counting(1));
        assert_eq!(count(&mut t, &th, MIN, "a"), Counted::Ignored, "a re-read");
        assert_eq!(count(&mut t, &th, 2 * MIN, "b"), Counted::Counting(2));
        match count(&mut t, &th, 3 * MIN, "c") {
            Counted::Fired(ev) => assert_eq!(ev.len(), 3),
            c => panic!("{c:?}"),
        }
        // Quiet for 10 minutes after the third.
        assert_eq!(count(&mut t, &th, 4 * MIN, "d"), Counted::Ignored);
        assert_eq!(count(&mut t, &th, 12 * MIN, "e"), Counted::Ignored);
        assert_eq!(count(&mut t, &th, 14 * MIN, "f"), Counted::Counting(1));
    }

    #[test]
    fn only_matches_within_the_period_count() {
        let th = th(3, 10);
        let mut t = Tally::default();
        count(&mut t, &th, 0, "a");
        count(&mut t, &th, 9 * MIN, "b");
        // 20 minutes in: the first two are out of the window.
        assert_eq!(count(&mut t, &th, 20 * MIN, "c"), Counted::Counting(1));
        // Out of order: an earlier match still counts where it belongs.
        assert_eq!(count(&mut t, &th, 15 * MIN, "d"), Counted::Counting(2));
    }

    #[test]
    fn apply_groups_by_key_and_passes_other_rules() {
        let src = crate::config::SourceText {
            name: "t.toml".into(),
            text: "rule_packs = []\n[[rules]]\nname = \"fails\"\nthreshold = 2\nperiod = \"5m\"\ngroup_by = [\"sourceIPAddress\"]\nfilter = '{ $.errorMessage = \"Failed authentication\" }'\n[[rules]]\nname = \"plain\"\nfilter = '{ $.x = 1 }'\n".into(),
        };
        let mut rules = RuleSet::default();
        rules
            .add_config(&crate::config::Config::parse(&src).unwrap(), &src)
            .unwrap();
        let alert = |rule: &str, id: &str, min: i64, ip: &str| {
            let facts = crate::alert::RuleFacts {
                name: rule,
                title: "t",
                subject: "s",
                severity: crate::severity::Severity::Medium,
            };
            let event = crate::alert::Event {
                id: id.into(),
                time: jiff::Timestamp::from_millisecond(min * MIN)
                    .unwrap()
                    .to_string(),
                source: "x".into(),
                record: serde_json::json!({"eventID": id, "sourceIPAddress": ip}).to_string(),
                principal: String::new(),
            };
            Alert::new(facts, event, Kind::Match)
        };
        let mut store = InMemory::default();
        let out = apply(
            &rules,
            vec![
                alert("fails", "a", 1, "1.1.1.1"),
                alert("plain", "p", 1, "1.1.1.1"),
                alert("fails", "b", 2, "2.2.2.2"),
                alert("fails", "c", 3, "1.1.1.1"),
            ],
            &mut store,
        )
        .unwrap();
        let ids: Vec<&str> = out.iter().map(|a| a.event_id.as_str()).collect();
        assert_eq!(ids, ["p", "c"]);
        assert!(out[1].title.ends_with("(2× in 5m)"), "{}", out[1].title);
        let Kind::Threshold(c) = &out[1].kind else {
            panic!("{:?}", out[1].kind)
        };
        assert_eq!(c.group, "sourceIPAddress=1.1.1.1");
        assert_eq!(c.events[0].0, "a");
        assert!(
            !out[1].record.contains("trailwatch"),
            "the record is untouched"
        );
        // The store kept 2.2.2.2's one match: a second look counts it on.
        let more = apply(&rules, vec![alert("fails", "d", 4, "2.2.2.2")], &mut store).unwrap();
        assert_eq!(more.len(), 1);
    }
}
