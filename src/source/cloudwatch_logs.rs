//! The `cloudwatch_logs` source: `FilterLogEvents` on the log group a trail delivers to (one
//! group holds every region of the trail). A window is paged to the end with fixed
//! `startTime`/`endTime`; empty pages with a `nextToken` are normal and are followed.

use aws_sdk_cloudwatchlogs::Client;

use super::aws::{ApiError, Caller};
use super::page::Page;
use super::Window;

/// A log group of a `cloudwatch_logs` source.
pub struct Group {
    pub region: String,
    pub log_group: String,
    pub stream_prefix: Option<String>,
    pub client: Client,
    pub caller: Caller,
}

impl Group {
    /// The call, as errors name it.
    fn action(&self) -> String {
        format!(
            "logs:FilterLogEvents on {} in {}",
            self.log_group, self.region
        )
    }

    /// One page of `window` (the log events `filter_pattern` selects) from `token`: the
    /// messages and the next token. A page may be empty and still have a next token.
    pub async fn page(
        &self,
        window: &Window,
        filter_pattern: Option<&str>,
        token: Option<String>,
    ) -> Result<Page, ApiError> {
        let req = self
            .client
            .filter_log_events()
            .log_group_name(&self.log_group)
            .set_log_stream_name_prefix(self.stream_prefix.clone())
            .start_time(window.start.as_millisecond())
            .end_time(window.end.as_millisecond())
            .set_filter_pattern(filter_pattern.map(str::to_string))
            .set_next_token(token);
        let out = self
            .caller
            .call(&self.action(), || req.clone().send())
            .await?;
        Ok(Page {
            records: out
                .events()
                .iter()
                .filter_map(|e| e.message().map(str::to_string))
                .collect(),
            next: out.next_token,
        })
    }

    /// One call for one event: proves credentials, permission and that the group exists.
    pub async fn probe(&self) -> Result<(), ApiError> {
        let req = self
            .client
            .filter_log_events()
            .log_group_name(&self.log_group)
            .limit(1);
        self.caller
            .call(&self.action(), || req.clone().send())
            .await
            .map(|_| ())
    }
}
