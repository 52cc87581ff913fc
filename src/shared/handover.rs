//! Work handed from the standbys to the instance that holds the lease: a standby reads S3
//! objects announced on the queue (SQS gives each message to one reader: competing
//! consumers), and leaves what it found in the table (`t = "hand/<source>"`, compressed); the
//! holder takes it in as if it had read the objects itself (thresholds, dedup, outbox, marks),
//! makes it durable, and answers (`t = "hand-answer"`). The standby deletes its messages only
//! then. The holder stays the only writer of the state; the standbys share the reading.
//!
//! What is handed is opaque here (bytes): the reading and the taking in are `poll::handed`'s.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::table::{b64, binary, deflate, inflate, key, Table};
use crate::source::aws::ApiError;

const ANSWER: &str = "hand-answer";
/// The most a handed batch may weigh compressed (DynamoDB's item limit is 400 KB).
const MOST: usize = 350_000;
/// How long a standby waits for the holder's answer before it gives its messages back.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often a standby looks for the answer.
const LOOK_EVERY: Duration = Duration::from_millis(100);

fn partition(source: &str) -> String {
    format!("hand/{source}")
}

/// What became of a handed batch.
#[derive(Debug)]
pub enum Handed {
    /// The holder took it in and answered this.
    Answered(Value),
    /// No answer within `PATIENCE` (no holder, or a slow one): the caller gives its messages
    /// back to the queue (what the holder may still take in is then found read, not repeated).
    Unanswered,
    /// Too large for an item even compressed (its size): the caller leaves these objects to
    /// the holder's own reading.
    TooLarge(usize),
}

/// Leaves `batch` for the holder and waits for its answer.
pub async fn hand(table: &Table, me: &str, source: &str, batch: &[u8]) -> Result<Handed, ApiError> {
    let z = deflate(batch);
    if z.len() > MOST {
        return Ok(Handed::TooLarge(z.len()));
    }
    let id = super::lease::unique(me).into_bytes();
    let t = partition(source);
    let mut item = key(&t, &id);
    item["v"] = json!({"B": b64(&z)});
    table
        .call(
            "PutItem",
            json!({"TableName": table.cfg.table, "Item": item}),
        )
        .await?;
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        tokio::time::sleep(LOOK_EVERY).await;
        let get =
            json!({"TableName": table.cfg.table, "Key": key(ANSWER, &id), "ConsistentRead": true});
        let v = table.call("GetItem", get).await?;
        if let Some(text) = v["Item"]["v"]["S"].as_str() {
            let answer = serde_json::from_str(text).unwrap_or(Value::Null);
            let del = json!({"TableName": table.cfg.table, "Key": key(ANSWER, &id)});
            table.call("DeleteItem", del).await?;
            return Ok(Handed::Answered(answer));
        }
    }
    let del = json!({"TableName": table.cfg.table, "Key": key(&t, &id)});
    table.call("DeleteItem", del).await?;
    Ok(Handed::Unanswered)
}

/// The batches waiting for `source`, each taken out of the table (taken in once). A batch
/// that cannot be inflated comes out empty (its standby gets an error for an answer).
pub async fn take(table: &Table, source: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ApiError> {
    let t = partition(source);
    let mut out = Vec::new();
    for item in table.query_all(&t).await? {
        let id = binary(&item, "k").unwrap_or_default();
        let del = json!({"TableName": table.cfg.table, "Key": key(&t, &id)});
        table.call("DeleteItem", del).await?;
        let batch = binary(&item, "v")
            .and_then(|z| inflate(&z).ok())
            .unwrap_or_default();
        out.push((id, batch));
    }
    Ok(out)
}

/// Answers batch `id`.
pub async fn reply(table: &Table, id: &[u8], answer: &Value) -> Result<(), ApiError> {
    let mut item = key(ANSWER, id);
    item["v"] = json!({"S": answer.to_string()});
    table
        .call(
            "PutItem",
            json!({"TableName": table.cfg.table, "Item": item}),
        )
        .await
        .map(|_| ())
}
