//! What the daemon process hears and tells besides its work: the signals it answers, systemd's
//! watchdog pinged while nothing else does, and tasks that end with the scope that owns them.

use std::time::Duration;

use tokio::signal::unix::Signal;

/// A task stopped when the daemon returns (its socket is removed as it stops).
pub(super) struct Aborted(pub(super) tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The signals the daemon answers.
pub(super) struct Signals {
    pub(super) hup: Signal,
    pub(super) term: Signal,
}

/// Pings systemd's watchdog, when it has one, at half its period.
pub(super) async fn watchdog_pings() {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_micros(usec / 2));
    loop {
        every.tick().await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
    }
}
