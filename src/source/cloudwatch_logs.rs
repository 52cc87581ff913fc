//! The `cloudwatch_logs` source: `FilterLogEvents` on the log group a trail delivers to (one
//! group holds every region of the trail). A window is paged to the end with fixed
//! `startTime`/`endTime`; empty pages with a `nextToken` are normal and are followed.

use aws_sdk_cloudwatchlogs::Client;

use super::aws::{ApiError, Caller};
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

    /// Reads every log event of `window` that `filter_pattern` selects (all without one),
    /// handing each message to `on`. Returns the number of pages read.
    pub async fn read(
        &self,
        window: &Window,
        filter_pattern: Option<&str>,
        on: &mut (dyn FnMut(&str) + Send),
    ) -> Result<u64, ApiError> {
        let action = self.action();
        let base = self
            .client
            .filter_log_events()
            .log_group_name(&self.log_group)
            .set_log_stream_name_prefix(self.stream_prefix.clone())
            .start_time(window.start.as_millisecond())
            .end_time(window.end.as_millisecond())
            .set_filter_pattern(filter_pattern.map(str::to_string));
        self.caller
            .paginate(
                &action,
                |token| base.clone().set_next_token(token).send(),
                |out| {
                    for ev in out.events() {
                        if let Some(m) = ev.message() {
                            on(m);
                        }
                    }
                    out.next_token
                },
            )
            .await
    }

    /// One call for one event: proves credentials, permission and that the group exists.
    pub async fn probe(&self) -> Result<(), ApiError> {
        let action = self.action();
        let req = self
            .client
            .filter_log_events()
            .log_group_name(&self.log_group)
            .limit(1);
        self.caller
            .call(&action, || req.clone().send())
            .await
            .map(|_| ())
    }
}
