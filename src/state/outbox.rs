//! Raised alerts, the outbox and the dead letters: an alert enters the outbox in the same
//! transaction that records it as raised; the delivery worker updates it per sink; what no
//! sink can take goes to the dead letters, from which `redrive` puts it back.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::history::{delivered_now, value_of, HistoryEntry, Status};
use super::keys::{entry_id, entry_key, i64_of, id_bytes, EntryId};
use super::{State, StateError};
use crate::alert::Alert;
use crate::when;

type Result<T> = std::result::Result<T, StateError>;

/// An alert waiting in the outbox, with its delivery progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxEntry {
    pub alert: Alert,
    /// Sinks that have not confirmed delivery yet.
    pub pending: Vec<String>,
    /// When the alert entered the outbox (ms since the epoch).
    pub queued_ms: i64,
    /// When delivery was first attempted (ms); `max_delivery_age` counts from here, so alerts
    /// queued while the host was down are not buried untried.
    #[serde(default)]
    pub first_attempt_ms: Option<i64>,
    /// Delivery attempts so far, over all sinks.
    #[serde(default)]
    pub attempts: u32,
    /// The last delivery error, for `state show` and dead letters.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Its alert in the history (entries queued before the history existed have none).
    #[serde(default)]
    pub history: Option<u64>,
}

impl OutboxEntry {
    /// A new entry for `sinks`, its alert `history` in the history.
    fn new(alert: Alert, sinks: Vec<String>, now_ms: i64, history: u64) -> OutboxEntry {
        OutboxEntry {
            alert,
            pending: sinks,
            queued_ms: now_ms,
            first_attempt_ms: None,
            attempts: 0,
            last_error: None,
            history: Some(history),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an outbox entry serializes")
    }
}

/// What one raise recorded: the alert to deliver, if any rule of the event is live, and the
/// matches kept from delivery on purpose (silenced, excepted, shadow), with why.
#[derive(Debug)]
pub struct Raised {
    pub live: Option<(Alert, Vec<String>)>,
    pub quiet: Vec<(Alert, Status)>,
}

fn storage(e: TransactionError<()>) -> sled::Error {
    match e {
        TransactionError::Storage(e) => e,
        TransactionError::Abort(()) => unreachable!("the transactions never abort"),
    }
}

impl State {
    /// Records `alert` as raised and queues it for `sinks`, in one transaction. Returns false
    /// (and queues nothing) when it was raised before. Not durable until `flush`.
    pub fn raise(&self, alert: &Alert, sinks: Vec<String>, now: Timestamp) -> Result<bool> {
        let raised = self.raise_event(
            std::slice::from_ref(alert),
            &[None],
            &|_| sinks.clone(),
            now,
        )?;
        Ok(raised.is_some())
    }

