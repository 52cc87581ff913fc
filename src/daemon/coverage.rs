//! The coverage watch: what a source reads can change while it runs. Every hour, each source
//! that fans out over an organization's accounts lists them again (a new account, or one whose
//! role became assumable, must be read); every few hours (every hour while they could not be
//! learned), each `lookup_events` account learns its identity, regions and aliases again (a region enabled since the start is an attacker's favourite
//! place to work). A change restarts the daemon's tasks with the new plan, as on SIGHUP.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

use super::shutdown::Shutdown;
use crate::defaults;
use crate::source::aws::Clock;
use crate::source::coverage::{Coverage, RegionOrigin};
use crate::source::open::{discover_account, fanout_accounts};
use crate::source::{Opened, SourceSpec};

/// What a running source reads, to compare with what it would read now.
pub(super) struct Watched {
    spec: Arc<SourceSpec>,
    /// The accounts of a fan-out, readable or not.
    accounts: Vec<String>,
    coverage: Vec<Arc<Coverage>>,
}

impl Watched {
    pub(super) fn of(spec: &Arc<SourceSpec>, o: &Opened) -> Watched {
        Watched {
            spec: spec.clone(),
            accounts: o.accounts.clone(),
            coverage: o.coverage.clone(),
        }
    }
}

/// Re-learns accounts every `ACCOUNTS_INTERVAL` and coverage every `DISCOVERY_INTERVAL`, and
/// asks for a restart when either changed.
pub(super) struct CoverageWatch {
    pub sources: Vec<Watched>,
    pub aliases: BTreeMap<String, String>,
    pub restart: Arc<Notify>,
    /// Accounts that could not be read at the start: trying them again is worth a restart.
    pub unreachable: usize,
}

impl CoverageWatch {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let every = defaults::ACCOUNTS_INTERVAL;
        let coverage_every = (defaults::DISCOVERY_INTERVAL.as_secs() / every.as_secs()).max(1);
        let mut tick = 0u64;
        loop {
            if shutdown.sleep(every).await {
                return;
            }
            tick += 1;
            let mut changed = self.unreachable > 0;
            for w in &self.sources {
                changed |= self.accounts_changed(w).await;
                // What could not be learned (the account, its alias, its regions) is asked
                // again every hour until it is.
                let failing = w.coverage.iter().any(|c| {
                    c.account.is_none()
                        || c.aliases_unknown()
                        || matches!(c.origin, RegionOrigin::Fallback(_))
                });
                if failing || tick.is_multiple_of(coverage_every) {
                    changed |= self.coverage_changed(w).await;
                }
            }
            if changed {
                self.restart.notify_one();
                return;
            }
        }
    }

    /// True when the organization's active accounts are not those being read.
    async fn accounts_changed(&self, w: &Watched) -> bool {
        let Some(f) = &w.spec.fanout else {
            return false;
        };
        let clock = Arc::new(Clock::new(&w.spec.name));
        match fanout_accounts(&w.spec, f, &clock).await {
            Ok(now) if now != w.accounts => {
                tracing::warn!(source = %w.spec.name, "the organization's accounts changed: {} → {}; restarting the pollers", w.accounts.join(","), now.join(","));
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(source = %w.spec.name, "{e}; the running accounts stay");
                false
            }
        }
    }

    /// True when an account's regions or root names changed.
    async fn coverage_changed(&self, w: &Watched) -> bool {
        for old in &w.coverage {
            let clock = Arc::new(Clock::new(&w.spec.name));
            let new =
                discover_account(&w.spec, old.account.as_deref(), &self.aliases, &clock).await;
            // A failed discovery never narrows a plan that a good one made.
            let worse = matches!(new.origin, RegionOrigin::Fallback(_))
                && !matches!(old.origin, RegionOrigin::Fallback(_))
                || new.aliases_unknown() && !old.aliases_unknown();
            if worse {
                tracing::warn!(source = %old.source, "could not learn the account's regions or aliases again; the running plan stays: {}", new.warnings().join("; "));
                continue;
            }
            if new.regions != old.regions || new.root_names() != old.root_names() {
                tracing::warn!(
                    source = %old.source,
                    "coverage changed: regions {} → {}; root names {} → {}; restarting the pollers",
                    old.regions.join(","),
                    new.regions.join(","),
                    old.root_names().join(","),
                    new.root_names().join(",")
                );
                return true;
            }
        }
        false
    }
}
