//! The operator endpoint, served by hyper on `metrics_address`:
//!
//! - `GET /`: the status page, `GET /alerts` the latest alerts, `GET /alerts/<id>` one alert
//!   (HTML; beyond loopback they ask for the operator token, see `pages`);
//! - `GET /metrics`: the metrics, in the OpenMetrics text format Prometheus scrapes;
//! - `GET /healthz`: 200 while the process runs (a liveness probe);
//! - `GET /readyz`: 200 when every stream polled within twice its interval, the state can be
//!   written and no sink is failing; 503 with one reason per line otherwise.
//!
//! HEAD is answered as GET without a body; a query string is ignored (but by /alerts, whose filter it is); another method is 405.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    REFERRER_POLICY, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{Access, Metrics, Pages, Readiness};

/// How long a client may take to send its request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection stays open, however it is used (a scraper connects again).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once: anyone who can reach the address can open them, and each
/// holds one of the daemon's file descriptors, which its sources need. One more is accepted
/// and closed at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// What the endpoint answers with: metrics, readiness, the pages and who may see them (the
/// daemon keeps the same handles to update them).
#[derive(Clone)]
pub(crate) struct Served {
    pub metrics: Metrics,
    pub ready: Readiness,
    pub pages: Pages,
    pub access: Access,
}

/// The bound endpoint, serving once `serve` runs.
pub(crate) struct Endpoint {
    listener: TcpListener,
    served: Served,
}

impl Endpoint {
    /// Binds `addr` (an error names it: an address in use is a configuration error).
    pub(crate) async fn bind(addr: SocketAddr, served: Served) -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("metrics_address {addr}: {e}")))?;
        Ok(Endpoint { listener, served })
    }

    /// The address it listens on (port 0 in the configuration gives a free one).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answers connections until the task is dropped.
    pub(crate) async fn serve(self) {
        if let Some(a) = self.local_addr() {
            tracing::info!("operator endpoint: http://{a}/ (the status page), /alerts, /metrics, /healthz, /readyz");
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
            let served = self.served.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let served = served.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &served).await) }
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
async fn answer(req: &Request<Incoming>, served: &Served) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let (method, path) = (req.method(), req.uri().path());
    if method != Method::GET && method != Method::HEAD {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(ALLOW, "GET, HEAD")
            .body(Full::new(Bytes::from_static(b"only GET and HEAD\n")))
            .expect("a valid response");
    }
    if path == "/" || path == "/alerts" || path.starts_with("/alerts/") {
        return page(req, served).await;
    }
    let (status, kind, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            Metrics::CONTENT_TYPE,
            served.metrics.render(),
        ),
        "/healthz" => (StatusCode::OK, TEXT, "ok\n".to_string()),
        "/readyz" => match served.ready.reasons() {
            r if r.is_empty() => (StatusCode::OK, TEXT, "ready\n".to_string()),
            r => (
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("not ready:\n{}\n", r.join("\n")),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /, /alerts, /metrics, /healthz or /readyz\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, kind)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// A status page: asked for the token beyond loopback, rendered off the reactor (it reads
/// the state), sent with a policy that lets it load and run nothing.
async fn page(req: &Request<Incoming>, served: &Served) -> Response<Full<Bytes>> {
    let auth = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    if !served.access.allows(auth) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(WWW_AUTHENTICATE, "Bearer realm=\"trailwatch\"")
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(
                b"the status page asks for the operator token: Authorization: Bearer TOKEN (or reach it on the host, over an SSH tunnel)\n",
            )))
            .expect("a valid response");
    }
    let (path, query) = (
        req.uri().path().to_string(),
        req.uri().query().unwrap_or("").to_string(),
    );
    let rendered = match served.pages.current() {
        Some(render) => tokio::task::spawn_blocking(move || render(&path, &query))
            .await
            .ok()
            .flatten(),
        None => Some((503, "<!DOCTYPE html><p>trailwatch is starting.</p>".into())),
    };
    let (status, html) = rendered.unwrap_or((404, "<!DOCTYPE html><p>not found</p>".into()));
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .header(CONTENT_SECURITY_POLICY, crate::status::page::csp())
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(X_FRAME_OPTIONS, "DENY")
        .header(REFERRER_POLICY, "no-referrer")
        .header(CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(html)))
        .expect("a valid response")
}
