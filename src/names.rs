//! The names trailwatch gives to what it makes, in one place: its own alerts (`OwnAlert`: a
//! failing stream, a takeover…), the ids it makes up, the state's manifest. They all live in
//! the `trailwatch-` namespace, which no configured rule may take (`rules` refuses such a
//! name), so "is this trailwatch's own alert?" has one answer: `OwnAlert::is_own`.

/// The namespace of every name below.
pub(crate) const PREFIX: &str = "trailwatch-";

/// The kinds of trailwatch's own alerts. They are never silenced, grouped or summed up in a
/// storm: each is how trailwatch says it may not be seeing everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OwnAlert {
    /// A stream or sink failing.
    Health,
    /// A stream or sink working again.
    Recovery,
    /// "Still watching", on its schedule.
    Heartbeat,
    /// An account or region that no stream reads.
    Coverage,
    /// An event later than `overlap`, found by the sweep.
    LateEvent,
    /// Too many alerts for a sink at once: the rest summed up.
    Storm,
    /// An object whose name gives a time that cannot be trusted.
    SuspiciousObject,
    /// An object that cannot be read, set aside.
    UnreadableObject,
    /// An instance took over the lease from another.
    Takeover,
    /// The trail's digests show a log file or a digest changed, deleted or planted.
    Integrity,
}

impl OwnAlert {
    /// Every kind.
    pub(crate) const ALL: [OwnAlert; 10] = [
        OwnAlert::Health,
        OwnAlert::Recovery,
        OwnAlert::Heartbeat,
        OwnAlert::Coverage,
        OwnAlert::LateEvent,
        OwnAlert::Storm,
        OwnAlert::SuspiciousObject,
        OwnAlert::UnreadableObject,
        OwnAlert::Takeover,
        OwnAlert::Integrity,
    ];

    /// Its rule name, as alerts, the history and silences show it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            OwnAlert::Health => "trailwatch-health",
            OwnAlert::Recovery => "trailwatch-recovery",
            OwnAlert::Heartbeat => "trailwatch-heartbeat",
            OwnAlert::Coverage => "trailwatch-coverage",
            OwnAlert::LateEvent => "trailwatch-late-event",
            OwnAlert::Storm => "trailwatch-storm",
            OwnAlert::SuspiciousObject => "trailwatch-suspicious-object",
            OwnAlert::UnreadableObject => "trailwatch-unreadable-object",
            OwnAlert::Takeover => "trailwatch-takeover",
            OwnAlert::Integrity => "trailwatch-integrity",
        }
    }

    /// True for a rule name of trailwatch's own: any in its namespace (a kind of a later
    /// version read back from the state is one too).
    pub(crate) fn is_own(rule: &str) -> bool {
        rule.starts_with(PREFIX)
    }

    /// The id of one such alert: `key` makes it unique (the same key is alerted once).
    pub(crate) fn id(self, key: &str) -> String {
        format!("{PREFIX}{}-{key}", self.name())
    }
}

impl std::fmt::Display for OwnAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A hash of `bytes` that is the same in every run and version (FNV-1a, 64 bits): for ids made
/// from what they identify, never for anything an attacker gains by colliding.
pub(crate) fn stable_hash(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The id of an event that has none usable, from its text (stable across runs).
pub(crate) fn derived_event_id(text: &str) -> String {
    format!("{PREFIX}noid-{:016x}", stable_hash(text.bytes()))
}

/// PagerDuty's `dedup_key` of an alert: one incident per alert id.
pub(crate) fn dedup_key(alert_id: &str) -> String {
    format!("{PREFIX}{alert_id}")
}

/// The file in a state folder that says what the folder is.
pub(crate) const MANIFEST: &str = "trailwatch-state.json";

/// The start of the name of a folder holding a snapshot of a shared state.
pub(crate) const SNAPSHOT: &str = "trailwatch-snapshot";

/// The folder `trailwatch demo` makes under the temporary directory (and its process id).
pub(crate) const DEMO: &str = "trailwatch-demo";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_in_the_namespace_once_and_read_back() {
        let mut names: Vec<_> = OwnAlert::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OwnAlert::ALL.len());
        for k in OwnAlert::ALL {
            assert!(OwnAlert::is_own(k.name()));
        }
        assert!(!OwnAlert::is_own("root-account-usage"));
        assert!(!OwnAlert::is_own("trailwatch"));
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // The published FNV-1a test vectors: ids made before stay the same.
        assert_eq!(stable_hash(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(*b"foobar"), 0x8594_4171_f739_67e8);
    }
}
