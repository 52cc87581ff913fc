//! The delivery worker: drains the outbox oldest first, renders each alert for each of its
//! sinks, and records every outcome in state before going on. Per sink, a failure blocks the
//! sink's later alerts until the retry is due, so a receiver that was down gets everything
//! once, in order. An alert older than `max_delivery_age` goes to the dead letters, loudly; one
//! a sink rejects for good is parked there at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::grouping::{GroupKey, Grouping};
use super::health::SinkHealth;
use super::render::Renderer;
use super::storm::{storm_alert, Storm};
use crate::alert::fields::Fields;
use crate::alert::{Alert, Event, Kind, RuleFacts};
use crate::names::OwnAlert;
use crate::severity::Severity;
use crate::sink::{Message, OpenError, Outcome, Sink, SinkSpec};
use crate::state::{EntryId, OutboxEntry, State, StateError};
use crate::when;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Pass {
    pub delivered: u64,
    pub retried: u64,
    pub parked: u64,
    pub buried: u64,
    pub held: u64,
    /// When the next pass has work (a retry or a group summary falls due).
    pub next_due: Option<Timestamp>,
}

/// What to do with one pending sink of one entry.
enum Step {
    /// Not now (the sink waits for a retry, or the entry waits for its group's summary).
    Wait,
    /// Held now for its group's summary.
    Held,
    /// The sink is no longer configured.
    Drop,
    /// The sink had enough messages in this pass: summed up in its storm message.
    Storm,
    Send(GroupKey),
}

/// What the worker needs, assembled from the configuration (nothing opened yet).
pub struct Plan {
    pub sinks: Vec<SinkSpec>,
    pub render: Renderer,
    pub grouping: Grouping,
    /// An alert still undelivered this long after its first attempt goes to the dead letters.
    pub max_age: Duration,
}

/// A sink's pace: messages per second it takes.
type Pace = governor::DefaultDirectRateLimiter;

/// The worker: the open sinks, and its memory of sinks and groups.
pub(crate) struct Deliverer {
    sinks: Vec<(SinkSpec, Sink)>,
    paces: HashMap<String, Pace>,
    render: Arc<Renderer>,
    grouping: Grouping,
    max_age: Duration,
    pub health: HashMap<String, SinkHealth>,
    /// Deliveries a sink confirmed but the outbox could not record (the state could not be
    /// written): not sent again, recorded once the state works.
    sent_unrecorded: HashSet<(EntryId, String)>,
}

impl Deliverer {
    /// Opens every sink of the plan. Errors name the sink (never a secret).
    pub(crate) fn open(plan: Plan) -> Result<Deliverer, OpenError> {
        let mut sinks = Vec::new();
        for spec in &plan.sinks {
            sinks.push((spec.clone(), Sink::open(spec)?));
        }
        Ok(Self::with_sinks(plan, sinks))
    }

    /// The plan's worker with sinks already open.
    pub(crate) fn with_sinks(plan: Plan, sinks: Vec<(SinkSpec, Sink)>) -> Deliverer {
        Deliverer {
            health: sinks
                .iter()
                .map(|(sp, _)| (sp.name.clone(), SinkHealth::default()))
                .collect(),
            paces: sinks
                .iter()
                .filter_map(|(sp, _)| Some((sp.name.clone(), pace(sp.rate?))))
                .collect(),
            sinks,
            render: Arc::new(plan.render),
            grouping: plan.grouping,
            max_age: plan.max_age,
            sent_unrecorded: HashSet::new(),
        }
    }

    pub(crate) fn sink_names(&self) -> Vec<String> {
        self.sinks.iter().map(|(s, _)| s.name.clone()).collect()
    }

    fn sink(&self, name: &str) -> Option<&(SinkSpec, Sink)> {
        self.sinks.iter().find(|(s, _)| s.name == name)
    }

    fn blocked(&self, sink: &str, now: Timestamp) -> bool {
        self.health.get(sink).is_some_and(|h| h.blocked(now))
    }

