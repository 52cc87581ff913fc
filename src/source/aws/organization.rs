//! The accounts of an organization (`organizations:ListAccounts`, asked of the management
//! account or a delegated administrator), for sources that read every account.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::json;

use super::caller::{ApiStats, Caller};
use super::clock::Clock;
use super::error::ApiError;
use super::json::{self, Call};
use crate::backoff::Backoff;

/// One account of the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub id: String,
    pub name: String,
    /// ACTIVE, SUSPENDED, PENDING_CLOSURE…
    pub status: String,
}

/// Every account of the organization, in pages of 20 (Organizations allows about 1 call/s).
pub(crate) async fn accounts(
    conf: &SdkConfig,
    clock: &Arc<Clock>,
    endpoint_url: Option<&str>,
) -> Result<Vec<Member>, ApiError> {
    // Organizations is global: the SDK configuration's region says which partition's.
    let home = conf
        .region()
        .map_or("us-east-1", |r| r.as_ref())
        .to_string();
    let caller = Caller::new(
        1.0,
        Backoff {
            initial: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            attempts: 4,
        },
        Arc::new(ApiStats::default()),
    );
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let call = Call {
            service: json::ORGANIZATIONS,
            region: &home,
            endpoint_url,
            action: "ListAccounts",
            body,
            timeout: Duration::ZERO,
        };
        let v = caller
            .call_signed(|| json::send(conf, clock, &call))
            .await?;
        for a in v["Accounts"].as_array().into_iter().flatten() {
            let status = a["State"]
                .as_str()
                .or(a["Status"].as_str())
                .unwrap_or("")
                .to_string();
            out.push(Member {
                id: a["Id"].as_str().unwrap_or("").to_string(),
                name: a["Name"].as_str().unwrap_or("").to_string(),
                status,
            });
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
