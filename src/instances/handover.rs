//! Work handed from the standbys to the instance that holds the lease: a standby reads S3
//! objects announced on the queue (SQS gives each message to one reader: competing
//! consumers), and leaves what it found in the table (`t = "hand/<source>"`, compressed); the
//! holder takes it in as if it had read the objects itself (thresholds, dedup, outbox, marks),
//! makes it durable, and answers (`t = "hand-answer"`). The standby deletes its messages only
//! then. The holder stays the only writer of the state; the standbys share the reading.
//!
//! An exchange (`exchange`) of opaque bytes: the reading and the taking in are `poll::s3`'s.

use std::time::Duration;

use serde_json::Value;

use super::exchange::Exchange;
use super::table::{deflate, inflate, Table};
use crate::source::aws::ApiError;

/// The most a handed batch may weigh compressed (DynamoDB's item limit is 400 KB).
const MOST: usize = 350_000;

fn exchange(source: &str) -> Exchange {
    Exchange {
        requests: format!("hand/{source}"),
        answers: "hand-answer",
        // How long a standby waits for the holder's answer before it gives its messages back.
        patience: Duration::from_secs(30),
        look_every: Duration::from_millis(100),
    }
}

/// What became of a handed batch.
#[derive(Debug)]
pub(crate) enum Handed {
    /// The holder took it in and answered this.
    Answered(Value),
    /// No answer within 30 s (no holder, or a slow one): the caller gives its messages back
    /// to the queue (what the holder may still take in is then found read, not repeated).
    Unanswered,
    /// Too large for an item even compressed (its size): the caller leaves these objects to
    /// the holder's own reading.
    TooLarge(usize),
}

/// Leaves `batch` of `source` for the holder and waits for its answer.
pub(crate) async fn hand(table: &Table, source: &str, batch: &[u8]) -> Result<Handed, ApiError> {
    let z = deflate(batch);
    if z.len() > MOST {
        return Ok(Handed::TooLarge(z.len()));
    }
    let me = table.cfg.instance.clone();
    Ok(match exchange(source).ask(table, &me, &z).await? {
        Some(a) => Handed::Answered(serde_json::from_slice(&a).unwrap_or(Value::Null)),
        None => Handed::Unanswered,
    })
}

/// The batches waiting for `source` (id, batch), each taken out of the table (taken in once).
/// A batch that cannot be inflated comes out empty (its standby gets an error for an answer).
pub(crate) async fn take(table: &Table, source: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ApiError> {
    let taken = exchange(source).take(table).await?;
    Ok(taken
        .into_iter()
        .map(|r| (r.id, inflate(&r.body).unwrap_or_default()))
        .collect())
}

/// Answers batch `id` of `source`.
pub(crate) async fn reply(
    table: &Table,
    source: &str,
    id: &[u8],
    answer: &Value,
) -> Result<(), ApiError> {
    let a = answer.to_string().into_bytes();
    exchange(source).reply(table, id, &a).await
}

/// Removes the answers no standby read (it died waiting): at most once every few minutes,
/// whoever calls.
pub(crate) async fn sweep(table: &Table) -> Result<usize, ApiError> {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    {
        let mut last = LAST.lock().expect("sweep lock");
        if last.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return Ok(0);
        }
        *last = Some(std::time::Instant::now());
    }
    let swept = exchange("").sweep(table).await?;
    if swept > 0 {
        tracing::info!("{swept} answers to standbys that nobody read were removed from the table");
    }
    Ok(swept)
}

/// How often the answers are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(300);
