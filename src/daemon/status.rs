//! The status pages of the configuration that runs: installed on the operator endpoint with
//! what they read (the state, and the daemon's view of its streams and sinks), rendered by
//! `status::route` on each request.

use std::collections::HashMap;
use std::sync::Mutex;

use super::health;
use super::poller::Context;
use crate::ops::Pages;
use crate::settings::Settings;
use crate::status::facts::{Live, LiveHealth, Scope};

/// Installs the pages of this configuration (a reload installs its own).
pub(super) fn install(s: &Settings, cx: &Context, sinks: &health::Sinks, pages: &Pages) {
    let scope = Scope::of(s);
    let (state, streams, sinks) = (cx.state.clone(), cx.streams.clone(), sinks.clone());
    let started = jiff::Timestamp::now();
    pages.set(move |path, query| {
        let live = Live {
            started,
            streams: snapshot(&streams, |h| (h.last_ok, h.failing_since, &h.last_error)),
            sinks: snapshot(&sinks, |h| (h.last_ok, h.failing_since, &h.last_error)),
        };
        let answer = crate::status::route::page(path, query, &scope, &state, &live)?;
        Some(answer.unwrap_or_else(|e| {
            tracing::error!("status page {path}: the state cannot be read: {e}");
            (
                500,
                format!(
                    "<!DOCTYPE html><p>the state cannot be read: {}</p>",
                    crate::status::page::escape(&e.to_string())
                ),
            )
        }))
    });
}

/// What the daemon's map of healths holds now: when each last worked, since when it fails,
/// and why (`parts` takes them out of the daemon's own type).
fn snapshot<H>(
    map: &Mutex<HashMap<String, H>>,
    parts: impl Fn(
        &H,
    ) -> (
        Option<jiff::Timestamp>,
        Option<jiff::Timestamp>,
        &Option<String>,
    ),
) -> HashMap<String, LiveHealth> {
    map.lock()
        .expect("health lock")
        .iter()
        .map(|(k, h)| {
            let (last_ok, failing_since, last_error) = parts(h);
            let v = LiveHealth {
                last_ok,
                failing_since,
                last_error: last_error.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}