    /// Sends one alert (its facts `f`) to one sink and records the outcome in the sink's
    /// health.
    async fn attempt(&mut self, sink: &str, a: &Alert, f: &Fields, now: Timestamp) -> Outcome {
        let render = self.render.clone();
        let texts = render.for_sink(&a.rule, sink);
        let mut m = Message::new(f, a.severity, &texts);
        m.record = &a.record;
        m.rules = a.rules().map(str::to_string).collect();
        m.id = message_id(a, f.more);
        let thread = (sink.to_string(), a.rule.clone(), a.principal.clone());
        m.thread = self.grouping.thread(&thread, &m.id);
        let Some((spec, s)) = self.sink(sink) else {
            return Outcome::Park {
                reason: format!("sink '{sink}' is no longer configured"),
            };
        };
        let retry_initial = spec.retry_initial;
        if let Some(p) = self.paces.get(sink) {
            p.until_ready().await;
        }
        let out = s.send(&m).await;
        // Waits count from the answer, not from the start of the pass.
        let now = Timestamp::now().max(now);
        let h = self.health.entry(sink.to_string()).or_default();
        match &out {
            Outcome::Delivered => h.delivered(sink),
            Outcome::Retry { reason, after } => h.retry(sink, reason, *after, retry_initial, now),
            Outcome::Park { reason } => h.parked(sink, reason),
        }
        out
    }

    /// One pass over the outbox.
    pub(crate) async fn pass(&mut self, state: &State, now: Timestamp) -> Result<Pass, StateError> {
        self.pass_until(state, now, &|| false).await
    }