    /// Records the alerts of one event (one per rule it matched) as raised, in one
    /// transaction: those new to the state and not kept quiet (`quiet[i]` is `None`) are
    /// queued as one alert (`Alert::merge`) for the sinks `sinks_of` gives them; the others
    /// are kept in the history with their status (silenced, excepted, shadow). Returns what
    /// was recorded (`None`: all were raised before). Not durable until `flush`.
    pub fn raise_event(
        &self,
        parts: &[Alert],
        quiet: &[Option<Status>],
        sinks_of: &dyn Fn(&[&Alert]) -> Vec<String>,
        now: Timestamp,
    ) -> Result<Option<Raised>> {
        let Some(first) = parts.first() else {
            return Ok(None);
        };
        let event_ms = first
            .event_time
            .parse::<Timestamp>()
            .map_or_else(|_| when::millis(now), when::millis);
        // Remembered from when it was raised (not from its eventTime: an old event read from a
        // file or a backfill must not be raised again the day after).
        let now_ms = when::millis(now);
        let raised_ms = now_ms.to_be_bytes();
        self.with(|s| {
            // History ids start at 1 and count one by one: people type them (`alerts show 1`).
            // Taken when an alert is remembered (a transaction run again skips a few).
            (&s.raised.inner, &s.outbox.inner, &s.history.inner)
                .transaction(|(raised, outbox, history)| {
                    let (mut live, mut kept) = (Vec::new(), Vec::new());
                    for (i, p) in parts.iter().enumerate() {
                        let keys = p.dedupe_keys();
                        if raised.get(&keys[0])?.is_some() {
                            continue;
                        }
                        for k in &keys {
                            raised.insert(k.as_slice(), &raised_ms)?;
                            s.raised.mark(k);
                        }
                        match quiet.get(i).cloned().flatten() {
                            None => live.push(p),
                            Some(st) => kept.push((i, p, st)),
                        }
                    }
                    if live.is_empty() && kept.is_empty() {
                        return Ok(None);
                    }
                    let mut out = Raised {
                        live: None,
                        quiet: Vec::new(),
                    };
                    let remember = |id: u64, alert: &Alert, status: Status, sinks: Vec<String>| {
                        let e = HistoryEntry::new(id, alert.clone(), now_ms, status, sinks);
                        s.history.mark(&id.to_be_bytes());
                        history.insert(&id.to_be_bytes(), value_of(&e))
                    };
                    if !live.is_empty() {
                        let alert = Alert::merge(&live);
                        let sinks = sinks_of(&live);
                        let status = match sinks.is_empty() {
                            true => Status::Nowhere,
                            false => Status::Queued,
                        };
                        let id = s.alert_id();
                        remember(id, &alert, status, sinks.clone())?;
                        if !sinks.is_empty() {
                            let key = entry_key(event_ms, id);
                            let entry = OutboxEntry::new(alert.clone(), sinks.clone(), now_ms, id);
                            outbox.insert(&key, entry.to_bytes())?;
                            s.outbox.mark(&key);
                        }
                        out.live = Some((alert, sinks));
                    }
                    for (_, p, st) in kept {
                        remember(s.alert_id(), p, st.clone(), sinks_of(&[p]))?;
                        out.quiet.push((p.clone(), st));
                    }
                    Ok::<_, ConflictableTransactionError<()>>(Some(out))
                })
                .map_err(storage)
        })
    }

