//! The delivery worker: drains the outbox oldest first, renders each alert for each of its
//! sinks, and records every outcome in state before going on. Per sink, a failure blocks the
//! sink's later alerts until the retry is due, so a receiver that was down gets everything
//! once, in order. An alert older than `max_delivery_age` goes to the dead letters, loudly; one
//! a sink rejects for good is parked there at once.
//!
//! Noise control: after an alert of a rule by a principal is sent to a sink, further alerts of
//! the same rule and principal within the group window are held, then sent as one message
//! ("and 14 more") when the window ends. The first one is never delayed.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::alert::fields::Fields;
use crate::alert::Alert;
use crate::backoff::Backoff;
use crate::config::Settings;
use crate::defaults;
use crate::delivery::template::Templates;
use crate::sink::{Message, Outcome, Sink, SinkSpec};
use crate::state::{OutboxEntry, State, StateError};
use crate::when;

/// Per-sink delivery health.
#[derive(Debug, Default, Clone)]
pub struct SinkHealth {
    pub failures: u32,
    pub blocked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    pub sent: u64,
    pub failed: u64,
}

#[derive(Debug)]
struct Group {
    until: Timestamp,
    /// Outbox IDs held for the summary.
    held: Vec<u64>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pass {
    pub delivered: u64,
    pub retried: u64,
    pub parked: u64,
    pub buried: u64,
    pub held: u64,
    /// When the next pass has work (a retry or a group summary falls due).
    pub next_due: Option<Timestamp>,
}

/// The worker's view of the configuration.
pub struct Deliverer {
    sinks: Vec<(SinkSpec, Sink)>,
    templates: Templates,
    tz: jiff::tz::TimeZone,
    tz_name: String,
    aliases: std::collections::BTreeMap<String, String>,
    windows: HashMap<String, Duration>,
    default_window: Duration,
    max_age: Duration,
    pub health: HashMap<String, SinkHealth>,
    groups: HashMap<(String, String, String), Group>,
}

fn ts_add(t: Timestamp, d: Duration) -> Timestamp {
    t.saturating_add(when::signed(d)).unwrap_or(t)
}

impl Deliverer {
    /// Opens every sink of the settings. Errors name the sink (never a secret).
    pub fn new(s: &Settings) -> Result<Deliverer, String> {
        let mut sinks = Vec::new();
        for spec in &s.sinks {
            sinks.push((spec.clone(), Sink::open(spec)?));
        }
        Ok(Self::with_sinks(s, sinks))
    }

    pub fn with_sinks(s: &Settings, sinks: Vec<(SinkSpec, Sink)>) -> Deliverer {
        Deliverer {
            health: sinks
                .iter()
                .map(|(sp, _)| (sp.name.clone(), SinkHealth::default()))
                .collect(),
            sinks,
            templates: s.templates.clone(),
            tz: s.timezone.clone(),
            tz_name: s.timezone_name.clone(),
            aliases: s.account_aliases.clone(),
            windows: s
                .rules
                .all()
                .iter()
                .map(|r| (r.name.clone(), s.group_window_of(&r.name)))
                .collect(),
            default_window: s.group_window,
            max_age: s.max_delivery_age,
            groups: HashMap::new(),
        }
    }

    pub fn sink_names(&self) -> Vec<String> {
        self.sinks.iter().map(|(s, _)| s.name.clone()).collect()
    }

    /// The facts of an alert.
    pub fn fields(&self, a: &Alert) -> Fields {
        let account = crate::record::parse_value(&a.record).ok().and_then(|v| {
            v.get("recipientAccountId")
                .and_then(|x| x.as_str())
                .map(str::to_string)
        });
        let alias = account.and_then(|id| self.aliases.get(&id).cloned());
        Fields::of(a, &self.tz, &self.tz_name, alias.as_deref())
    }

    /// Renders a message for one sink.
    pub fn message(
        &self,
        sink: &str,
        rule: &str,
        f: &Fields,
        sev: crate::severity::Severity,
    ) -> Message {
        let rule_t = format!("rule:{rule}");
        let sink_t = format!("sink:{sink}");
        let names = [rule_t.as_str(), sink_t.as_str()];
        let r = |which| self.templates.render(&names, which, f);
        Message {
            subject: r("subject").trim().to_string(),
            markup: r("md"),
            text: r("txt"),
            mail_text: r("mail.txt"),
            mail_html: r("mail.html"),
            title: f.title.clone(),
            link: f.console_link.clone(),
            severity: sev,
        }
    }

