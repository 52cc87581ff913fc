//! Requests to the instance that holds the lease, from any host: a command that changes the
//! shared state (a silence added or removed) leaves its request in the table (`t = "mail"`),
//! the holder answers it within a second or two (`t = "mail-answer"`) and the command reads
//! the answer. The holder stays the only writer of the state. Whoever may write the table may
//! ask: its IAM policy is the boundary, as the state folder's permissions are for the socket.
//! An exchange (`exchange`) of JSON.

use std::time::Duration;

use serde_json::Value;

use super::config::InstancesConfig;
use super::exchange::Exchange;
use super::instance::InstancesError;
use super::table::Table;
use crate::source::aws::ApiError;

/// How long a command waits for the holder's answer.
const PATIENCE: Duration = Duration::from_secs(30);

fn exchange() -> Exchange {
    Exchange {
        requests: "mail".into(),
        answers: "mail-answer",
        patience: PATIENCE,
        look_every: Duration::from_millis(250),
    }
}

/// The requests waiting (id, request), each taken out of the table (answered once). One that
/// is not JSON comes out as `null` (answered with an error).
pub(crate) async fn take(table: &Table) -> Result<Vec<(Vec<u8>, Value)>, ApiError> {
    let taken = exchange().take(table).await?;
    Ok(taken
        .into_iter()
        .map(|r| (r.id, serde_json::from_slice(&r.body).unwrap_or(Value::Null)))
        .collect())
}

/// Leaves the answer to request `id`.
pub(crate) async fn reply(table: &Table, id: &[u8], answer: &Value) -> Result<(), ApiError> {
    exchange()
        .reply(table, id, answer.to_string().as_bytes())
        .await
}

/// Sends `request` to the instance that holds the lease and waits for its answer.
pub(crate) fn ask(cfg: &InstancesConfig, request: Value) -> Result<Value, InstancesError> {
    let c = cfg.clone();
    let asked = Table::wait(async move {
        let table = Table::connect(&c).await?;
        let body = request.to_string().into_bytes();
        let answer = exchange().ask(&table, &c.instance, &body).await?;
        Ok::<_, ApiError>(answer.map(|a| serde_json::from_slice(&a).unwrap_or(Value::Null)))
    });
    match asked {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(InstancesError::Table(format!(
            "the instance that holds the lease on table {} did not answer within {}s (is it running? `trailwatch check` says which holds it)",
            cfg.table,
            PATIENCE.as_secs()
        ))),
        Err(e) => Err(e.into()),
    }
}
