//! What operators look at while the daemon runs: its metrics (`metrics`), whether it is ready
//! (`ready`), the status pages and who may see them (`pages`), and the HTTP endpoint that
//! serves them (`http`: /, /alerts, /metrics, /healthz, /readyz).

mod http;
mod metrics;
mod pages;
mod ready;

pub(crate) use self::http::{Endpoint, Served};
pub(crate) use self::metrics::Metrics;
pub(crate) use self::pages::{Access, Pages};
pub(crate) use self::ready::Readiness;
