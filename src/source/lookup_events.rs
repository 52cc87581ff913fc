//! The `lookup_events` source: CloudTrail `LookupEvents`, one region per stream. A window is
//! read with fixed `StartTime`/`EndTime` to its last page (a `NextToken` is only valid with the
//! same parameters), once per lookup attribute of the pushdown plan, or once without one.

use aws_sdk_cloudtrail::primitives::DateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;

use super::aws::{ApiError, Caller};
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
    /// Reads every event of `window` (that `lookup` selects), handing each record's JSON text to
    /// `on`. Returns the number of pages read.
    pub async fn read(
        &self,
        window: &Window,
        lookup: Option<&Lookup>,
        on: &mut (dyn FnMut(&str) + Send),
    ) -> Result<u64, ApiError> {
        let action = format!("cloudtrail:LookupEvents in {}", self.region);
        let base = self
            .client
            .lookup_events()
            .start_time(DateTime::from_millis(window.start.as_millisecond()))
            .end_time(DateTime::from_millis(window.end.as_millisecond()))
            .max_results(PAGE)
            .set_lookup_attributes(lookup.map(|l| vec![attribute(l)]));
        self.caller
            .paginate(
                &action,
                |token| base.clone().set_next_token(token).send(),
                |out| {
                    for ev in out.events() {
                        if let Some(text) = ev.cloud_trail_event() {
                            on(text);
                        }
                    }
                    out.next_token
                },
            )
            .await
    }

    /// One call for one event: proves credentials, permission and reachability.
    pub async fn probe(&self) -> Result<(), ApiError> {
        let action = format!("cloudtrail:LookupEvents in {}", self.region);
        let req = self.client.lookup_events().max_results(1);
        self.caller
            .call(&action, || req.clone().send())
            .await
            .map(|_| ())
    }
}
