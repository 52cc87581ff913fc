//! The public keys CloudTrail signs a region's digests with (`cloudtrail:ListPublicKeys`),
//! asked where the source's other CloudTrail calls go (`endpoint_urls.cloudtrail`, else the
//! partition's endpoint) with its credentials and role, once per region and key: a digest names
//! its key by fingerprint, and keys rotate, so a key unknown yet is looked for around the
//! digest's time (a margin of hours each side).

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Mutex;

use crate::integrity::keys::PublicKey;
use crate::source::aws::{self, ApiError, AwsAccess, Caller, Clock};

/// How far around a digest's time keys are looked for.
const MARGIN: SignedDuration = SignedDuration::from_hours(6);

/// The keys of every region asked so far.
pub struct Keys {
    access: AwsAccess,
    clock: Arc<Clock>,
    caller: Caller,
    known: Mutex<HashMap<String, Vec<PublicKey>>>,
    clients: Mutex<HashMap<String, aws_sdk_cloudtrail::Client>>,
}

impl Keys {
    pub fn new(access: AwsAccess, clock: Arc<Clock>, caller: Caller) -> Keys {
        Keys {
            access,
            clock,
            caller,
            known: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// The key of `region` whose fingerprint is `fingerprint`, valid around `at` (`None`: the
    /// region publishes no such key).
    pub(crate) async fn key(
        &self,
        region: &str,
        fingerprint: &str,
        at: Timestamp,
    ) -> Result<Option<PublicKey>, ApiError> {
        let find = |ks: &Vec<PublicKey>| ks.iter().find(|k| k.fingerprint == fingerprint).cloned();
        if let Some(k) = self.known.lock().await.get(region).and_then(find) {
            return Ok(Some(k));
        }
        let listed = self.list(region, at).await?;
        let mut known = self.known.lock().await;
        let ks = known.entry(region.to_string()).or_default();
        for k in listed {
            if !ks.contains(&k) {
                ks.push(k);
            }
        }
        Ok(find(ks))
    }

    /// `check --probe`'s: how many keys `region` lists for the last hours.
    pub(crate) async fn probe(&self, region: &str) -> Result<usize, ApiError> {
        Ok(self.list(region, self.clock.now()).await?.len())
    }

    /// `ListPublicKeys` of `region` around `at`.
    async fn list(&self, region: &str, at: Timestamp) -> Result<Vec<PublicKey>, ApiError> {
        let client = self.client(region).await;
        let time =
            |t: Timestamp| aws_sdk_cloudtrail::primitives::DateTime::from_secs(t.as_second());
        let (from, to) = (at - MARGIN, (at + MARGIN).min(self.clock.now()));
        let what = format!("cloudtrail:ListPublicKeys in {region}");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .caller
                .call(&what, || {
                    client
                        .list_public_keys()
                        .start_time(time(from))
                        .end_time(time(to.max(from)))
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for k in page.public_key_list() {
                if let Some(v) = k.value() {
                    out.push(PublicKey::of_der(v.as_ref().to_vec()));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let conf = aws::sdk_config(&self.access, region, &self.clock).await;
        let c = aws::access::cloudtrail(&conf, &self.clock, self.access.endpoint("cloudtrail"));
        clients.insert(region.to_string(), c.clone());
        c
    }
}
