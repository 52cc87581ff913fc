//! A copy of the state kept elsewhere (the DynamoDB table instances of one configuration share,
//! see `shared/`). While a copy is attached, every key written is noted, and each flush hands
//! the copy the noted keys with their values at that moment, before the flush returns: what a
//! flush made durable here is durable there too, or the flush fails.
//!
//! The keys go in an order that keeps the exactly-once invariant across several writes: what
//! is delivered (the outbox, dead letters, history) before the marks that say it was raised,
//! and those before the watermarks that say a window was read. A copy that stops halfway holds
//! an alert without its mark (raised again: at least once), never a mark without its alert.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The trees copied, in the order their keys are written (the meta tree is this database's
/// own: not copied).
pub const TREES: [&str; 13] = [
    "outbox",
    "dead",
    "history",
    "tallies",
    "sightings",
    "digests",
    "files",
    "objects",
    "aside",
    "silences",
    "raised",
    "covered",
    "watermarks",
];

/// One key's value now (`None`: removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub tree: &'static str,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Where the copy goes.
pub trait Mirror: Send + Sync {
    /// Writes these keys, in this order; an error says why (the flush fails with it).
    fn push(&self, writes: &[Write]) -> Result<(), String>;
    /// Whether this process may still act on the state (send what the outbox holds): false once
    /// another instance may have taken it over.
    fn held(&self) -> bool;
}

/// The keys written since the last flush, and the copy they go to.
#[derive(Default)]
pub(super) struct Replica {
    on: AtomicBool,
    /// (position in `TREES`, tree, key).
    noted: Mutex<BTreeSet<(usize, &'static str, Vec<u8>)>>,
    mirror: RwLock<Option<Arc<dyn Mirror>>>,
    /// Held while a flush pushes: a flush returns only after what was written before it is
    /// copied, including what a flush running at the same time took.
    pushing: Mutex<()>,
}

impl Replica {
    pub(super) fn attach(&self, m: Arc<dyn Mirror>) {
        *self.mirror.write().expect("mirror lock") = Some(m);
        self.on.store(true, Ordering::SeqCst);
    }

    pub(super) fn mirror(&self) -> Option<Arc<dyn Mirror>> {
        self.mirror.read().expect("mirror lock").clone()
    }

    pub(super) fn mark(&self, tree: &'static str, key: &[u8]) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let Some(at) = TREES.iter().position(|t| *t == tree) else {
            return;
        };
        self.noted
            .lock()
            .expect("noted lock")
            .insert((at, tree, key.to_vec()));
    }

    /// Pushes the noted keys with their values (`value_of` reads one now); on failure they stay
    /// noted, to go with the next flush.
    pub(super) fn push(
        &self,
        value_of: impl Fn(&'static str, &[u8]) -> Result<Option<Vec<u8>>, String>,
    ) -> Result<(), String> {
        let Some(m) = self.mirror() else {
            return Ok(());
        };
        let _one = self.pushing.lock().expect("push lock");
        let noted = std::mem::take(&mut *self.noted.lock().expect("noted lock"));
        if noted.is_empty() {
            return Ok(());
        }
        let writes = noted
            .iter()
            .map(|(_, tree, key)| {
                Ok(Write {
                    tree,
                    value: value_of(tree, key)?,
                    key: key.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>();
        let pushed = writes.and_then(|w| m.push(&w));
        if pushed.is_err() {
            self.noted.lock().expect("noted lock").extend(noted);
        }
        pushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seen(Mutex<Vec<Write>>, AtomicBool);

    impl Mirror for Seen {
        fn push(&self, w: &[Write]) -> Result<(), String> {
            if self.1.load(Ordering::SeqCst) {
                return Err("refused".into());
            }
            self.0.lock().unwrap().extend_from_slice(w);
            Ok(())
        }
        fn held(&self) -> bool {
            true
        }
    }

    #[test]
    fn keys_go_in_the_order_that_keeps_alerts_before_their_marks_and_stay_after_a_failure() {
        let r = Replica::default();
        r.mark("raised", b"e1");
        let seen = Arc::new(Seen(Mutex::default(), AtomicBool::new(true)));
        assert_eq!(
            r.push(|_, _| Ok(None)),
            Ok(()),
            "nothing attached, nothing noted"
        );
        r.attach(seen.clone());
        r.mark("watermarks", b"s");
        r.mark("raised", b"e1");
        r.mark("outbox", b"k");
        r.mark("meta", b"touched");
        let value = |t: &str, _: &[u8]| Ok((t != "outbox").then(|| b"v".to_vec()));
        assert_eq!(r.push(value), Err("refused".into()));
        seen.1.store(false, Ordering::SeqCst);
        r.push(value).unwrap();
        let w = seen.0.lock().unwrap().clone();
        let trees: Vec<_> = w.iter().map(|w| w.tree).collect();
        assert_eq!(trees, ["outbox", "raised", "watermarks"]);
        assert_eq!(w[0].value, None, "a removed key goes as removed");
        r.push(value).unwrap();
        assert_eq!(seen.0.lock().unwrap().len(), 3, "pushed once");
    }
}
