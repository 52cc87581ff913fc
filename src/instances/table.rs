//! The DynamoDB table several instances share, spoken to in AWS's JSON protocol (signed here,
//! as SQS is: the SDK crate would add a million lines for nine calls).
//!
//! One item per key: `t` (the partition: a state tree such as `outbox`, the lease, requests…,
//! string) and `k` (the key, binary) make the primary key. What lives in it is written by the
//! files beside this one: the state's trees (`mirror`), the lease (`lease`), requests and their
//! answers (`exchange`).
//!
//! Every call runs on the table's own small runtime, whoever makes it: the state is
//! synchronous (sled) and its flushes, made inside the daemon's tasks and by commands, wait for
//! the table (`Table::wait`), while async callers simply await. One runtime per process, for its
//! whole life, so a connection is never left on a runtime that has ended.

use std::future::Future;
use std::io::{Read, Write as _};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::config::InstancesConfig;
use crate::backoff::Backoff;
use crate::source::aws::clock::Clock;
use crate::source::aws::json::{self, Call};
use crate::source::aws::{sdk_config, ApiError, ApiErrorKind, ApiStats, AwsAccess, Caller};

pub(super) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The primary key of item `k` of partition `t`.
pub(super) fn key(t: &str, k: &[u8]) -> Value {
    json!({"t": {"S": t}, "k": {"B": b64(k)}})
}

/// A binary attribute of an item.
pub(super) fn binary(item: &Value, a: &str) -> Option<Vec<u8>> {
    let text = item[a]["B"].as_str()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

pub(super) fn deflate(v: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(v).expect("writing to memory");
    e.finish().expect("writing to memory")
}

pub(super) fn inflate(z: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z).read_to_end(&mut out)?;
    Ok(out)
}

/// The lease an instance holds when it writes: every write is refused once another holds it.
#[derive(Debug, Clone)]
pub(crate) struct Fence {
    pub owner: String,
    pub epoch: String,
}

impl Fence {
    /// The condition that the lease item is still this one's, with its names and values,
    /// for a write's `ConditionExpression` (the one place it is written).
    pub(super) fn condition(&self) -> Value {
        json!({
            "ConditionExpression": "#o = :o AND epoch = :e",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":o": {"S": self.owner}, ":e": {"S": self.epoch}}
        })
    }

    /// `body` made conditional on the lease still being this one's (its own values kept).
    pub(super) fn guard(&self, mut body: Value) -> Value {
        let c = self.condition();
        body["ConditionExpression"] = c["ConditionExpression"].clone();
        body["ExpressionAttributeNames"] = c["ExpressionAttributeNames"].clone();
        let values = body["ExpressionAttributeValues"]
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut all = c["ExpressionAttributeValues"].clone();
        all.as_object_mut().expect("an object").extend(values);
        body["ExpressionAttributeValues"] = all;
        body
    }
}

/// A write that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// Another instance holds the lease: this one must stop.
    #[error("another instance took the lease over")]
    Fenced,
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// The runtime every call to the table runs on (one per process, for its whole life).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dynamodb-table")
            .enable_all()
            .build()
            .expect("a runtime for the shared table")
    })
}

/// How the table is reached: what a call needs, shared with the calls in flight.
struct Link {
    client: reqwest::Client,
    conf: aws_config::SdkConfig,
    clock: Arc<Clock>,
    caller: Caller,
    region: String,
    endpoint_url: Option<String>,
}

/// The shared table.
pub(crate) struct Table {
    pub cfg: InstancesConfig,
    link: Arc<Link>,
    /// DynamoDB calls made, retries included.
    pub calls: Arc<ApiStats>,
    /// Items written.
    pub written: AtomicU64,
    /// The keys whose values are cut in parts, and in how many (to remove the parts).
    pub(super) parted: Mutex<std::collections::HashMap<(&'static str, Vec<u8>), usize>>,
}

impl Table {
    /// A client for `cfg`'s table, with the standard credential chain.
    pub(crate) async fn connect(cfg: &InstancesConfig) -> Result<Arc<Table>, ApiError> {
        let c = cfg.clone();
        Table::run(async move {
            let clock = Arc::new(Clock::new("state"));
            let access = AwsAccess {
                endpoint_url: c.endpoint_url.clone(),
                ..AwsAccess::default()
            };
            let conf = sdk_config(&access, &c.region, &clock).await;
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| {
                    ApiError::new("dynamodb", format!("HTTP client: {e}"), ApiErrorKind::Other)
                })?;
            let calls = Arc::new(ApiStats::default());
            let backoff = Backoff {
                initial: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
                attempts: 5,
            };
            let link = Link {
                client,
                conf,
                clock,
                caller: Caller::new(1000.0, backoff, calls.clone()),
                region: c.region.clone(),
                endpoint_url: c.endpoint_url.clone(),
            };
            Ok(Arc::new(Table {
                cfg: c,
                link: Arc::new(link),
                calls,
                written: AtomicU64::new(0),
                parted: Mutex::default(),
            }))
        })
        .await
    }

