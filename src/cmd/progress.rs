//! Progress bars for long commands (`backfill`, `rules replay`, `verify`): shown on a
//! terminal, nothing elsewhere (a log or a pipe gets the summary lines only).

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::poll::past::{Objects, Progress};
use crate::poll::PollReport;

/// The bar of the phase under way.
pub(super) struct Bars(RefCell<ProgressBar>);

impl Default for Bars {
    fn default() -> Self {
        Bars(RefCell::new(ProgressBar::hidden()))
    }
}

impl Bars {
    fn start(&self, units: u64, template: &str) {
        if std::io::stderr().is_terminal() {
            let b = ProgressBar::new(units);
            b.set_style(ProgressStyle::with_template(template).expect("style"));
            *self.0.borrow_mut() = b;
        }
    }

    /// A spinner for work whose size is not known ahead, saying `msg` as it goes.
    pub(super) fn spinner(&self) {
        if std::io::stderr().is_terminal() {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("style"),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            *self.0.borrow_mut() = b;
        }
    }

    /// What the spinner says now.
    pub(super) fn say(&self, msg: String) {
        self.0.borrow().set_message(msg);
    }
}

impl Progress for Bars {
    fn windows(&self, windows: u64) {
        self.start(
            windows,
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} windows, {msg}",
        );
    }
    fn window_read(&self, t: &PollReport) {
        let b = self.0.borrow();
        b.inc(1);
        b.set_message(format!("{} records, {} pages", t.records, t.pages));
    }
    fn objects(&self, files: u64, bytes: u64) {
        let mb = bytes / 1_000_000;
        let t = format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} files ({mb} MB), {{msg}}"
        );
        self.start(files, &t);
    }
    fn object_read(&self, o: &Objects, records: u64) {
        let b = self.0.borrow();
        b.inc(1);
        b.set_message(format!(
            "{} MB read, {records} records",
            o.stored / 1_000_000
        ));
    }
    fn done(&self) {
        self.0.borrow().finish_and_clear();
    }
}
