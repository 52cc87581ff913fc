//! The bucket, through the S3 SDK: folders under a prefix (for finding accounts and regions),
//! one page of keys after a `StartAfter`, and one object's body as a stream (never held whole).
//! Every call goes through the source's `Caller` (rate, retries) and names the permission it
//! needs when it is denied.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::source::aws::clock::DateHeader;
use crate::source::aws::{ApiError, Caller, Clock};

/// One key listed.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// One page of a listing, and the token of the next.
#[derive(Debug, Default)]
pub struct Listing {
    pub keys: Vec<Listed>,
    pub next: Option<String>,
}

/// An object being read: its body arrives as it is read.
pub struct Object {
    pub body: ByteStream,
    pub etag: String,
    /// Its user metadata (`x-amz-meta-…`, without the prefix): a digest's signature.
    pub metadata: std::collections::HashMap<String, String>,
}

/// The trail's bucket.
pub struct Bucket {
    client: aws_sdk_s3::Client,
    pub caller: Caller,
    pub name: String,
    /// The key prefix before `AWSLogs/` (see `layout::base`).
    pub base: String,
}

impl Bucket {
    /// A client for `name` in `conf`'s region, at `endpoint` when given, with path-style
    /// addressing then (a test server or a private endpoint does not resolve bucket host names).
    pub fn new(
        conf: &SdkConfig,
        clock: &Arc<Clock>,
        caller: Caller,
        name: &str,
        base: String,
        endpoint: Option<&str>,
    ) -> Bucket {
        let mut b = aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(endpoint.is_some())
            .interceptor(DateHeader(clock.clone()));
        if let Some(u) = endpoint {
            b = b.endpoint_url(u);
        }
        let c = b.build();
        Bucket {
            client: aws_sdk_s3::Client::from_conf(c),
            caller,
            name: name.to_string(),
            base,
        }
    }

    fn what(&self, action: &str) -> String {
        format!("{action} on s3://{}", self.name)
    }

    /// The folder names right under `prefix` (without it, without the slash).
    pub async fn folders(&self, prefix: &str) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .caller
                .call(&self.what("s3:ListBucket"), || {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.name)
                        .prefix(prefix)
                        .delimiter("/")
                        .set_continuation_token(token.clone())
                        .send()
                })
                .await?;
            for p in page.common_prefixes() {
                if let Some(name) = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(prefix))
                    .map(|n| n.trim_end_matches('/'))
                {
                    out.push(name.to_string());
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// One page of the keys under `prefix` after `start_after`.
    pub async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        token: Option<String>,
    ) -> Result<Listing, ApiError> {
        let page = self
            .caller
            .call(&self.what("s3:ListBucket"), || {
                self.client
                    .list_objects_v2()
                    .bucket(&self.name)
                    .prefix(prefix)
                    .set_start_after(start_after.map(String::from))
                    .set_continuation_token(token.clone())
                    .send()
            })
            .await?;
        let keys = page
            .contents()
            .iter()
            .filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or("").to_string(),
                })
            })
            .collect();
        let next = match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => Some(t.to_string()),
            _ => None,
        };
        Ok(Listing { keys, next })
    }

    /// Starts reading one object.
    pub async fn open(&self, key: &str) -> Result<Object, ApiError> {
        let out = self
            .caller
            .call(&self.what("s3:GetObject"), || {
                self.client.get_object().bucket(&self.name).key(key).send()
            })
            .await?;
        Ok(Object {
            etag: out.e_tag().unwrap_or("").to_string(),
            metadata: out.metadata().cloned().unwrap_or_default(),
            body: out.body,
        })
    }

    /// Proves `s3:GetObject` (and `kms:Decrypt` for an encrypted bucket) on one key, reading
    /// its first byte only.
    pub async fn probe_object(&self, key: &str) -> Result<(), ApiError> {
        self.caller
            .call(&self.what("s3:GetObject"), || {
                self.client
                    .get_object()
                    .bucket(&self.name)
                    .key(key)
                    .range("bytes=0-0")
                    .send()
            })
            .await
            .map(|_| ())
    }
}
