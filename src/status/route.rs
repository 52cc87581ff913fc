//! Which page a path asks for: `/` the overview, `/alerts` the latest alerts (a query string
//! filters them), `/alerts/<id>` one alert. Pure over the state and what the daemon sees.

use jiff::Timestamp;

use super::alerts::{Detail, Filter, Row};
use super::facts::{shown, Facts, Live, Scope};
use super::page;
use crate::state::{State, StateError};

/// The alerts `/alerts` shows at most.
pub(crate) const LATEST: usize = 200;

/// A page: its HTTP status and its HTML.
pub(crate) type Page = (u16, String);

/// The page at `path` (`None`: not one of the pages).
pub(crate) fn page(
    path: &str,
    query: &str,
    scope: &Scope,
    state: &State,
    live: &Live,
) -> Option<Result<Page, StateError>> {
    let now = Timestamp::now();
    let generated = format!("as of {}", shown(now, scope));
    match path {
        "/" => Some(
            Facts::gather(scope, state, live, now)
                .map(|f| (200, page::overview(&f, "trailwatch status"))),
        ),
        "/alerts" | "/alerts/" => {
            let filter = Filter::parse(query);
            Some(
                state
                    .history_newest(LATEST, |e| filter.keeps(e))
                    .map(|found| {
                        let rows: Vec<Row> = found.iter().map(|e| Row::of(e, scope)).collect();
                        (200, page::alerts(&rows, &filter, LATEST, &generated))
                    }),
            )
        }
        _ => {
            let id = path.strip_prefix("/alerts/")?;
            let Ok(id) = id.parse::<u64>() else {
                return Some(Ok((404, page::missing(&format!("no alert '{}': an alert's id is a number, as `trailwatch alerts list` shows", crate::text::truncate(id, 40)), &generated))));
            };
            Some(state.history_entry(id).map(|e| match e {
                Some(e) => (200, page::alert(&Detail::of(&e, scope), &generated)),
                None => (
                    404,
                    page::missing(
                        &format!("no alert {id} in the history (it keeps 90 days)"),
                        &generated,
                    ),
                ),
            }))
        }
    }
}
