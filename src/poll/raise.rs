//! Raising: found alerts counted against thresholds, routed to their sinks, and put into the
//! outbox oldest first, then made durable; and forgetting what is too old to be read again.

use std::time::Duration;

use jiff::Timestamp;

use super::found::Found;
use super::report::PollReport;
use crate::alert::{Alert, Kind};
use crate::delivery::router::Router;
use crate::rules::evaluate::Evaluator;
use crate::rules::threshold::{self, Tallies};
use crate::state::{State, StateError, Tally};
use crate::text::truncate;
use crate::when;

/// What judges records and says where their alerts go.
pub struct Judge {
    pub eval: Evaluator,
    pub router: Router,
}

impl Judge {
    /// Rules whose alerts all go to `sinks` (tests, tools).
    pub fn every_sink(eval: Evaluator, sinks: &[&str]) -> Judge {
        let sinks = sinks
            .iter()
            .map(|s| (s.to_string(), crate::severity::Severity::Info));
        Judge {
            eval,
            router: Router::new(sinks, []),
        }
    }
}

/// Threshold counts kept in the state: they survive a restart. Changes wait in memory until
/// `commit`, which is done once the alerts they go with are raised: a count that fired is
/// never saved without its alert (a failed raise leaves the old count, and the records read
/// again count again).
pub(super) struct StateTallies<'a> {
    state: &'a State,
    pending: std::collections::HashMap<(String, String), Tally>,
}

impl<'a> StateTallies<'a> {
    pub(super) fn new(state: &'a State) -> Self {
        StateTallies {
            state,
            pending: Default::default(),
        }
    }

    /// Saves the changed counts.
    pub(super) fn commit(self) -> Result<(), StateError> {
        for ((rule, key), t) in &self.pending {
            self.state.put_tally(rule, key, t)?;
        }
        Ok(())
    }
}

impl Tallies for StateTallies<'_> {
    type Error = StateError;
    fn get(&mut self, rule: &str, key: &str) -> Result<Tally, StateError> {
        match self.pending.get(&(rule.to_string(), key.to_string())) {
            Some(t) => Ok(t.clone()),
            None => self.state.tally(rule, key),
        }
    }
    fn put(&mut self, rule: &str, key: &str, t: &Tally) -> Result<(), StateError> {
        self.pending
            .insert((rule.to_string(), key.to_string()), t.clone());
        Ok(())
    }
}

/// Puts found alerts into the outbox (oldest first), makes them durable, and counts them.
pub(crate) fn raise_all(
    judge: &Judge,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    raise_found(judge, state, found, now, rep, &mut |_| {})
}

/// `raise_all`, with `on_raised` seeing each alert new to the outbox.
pub(super) fn raise_found(
    judge: &Judge,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
    on_raised: &mut dyn FnMut(&Alert),
) -> Result<(), StateError> {
    // Threshold rules' matches are counted; what reaches a threshold takes their place. The
    // counts are saved after the raises, before the flush.
    let alerts = std::mem::take(&mut found.alerts);
    let mut tallies = StateTallies::new(state);
    found.alerts = threshold::apply(judge.eval.rules(), alerts, &mut tallies)?;
    found.sort();
    // One event, one message: the rules an event matched are raised together.
    let route = |parts: &[&Alert]| judge.router.route_all(parts);
    let order = |a: &Alert| judge.eval.rules().position(&a.rule).unwrap_or(usize::MAX);
    for event in by_event(&found.alerts) {
        // The rules in the order they are defined: on equal severity, the first names it.
        let mut event = event.to_vec();
        event.sort_by_key(order);
        let Some((a, sinks)) = state.raise_event(&event, &route, now)? else {
            rep.repeated += 1;
            continue;
        };
        rep.raised += 1;
        let rules: Vec<&str> = a.rules().collect();
        let rules = rules.join(",");
        if sinks.is_empty() {
            // Loud, with the facts: the log is the one place this alert reaches.
            rep.undeliverable += 1;
            tracing::error!(rule = %rules, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, severity = %a.severity, "ALERT WITH NOWHERE TO GO (no sink takes it: none configured, the rule's `sinks` is empty, or every sink's min_severity is above it): {}; record: {}", a.title, truncate(&a.record, 2000));
        } else {
            tracing::info!(rule = %rules, event_id = %a.event_id, event_time = %a.event_time, source = %a.source, "alert raised");
        }
        on_raised(&a);
    }
    tallies.commit()?;
    if !found.alerts.is_empty() {
        state.flush()?;
    }
    Ok(())
}

/// Sorted alerts cut into events: the plain matches of one event together (one message for
/// every rule it matched), every other alert (a count, a possible match) alone.
fn by_event(alerts: &[Alert]) -> Vec<&[Alert]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=alerts.len() {
        let same = i < alerts.len()
            && alerts[i].kind == Kind::Match
            && alerts[start].kind == Kind::Match
            && alerts[i].event_id == alerts[start].event_id;
        if !same {
            out.push(&alerts[start..i]);
            start = i;
        }
    }
    out
}

/// Forgets raised alerts too old to be read again.
pub(crate) fn expire(
    state: &State,
    now: Timestamp,
    retention: Duration,
) -> Result<usize, StateError> {
    // Threshold counts with nothing for longer than the longest period allowed.
    let counts = now
        .checked_sub(when::signed(crate::rules::Threshold::MAX_PERIOD))
        .unwrap_or(now);
    state.expire_tallies(counts)?;
    state.expire_raised(now.checked_sub(when::signed(retention)).unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_saved_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let t = Tally {
            events: vec![(1_000, "e1".into())],
            quiet_until: 0,
        };
        let mut pending = StateTallies::new(&s);
        pending.put("r", "k", &t).unwrap();
        assert_eq!(pending.get("r", "k").unwrap(), t, "seen before the commit");
        drop(pending);
        assert_eq!(s.tally("r", "k").unwrap(), Tally::default(), "not saved");
        let mut pending = StateTallies::new(&s);
        pending.put("r", "k", &t).unwrap();
        pending.commit().unwrap();
        assert_eq!(s.tally("r", "k").unwrap(), t);
    }
}