    fn sink(&self, name: &str) -> Option<&(SinkSpec, Sink)> {
        self.sinks.iter().find(|(s, _)| s.name == name)
    }

    /// Sends one message to one sink and records the outcome in the sink's health.
    async fn attempt(&mut self, sink: &str, m: &Message, now: Timestamp) -> Outcome {
        let Some((spec, s)) = self.sink(sink) else {
            return Outcome::Park {
                reason: format!("sink '{sink}' is no longer configured"),
            };
        };
        let retry_initial = spec.retry_initial;
        let out = s.send(m).await;
        // Waits count from the answer, not from the start of the pass.
        let now = Timestamp::now().max(now);
        let h = self.health.entry(sink.to_string()).or_default();
        match &out {
            Outcome::Delivered => {
                if h.failing_since.is_some() {
                    tracing::info!(sink, "delivery works again");
                }
                h.failures = 0;
                h.blocked_until = None;
                h.failing_since = None;
                h.sent += 1;
            }
            Outcome::Retry { reason, after } => {
                let backoff = Backoff {
                    initial: retry_initial,
                    max_delay: defaults::DELIVERY_RETRY_MAX,
                    attempts: u32::MAX,
                };
                let wait = backoff.delay(h.failures).max(after.unwrap_or_default());
                h.failures += 1;
                h.failed += 1;
                h.blocked_until = Some(ts_add(now, wait));
                h.failing_since.get_or_insert(now);
                h.last_error = Some(reason.clone());
                tracing::warn!(sink, retry_in = ?wait, "delivery failed: {reason}");
            }
            Outcome::Park { reason } => {
                h.failed += 1;
                h.last_error = Some(reason.clone());
                tracing::error!(
                    sink,
                    "delivery refused for good, alert parked in the dead letters: {reason}"
                );
            }
        }
        out
    }

    fn blocked(&self, sink: &str, now: Timestamp) -> bool {
        self.health
            .get(sink)
            .and_then(|h| h.blocked_until)
            .is_some_and(|t| t > now)
    }

    /// One pass over the outbox.
    pub async fn pass(&mut self, state: &State, now: Timestamp) -> Result<Pass, StateError> {
        let mut p = Pass::default();
        let held_ids: std::collections::HashSet<(String, u64)> = self
            .groups
            .iter()
            .flat_map(|((s, _, _), g)| g.held.iter().map(move |id| (s.clone(), *id)))
            .collect();
        for (id, mut e) in state.outbox()? {
            let age = now.duration_since(when::from_millis(e.queued_ms));
            if age > when::signed(self.max_age) {
                tracing::error!(rule = %e.alert.rule, event_id = %e.alert.event_id, pending = ?e.pending, "alert undelivered after {}: moved to the dead letters", humantime::format_duration(self.max_age));
                e.last_error.get_or_insert_with(|| "too old".into());
                state.bury(id, &e)?;
                p.buried += 1;
                continue;
            }
            let before = e.pending.clone();
            let attempts_before = e.attempts;
            let f = self.fields(&e.alert);
            for sink in before.clone() {
                if held_ids.contains(&(sink.clone(), id)) {
                    continue;
                }
                let Some((spec, _)) = self.sink(&sink) else {
                    tracing::warn!(
                        sink,
                        "an alert waits for a sink that is no longer configured: dropped for it"
                    );
                    e.pending.retain(|s| s != &sink);
                    continue;
                };
                if e.alert.severity < spec.min_severity {
                    e.pending.retain(|s| s != &sink);
                    continue;
                }
                if self.blocked(&sink, now) {
                    continue;
                }
                let window = *self
                    .windows
                    .get(&e.alert.rule)
                    .unwrap_or(&self.default_window);
                let key = (
                    sink.clone(),
                    e.alert.rule.clone(),
                    f.principal().to_string(),
                );
                if !window.is_zero() {
                    if let Some(g) = self.groups.get_mut(&key) {
                        if g.until > now {
                            g.held.push(id);
                            p.held += 1;
                            continue;
                        }
                    }
                }
                let m = self.message(&sink, &e.alert.rule, &f, e.alert.severity);
                match self.attempt(&sink, &m, now).await {
                    Outcome::Delivered => {
                        e.pending.retain(|s| s != &sink);
                        p.delivered += 1;
                        if !window.is_zero() {
                            self.groups.insert(
                                key,
                                Group {
                                    until: ts_add(now, window),
                                    held: Vec::new(),
                                },
                            );
                        }
                    }
                    Outcome::Retry { reason, .. } => {
                        e.attempts += 1;
                        e.last_error = Some(format!("{sink}: {reason}"));
                        p.retried += 1;
                    }
                    Outcome::Park { reason } => {
                        e.pending.retain(|s| s != &sink);
                        let mut dead = e.clone();
                        dead.pending = vec![sink.clone()];
                        dead.last_error = Some(format!("{sink}: {reason}"));
                        state.dead_letter(&dead)?;
                        p.parked += 1;
                    }
                }
            }
            if e.pending != before || e.attempts != attempts_before {
                state.update_outbox(id, &e)?;
            }
        }
        self.summaries(state, now, &mut p).await?;
        p.next_due = self
            .health
            .values()
            .filter_map(|h| h.blocked_until)
            .chain(
                self.groups
                    .values()
                    .filter(|g| !g.held.is_empty())
                    .map(|g| g.until),
            )
            .filter(|t| *t > now)
            .min();
        self.groups
            .retain(|_, g| g.until > now || !g.held.is_empty());
        Ok(p)
    }

