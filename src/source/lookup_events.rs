//! The `lookup_events` source: CloudTrail `LookupEvents`, one region per stream. A window is
//! read with fixed `StartTime`/`EndTime` to its last page (a `NextToken` is only valid with the
//! same parameters), once per lookup attribute of the pushdown plan, or once without one.

use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;

use super::aws::{ApiError, Caller};
use super::page::Page;
use super::Window;
use crate::rules::pushdown::{Lookup, LookupKey};

/// `MaxResults` of one page (the API's maximum).
const PAGE: i32 = 50;

/// One region of a `lookup_events` source.
pub struct Region {
    pub region: String,
    pub client: Client,
    pub caller: Caller,
}

fn attribute(l: &Lookup) -> LookupAttribute {
    let key = match l.key {
        LookupKey::EventName => LookupAttributeKey::EventName,
        LookupKey::Username => LookupAttributeKey::Username,
        LookupKey::EventSource => LookupAttributeKey::EventSource,
    };
    LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(&l.value)
        .build()
        .expect("key and value are set")
}

impl Region {
    fn action(&self) -> String {
        format!("cloudtrail:LookupEvents in {}", self.region)
    }

    /// One page of `window` (the events `lookup` selects) from `token`: the records' JSON texts
    /// and the next token. `StartTime`/`EndTime` stay fixed for a window, as a token requires.
    pub async fn page(
        &self,
        window: &Window,
        lookup: Option<&Lookup>,
        token: Option<String>,
    ) -> Result<Page, ApiError> {
        let req = self
            .client
            .lookup_events()
            .start_time(DateTime::from_millis(window.start.as_millisecond()))
            .end_time(DateTime::from_millis(window.end.as_millisecond()))
            .max_results(PAGE)
            .set_lookup_attributes(lookup.map(|l| vec![attribute(l)]))
            .set_next_token(token);
        let out = self
            .caller
            .call(&self.action(), || req.clone().send())
            .await?;
        Ok(Page {
            records: out
                .events()
                .iter()
                .filter_map(|e| e.cloud_trail_event().map(str::to_string))
                .collect(),
            next: out.next_token,
        })
    }

    /// One call for one event: proves credentials, permission and reachability.
    pub async fn probe(&self) -> Result<(), ApiError> {
        let req = self.client.lookup_events().max_results(1);
        self.caller
            .call(&self.action(), || req.clone().send())
            .await
            .map(|_| ())
    }
}
