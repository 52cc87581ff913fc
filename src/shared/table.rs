//! The DynamoDB table several instances share, spoken to in AWS's JSON protocol (signed here,
//! as SQS is: the SDK crate would add a million lines for nine calls).
//!
//! One item per state key: `t` (the tree: `outbox`, `raised`…, string) and `k` (the key,
//! binary) make the primary key, `v` the value (binary). Binary sort keys order as sled's keys
//! do (bytewise), so a tree is read back in order with one Query. The lease is the item
//! `t = "lease"`, `k = "instance"` (see `lease`).
//!
//! An item holds 400 KB, a record up to 2 MB (`format::stream` reduces longer ones): a value
//! that does not fit is compressed (`z`), and one that still does not fit is cut in parts, the
//! first in the item (with `parts`), the others under `t = "<tree>+"`, `k = key + part number`,
//! all in the transaction of the key. A crafted record must not stop the copy.

use std::collections::HashMap;
use std::io::{Read, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::config::SharedState;
use crate::backoff::Backoff;
use crate::source::aws::clock::Clock;
use crate::source::aws::json::{self, Call};
use crate::source::aws::{sdk_config, ApiError, ApiErrorKind, ApiStats, AwsAccess, Caller};
use crate::state::{Write, TREES};

/// The most items one TransactWriteItems takes (one of them the lease check).
const PER_TRANSACTION: usize = 100;
/// What one transaction may carry (DynamoDB's limit is 4 MB).
const TRANSACTION_BYTES: usize = 3_500_000;
/// The largest value kept as it is in one item (DynamoDB's limit is 400 KB, names included).
const ITEM_BYTES: usize = 399_000;
/// The size of each part of a value cut in parts.
const PART_BYTES: usize = 350_000;

pub(super) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The primary key of item `k` of partition `t`.
pub(super) fn key(t: &str, k: &[u8]) -> Value {
    json!({"t": {"S": t}, "k": {"B": b64(k)}})
}

/// The lease an instance holds when it writes: every write is refused once another holds it.
#[derive(Debug, Clone)]
pub struct Fence {
    pub owner: String,
    pub epoch: String,
}

/// A write that failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another instance holds the lease: this one must stop.
    #[error("another instance took the lease over")]
    Fenced,
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// The lease item, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseItem {
    pub owner: String,
    pub epoch: String,
    /// Changed at every renewal: a standby takes the lease over when it stays the same for a
    /// whole lease (measured on the standby's own clock: no host clocks compared).
    pub rvn: String,
}

/// The shared table.
pub struct Table {
    pub cfg: SharedState,
    client: reqwest::Client,
    conf: aws_config::SdkConfig,
    clock: Arc<Clock>,
    caller: Caller,
    /// DynamoDB calls made, retries included.
    pub calls: Arc<ApiStats>,
    /// Items written.
    pub written: AtomicU64,
    /// The keys whose values are cut in parts, and in how many (to remove the parts).
    parted: Mutex<HashMap<(&'static str, Vec<u8>), usize>>,
}

impl Table {
    /// A client for `cfg`'s table, with the standard credential chain.
    pub async fn connect(cfg: &SharedState) -> Result<Table, ApiError> {
        let clock = Arc::new(Clock::new("state"));
        let access = AwsAccess {
            endpoint_url: cfg.endpoint_url.clone(),
            ..AwsAccess::default()
        };
        let conf = sdk_config(&access, &cfg.region, &clock).await;
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
        Ok(Table {
            cfg: cfg.clone(),
            client,
            conf,
            clock,
            caller: Caller::new(1000.0, backoff, calls.clone()),
            calls,
            written: AtomicU64::new(0),
            parted: Mutex::default(),
        })
    }

    /// The table's name and region, as messages say it.
    pub fn describe(&self) -> String {
        format!("DynamoDB table {} in {}", self.cfg.table, self.cfg.region)
    }

    pub(super) async fn call(&self, action: &str, body: Value) -> Result<Value, ApiError> {
        let call = Call {
            service: json::DYNAMODB,
            region: &self.cfg.region,
            endpoint_url: self.cfg.endpoint_url.as_deref(),
            action,
            body,
            timeout: Duration::from_secs(10),
        };
        self.caller
            .call_signed(|| json::send_via(&self.client, &self.conf, &self.clock, &call))
            .await
    }

