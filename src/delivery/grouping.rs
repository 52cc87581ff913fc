//! Noise control: after an alert of a rule by a principal is sent to a sink, further alerts of
//! the same rule and principal within the group window are held, then sent as one summary
//! ("and 14 more") when the window ends. The first one is never delayed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::names::OwnAlert;
use crate::state::EntryId;
use crate::when;

/// A group: one sink, one rule, one principal.
pub(crate) type GroupKey = (String, String, String);

#[derive(Debug)]
struct Group {
    until: Timestamp,
    /// Outbox IDs held for the summary.
    held: Vec<EntryId>,
}

/// The open groups and each rule's window.
#[derive(Debug, Default)]
pub struct Grouping {
    windows: HashMap<String, Duration>,
    default: Duration,
    groups: HashMap<GroupKey, Group>,
    /// The first message sent of each group key, that later ones refer to (email threads).
    threads: HashMap<GroupKey, String>,
}

/// Threads remembered at most (the oldest are forgotten first).
const MAX_THREADS: usize = 10_000;

impl Grouping {
    /// `windows`: each rule's window; `default` for the others.
    pub fn new(windows: HashMap<String, Duration>, default: Duration) -> Grouping {
        Grouping {
            windows,
            default,
            groups: HashMap::new(),
            threads: HashMap::new(),
        }
    }

    /// The thread a message of `key` belongs to: the first message of that key, if it was
    /// another one; `id` starts a thread otherwise.
    pub fn thread(&mut self, key: &GroupKey, id: &str) -> Option<String> {
        if self.threads.len() >= MAX_THREADS && !self.threads.contains_key(key) {
            self.threads.clear();
        }
        let first = self
            .threads
            .entry(key.clone())
            .or_insert_with(|| id.to_string());
        (first != id).then(|| first.clone())
    }

    /// A rule's window (zero: no grouping). Alerts of trailwatch itself (health, late
    /// events…) are never held behind one another.
    pub fn window(&self, rule: &str) -> Duration {
        if OwnAlert::is_own(rule) {
            return Duration::ZERO;
        }
        *self.windows.get(rule).unwrap_or(&self.default)
    }

    /// The outbox entries held, per sink.
    pub fn held_ids(&self) -> HashSet<(String, EntryId)> {
        self.groups
            .iter()
            .flat_map(|((s, _, _), g)| g.held.iter().map(move |id| (s.clone(), *id)))
            .collect()
    }

    /// Holds entry `id` when its group's window is open; true when held.
    pub fn hold(&mut self, key: &GroupKey, id: EntryId, now: Timestamp) -> bool {
        if self.window(&key.1).is_zero() {
            return false;
        }
        match self.groups.get_mut(key) {
            Some(g) if g.until > now => {
                g.held.push(id);
                true
            }
            _ => false,
        }
    }

    /// A message of the group went out at `now`: its window opens (again).
    pub fn sent(&mut self, key: GroupKey, now: Timestamp) {
        let w = self.window(&key.1);
        if !w.is_zero() {
            let until = now.saturating_add(when::signed(w)).unwrap_or(now);
            self.groups.insert(
                key,
                Group {
                    until,
                    held: Vec::new(),
                },
            );
        }
    }

    /// Groups whose window has ended with alerts held.
    pub fn due(&self, now: Timestamp) -> Vec<GroupKey> {
        self.groups
            .iter()
            .filter(|(_, g)| g.until <= now && !g.held.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The entries a group holds.
    pub fn held(&self, key: &GroupKey) -> &[EntryId] {
        self.groups.get(key).map_or(&[], |g| &g.held)
    }

    pub fn forget(&mut self, key: &GroupKey) {
        self.groups.remove(key);
    }

    /// When the next summary falls due.
    pub fn next_due(&self, now: Timestamp) -> Option<Timestamp> {
        self.groups
            .values()
            .filter(|g| !g.held.is_empty() && g.until > now)
            .map(|g| g.until)
            .min()
    }

    /// Drops groups whose window has ended with nothing held.
    pub fn prune(&mut self, now: Timestamp) {
        self.groups
            .retain(|_, g| g.until > now || !g.held.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_of_trailwatch_itself_are_never_grouped() {
        let windows =
            HashMap::from([(OwnAlert::Health.name().to_string(), Duration::from_secs(60))]);
        let g = Grouping::new(windows, Duration::from_secs(300));
        assert_eq!(g.window(OwnAlert::Health.name()), Duration::ZERO);
        assert_eq!(g.window(OwnAlert::LateEvent.name()), Duration::ZERO);
        assert_eq!(g.window("root-usage"), Duration::from_secs(300));
    }
}
