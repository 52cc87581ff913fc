//! Credentials fetched once and shared: one provider per way of reaching AWS (the standard
//! chain or a profile, and each chain of roles), kept for the whole process and asked by every
//! client, SDK-built or signed here. An assumed role's credentials are fetched once per
//! lifetime and fetched again five minutes before they expire, one fetch at a time; without
//! this, each client (one per region) and each hand-signed call asked STS again, and every
//! `AssumeRole` is an event in the watched account's own trail.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::future::ProvideCredentials as Fetch;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// A provider whose answer is kept until shortly before it expires.
#[derive(Debug)]
pub(crate) struct Cached {
    inner: SharedCredentialsProvider,
    kept: tokio::sync::Mutex<Option<Credentials>>,
}

impl Cached {
    pub(crate) fn new(inner: SharedCredentialsProvider) -> Cached {
        Cached {
            inner,
            kept: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> aws_credential_types::provider::Result {
        // Held while fetching: callers at once wait for the one fetch.
        let mut kept = self.kept.lock().await;
        if let Some(c) = kept.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE);
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self.inner.provide_credentials().await?;
        *kept = Some(c.clone());
        Ok(c)
    }
}

impl ProvideCredentials for Cached {
    fn provide_credentials<'a>(&'a self) -> Fetch<'a>
    where
        Self: 'a,
    {
        Fetch::new(self.get())
    }

    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        self.kept.try_lock().ok().and_then(|k| k.clone())
    }
}

/// The process's shared providers, by what they reach AWS with.
fn registry() -> &'static Mutex<HashMap<String, SharedCredentialsProvider>> {
    static R: OnceLock<Mutex<HashMap<String, SharedCredentialsProvider>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// The shared provider for `key`, made by `make` the first time it is asked for.
pub(crate) async fn shared<F, Fut>(key: String, make: F) -> SharedCredentialsProvider
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = SharedCredentialsProvider>,
{
    if let Some(p) = registry().lock().expect("credentials lock").get(&key) {
        return p.clone();
    }
    let p = SharedCredentialsProvider::new(Cached::new(make().await));
    registry()
        .lock()
        .expect("credentials lock")
        .entry(key)
        .or_insert(p)
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[derive(Debug)]
    struct Counting(Arc<AtomicU32>, Duration);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> Fetch<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, Ordering::SeqCst);
            let expiry = SystemTime::now() + self.1;
            Fetch::ready(Ok(Credentials::new("AKID", "s", None, Some(expiry), "t")))
        }
    }

    #[tokio::test]
    async fn one_fetch_per_lifetime_however_many_ask() {
        let n = Arc::new(AtomicU32::new(0));
        let c = Arc::new(Cached::new(SharedCredentialsProvider::new(Counting(
            n.clone(),
            Duration::from_secs(3600),
        ))));
        let mut asks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let c = c.clone();
            asks.spawn(async move { c.provide_credentials().await.unwrap() });
        }
        while asks.join_next().await.is_some() {}
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Credentials that expire within the refresh margin are fetched again.
        let m = Arc::new(AtomicU32::new(0));
        let short = Cached::new(SharedCredentialsProvider::new(Counting(
            m.clone(),
            Duration::from_secs(60),
        )));
        short.provide_credentials().await.unwrap();
        short.provide_credentials().await.unwrap();
        assert_eq!(m.load(Ordering::SeqCst), 2);
    }
}