    /// Whether the table exists.
    pub async fn exists(&self) -> Result<bool, ApiError> {
        match self
            .call("DescribeTable", json!({"TableName": self.cfg.table}))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.message.contains("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the table (on-demand capacity) and waits until it can be used. False: it was
    /// there already.
    pub async fn create(&self) -> Result<bool, ApiError> {
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
            Err(e) if e.message.contains("ResourceInUseException") => false,
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

    /// Every key of every tree, tree by tree in order (consistent reads), values put back
    /// together from their parts.
    pub async fn load(&self) -> Result<Vec<Write>, ApiError> {
        let mut out = Vec::new();
        let mut parted = HashMap::new();
        for tree in TREES {
            let mut parts: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for item in self.query_all(&format!("{tree}+")).await? {
                let (k, z) = (binary(&item, "k"), binary(&item, "z"));
                if let (Some(k), Some(z)) = (k, z) {
                    parts.insert(k, z);
                }
            }
            for item in self.query_all(tree).await? {
                let key = binary(&item, "k").ok_or_else(|| self.foreign(tree))?;
                let n = item["parts"]["N"]
                    .as_str()
                    .and_then(|n| n.parse::<usize>().ok());
                let value = match (binary(&item, "v"), binary(&item, "z")) {
                    (Some(v), _) => v,
                    (None, Some(mut z)) => {
                        for i in 1..n.unwrap_or(1) {
                            let part = parts.get(&part_key(&key, i)).ok_or_else(|| {
                                ApiError::new(
                                    "dynamodb:Query",
                                    format!(
                                        "part {i} of a {tree} entry is missing from {}",
                                        self.cfg.table
                                    ),
                                    ApiErrorKind::Other,
                                )
                            })?;
                            z.extend_from_slice(part);
                        }
                        inflate(&z).map_err(|e| {
                            ApiError::new(
                                "dynamodb:Query",
                                format!(
                                    "a {tree} entry in {} cannot be decompressed: {e}",
                                    self.cfg.table
                                ),
                                ApiErrorKind::Other,
                            )
                        })?
                    }
                    _ => return Err(self.foreign(tree)),
                };
                if let Some(n) = n.filter(|n| *n > 1) {
                    parted.insert((tree, key.clone()), n);
                }
                out.push(Write {
                    tree,
                    key,
                    value: Some(value),
                });
            }
        }
        *self.parted.lock().expect("parts lock") = parted;
        Ok(out)
    }

    fn foreign(&self, tree: &str) -> ApiError {
        ApiError::new(
            "dynamodb:Query",
            format!(
                "an item of {tree} in {} is not trailwatch's (k and v must be binary)",
                self.cfg.table
            ),
            ApiErrorKind::Other,
        )
    }

    /// A Query of partition `t`.
    fn query(&self, t: &str) -> Value {
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

    /// Whether the table holds any state (the lease aside).
    pub async fn holds_state(&self) -> Result<bool, ApiError> {
        for tree in TREES {
            let mut body = self.query(tree);
            body["Limit"] = json!(1);
            let v = self.call("Query", body).await?;
            if v["Items"].as_array().is_some_and(|a| !a.is_empty()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes `writes` in order, in transactions of up to 99 items (the items of one key in
    /// one transaction); with `fence`, each transaction also checks that the lease is still
    /// `fence`'s, and none is written if not.
    pub async fn write(&self, writes: &[Write], fence: Option<&Fence>) -> Result<(), WriteError> {
        let room = PER_TRANSACTION - usize::from(fence.is_some());
        let mut batch: Vec<Value> = Vec::new();
        let mut parts: Vec<(&Write, usize)> = Vec::new();
        let mut bytes = 0;
        for w in writes {
            let (items, size, n) = self.items_of(w);
            if !batch.is_empty()
                && (batch.len() + items.len() > room || bytes + size > TRANSACTION_BYTES)
            {
                self.transact(std::mem::take(&mut batch), fence).await?;
                self.note_parts(std::mem::take(&mut parts));
                bytes = 0;
            }
            bytes += size;
            batch.extend(items);
            parts.push((w, n));
        }
        if !batch.is_empty() {
            self.transact(batch, fence).await?;
            self.note_parts(parts);
        }
        Ok(())
    }

    /// Remembers, once they are written, which keys' values are in parts (a write that failed
    /// leaves the old parts known, to be removed by the write that succeeds).
    fn note_parts(&self, written: Vec<(&Write, usize)>) {
        let mut parted = self.parted.lock().expect("parts lock");
        for (w, n) in written {
            match n {
                0 | 1 => parted.remove(&(w.tree, w.key.clone())),
                n => parted.insert((w.tree, w.key.clone()), n),
            };
        }
    }

    /// The items that write `w` (and remove the parts its old value had), their size, and in
    /// how many parts the value goes (0: as it is).
    fn items_of(&self, w: &Write) -> (Vec<Value>, usize, usize) {
        let table = &self.cfg.table;
        let old = self
            .parted
            .lock()
            .expect("parts lock")
            .get(&(w.tree, w.key.clone()))
            .copied()
            .unwrap_or(0);
        let mut items = Vec::new();
        let mut size = w.key.len() + 16;
        let mut parts = 0;
        match &w.value {
            None => items.push(json!({"Delete": {"TableName": table, "Key": key(w.tree, &w.key)}})),
            Some(v) if w.key.len() + v.len() + 16 <= ITEM_BYTES => {
                size += v.len();
                items.push(json!({"Put": {"TableName": table, "Item": {
                    "t": {"S": w.tree}, "k": {"B": b64(&w.key)}, "v": {"B": b64(v)}}}}));
            }
            Some(v) => {
                let z = deflate(v);
                size += z.len();
                let chunks: Vec<&[u8]> = if z.len() + w.key.len() + 32 <= ITEM_BYTES {
                    vec![&z[..]]
                } else {
                    z.chunks(PART_BYTES).collect()
                };
                parts = chunks.len();
                let mut first = json!({"t": {"S": w.tree}, "k": {"B": b64(&w.key)}, "z": {"B": b64(chunks[0])}});
                if parts > 1 {
                    first["parts"] = json!({"N": parts.to_string()});
                }
                items.push(json!({"Put": {"TableName": table, "Item": first}}));
                let tree = format!("{}+", w.tree);
                for (i, c) in chunks.iter().enumerate().skip(1) {
                    items.push(json!({"Put": {"TableName": table, "Item": {
                        "t": {"S": tree}, "k": {"B": b64(&part_key(&w.key, i))}, "z": {"B": b64(c)}}}}));
                }
            }
        }
        let tree = format!("{}+", w.tree);
        for i in parts.max(1)..old {
            items.push(
                json!({"Delete": {"TableName": table, "Key": key(&tree, &part_key(&w.key, i))}}),
            );
        }
        (items, size, parts)
    }

    async fn transact(
        &self,
        mut items: Vec<Value>,
        fence: Option<&Fence>,
    ) -> Result<(), WriteError> {
        let n = items.len() as u64;
        if let Some(f) = fence {
            items.push(json!({"ConditionCheck": {
                "TableName": self.cfg.table,
                "Key": lease_key(),
                "ConditionExpression": "#o = :o AND epoch = :e",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":o": {"S": f.owner}, ":e": {"S": f.epoch}}
            }}));
        }
        let body = json!({"TransactItems": items});
        match self.call("TransactWriteItems", body).await {
            Ok(_) => {
                self.written.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if e.message.contains("ConditionalCheckFailed") => Err(WriteError::Fenced),
            Err(e) => Err(e.into()),
        }
    }

    /// The lease item, if any.
    pub async fn lease(&self) -> Result<Option<LeaseItem>, ApiError> {
        let body = json!({"TableName": self.cfg.table, "Key": lease_key(), "ConsistentRead": true});
        let v = self.call("GetItem", body).await?;
        let item = &v["Item"];
        if item.is_null() {
            return Ok(None);
        }
        let s = |a: &str| item[a]["S"].as_str().unwrap_or("").to_string();
        Ok(Some(LeaseItem {
            owner: s("owner"),
            epoch: s("epoch"),
            rvn: s("rvn"),
        }))
    }

    /// Writes the lease as `new` if it is still as `seen` (`None`: absent). False: it changed.
    pub async fn claim(&self, new: &LeaseItem, seen: Option<&LeaseItem>) -> Result<bool, ApiError> {
        let mut body = json!({"TableName": self.cfg.table, "Item": {
            "t": {"S": "lease"}, "k": {"B": b64(b"instance")},
            "owner": {"S": new.owner}, "epoch": {"S": new.epoch}, "rvn": {"S": new.rvn}
        }});
        match seen {
            None => body["ConditionExpression"] = json!("attribute_not_exists(t)"),
            Some(s) => {
                body["ConditionExpression"] = json!("rvn = :r");
                body["ExpressionAttributeValues"] = json!({":r": {"S": s.rvn}});
            }
        }
        conditional(self.call("PutItem", body).await)
    }

    /// Renews `held` with a new rvn. False: another instance took it.
    pub async fn renew(&self, held: &LeaseItem, rvn: &str) -> Result<bool, ApiError> {
        let body = json!({
            "TableName": self.cfg.table,
            "Key": lease_key(),
            "UpdateExpression": "SET rvn = :n",
            "ConditionExpression": "#o = :o AND epoch = :e",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":n": {"S": rvn}, ":o": {"S": held.owner}, ":e": {"S": held.epoch}}
        });
        conditional(self.call("UpdateItem", body).await)
    }

    /// Gives the lease up (a clean stop): a standby takes over at once.
    pub async fn release(&self, held: &LeaseItem) -> Result<bool, ApiError> {
        let body = json!({
            "TableName": self.cfg.table,
            "Key": lease_key(),
            "ConditionExpression": "#o = :o AND epoch = :e",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":o": {"S": held.owner}, ":e": {"S": held.epoch}}
        });
        conditional(self.call("DeleteItem", body).await)
    }
}

/// The key of part `i` of the value of `key`.
fn part_key(key: &[u8], i: usize) -> Vec<u8> {
    let mut k = key.to_vec();
    k.extend_from_slice(&(i as u16).to_be_bytes());
    k
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

fn lease_key() -> Value {
    key("lease", b"instance")
}

/// A conditional write's answer: done, or refused by its condition.
fn conditional(r: Result<Value, ApiError>) -> Result<bool, ApiError> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.message.contains("ConditionalCheckFailed") => Ok(false),
        Err(e) => Err(e),
    }
}