    /// Sends the summaries of groups whose window has ended.
    async fn summaries(
        &mut self,
        state: &State,
        now: Timestamp,
        p: &mut Pass,
    ) -> Result<(), StateError> {
        let due: Vec<(String, String, String)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.until <= now && !g.held.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let outbox: HashMap<u64, OutboxEntry> = state.outbox()?.into_iter().collect();
        for key in due {
            let (sink, rule, _) = key.clone();
            if self.blocked(&sink, now) {
                continue;
            }
            let ids: Vec<u64> = self.groups[&key]
                .held
                .iter()
                .copied()
                .filter(|id| outbox.contains_key(id))
                .collect();
            let Some(first) = ids.first().and_then(|id| outbox.get(id)) else {
                self.groups.remove(&key);
                continue;
            };
            let mut f = self.fields(&first.alert);
            // The summary stands for every held alert; it shows the first of them.
            f.more = ids.len() as u64;
            let m = self.message(&sink, &rule, &f, first.alert.severity);
            let out = self.attempt(&sink, &m, now).await;
            if let Outcome::Delivered | Outcome::Park { .. } = out {
                for id in &ids {
                    let mut e = outbox[id].clone();
                    if let Outcome::Park { reason } = &out {
                        let mut dead = e.clone();
                        dead.pending = vec![sink.clone()];
                        dead.last_error = Some(format!("{sink}: {reason}"));
                        state.dead_letter(&dead)?;
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
                let w = *self.windows.get(&rule).unwrap_or(&self.default_window);
                self.groups.insert(
                    key,
                    Group {
                        until: ts_add(now, w),
                        held: Vec::new(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Sends a labelled test alert through each sink (or one), reporting each outcome.
    pub async fn test(&mut self, only: Option<&str>) -> Vec<(String, Outcome)> {
        let record = serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
            "eventTime": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
            "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "userAgent": "trailwatch notify-test",
            "eventID": "00000000-0000-0000-0000-000000000000", "eventType": "AwsConsoleSignIn",
            "recipientAccountId": "111122223333",
            "additionalEventData": {"MFAUsed": "Yes"}
        });
        let alert = Alert {
            rule: "notify-test".into(),
            title: "trailwatch notify-test".into(),
            subject: "notify-test".into(),
            severity: crate::severity::Severity::Info,
            event_id: "00000000-0000-0000-0000-000000000000".into(),
            event_time: record["eventTime"].as_str().unwrap_or("").into(),
            source: "notify-test".into(),
            record: record.to_string(),
        };
        let mut f = self.fields(&alert);
        f.test = true;
        let mut out = Vec::new();
        for name in self.sink_names() {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let m = self.message(&name, "notify-test", &f, alert.severity);
            let r = self.attempt(&name, &m, Timestamp::now()).await;
            out.push((name, r));
        }
        out
    }
}
