//! The stop signal every task listens to, as tokio-rs/mini-redis shapes it: one `Trigger`
//! fires, every `Shutdown` handed out by it hears it once. A task checks it between units of
//! work and sleeps through it, so a stop never cuts a unit of work in half.

use std::time::Duration;

use tokio::sync::watch;

/// Fires the stop.
pub(super) struct Trigger(watch::Sender<bool>);

/// A task's view of the stop.
#[derive(Clone)]
pub(super) struct Shutdown {
    stopped: bool,
    rx: watch::Receiver<bool>,
}

impl Trigger {
    /// A trigger and the first listener.
    pub(super) fn new() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Shutdown { stopped: false, rx })
    }

    /// Tells every listener to stop.
    pub(super) fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// True once the stop has been heard.
    pub(super) fn is_shutdown(&self) -> bool {
        self.stopped || *self.rx.borrow()
    }

    /// Waits for the stop.
    pub(super) async fn recv(&mut self) {
        if self.is_shutdown() {
            self.stopped = true;
            return;
        }
        let _ = self.rx.changed().await;
        self.stopped = true;
    }

    /// Sleeps for `d`, or less when the stop comes first; true when stopped.
    pub(super) async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_shutdown(),
            _ = self.recv() => true,
        }
    }
}
