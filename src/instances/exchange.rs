//! A request and its answer through the shared table, between any instance or command and the
//! instance that holds the lease (which stays the only writer of the state): the asker leaves
//! its request in a partition of requests under a unique id, the holder takes the waiting
//! requests out (each is answered once) and leaves each answer under the same id in the
//! partition of answers; the asker reads it and removes it, or, without an answer in time,
//! removes its request. `handover` (standbys' reading) and `mailbox` (commands from other hosts)
//! are two exchanges; what they carry is opaque bytes here.

use std::time::{Duration, Instant};

use serde_json::json;

use super::table::{b64, binary, Table};
use crate::source::aws::ApiError;

/// One kind of exchange: where its requests and answers live, and how long an asker waits.
pub(super) struct Exchange {
    /// The partition of requests (`mail`, `hand/<source>`).
    pub requests: String,
    /// The partition of answers (`mail-answer`, `hand-answer`).
    pub answers: &'static str,
    /// How long an asker waits for its answer.
    pub patience: Duration,
    /// How often it looks.
    pub look_every: Duration,
}

/// A request taken out of the table, to be answered.
pub(super) struct Request {
    pub id: Vec<u8>,
    pub body: Vec<u8>,
}

impl Exchange {
    /// Leaves `body` under a new id made from `me` and waits for its answer: `None` when none
    /// came within `patience` (the request is removed: a holder that takes it later finds
    /// nothing).
    pub(super) async fn ask(
        &self,
        table: &Table,
        me: &str,
        body: &[u8],
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let id = super::lease::unique(me).into_bytes();
        table
            .put(&self.requests, &id, json!({"v": {"B": b64(body)}}))
            .await?;
        let start = Instant::now();
        while start.elapsed() < self.patience {
            tokio::time::sleep(self.look_every).await;
            if let Some(item) = table.get(self.answers, &id).await? {
                table.delete(self.answers, &id).await?;
                return Ok(Some(binary(&item, "v").unwrap_or_default()));
            }
        }
        table.delete(&self.requests, &id).await?;
        Ok(None)
    }

    /// The requests waiting, each taken out of the table (answered once).
    pub(super) async fn take(&self, table: &Table) -> Result<Vec<Request>, ApiError> {
        let mut out = Vec::new();
        for item in table.query_all(&self.requests).await? {
            let id = binary(&item, "k").unwrap_or_default();
            table.delete(&self.requests, &id).await?;
            let body = binary(&item, "v").unwrap_or_default();
            out.push(Request { id, body });
        }
        Ok(out)
    }

    /// Answers request `id`, stamped with when (`at`, Unix seconds): an answer nobody reads
    /// (its asker stopped waiting, or died) is swept (`sweep`).
    pub(super) async fn reply(
        &self,
        table: &Table,
        id: &[u8],
        answer: &[u8],
    ) -> Result<(), ApiError> {
        let at = jiff::Timestamp::now().as_second();
        table
            .put(
                self.answers,
                id,
                json!({"v": {"B": b64(answer)}, "at": {"N": at.to_string()}}),
            )
            .await
    }

    /// Removes the answers older than twice an asker's patience (nobody waits for them any
    /// more), and those without a time (written before answers had one); returns how many.
    pub(super) async fn sweep(&self, table: &Table) -> Result<usize, ApiError> {
        let oldest = jiff::Timestamp::now().as_second() - 2 * self.patience.as_secs() as i64;
        let mut swept = 0;
        for item in table.query_all(self.answers).await? {
            let at = item["at"]["N"].as_str().and_then(|n| n.parse::<i64>().ok());
            if at.is_none_or(|at| at < oldest) {
                table
                    .delete(self.answers, &binary(&item, "k").unwrap_or_default())
                    .await?;
                swept += 1;
            }
        }
        Ok(swept)
    }
}
