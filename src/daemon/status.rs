//! The status pages of the configuration that runs: installed on the operator endpoint with
//! what they read (the state, and the daemon's view of its streams and sinks), rendered by
//! `status::route` on each request.

use std::collections::HashMap;

use super::health;
use super::poller::Context;
use crate::ops::Pages;
use crate::settings::Settings;
use crate::status::facts::{Live, LiveSink, LiveStream, Scope};

/// Installs the pages of this configuration (a reload installs its own).
pub(super) fn install(s: &Settings, cx: &Context, sinks: &health::Sinks, pages: &Pages) {
    let scope = Scope::of(s);
    let (state, streams, sinks) = (cx.state.clone(), cx.streams.clone(), sinks.clone());
    let started = jiff::Timestamp::now();
    pages.set(move |path, query| {
        let live = Live {
            started,
            streams: streams
                .lock()
                .expect("streams lock")
                .iter()
                .map(|(k, h)| {
                    let v = LiveStream {
                        last_ok: h.last_ok,
                        failing_since: h.failing_since,
                        last_error: h.last_error.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
            sinks: sinks
                .lock()
                .expect("sinks lock")
                .iter()
                .map(|(k, h)| {
                    let v = LiveSink {
                        last_ok: h.last_ok,
                        failing_since: h.failing_since,
                        last_error: h.last_error.clone(),
                    };
                    (k.clone(), v)
                })
                .collect::<HashMap<_, _>>(),
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
