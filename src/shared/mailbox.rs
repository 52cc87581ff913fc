//! Requests to the instance that holds the lease, from any host: a command that changes the
//! shared state (a silence added or removed) leaves its request in the table (`t = "mail"`),
//! the holder answers it within a second or two (`t = "mail-answer"`) and the command reads
//! the answer. The holder stays the only writer of the state. Whoever may write the table may
//! ask: its IAM policy is the boundary, as the state folder's permissions are for the socket.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::SharedState;
use super::instance::SharedError;
use super::mirror::wait;
use super::table::{binary, key, Table};
use crate::source::aws::ApiError;

const MAIL: &str = "mail";
const ANSWER: &str = "mail-answer";
/// How long a command waits for the holder's answer.
const PATIENCE: Duration = Duration::from_secs(30);

fn put(table: &Table, t: &str, id: &[u8], v: &Value) -> Value {
    let mut item = key(t, id);
    item["v"] = json!({"S": v.to_string()});
    json!({"TableName": table.cfg.table, "Item": item})
}

/// The requests waiting, each taken out of the table (answered once).
pub async fn take(table: &Table) -> Result<Vec<(Vec<u8>, Value)>, ApiError> {
    let mut out = Vec::new();
    for item in table.query_all(MAIL).await? {
        let id = binary(&item, "k").unwrap_or_default();
        let del = json!({"TableName": table.cfg.table, "Key": key(MAIL, &id)});
        table.call("DeleteItem", del).await?;
        let req = item["v"]["S"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok());
        out.push((id, req.unwrap_or(Value::Null)));
    }
    Ok(out)
}

/// Leaves the answer to request `id`.
pub async fn reply(table: &Table, id: &[u8], answer: &Value) -> Result<(), ApiError> {
    table
        .call("PutItem", put(table, ANSWER, id, answer))
        .await
        .map(|_| ())
}

/// Sends `request` to the instance that holds the lease and waits for its answer.
pub fn ask(cfg: &SharedState, request: Value) -> Result<Value, SharedError> {
    let c = cfg.clone();
    let asked = wait(async move {
        let table = Table::connect(&c).await?;
        let id = super::lease::unique(&c.instance).into_bytes();
        table
            .call("PutItem", put(&table, MAIL, &id, &request))
            .await?;
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            let get =
                json!({"TableName": c.table, "Key": key(ANSWER, &id), "ConsistentRead": true});
            let v = table.call("GetItem", get).await?;
            if let Some(text) = v["Item"]["v"]["S"].as_str() {
                let del = json!({"TableName": c.table, "Key": key(ANSWER, &id)});
                table.call("DeleteItem", del).await?;
                return Ok(serde_json::from_str(text).ok());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let del = json!({"TableName": c.table, "Key": key(MAIL, &id)});
        table.call("DeleteItem", del).await?;
        Ok::<_, ApiError>(None)
    });
    match asked {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(SharedError::Table(format!(
            "the instance that holds the lease on table {} did not answer within {}s (is it running? `trailwatch check` says which holds it)",
            cfg.table,
            PATIENCE.as_secs()
        ))),
        Err(e) => Err(e.into()),
    }
}
