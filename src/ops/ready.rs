//! Readiness: whether the daemon does its job right now. The daemon installs the check (it
//! knows its streams, sinks and state); the endpoint asks it on every `/readyz`. Until a
//! configuration has started, the answer is "starting".

use std::sync::{Arc, Mutex};

/// The reasons the daemon is not ready; empty when it is.
type Check = Box<dyn Fn() -> Vec<String> + Send + Sync>;

/// The current readiness check, shared by the daemon and the endpoint.
#[derive(Clone, Default)]
pub(crate) struct Readiness {
    check: Arc<Mutex<Option<Check>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readiness")
    }
}

impl Readiness {
    /// Installs the check of the configuration that now runs (a reload installs its own).
    pub(crate) fn set(&self, check: impl Fn() -> Vec<String> + Send + Sync + 'static) {
        *self.check.lock().expect("readiness lock") = Some(Box::new(check));
    }

    /// Why the daemon is not ready (empty: it is).
    pub(crate) fn reasons(&self) -> Vec<String> {
        match self.check.lock().expect("readiness lock").as_ref() {
            Some(c) => c(),
            None => vec!["starting: no configuration runs yet".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_a_check_says_so() {
        let r = Readiness::default();
        assert_eq!(r.reasons(), ["starting: no configuration runs yet"]);
        r.set(|| vec!["sink 'x' failing".into()]);
        assert_eq!(r.reasons(), ["sink 'x' failing"]);
        r.set(Vec::new);
        assert!(r.reasons().is_empty());
    }
}
