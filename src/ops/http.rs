//! The operator endpoint, served by hyper on `metrics_address` (keep it on loopback or behind
//! a firewall: it answers anyone who reaches it):
//!
//! - `GET /metrics`: the metrics, in the OpenMetrics text format Prometheus scrapes;
//! - `GET /healthz`: 200 while the process runs (a liveness probe);
//! - `GET /readyz`: 200 when every stream polled within twice its interval, the state can be
//!   written and no sink is failing; 503 with one reason per line otherwise.
//!
//! HEAD is answered as GET without a body; a query string is ignored; another method is 405.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{Metrics, Readiness};

/// How long a client may take to send its request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection stays open, however it is used (a scraper connects again).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once: anyone who can reach the address can open them, and each
/// holds one of the daemon's file descriptors, which its sources need. One more is accepted
/// and closed at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// The bound endpoint: metrics and readiness, served once `serve` runs.
pub(crate) struct Endpoint {
    listener: TcpListener,
    metrics: Metrics,
    ready: Readiness,
}

impl Endpoint {
    /// Binds `addr` (an error names it: an address in use is a configuration error).
    pub(crate) async fn bind(
        addr: SocketAddr,
        metrics: Metrics,
        ready: Readiness,
    ) -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("metrics_address {addr}: {e}")))?;
        Ok(Endpoint {
            listener,
            metrics,
            ready,
        })
    }

    /// The address it listens on (port 0 in the configuration gives a free one).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answers connections until the task is dropped.
    pub(crate) async fn serve(self) {
        if let Some(a) = self.local_addr() {
            tracing::info!("operator endpoint: http://{a}/metrics, /healthz, /readyz");
        }
        let open = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let mut refused: u64 = 0;
        loop {
            let sock = match self.listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("operator endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                // Closed at once: its descriptor is free again.
                drop(sock);
                refused += 1;
                if refused.is_power_of_two() {
                    tracing::warn!("operator endpoint: {MAX_CONNECTIONS} connections are open, more are closed at once ({refused} so far): is something holding them?");
                }
                continue;
            };
            let (metrics, ready) = (self.metrics.clone(), self.ready.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let r = answer(req.method(), req.uri().path(), &metrics, &ready);
                    async move { Ok::<_, Infallible>(r) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(sock), service);
                match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                    Ok(Err(e)) => tracing::debug!("operator endpoint: connection ended: {e}"),
                    Err(_) => tracing::debug!(
                        "operator endpoint: connection closed after {CONNECTION_LIFETIME:?}"
                    ),
                    Ok(Ok(())) => {}
                }
            });
        }
    }
}

/// The answer to one request (hyper leaves the body out for HEAD).
fn answer(method: &Method, path: &str, m: &Metrics, ready: &Readiness) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != Method::GET && method != Method::HEAD {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(ALLOW, "GET, HEAD")
            .body(Full::new(Bytes::from_static(b"only GET and HEAD\n")))
            .expect("a valid response");
    }
    let (status, kind, body) = match path {
        "/metrics" => (StatusCode::OK, Metrics::CONTENT_TYPE, m.render()),
        "/healthz" => (StatusCode::OK, TEXT, "ok\n".to_string()),
        "/readyz" => match ready.reasons() {
            r if r.is_empty() => (StatusCode::OK, TEXT, "ready\n".to_string()),
            r => (
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready:\n{}\n", r.join("\n")),
            ),
        },
        "/" => (
            StatusCode::OK,
            TEXT,
            "trailwatch: /metrics, /healthz, /readyz\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /metrics, /healthz or /readyz\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, kind)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
