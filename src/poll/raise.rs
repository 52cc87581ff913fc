//! Raising: found alerts counted against thresholds, routed to their sinks, and put into the
//! outbox oldest first, then made durable; and forgetting what is too old to be read again.

use std::time::Duration;

use jiff::Timestamp;

use super::found::Found;
use super::report::PollReport;
use crate::alert::{Alert, Kind};
use crate::delivery::router::Router;
use crate::names::OwnAlert;
use crate::rules::evaluate::Evaluator;
use crate::rules::first_seen::{self, Judging, Sightings};
use crate::rules::quiet::{glob, Mode};
use crate::rules::threshold::{self, Tallies};
use crate::state::{Sighting, Silence, State, StateError, Status, Tally};
use crate::text::truncate;
use crate::when;

/// What judges records and says where their alerts go.
pub struct Judge {
    pub eval: Evaluator,
    pub router: Router,
    /// Woken once alerts for delivery are durable in the outbox (the daemon's delivery
    /// worker): a poll's first alert does not wait for the poll's end.
    pub wake: Option<std::sync::Arc<tokio::sync::Notify>>,
}

impl Judge {
    /// Why an alert is recorded but not delivered, if it is: an exception of its rule in
    /// force, a silence in force, or its rule in shadow mode (in that order). trailwatch's own
    /// alerts are never quieted.
    pub(crate) fn quiet(&self, a: &Alert, silences: &[Silence], now: Timestamp) -> Option<Status> {
        if OwnAlert::is_own(&a.rule) {
            return None;
        }
        let rule = self.eval.rules().get(&a.rule)?;
        let covering = silences.iter().any(|s| glob(&s.rule, &a.rule));
        if !rule.exceptions.is_empty() || covering {
            let record: serde_json::Value = match serde_json::from_str(&a.record) {
                Ok(v) => v,
                Err(e) => {
                    // A possible match: its text could not be read. Conditions on its fields
                    // hold for no such record, so the alert goes out, and the log says why.
                    let untested = untested(&rule.exceptions, silences, &a.rule, now);
                    if !untested.is_empty() {
                        tracing::warn!(rule = %a.rule, event_id = %a.event_id, source = %a.source, "alert not quieted though its rule has exceptions or silences: its record cannot be read ({e}), and they test its fields: {}", untested.join("; "));
                    }
                    serde_json::Value::Null
                }
            };
            if let Some(x) = rule.exceptions.iter().find(|x| x.applies(&record, now)) {
                return Some(Status::Excepted {
                    reason: x.reason.clone(),
                });
            }
            if let Some(s) = silences.iter().find(|s| s.covers(&a.rule, &record, now)) {
                return Some(Status::Silenced {
                    silence: s.id,
                    reason: s.reason.clone(),
                });
            }
        }
        (rule.mode == Mode::Shadow).then_some(Status::Shadow)
    }

    /// Rules whose alerts all go to `sinks` (tests, tools).
    pub fn every_sink(eval: Evaluator, sinks: &[&str]) -> Judge {
        let sinks = sinks
            .iter()
            .map(|s| (s.to_string(), crate::severity::Severity::Info));
        Judge {
            eval,
            router: Router::new(sinks, []),
            wake: None,
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

/// First-seen rules' sightings kept in the state. As with the counts, changes wait in memory
/// until `commit`, once the alerts they go with are raised: a sighting is never saved without
/// the alert it decided, and every sighting is written before the flush that makes the batch
/// (and any watermark after it) durable. What is read from the state is kept too (a busy
/// principal's combination is read once per raise, not once per call).
pub(super) struct StateSightings<'a> {
    state: &'a State,
    /// By rule, then account.
    learning: Cache<String, i64>,
    /// By rule, then combination.
    seen: Cache<Vec<String>, Sighting>,
}

/// By rule, then key: what the state says (`None`: nothing), and whether it changed since.
type Cache<K, V> = first_seen::Fast<String, first_seen::Fast<K, (Option<V>, bool)>>;

/// The entry of `key` under `rule` in a two-level cache, read with `read` on a miss.
fn entry<'m, K, Q, V>(
    map: &'m mut Cache<K, V>,
    rule: &str,
    key: &Q,
    read: impl FnOnce() -> Result<Option<V>, StateError>,
) -> Result<&'m mut (Option<V>, bool), StateError>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: ?Sized + std::hash::Hash + Eq + ToOwned<Owned = K>,
{
    let keys = first_seen::of_rule(map, rule);
    if !keys.contains_key(key) {
        keys.insert(key.to_owned(), (read()?, false));
    }
    Ok(keys.get_mut(key).expect("inserted above"))
}

impl<'a> StateSightings<'a> {
    pub(super) fn new(state: &'a State) -> Self {
        StateSightings {
            state,
            learning: Default::default(),
            seen: Default::default(),
        }
    }

