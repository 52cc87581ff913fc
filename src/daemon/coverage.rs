//! The coverage watch: every few hours, each `lookup_events` source learns its account's
//! regions and aliases again. A region enabled since the start (an attacker's favourite place
//! to work) or a new alias changes what must be polled: the daemon restarts its tasks with the
//! new plan, as on SIGHUP.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

use super::shutdown::Shutdown;
use crate::defaults;
use crate::source::aws::Clock;
use crate::source::coverage::{Coverage, RegionOrigin};
use crate::source::stream::discover;
use crate::source::SourceSpec;

/// Re-learns coverage every `DISCOVERY_INTERVAL` and asks for a restart when it changed.
pub struct CoverageWatch {
    pub sources: Vec<(Arc<SourceSpec>, Arc<Coverage>)>,
    pub aliases: BTreeMap<String, String>,
    pub restart: Arc<Notify>,
}

impl CoverageWatch {
    pub async fn run(self, mut shutdown: Shutdown) {
        if self.sources.is_empty() {
            return;
        }
        loop {
            if shutdown.sleep(defaults::DISCOVERY_INTERVAL).await {
                return;
            }
            for (spec, old) in &self.sources {
                let clock = Arc::new(Clock::new(&spec.name));
                let new = discover(spec, &self.aliases, &clock).await;
                // A failed discovery never narrows a plan that a good one made.
                let worse = matches!(new.origin, RegionOrigin::Fallback(_))
                    && !matches!(old.origin, RegionOrigin::Fallback(_))
                    || new.aliases_unknown() && !old.aliases_unknown();
                if worse {
                    tracing::warn!(source = %spec.name, "could not learn the account's regions or aliases again; the running plan stays: {}", new.warnings().join("; "));
                    continue;
                }
                if new.regions != old.regions || new.root_names() != old.root_names() {
                    tracing::warn!(
                        source = %spec.name,
                        "coverage changed: regions {} → {}; root names {} → {}; restarting the pollers",
                        old.regions.join(","),
                        new.regions.join(","),
                        old.root_names().join(","),
                        new.root_names().join(",")
                    );
                    self.restart.notify_one();
                    return;
                }
            }
        }
    }
}
