//! What operators look at while the daemon runs: its metrics (`metrics`), whether it is ready
//! (`ready`), and the HTTP endpoint that serves both (`http`: /metrics, /healthz, /readyz).

mod http;
mod metrics;
mod ready;

pub(crate) use self::http::Endpoint;
pub(crate) use self::metrics::Metrics;
pub(crate) use self::ready::Readiness;
