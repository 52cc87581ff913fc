//! The windows a stream is read in: `overlap` behind its watermark to now, a long catch-up
//! split into `max_window` pieces, oldest first, so the watermark moves as it goes.

use std::time::Duration;

use jiff::Timestamp;

use crate::when;

/// A time window `[start, end]` of events to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    /// `[start, end]` split into windows of at most `max`, oldest first.
    pub fn split(start: Timestamp, end: Timestamp, max: Duration) -> Vec<Window> {
        let max = when::signed(max);
        let mut out = Vec::new();
        let mut s = start;
        while s < end {
            let e = s.saturating_add(max).expect("a signed duration").min(end);
            out.push(Window { start: s, end: e });
            s = e;
        }
        out
    }

    /// The window of the late sweep: `[now - late_sweep, now - overlap]`, if the sweep is on.
    pub fn for_sweep(now: Timestamp, overlap: Duration, late_sweep: Duration) -> Option<Window> {
        if late_sweep <= overlap {
            return None;
        }
        let start = now.checked_sub(when::signed(late_sweep)).ok()?;
        let end = now.checked_sub(when::signed(overlap)).ok()?;
        Some(Window { start, end })
    }

    /// The windows a poll reads: from `overlap` before the watermark (or before `now` on the
    /// first poll) to `now`.
    pub fn for_poll(
        watermark: Option<Timestamp>,
        now: Timestamp,
        overlap: Duration,
        max: Duration,
    ) -> Vec<Window> {
        let from = watermark.unwrap_or(now).min(now);
        let start = from
            .checked_sub(when::signed(overlap))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        Window::split(start, now, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_windows_reread_the_overlap_and_split_catch_up() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let hour = Duration::from_secs(3600);
        let w = Window::for_poll(None, now, Duration::from_secs(1200), hour);
        assert_eq!(
            w,
            [Window {
                start: "2026-11-22T11:40:00Z".parse().unwrap(),
                end: now
            }]
        );
        let wm = "2026-11-22T09:30:00Z".parse().unwrap();
        let w = Window::for_poll(Some(wm), now, Duration::from_secs(1200), hour);
        let starts: Vec<String> = w.iter().map(|w| w.start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2026-11-22T09:10:00Z",
                "2026-11-22T10:10:00Z",
                "2026-11-22T11:10:00Z"
            ]
        );
        assert_eq!(w.last().unwrap().end, now);
    }
}