    /// Saves what changed.
    pub(super) fn commit(self) -> Result<(), StateError> {
        for (rule, accounts) in &self.learning {
            for (account, entry) in accounts {
                if let (Some(ms), true) = entry {
                    self.state.set_learning_since(rule, account, *ms)?;
                }
            }
        }
        for (rule, combos) in &self.seen {
            for (combo, entry) in combos {
                if let (Some(s), true) = entry {
                    self.state.put_sighting(rule, combo, s)?;
                }
            }
        }
        Ok(())
    }
}

impl Sightings for StateSightings<'_> {
    type Error = StateError;
    fn learning_since(&mut self, rule: &str, account: &str) -> Result<Option<i64>, StateError> {
        let state = self.state;
        let read = || state.learning_since(rule, account);
        Ok(entry(&mut self.learning, rule, account, read)?.0)
    }
    fn set_learning_since(&mut self, rule: &str, account: &str, ms: i64) -> Result<(), StateError> {
        *entry(&mut self.learning, rule, account, || Ok(None))? = (Some(ms), true);
        Ok(())
    }
    fn get(
        &mut self,
        rule: &str,
        combo: &[String],
    ) -> Result<Option<std::borrow::Cow<'_, Sighting>>, StateError> {
        let state = self.state;
        let read = || state.sighting(rule, combo);
        let e = entry(&mut self.seen, rule, combo, read)?;
        Ok(e.0.as_ref().map(std::borrow::Cow::Borrowed))
    }
    fn put(&mut self, rule: &str, combo: &[String], s: &Sighting) -> Result<(), StateError> {
        *entry(&mut self.seen, rule, combo, || Ok(None))? = (Some(s.clone()), true);
        Ok(())
    }
    fn with_first(
        &mut self,
        rule: &str,
        first: &str,
    ) -> Result<Vec<(Vec<String>, Sighting)>, StateError> {
        let mut all: std::collections::BTreeMap<Vec<String>, Sighting> = self
            .state
            .sightings_with_first(rule, first)?
            .into_iter()
            .collect();
        for (c, (s, _)) in self.seen.get(rule).into_iter().flatten() {
            if let Some(s) = s.as_ref().filter(|_| c.first().is_some_and(|f| f == first)) {
                all.insert(c.clone(), s.clone());
            }
        }
        Ok(all.into_iter().collect())
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

/// `raise_all` without the flush: the caller makes them durable with its batch (an S3
/// object's alerts with its read mark, the objects of a queue's receive or of a standby's
/// hand-in together), in one flush and one copy to a shared table, and wakes delivery then.
pub(crate) fn raise_staged(
    judge: &Judge,
    state: &State,
    found: &mut Found,
    now: Timestamp,
    rep: &mut PollReport,
) -> Result<(), StateError> {
    raise_into(judge, state, found, (now, false), rep, &mut |_| {})
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
    raise_into(judge, state, found, (now, true), rep, on_raised)
}

/// Raises what was found at `now`, flushed (and delivery woken) when `flush`.
fn raise_into(
    judge: &Judge,
    state: &State,
    found: &mut Found,
    (now, flush): (Timestamp, bool),
    rep: &mut PollReport,
    on_raised: &mut dyn FnMut(&Alert),
) -> Result<(), StateError> {
    // First-seen rules keep only what is new; threshold rules' matches are counted, and what
    // reaches a threshold takes their place. Sightings and counts are saved after the raises,
    // before the flush.
    let (rules, enricher) = (judge.eval.rules(), judge.eval.enricher());
    let raised_before = rep.raised;
    let alerts = std::mem::take(&mut found.alerts);
    let mut sightings = StateSightings::new(state);
    let alerts = first_seen::apply(rules, alerts, enricher, &mut sightings, Judging::Alert)?;
    let mut tallies = StateTallies::new(state);
    found.alerts = threshold::apply(rules, alerts, &mut tallies)?;
    for a in &mut found.alerts {
        a.network = network_of(enricher, &a.record);
    }
    found.sort();
    // One event, one message: the rules an event matched are raised together.
    let route = |parts: &[&Alert]| judge.router.route_all(parts);
    let order = |a: &Alert| judge.eval.rules().position(&a.rule).unwrap_or(usize::MAX);
    // Read at every raise: a silence added while the daemon runs counts from the next poll.
    let silences = state.active_silences(now)?;
    for event in by_event(&found.alerts) {
        // The rules in the order they are defined: on equal severity, the first names it.
        let mut event = event.to_vec();
        event.sort_by_key(order);
        let quiet: Vec<Option<Status>> = event
            .iter()
            .map(|a| judge.quiet(a, &silences, now))
            .collect();
        let Some(raised) = state.raise_event(&event, &quiet, &route, now)? else {
            rep.repeated += 1;
            continue;
        };
        for (a, why) in &raised.quiet {
            *rep.quieted.entry((a.rule.clone(), why.word())).or_default() += 1;
            tracing::info!(rule = %a.rule, event_id = %a.event_id, event_time = %a.event_time, "alert not delivered ({}): {}", why.word(), quiet_reason(why));
        }
        let Some((a, sinks)) = raised.live else {
            continue;
        };
        rep.raised += 1;
        *rep.by_rule.entry(a.rule.clone()).or_default() += 1;
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
    sightings.commit()?;
    tallies.commit()?;
    if !flush {
        return Ok(());
    }
    if !found.alerts.is_empty() {
        state.flush()?;
    }
    if rep.raised > raised_before {
        if let Some(w) = &judge.wake {
            w.notify_one();
        }
    }
    Ok(())
}

/// The network of a record's source address in words, as the databases say it now.
fn network_of(enricher: &crate::enrich::Enricher, record: &str) -> String {
    let v = crate::record::parse_value(record).unwrap_or_default();
    match v.get("sourceIPAddress").and_then(serde_json::Value::as_str) {
        Some(s) => enricher.network(s).describe(),
        None => String::new(),
    }
}

/// The exceptions (of rule `name`) and the silences of `name` in force at `now` that test a
/// record's fields, in words: what cannot quiet an alert whose record cannot be read.
fn untested(
    exceptions: &[crate::rules::quiet::Exception],
    silences: &[Silence],
    name: &str,
    now: Timestamp,
) -> Vec<String> {
    let exceptions = (exceptions.iter())
        .filter(|x| x.active(now) && !x.when.0.is_empty())
        .map(|x| format!("the exception {} ({:?})", x.when.describe(), x.reason));
    let silences = (silences.iter())
        .filter(|s| s.names(name, now) && !s.when.0.is_empty())
        .map(|s| format!("silence {} {} ({:?})", s.id, s.when.describe(), s.reason));
    exceptions.chain(silences).collect()
}

/// Why an alert was kept from delivery, in words.
fn quiet_reason(s: &Status) -> String {
    match s {
        Status::Silenced { silence, reason } => format!("silence {silence}: {reason}"),
        Status::Excepted { reason } => format!("an exception of its rule: {reason}"),
        Status::Shadow => "its rule runs in shadow mode".into(),
        other => other.word().into(),
    }
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

/// Forgets raised alerts too old to be read again, and the history as old.
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
    // First-seen combinations whose window has passed.
    state.expire_sightings(now)?;
    let before = now.checked_sub(when::signed(retention)).unwrap_or(now);
    state.expire_history(before)?;
    state.expire_raised(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::Conditions;
    use crate::rules::quiet::Exception;

    #[test]
    fn what_cannot_quiet_an_unreadable_record_is_what_tests_its_fields_now() {
        let now: Timestamp = "2026-12-08T00:00:00Z".parse().unwrap();
        let user = || Conditions::parse_pairs(&["userIdentity.userName=ci-bot".into()]).unwrap();
        let exception = |until: &str, when: Conditions| Exception {
            when,
            until: until.parse().unwrap(),
            reason: "CI".into(),
        };
        let silence = |id, rule: &str, until_ms, when| Silence {
            id,
            rule: rule.into(),
            when,
            since_ms: 0,
            until_ms,
            reason: "r".into(),
        };
        let later = when::millis(now) + 1;
        let exceptions = [
            exception("2027-01-01T00:00:00Z", user()),
            exception("2026-01-01T00:00:00Z", user()), // ended
        ];
        let silences = [
            silence(1, "iam-*", later, user()),
            silence(2, "iam-*", later, Conditions(vec![])), // every record: it still quiets
            silence(3, "iam-*", when::millis(now), user()), // ended
            silence(4, "cis-*", later, user()),             // another rule
        ];
        let said = untested(&exceptions, &silences, "iam-user-lifecycle", now);
        assert_eq!(
            said,
            [
                "the exception userIdentity.userName=ci-bot (\"CI\")",
                "silence 1 userIdentity.userName=ci-bot (\"r\")"
            ]
        );
    }

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
