//! The state database (sled), the only module that touches it: per-stream watermarks (and
//! since when each stream has been polled), the set of alerts already raised (event ID + rule),
//! the outbox of alerts waiting for delivery (in eventTime order, whatever order they were
//! read in), the dead letters, what a `files` or `s3` source has read, threshold counts,
//! first-seen rules' sightings, the alert history (90 days of what became of every alert) and
//! the silences in force.
//! One file per fact, each adding its methods to the one `State` (`open`), which goes through
//! the database (`store`, its trees `tree`) with keys built in `keys`; `replica` copies what
//! each flush made durable to a table several instances share.
//!
//! The invariant that makes delivery exactly-once: an alert enters the outbox in the same
//! transaction that records it as raised, and a watermark only moves after the alerts before it
//! are durable (`flush` survives power loss, see `store`). A crash at any point leaves either
//! nothing (the window is read again) or the alert in the outbox (it is delivered, and not
//! raised again).

mod aside;
mod digests;
mod error;
mod files;
mod history;
mod keys;
mod objects;
mod open;
mod outbox;
mod replica;
mod sightings;
mod silences;
mod store;
mod tallies;
mod tree;
mod watermarks;

pub(crate) use self::aside::SetAside;
pub(crate) use self::digests::{ChainId, Link};
pub(crate) use self::error::StateError;
pub(crate) use self::files::{FileMark, Stamp};
pub(crate) use self::history::{HistoryEntry, Status};
pub(crate) use self::keys::EntryId;
pub(crate) use self::objects::ObjectMark;
pub use self::open::State;
pub(crate) use self::outbox::OutboxEntry;
pub use self::replica::{Mirror, Write, TREES};
pub(crate) use self::sightings::Sighting;
pub(crate) use self::silences::{Silence, LONGEST};
pub(crate) use self::tallies::Tally;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::severity::Severity;
    use jiff::Timestamp;

    fn alert(id: &str, rule: &str) -> Alert {
        let facts = crate::alert::RuleFacts {
            name: rule,
            title: "t",
            subject: "s",
            severity: Severity::High,
        };
        let event = crate::alert::Event {
            id: id.into(),
            time: "2026-11-22T00:00:00Z".into(),
            source: "src".into(),
            record: "{}".into(),
            principal: String::new(),
        };
        Alert::new(facts, event, crate::alert::Kind::Match)
    }

    #[test]
    fn a_window_of_the_history_is_read_from_the_end_and_stops_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let day = jiff::SignedDuration::from_hours(24);
        let now = Timestamp::now();
        // Raised 30, 20, 3 and 1 days ago, in that order (ids follow the raises).
        for (i, ago) in [30, 20, 3, 1].into_iter().enumerate() {
            s.raise(&alert(&format!("e{i}"), "r"), vec![], now - day * ago)
                .unwrap();
        }
        let mut seen = Vec::new();
        s.history_each(now - day * 7, |e| seen.push(e.alert.event_id.clone()))
            .unwrap();
        assert_eq!(seen, ["e3", "e2"], "the week's, newest first");
        let mut all = Vec::new();
        s.history_each(now - day * 40, |e| all.push(e.alert.event_id.clone()))
            .unwrap();
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn counts_expire_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let t = Tally {
            events: vec![(1_000, "e1".into())],
            quiet_until: 0,
        };
        s.put_tally("r", "k", &t).unwrap();
        assert_eq!(s.tally("r", "k").unwrap(), t);
        let at = |ms| Timestamp::from_millisecond(ms).unwrap();
        assert_eq!(s.expire_tallies(at(1_000)).unwrap(), 0, "still in use");
        assert_eq!(s.expire_tallies(at(1_001)).unwrap(), 1);
        assert_eq!(s.tally("r", "k").unwrap(), Tally::default());
    }

    #[test]
    fn raise_is_once_per_event_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let now = Timestamp::now();
        assert!(s.raise(&alert("e1", "r"), vec!["a".into()], now).unwrap());
        assert!(!s.raise(&alert("e1", "r"), vec!["a".into()], now).unwrap());
        assert!(s.raise(&alert("e1", "r2"), vec!["a".into()], now).unwrap());
        assert_eq!(s.outbox_len(), 2);
        let out = s.outbox().unwrap();
        assert_eq!(out[0].1.alert.rule, "r", "oldest first");
        let mut e = out[0].1.clone();
        e.pending.clear();
        s.update_outbox(out[0].0, &e).unwrap();
        assert_eq!(s.outbox_len(), 1);
        s.bury(out[1].0, &out[1].1).unwrap();
        assert_eq!((s.outbox_len(), s.dead_len()), (0, 1));
        // Kept from when they were raised (now), not from their events' time.
        let day = jiff::SignedDuration::from_hours(24);
        assert_eq!(s.expire_raised(now - day).unwrap(), 0);
        assert_eq!(s.expire_raised(now + day).unwrap(), 2);
    }

    #[test]
    fn an_event_raised_with_quiet_parts_queues_the_live_ones_and_keeps_every_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let now = Timestamp::now();
        let parts = [
            alert("e1", "live"),
            alert("e1", "trial"),
            alert("e1", "quiet"),
        ];
        let quiet = [
            None,
            Some(Status::Shadow),
            Some(Status::Silenced {
                silence: 4,
                reason: "CI".into(),
            }),
        ];
        let sinks = |_: &[&Alert]| vec!["hook".to_string()];
        let r = s.raise_event(&parts, &quiet, &sinks, now).unwrap().unwrap();
        assert_eq!(r.live.as_ref().unwrap().0.rule, "live");
        assert_eq!(r.quiet.len(), 2);
        assert_eq!(s.outbox_len(), 1, "only the live rule is queued");
        let h = s.history(Timestamp::UNIX_EPOCH).unwrap();
        let words: Vec<&str> = h.iter().map(|e| e.status.word()).collect();
        assert_eq!(words, ["queued", "shadow", "silenced"]);
        // Raised once: read again, nothing new.
        assert!(s
            .raise_event(&parts, &quiet, &sinks, now)
            .unwrap()
            .is_none());
        // Delivered: the history says to which sink and when.
        let (id, mut e) = s.outbox().unwrap().remove(0);
        e.pending.clear();
        s.update_outbox(id, &e).unwrap();
        let live = s.history_entry(h[0].id).unwrap().unwrap();
        assert_eq!(live.status, Status::Delivered);
        assert_eq!(live.delivered[0].0, "hook");
    }

    #[test]
    fn a_new_state_flushed_from_many_threads_at_once_stays_writable() {
        // The first flushes of a new database write its manifest: from several threads at
        // once (an s3 source polls accounts in parallel), none may fail.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let s = std::sync::Arc::new(State::open(dir.path()).unwrap());
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let t: Timestamp = "2026-11-22T01:00:00Z".parse().unwrap();
                        s.advance_watermark("src", &format!("stream-{i}"), t)
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap().unwrap();
            }
            assert!(s.broken().is_none());
            assert!(dir.path().join(store::MANIFEST).exists());
        }
    }

    #[test]
    fn watermarks_never_move_back_and_reset_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let t1: Timestamp = "2026-11-22T01:00:00Z".parse().unwrap();
        let t0: Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        s.advance_watermark("a", "us-east-1", t1).unwrap();
        s.advance_watermark("a", "us-east-1", t0).unwrap();
        s.advance_watermark("b", "g", t0).unwrap();
        assert_eq!(s.watermark("a", "us-east-1").unwrap(), Some(t1));
        assert_eq!(s.reset(Some("a")).unwrap(), 1);
        assert_eq!(s.watermark("a", "us-east-1").unwrap(), None);
        assert_eq!(s.watermark("b", "g").unwrap(), Some(t0));
    }

    #[test]
    fn a_second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _s = State::open(dir.path()).unwrap();
        // sled's lock is per process file handle; a second open in the same process fails too.
        match State::open(dir.path()) {
            Err(StateError::Locked(d)) => assert_eq!(d, dir.path()),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("second open succeeded"),
        }
    }
}