    /// Forgets raised alerts raised before `before`.
    pub fn expire_raised(&self, before: Timestamp) -> Result<usize> {
        let limit = when::millis(before);
        self.with(|s| {
            let mut n = 0;
            for kv in s.raised.iter() {
                let (k, v) = kv?;
                if i64_of(&v) < limit {
                    s.raised.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// How many alerts are remembered as raised.
    pub fn raised_len(&self) -> usize {
        self.with(|s| Ok(s.raised.len())).unwrap_or(0)
    }

    /// The outbox, oldest event first.
    pub fn outbox(&self) -> Result<Vec<(EntryId, OutboxEntry)>> {
        self.entries(|s| &s.outbox)
    }

    /// The outbox's ids, oldest event first: a delivery pass reads each entry as it comes to
    /// it (`outbox_entry`), so a long outbox costs its ids in memory, not its alerts.
    pub fn outbox_ids(&self) -> Result<Vec<EntryId>> {
        self.with(|s| {
            s.outbox
                .iter()
                .keys()
                .map(|k| k.map(|k| entry_id(&k)))
                .collect()
        })
    }

    /// One outbox entry, if it is still there.
    pub fn outbox_entry(&self, id: EntryId) -> Result<Option<OutboxEntry>> {
        let Some(v) = self.with(|s| s.outbox.get(id_bytes(id)))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("outbox entry {id}: {e}")))
    }

    /// The outbox entries of `ids` still there.
    pub fn outbox_entries(
        &self,
        ids: impl IntoIterator<Item = EntryId>,
    ) -> Result<std::collections::HashMap<EntryId, OutboxEntry>> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            if let Some(e) = self.outbox_entry(id)? {
                out.insert(id, e);
            }
        }
        Ok(out)
    }

    pub fn outbox_len(&self) -> usize {
        self.with(|s| Ok(s.outbox.len())).unwrap_or(0)
    }

    /// The dead letters, in the order they died.
    pub fn dead_letters(&self) -> Result<Vec<(EntryId, OutboxEntry)>> {
        self.entries(|s| &s.dead)
    }

    pub fn dead_len(&self) -> usize {
        self.with(|s| Ok(s.dead.len())).unwrap_or(0)
    }

    fn entries(
        &self,
        tree: impl Fn(&super::store::Store) -> &super::tree::Tree,
    ) -> Result<Vec<(EntryId, OutboxEntry)>> {
        let raw: Vec<(sled::IVec, sled::IVec)> =
            self.with(|s| tree(s).iter().collect::<std::result::Result<_, _>>())?;
        raw.into_iter()
            .map(|(k, v)| {
                let id = entry_id(&k);
                let e = serde_json::from_slice(&v)
                    .map_err(|e| StateError::Corrupt(format!("outbox entry {id}: {e}")))?;
                Ok((id, e))
            })
            .collect()
    }

    /// Rewrites an outbox entry (after a partial delivery or a failed attempt); removes it when
    /// no sink is pending. Durable on return.
    pub fn update_outbox(&self, id: EntryId, entry: &OutboxEntry) -> Result<()> {
        let k = id_bytes(id);
        if let Some(h) = entry.history {
            let now = when::millis(Timestamp::now());
            self.touch_history(h, |e| {
                delivered_now(e, &entry.pending, now);
                if entry.last_error.is_some() {
                    e.last_error.clone_from(&entry.last_error);
                }
            })?;
        }
        self.with(|s| {
            if entry.pending.is_empty() {
                s.outbox.remove(k)?;
            } else {
                let v = serde_json::to_vec(entry).expect("an outbox entry serializes");
                s.outbox.insert(k, v)?;
            }
            s.flush()
        })
    }

    /// Moves an outbox entry to the dead letters. Durable on return.
    pub fn bury(&self, id: EntryId, entry: &OutboxEntry) -> Result<()> {
        if let Some(h) = entry.history {
            self.touch_history(h, |e| {
                e.status = Status::Dead;
                e.last_error.clone_from(&entry.last_error);
            })?;
        }
        let v = serde_json::to_vec(entry).expect("an outbox entry serializes");
        let k = id_bytes(id);
        self.with(|s| {
            let dk = entry_key(when::millis(Timestamp::now()), s.new_id()?);
            s.outbox.mark(&k);
            s.dead.mark(&dk);
            (&s.outbox.inner, &s.dead.inner)
                .transaction(|(outbox, dead)| {
                    outbox.remove(k.as_slice())?;
                    dead.insert(&dk, v.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(storage)?;
            s.flush()
        })
    }

    /// Adds a copy of an alert to the dead letters (a sink refused it for good), leaving the
    /// outbox entry to the other sinks. Durable on return.
    pub fn dead_letter(&self, entry: &OutboxEntry) -> Result<()> {
        if let Some(h) = entry.history {
            self.touch_history(h, |e| {
                e.refused.extend(entry.pending.iter().cloned());
                e.status = Status::Dead;
                e.last_error.clone_from(&entry.last_error);
            })?;
        }
        let v = serde_json::to_vec(entry).expect("an outbox entry serializes");
        self.with(|s| {
            let dk = entry_key(when::millis(Timestamp::now()), s.new_id()?);
            s.dead.insert(dk, v)?;
            s.flush()
        })
    }

    /// Puts dead letters (of one sink, or all) back in the outbox, to be tried again as new
    /// (their attempts and age start over). Returns how many. Durable on return.
    pub fn redrive(&self, sink: Option<&str>) -> Result<usize> {
        let dead = self.dead_letters()?;
        let mut n = 0;
        for (id, mut e) in dead {
            if sink.is_some_and(|k| !e.pending.iter().any(|p| p == k)) {
                continue;
            }
            e.first_attempt_ms = None;
            e.attempts = 0;
            e.queued_ms = when::millis(Timestamp::now());
            if let Some(h) = e.history {
                self.touch_history(h, |x| {
                    x.status = Status::Queued;
                    x.refused.retain(|r| !e.pending.contains(r));
                })?;
            }
            let v = serde_json::to_vec(&e).expect("an outbox entry serializes");
            let event_ms = e
                .alert
                .event_time
                .parse::<Timestamp>()
                .map_or_else(|_| e.queued_ms, when::millis);
            let dk = id_bytes(id);
            self.with(|s| {
                let key = entry_key(event_ms, s.new_id()?);
                s.outbox.mark(&key);
                s.dead.mark(&dk);
                (&s.outbox.inner, &s.dead.inner)
                    .transaction(|(outbox, dead)| {
                        dead.remove(dk.as_slice())?;
                        outbox.insert(&key, v.as_slice())?;
                        Ok::<_, ConflictableTransactionError<()>>(())
                    })
                    .map_err(storage)
            })?;
            n += 1;
        }
        self.flush()?;
        Ok(n)
    }
}
