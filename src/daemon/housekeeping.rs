//! Housekeeping: the state's chores while the daemon runs. Silences that ended are removed
//! and said in the log (every second: a silence already stops quieting at its end, this only
//! tidies and tells), and once an hour the alert keys, threshold counts and history older
//! than their retention are forgotten.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::shutdown::Shutdown;
use crate::defaults;
use crate::poll::expire;
use crate::state::State;

/// How often ended silences are looked for.
const SILENCES_EVERY: Duration = Duration::from_secs(1);
/// How often old keys are forgotten.
const EXPIRE_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// The housekeeper: looks every second, until stopped.
pub(super) struct Housekeeping {
    pub state: Arc<State>,
}

impl Housekeeping {
    pub(super) async fn run(self, mut shutdown: Shutdown) {
        let mut last_expire: Option<Timestamp> = None;
        loop {
            let now = Timestamp::now();
            crate::control::end_silences(&self.state, now);
            if last_expire.is_none_or(|t| now.duration_since(t) > EXPIRE_EVERY) {
                if let Err(e) = expire(&self.state, now, defaults::RAISED_RETENTION) {
                    tracing::warn!("cannot expire old alert keys: {e}");
                }
                last_expire = Some(now);
            }
            if shutdown.sleep(SILENCES_EVERY).await {
                return;
            }
        }
    }
}
