//! The SQS queue that receives the bucket's `s3:ObjectCreated` notifications: messages
//! received (long polling) and deleted once their objects' records are raised, and what a
//! message says. A notification comes as S3 sends it, wrapped in an SNS envelope (bucket →
//! SNS → SQS), or as an EventBridge event ("Object Created"); S3's own test event and events
//! of other kinds name no object.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::{json, Value};

use crate::source::aws::json::{self, Call};
use crate::source::aws::{ApiError, Caller, Clock};

/// How long one receive waits for a message (SQS's longest long poll).
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// How long a received message stays hidden from other receives: short, so that a message a
/// dead process held is back within about this long; kept hidden while its objects are read
/// (`keep_hidden`).
pub(crate) const VISIBILITY: Duration = Duration::from_secs(30);

/// One message received.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub receipt: String,
    pub body: String,
}

/// An object a notification names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Created {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// The queue.
pub struct Queue {
    conf: SdkConfig,
    clock: Arc<Clock>,
    caller: Caller,
    pub url: String,
    region: String,
    endpoint_url: Option<String>,
}

impl Queue {
    pub fn new(
        conf: SdkConfig,
        clock: Arc<Clock>,
        caller: Caller,
        url: &str,
        region: &str,
        endpoint_url: Option<String>,
    ) -> Queue {
        Queue {
            conf,
            clock,
            caller,
            url: url.to_string(),
            region: region_of(url).unwrap_or(region).to_string(),
            endpoint_url,
        }
    }

    async fn call(&self, action: &str, body: Value, timeout: Duration) -> Result<Value, ApiError> {
        let call = Call {
            service: json::SQS,
            region: &self.region,
            endpoint_url: self.endpoint_url.as_deref(),
            action,
            body,
            timeout,
        };
        self.caller
            .call_signed(|| json::send(&self.conf, &self.clock, &call))
            .await
    }

    /// Up to 10 messages, waiting up to `wait` for the first.
    pub async fn receive(&self, wait: Duration) -> Result<Vec<Message>, ApiError> {
        let body = json!({
            "QueueUrl": self.url,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": wait.as_secs().min(20),
            "VisibilityTimeout": VISIBILITY.as_secs(),
        });
        let v = self
            .call("ReceiveMessage", body, wait + Duration::from_secs(10))
            .await?;
        Ok(v["Messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| {
                        Some(Message {
                            id: m["MessageId"].as_str()?.to_string(),
                            receipt: m["ReceiptHandle"].as_str()?.to_string(),
                            body: m["Body"].as_str().unwrap_or("").to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Deletes a message that was dealt with.
    pub async fn delete(&self, m: &Message) -> Result<(), ApiError> {
        let body = json!({"QueueUrl": self.url, "ReceiptHandle": m.receipt});
        self.call("DeleteMessage", body, Duration::ZERO)
            .await
            .map(|_| ())
    }

    /// Makes a received message visible again after `after` (zero: at once): one that was not
    /// dealt with comes back soon, not after the whole visibility timeout.
    pub async fn release(&self, m: &Message, after: Duration) -> Result<(), ApiError> {
        let body = json!({
            "QueueUrl": self.url,
            "ReceiptHandle": m.receipt,
            "VisibilityTimeout": after.as_secs(),
        });
        self.call("ChangeMessageVisibility", body, Duration::ZERO)
            .await
            .map(|_| ())
    }

    /// Proves `sqs:ReceiveMessage` without taking a message away (one received is visible
    /// again at once); returns how many came.
    pub async fn probe(&self) -> Result<usize, ApiError> {
        let body = json!({
            "QueueUrl": self.url,
            "MaxNumberOfMessages": 1,
            "WaitTimeSeconds": 0,
            "VisibilityTimeout": 0,
        });
        let v = self.call("ReceiveMessage", body, Duration::ZERO).await?;
        Ok(v["Messages"].as_array().map_or(0, Vec::len))
    }
}

/// The region in a queue URL (`https://sqs.eu-west-1.amazonaws.com/…`).
fn region_of(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    (parts.next()? == "sqs").then(|| parts.next()).flatten()
}

/// S3 notification keys are URL-encoded as in a form (`+` for a space).
fn decode_key(k: &str) -> String {
    let b = k.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The objects a message's body says were created; an error for a body that is not a
/// notification at all.
pub(crate) fn created(body: &str) -> Result<Vec<Created>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e})"))?;
    // SNS → SQS: the notification is the envelope's Message, as text.
    if v["Type"] == "Notification" {
        let inner = v["Message"]
            .as_str()
            .ok_or("an SNS envelope without a Message")?;
        return created(inner);
    }
    // EventBridge → SQS.
    if v["source"] == "aws.s3" && v["detail"].is_object() {
        if v["detail-type"] != "Object Created" {
            return Ok(Vec::new());
        }
        let d = &v["detail"];
        return Ok(vec![Created {
            bucket: d["bucket"]["name"].as_str().unwrap_or("").to_string(),
            key: d["object"]["key"]
                .as_str()
                .ok_or("an event without an object key")?
                .to_string(),
            size: d["object"]["size"].as_u64().unwrap_or(0),
        }]);
    }
    if v["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    let Some(records) = v["Records"].as_array() else {
        return Err("neither an S3 notification, an SNS envelope nor an EventBridge event".into());
    };
    Ok(records
        .iter()
        .filter(|r| {
            r["eventSource"] == "aws:s3"
                && r["eventName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("ObjectCreated:"))
        })
        .filter_map(|r| {
            let s3 = &r["s3"];
            Some(Created {
                bucket: s3["bucket"]["name"].as_str()?.to_string(),
                key: decode_key(s3["object"]["key"].as_str()?),
                size: s3["object"]["size"].as_u64().unwrap_or(0),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1145Z_x.json.gz";

    fn s3_event(key: &str) -> String {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail"}, "object": {"key": key, "size": 42, "eTag": "e"}}
        }]})
        .to_string()
    }

    #[test]
    fn notifications_direct_wrapped_or_from_eventbridge() {
        let want = vec![Created {
            bucket: "trail".into(),
            key: KEY.into(),
            size: 42,
        }];
        assert_eq!(created(&s3_event(KEY)).unwrap(), want);
        let sns = json!({"Type": "Notification", "MessageId": "m", "Message": s3_event(KEY)});
        assert_eq!(created(&sns.to_string()).unwrap(), want);
        let eb = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "trail"}, "object": {"key": KEY, "size": 42}}});
        assert_eq!(created(&eb.to_string()).unwrap(), want);
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"});
        assert!(created(&test.to_string()).unwrap().is_empty());
        assert!(created("hello").is_err());
        assert!(created("{}").is_err());
        // Keys come URL-encoded.
        let odd = created(&s3_event("a+b%2Bc%3D.json.gz")).unwrap();
        assert_eq!(odd[0].key, "a b+c=.json.gz");
        let removed = s3_event(KEY).replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert!(created(&removed).unwrap().is_empty());
    }

    #[test]
    fn the_region_is_read_from_the_queue_url() {
        assert_eq!(
            region_of("https://sqs.eu-west-1.amazonaws.com/111122223333/q"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:5000/123456789012/q"), None);
    }
}
