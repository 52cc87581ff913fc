//! The status pages on the operator endpoint: what the daemon installs to render them (it
//! knows its state, streams and sinks; this module knows none of them), and who may see them.
//! On a loopback address anyone on the host may, as with /metrics; bound beyond loopback,
//! `/` and `/alerts*` ask for `operator_token` as `Authorization: Bearer …` (the settings
//! refuse such a bind without one). /metrics, /healthz and /readyz stay open to scrapers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::secret::Secret;

/// Renders the page at a path with a query string: its HTTP status and HTML, `None` when the
/// path is not a page.
pub(crate) type Render = dyn Fn(&str, &str) -> Option<(u16, String)> + Send + Sync;

/// The pages of the configuration that now runs, shared by the daemon and the endpoint.
#[derive(Clone, Default)]
pub(crate) struct Pages {
    render: Arc<Mutex<Option<Arc<Render>>>>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

impl Pages {
    /// Installs the pages of the configuration that now runs (a reload installs its own).
    pub(crate) fn set(
        &self,
        render: impl Fn(&str, &str) -> Option<(u16, String)> + Send + Sync + 'static,
    ) {
        *self.render.lock().expect("pages lock") = Some(Arc::new(render));
    }

    /// The renderer, once a configuration runs.
    pub(crate) fn current(&self) -> Option<Arc<Render>> {
        self.render.lock().expect("pages lock").clone()
    }
}

/// Who may see the pages.
#[derive(Clone, Default)]
pub(crate) struct Access {
    /// `None`: anyone who reaches the address (a loopback one).
    token: Option<Secret>,
}

impl Access {
    /// The access of an endpoint on `addr`: a token asked for when one is configured (always
    /// beyond loopback: the settings see to it).
    pub(crate) fn new(addr: SocketAddr, token: Option<Secret>) -> Access {
        debug_assert!(token.is_some() || addr.ip().is_loopback());
        Access { token }
    }

    /// True when the request's `Authorization` header lets it see the pages.
    pub(crate) fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        same(given.trim_ascii(), token.expose().as_bytes())
    }
}

/// Compares in time that depends on the lengths alone, not on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_asked_for_as_a_bearer_and_compared_whole() {
        let open = Access::new("127.0.0.1:9100".parse().unwrap(), None);
        assert!(open.allows(None));
        let a = Access::new("0.0.0.0:9100".parse().unwrap(), Some(Secret::new("s3cret")));
        assert!(!a.allows(None));
        assert!(!a.allows(Some(b"s3cret")), "the scheme is Bearer");
        assert!(!a.allows(Some(b"Bearer s3cre")));
        assert!(!a.allows(Some(b"Bearer s3cret2")));
        assert!(!a.allows(Some(b"Basic s3cret")));
        assert!(a.allows(Some(b"Bearer s3cret")));
    }
}