    /// Runs `fut` on the table's runtime and awaits it, from any runtime.
    pub(crate) async fn run<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        runtime()
            .spawn(fut)
            .await
            .expect("a task of the table's runtime does not panic")
    }

    /// Runs `fut` on the table's runtime and waits for it, from synchronous code (inside a
    /// task of a multi-threaded runtime too).
    pub(crate) fn wait<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        runtime().spawn(async move {
            let _ = tx.send(fut.await);
        });
        let recv = move || rx.recv().expect("the table's runtime answers");
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(recv)
            }
            _ => recv(),
        }
    }

    /// Runs `fut` on the table's runtime for as long as it lasts (the lease's renewals).
    pub(super) fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
        runtime().spawn(fut);
    }

    /// The table's name and region, as messages say it.
    pub(crate) fn describe(&self) -> String {
        format!("DynamoDB table {} in {}", self.cfg.table, self.cfg.region)
    }

    /// One call (retried as the caller retries), on the table's runtime. One that has not
    /// answered after a third of the lease is said (a WARN naming the table and the call):
    /// an instance whose calls hang loses its lease without a word otherwise.
    pub(super) async fn call(&self, action: &str, body: Value) -> Result<Value, ApiError> {
        let (link, action) = (self.link.clone(), action.to_string());
        let (slow, table) = (self.cfg.lease / 3, self.describe());
        Table::run(async move {
            let call = Call {
                service: json::DYNAMODB,
                region: &link.region,
                endpoint_url: link.endpoint_url.as_deref(),
                action: &action,
                body,
                timeout: Duration::from_secs(10),
            };
            let answer = link
                .caller
                .call_signed(|| json::send_via(&link.client, &link.conf, &link.clock, &call));
            tokio::pin!(answer);
            tokio::select! {
                a = &mut answer => a,
                () = tokio::time::sleep(slow) => {
                    tracing::warn!(
                        "{table}: {action} has not answered for {}, a third of the lease: if the table keeps hanging, this instance loses the lease (and stops working) when it ends",
                        humantime::format_duration(slow)
                    );
                    let a = answer.await;
                    tracing::warn!("{table}: {action} answered at last ({})", if a.is_ok() { "done" } else { "failed" });
                    a
                }
            }
        })
        .await
    }

    /// Whether the table exists.
    pub(crate) async fn exists(&self) -> Result<bool, ApiError> {
        match self
            .call("DescribeTable", json!({"TableName": self.cfg.table}))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the table (on-demand capacity) and waits until it can be used. False: it was
    /// there already.
    pub(crate) async fn create(&self) -> Result<bool, ApiError> {
        let body = json!({
            "TableName": self.cfg.table,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "t", "AttributeType": "S"},
                {"AttributeName": "k", "AttributeType": "B"}
            ],
            "KeySchema": [
                {"AttributeName": "t", "KeyType": "HASH"},
                {"AttributeName": "k", "KeyType": "RANGE"}
            ]
        });
        let created = match self.call("CreateTable", body).await {
            Ok(_) => true,
            Err(e) if e.is("ResourceInUseException") => false,
            Err(e) => return Err(e),
        };
        for _ in 0..120 {
            let v = self
                .call("DescribeTable", json!({"TableName": self.cfg.table}))
                .await?;
            if v["Table"]["TableStatus"] == "ACTIVE" {
                return Ok(created);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(ApiError::new(
            "dynamodb:DescribeTable",
            format!("{} did not become ACTIVE within 2 minutes", self.cfg.table),
            ApiErrorKind::Transient,
        ))
    }

    /// A Query of partition `t`.
    pub(super) fn query(&self, t: &str) -> Value {
        json!({
            "TableName": self.cfg.table,
            "KeyConditionExpression": "t = :t",
            "ExpressionAttributeValues": {":t": {"S": t}},
            "ConsistentRead": true
        })
    }

    /// Every item of one partition.
    pub(super) async fn query_all(&self, t: &str) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut start: Option<Value> = None;
        loop {
            let mut body = self.query(t);
            if let Some(s) = start.take() {
                body["ExclusiveStartKey"] = s;
            }
            let mut v = self.call("Query", body).await?;
            if let Some(items) = v["Items"].as_array_mut() {
                out.append(items);
            }
            match v.get("LastEvaluatedKey") {
                Some(k) if !k.is_null() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Item `k` of partition `t` (a consistent read), if it is there.
    pub(super) async fn get(&self, t: &str, k: &[u8]) -> Result<Option<Value>, ApiError> {
        let body = json!({"TableName": self.cfg.table, "Key": key(t, k), "ConsistentRead": true});
        let mut v = self.call("GetItem", body).await?;
        Ok(Some(v["Item"].take()).filter(|i| !i.is_null()))
    }

    /// Writes item `k` of partition `t` with `attributes` (`{"v": {"B": …}}`).
    pub(super) async fn put(&self, t: &str, k: &[u8], attributes: Value) -> Result<(), ApiError> {
        let mut item = key(t, k);
        if let (Some(i), Value::Object(a)) = (item.as_object_mut(), attributes) {
            i.extend(a);
        }
        let body = json!({"TableName": self.cfg.table, "Item": item});
        self.call("PutItem", body).await.map(|_| ())
    }

    /// Removes item `k` of partition `t` (nothing when it is not there).
    pub(super) async fn delete(&self, t: &str, k: &[u8]) -> Result<(), ApiError> {
        let body = json!({"TableName": self.cfg.table, "Key": key(t, k)});
        self.call("DeleteItem", body).await.map(|_| ())
    }
}

/// A conditional write's answer: done, or refused by its condition.
pub(super) fn conditional(r: Result<Value, ApiError>) -> Result<bool, ApiError> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_condition_keeps_a_write_s_own_values() {
        let f = Fence {
            owner: "a".into(),
            epoch: "e1".into(),
        };
        let body = f.guard(json!({"UpdateExpression": "SET rvn = :n",
            "ExpressionAttributeValues": {":n": {"S": "r2"}}}));
        assert_eq!(body["ConditionExpression"], "#o = :o AND epoch = :e");
        assert_eq!(body["ExpressionAttributeNames"]["#o"], "owner");
        let values = &body["ExpressionAttributeValues"];
        assert_eq!(
            (&values[":n"]["S"], &values[":o"]["S"], &values[":e"]["S"]),
            (&json!("r2"), &json!("a"), &json!("e1"))
        );
    }
}