    /// One pass over the outbox that ends between two entries when `stop()` says so (a
    /// reload or a stop never cuts an attempt in half, nor forgets one a sink confirmed).
    pub(crate) async fn pass_until(
        &mut self,
        state: &State,
        now: Timestamp,
        stop: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Pass, StateError> {
        let mut p = Pass::default();
        let held = self.grouping.held_ids();
        let mut storm = Storm::default();
        for id in state.outbox_ids()? {
            // A shared state another instance may have taken over: it sends, not this one.
            if stop() || !state.held() {
                break;
            }
            // Read as it comes (a long outbox is never in memory whole); gone meanwhile: sent.
            let Some(mut e) = state.outbox_entry(id)? else {
                continue;
            };
            // Age counts from the first attempt: alerts queued while the host was down are
            // tried before they can be buried.
            let first = e.first_attempt_ms.map(when::from_millis);
            if first.is_some_and(|t| now.duration_since(t) > when::signed(self.max_age)) {
                tracing::error!(rule = %e.alert.rule, event_id = %e.alert.event_id, pending = ?e.pending, "alert undelivered {} after its first attempt: moved to the dead letters", humantime::format_duration(self.max_age));
                e.last_error.get_or_insert_with(|| "too old".into());
                state.bury(id, &e)?;
                p.buried += 1;
                continue;
            }
            let before = (e.pending.clone(), e.attempts);
            self.deliver_entry(state, id, &mut e, &held, now, &mut p, &mut storm)
                .await?;
            if (&e.pending, e.attempts) != (&before.0, before.1) {
                if let Err(err) = state.update_outbox(id, &e) {
                    // Sent, but not recorded: remember it, so that it is not sent again.
                    for sink in before.0.iter().filter(|s| !e.pending.contains(s)) {
                        self.sent_unrecorded.insert((id, sink.clone()));
                    }
                    return Err(err);
                }
                self.sent_unrecorded.retain(|(i, _)| *i != id);
            }
        }
        if state.held() {
            self.summaries(state, now, &mut p).await?;
            self.storms(state, storm, now, &mut p).await?;
        }
        let retries = self.health.values().filter_map(|h| h.blocked_until);
        p.next_due = retries
            .filter(|t| *t > now)
            .chain(self.grouping.next_due(now))
            .min();
        self.grouping.prune(now);
        Ok(p)
    }

    /// What to do with `sink` for entry `id` now.
    fn step(
        &mut self,
        sink: &str,
        id: EntryId,
        e: &OutboxEntry,
        held: &HashSet<(String, EntryId)>,
        now: Timestamp,
        storm: &Storm,
    ) -> Step {
        if held.contains(&(sink.to_string(), id)) {
            return Step::Wait;
        }
        if self.sink(sink).is_none() {
            tracing::warn!(
                sink,
                "an alert waits for a sink that is no longer configured: dropped for it"
            );
            return Step::Drop;
        }
        if self.blocked(sink, now) {
            return Step::Wait;
        }
        let limit = self.sink(sink).map_or(0, |(spec, _)| spec.storm_after);
        if storm.full(sink, limit) && !OwnAlert::is_own(&e.alert.rule) {
            return Step::Storm;
        }
        let key = (
            sink.to_string(),
            e.alert.rule.clone(),
            e.alert.principal.clone(),
        );
        if self.grouping.hold(&key, id, now) {
            return Step::Held;
        }
        Step::Send(key)
    }

    /// Tries every pending sink of one entry, updating it (not yet saved). The alert's facts
    /// are computed once, and only when a sink sends it.
    #[allow(clippy::too_many_arguments)]
    async fn deliver_entry(
        &mut self,
        state: &State,
        id: EntryId,
        e: &mut OutboxEntry,
        held: &HashSet<(String, EntryId)>,
        now: Timestamp,
        p: &mut Pass,
        storm: &mut Storm,
    ) -> Result<(), StateError> {
        let mut facts: Option<Fields> = None;
        for sink in e.pending.clone() {
            if self.sent_unrecorded.contains(&(id, sink.clone())) {
                e.pending.retain(|s| s != &sink);
                continue;
            }
            let key = match self.step(&sink, id, e, held, now, storm) {
                Step::Wait => continue,
                Step::Storm => {
                    storm.hold(&sink, id);
                    continue;
                }
                Step::Held => {
                    p.held += 1;
                    continue;
                }
                Step::Drop => {
                    e.pending.retain(|s| s != &sink);
                    continue;
                }
                Step::Send(key) => key,
            };
            let f = facts.get_or_insert_with(|| self.render.fields(&e.alert));
            e.first_attempt_ms.get_or_insert(when::millis(now));
            storm.sent(&sink);
            match self.attempt(&sink, &e.alert, f, now).await {
                Outcome::Delivered => {
                    e.pending.retain(|s| s != &sink);
                    p.delivered += 1;
                    self.grouping.sent(key, now);
                }
                Outcome::Retry { reason, .. } => {
                    e.attempts += 1;
                    e.last_error = Some(format!("{sink}: {reason}"));
                    p.retried += 1;
                }
                Outcome::Park { reason } => {
                    e.pending.retain(|s| s != &sink);
                    park(state, e, &sink, &reason)?;
                    p.parked += 1;
                }
            }
        }
        Ok(())
    }

    /// Sends the summaries of groups whose window has ended.
    async fn summaries(
        &mut self,
        state: &State,
        now: Timestamp,
        p: &mut Pass,
    ) -> Result<(), StateError> {
        let due = self.grouping.due(now);
        if due.is_empty() {
            return Ok(());
        }
        let wanted: Vec<EntryId> = due
            .iter()
            .flat_map(|k| self.grouping.held(k).iter().copied())
            .collect();
        let outbox: HashMap<EntryId, OutboxEntry> = state.outbox_entries(wanted)?;
        for key in due {
            let sink = key.0.clone();
            if self.blocked(&sink, now) {
                continue;
            }
            let ids: Vec<EntryId> = self
                .grouping
                .held(&key)
                .iter()
                .copied()
                .filter(|id| outbox.contains_key(id))
                .collect();
            let Some(first) = ids.first().and_then(|id| outbox.get(id)) else {
                self.grouping.forget(&key);
                continue;
            };
            // The summary stands for every held alert, counts them and lists each; its facts
            // are the first held one's.
            let mut f = self.render.fields(&first.alert);
            f.more = ids.len() as u64;
            f.held = ids
                .iter()
                .take(MAX_HELD_LINES)
                .map(|id| self.render.fields(&outbox[id].alert).held_line())
                .collect();
            if ids.len() > MAX_HELD_LINES {
                f.held.push(format!("… (+{})", ids.len() - MAX_HELD_LINES));
            }
            let out = self.attempt(&sink, &first.alert, &f, now).await;
            if let Outcome::Retry { .. } = out {
                continue;
            }
            for id in &ids {
                let mut e = outbox[id].clone();
                if let Outcome::Park { reason } = &out {
                    park(state, &e, &sink, reason)?;
                }
                e.pending.retain(|s| s != &sink);
                state.update_outbox(*id, &e)?;
            }
            if matches!(out, Outcome::Delivered) {
                p.delivered += 1;
            } else {
                p.parked += 1;
            }
            // Repeats keep being summed up, one message per window, while they continue.
            self.grouping.sent(key, now);
        }
        Ok(())
    }

    /// Sends each sink's storm message: the alerts it held back in this pass, summed up. Once
    /// delivered (or refused for good), they are no longer pending for that sink.
    async fn storms(
        &mut self,
        state: &State,
        storm: Storm,
        now: Timestamp,
        p: &mut Pass,
    ) -> Result<(), StateError> {
        if storm.held.is_empty() {
            return Ok(());
        }
        let wanted: Vec<EntryId> = storm.held.values().flatten().copied().collect();
        let outbox: HashMap<EntryId, OutboxEntry> = state.outbox_entries(wanted)?;
        let lang = self.render.templates.language();
        for (sink, ids) in storm.held {
            let entries: Vec<&OutboxEntry> = ids.iter().filter_map(|id| outbox.get(id)).collect();
            if entries.is_empty() {
                continue;
            }
            let sent = self.sink(&sink).map_or(0, |(s, _)| s.storm_after);
            let a = storm_alert(&entries, sent, lang);
            let f = self.render.fields(&a);
            tracing::warn!(sink = %sink, held = entries.len(), "alert storm: {}", a.title);
            let out = self.attempt(&sink, &a, &f, now).await;
            if let Outcome::Retry { .. } = out {
                continue;
            }
            for id in &ids {
                let Some(mut e) = outbox.get(id).cloned() else {
                    continue;
                };
                if let Outcome::Park { reason } = &out {
                    park(state, &e, &sink, reason)?;
                }
                e.pending.retain(|s| s != &sink);
                state.update_outbox(*id, &e)?;
            }
            if matches!(out, Outcome::Delivered) {
                p.delivered += 1;
            } else {
                p.parked += 1;
            }
        }
        Ok(())
    }

    /// Sends an alert to `sinks` now, once, without the outbox (an alert of trailwatch itself
    /// while the state cannot be written).
    pub(crate) async fn send_direct(&mut self, a: &Alert, sinks: &[String]) {
        let f = self.render.fields(a);
        for sink in sinks {
            match self.attempt(sink, a, &f, Timestamp::now()).await {
                Outcome::Delivered => {}
                other => tracing::error!(
                    sink,
                    "an alert of trailwatch itself could not be sent ({other:?}): {}",
                    a.title
                ),
            }
        }
    }

    /// Passes until nothing falls due within 30 s (`backfill --notify`, `run --once`).
    pub(crate) async fn drain(&mut self, state: &State) -> Result<(), StateError> {
        loop {
            let p = self.pass(state, Timestamp::now()).await?;
            let wait = p
                .next_due
                .map(|t| t.duration_since(Timestamp::now()))
                .filter(|d| *d < jiff::SignedDuration::from_secs(30));
            match wait {
                Some(d) => tokio::time::sleep(Duration::try_from(d).unwrap_or_default()).await,
                None => return Ok(()),
            }
        }
    }

    /// Sends a labelled test alert through each sink (or one), reporting each outcome.
    pub(crate) async fn test(&mut self, only: Option<&str>) -> Vec<(String, Outcome)> {
        let alert = test_alert();
        let mut f = self.render.fields(&alert);
        f.test = true;
        // Its event is made up: the console link opens the event history, not an event.
        if let Some((history, _)) = f.console_link.rsplit_once("/events/") {
            f.console_link = format!("{history}/events");
        }
        let mut out = Vec::new();
        for name in self.sink_names() {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let r = self.attempt(&name, &alert, &f, Timestamp::now()).await;
            out.push((name, r));
        }
        out
    }
}

/// A pace of `rate` messages per second (a burst of one).
fn pace(rate: f64) -> Pace {
    let per = std::time::Duration::from_secs_f64(1.0 / rate.max(0.001));
    governor::RateLimiter::direct(
        governor::Quota::with_period(per)
            .expect("a positive period")
            .allow_burst(std::num::NonZeroU32::MIN),
    )
}

/// The most held alerts a summary lists one by one.
const MAX_HELD_LINES: usize = 20;

/// What identifies the message of an alert (a summary of `more` held ones): the same at
/// every attempt, different for every alert and summary.
fn message_id(a: &Alert, more: u64) -> String {
    let h = crate::names::stable_hash(a.event_id.bytes().chain([0]).chain(a.rule.bytes()));
    if more > 0 {
        format!("{h:016x}.more{more}")
    } else {
        format!("{h:016x}")
    }
}

/// Copies an entry into the dead letters for one sink that refused it for good.
fn park(state: &State, e: &OutboxEntry, sink: &str, reason: &str) -> Result<(), StateError> {
    let mut dead = e.clone();
    dead.pending = vec![sink.to_string()];
    dead.last_error = Some(format!("{sink}: {reason}"));
    state.dead_letter(&dead)
}

/// The alert `notify-test` sends: a root console sign-in, clearly labelled as a test.
fn test_alert() -> Alert {
    let time = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let id = "00000000-0000-0000-0000-000000000000";
    let record = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
        "eventTime": time,
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "userAgent": "trailwatch notify-test",
        "eventID": id, "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "111122223333",
        "additionalEventData": {"MFAUsed": "Yes"}
    });
    let rule = RuleFacts {
        name: "notify-test",
        title: "trailwatch notify-test",
        subject: "notify-test",
        severity: Severity::Info,
    };
    let event = Event {
        id: id.into(),
        time,
        source: "notify-test".into(),
        record: record.to_string(),
        principal: "arn:aws:iam::111122223333:root".into(),
    };
    Alert::new(rule, event, Kind::Match)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A console sink, a day's `max_delivery_age`, and an open state.
    fn setup() -> (tempfile::TempDir, Deliverer, State) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            format!(
                "state_dir = \"{}/state\"\nmax_delivery_age = \"24h\"\n[[sources]]\nname = \"f\"\ntype = \"files\"\npath = \"{}\"\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
                dir.path().display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let s = crate::settings::Settings::load(&cfg).unwrap();
        let state = State::open(&dir.path().join("state")).unwrap();
        (dir, Deliverer::open(s.delivery_plan()).unwrap(), state)
    }

    #[tokio::test]
    async fn age_counts_from_the_first_attempt_not_from_the_raise() {
        let (_dir, mut d, state) = setup();
        let now = Timestamp::now();
        let day = jiff::SignedDuration::from_hours(25);
        // Raised 25 hours ago while the host was down: never tried, so it is tried now.
        state
            .raise(&test_alert(), vec!["out".into()], now - day)
            .unwrap();
        let p = d.pass(&state, now).await.unwrap();
        assert_eq!((p.delivered, p.buried), (1, 0));
        // Tried first 25 hours ago and still pending: buried.
        let mut a = test_alert();
        a.event_id = "e2".into();
        state.raise(&a, vec!["out".into()], now - day).unwrap();
        let (id, mut e) = state.outbox().unwrap().remove(0);
        e.first_attempt_ms = Some(when::millis(now - day));
        state.update_outbox(id, &e).unwrap();
        let p = d.pass(&state, now).await.unwrap();
        assert_eq!((p.delivered, p.buried), (0, 1));
        assert_eq!(state.dead_len(), 1);
    }
}
