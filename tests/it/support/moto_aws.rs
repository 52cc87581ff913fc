//! Filling a real moto server through the real APIs: S3 buckets laid out as CloudTrail lays
//! them out (the key layouts of `trailwatch::source::s3::layout`, gzipped delivery files), SQS
//! queues and bucket notifications, an organization with member accounts, and log groups in
//! each account (moto keys every resource by the account of the credentials, and assumed-role
//! credentials belong to the role's account). Also the STS gate (`sts_gate.py`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

use super::servers::Proc;

/// The account moto answers as for the test's own credentials.
pub const MANAGEMENT: &str = "123456789012";

/// An SDK configuration for moto in `region`, with the test's static credentials.
pub async fn conf(url: &str, region: &str) -> SdkConfig {
    super::fake_cloudtrail::test_aws_env();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .load()
        .await
}

/// The same, as the role `trailwatch-reader` of `account` (moto then works in that account).
pub async fn conf_in(url: &str, region: &str, account: &str) -> SdkConfig {
    let base = conf(url, region).await;
    let role = format!("arn:aws:iam::{account}:role/trailwatch-reader");
    let creds = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("test")
        .configure(&base)
        .build()
        .await;
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(creds)
        .load()
        .await
}

pub fn s3(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

/// gzip of `bytes`, as CloudTrail stores its files.
pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// One call of an AWS JSON-protocol API on moto (SQS, Organizations), as the management
/// account.
pub async fn json_call(url: &str, target: &str, version: &str, body: Value) -> Value {
    // moto routes a request by the service in its credential scope.
    let service = if target.starts_with("AmazonSQS") {
        "sqs"
    } else if target.starts_with("DynamoDB") {
        "dynamodb"
    } else {
        "organizations"
    };
    let r = reqwest::Client::new()
        .post(format!("{}/", url.trim_end_matches('/')))
        .header("content-type", format!("application/x-amz-json-{version}"))
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{target}: {status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A queue; returns its URL and ARN.
pub async fn queue(url: &str, name: &str) -> (String, String) {
    let v = json_call(
        url,
        "AmazonSQS.CreateQueue",
        "1.0",
        json!({"QueueName": name}),
    )
    .await;
    let q = v["QueueUrl"].as_str().unwrap().to_string();
    let a = json_call(
        url,
        "AmazonSQS.GetQueueAttributes",
        "1.0",
        json!({"QueueUrl": q, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let arn = a["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    (q, arn)
}

/// Sends a message body to a queue.
pub async fn send(url: &str, queue_url: &str, body: &str) {
    json_call(
        url,
        "AmazonSQS.SendMessage",
        "1.0",
        json!({"QueueUrl": queue_url, "MessageBody": body}),
    )
    .await;
}

/// The bodies of the messages a receive could take now (visible), left visible: a receive
/// that hides nothing (visibility timeout 0).
pub async fn visible_bodies(url: &str, queue_url: &str) -> Vec<String> {
    let v = json_call(
        url,
        "AmazonSQS.ReceiveMessage",
        "1.0",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0, "WaitTimeSeconds": 0}),
    )
    .await;
    v["Messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Body"].as_str().map(String::from))
        .collect()
}

/// How many messages wait in a queue (visible or being handled).
pub async fn waiting(url: &str, queue_url: &str) -> u64 {
    let a = json_call(
        url,
        "AmazonSQS.GetQueueAttributes",
        "1.0",
        json!({"QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
    )
    .await;
    let n = |k: &str| {
        a["Attributes"][k]
            .as_str()
            .unwrap_or("0")
            .parse::<u64>()
            .unwrap()
    };
    n("ApproximateNumberOfMessages") + n("ApproximateNumberOfMessagesNotVisible")
}

/// The messages of a queue received and not yet deleted nor visible again (in flight).
pub async fn in_flight(url: &str, queue_url: &str) -> u64 {
    let a = json_call(
        url,
        "AmazonSQS.GetQueueAttributes",
        "1.0",
        json!({"QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessagesNotVisible"]}),
    )
    .await;
    a["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap()
}

/// Makes the bucket announce every new object to the queue.
pub async fn notify(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let q = QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(q)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// An organization with `n` member accounts besides the management one; returns the members.
pub async fn organization(url: &str, n: usize) -> Vec<String> {
    let t = |a: &str| format!("AWSOrganizationsV20161128.{a}");
    json_call(
        url,
        &t("CreateOrganization"),
        "1.1",
        json!({"FeatureSet": "ALL"}),
    )
    .await;
    let mut out = Vec::new();
    for i in 0..n {
        let v = json_call(
            url,
            &t("CreateAccount"),
            "1.1",
            json!({"Email": format!("member{i}@example.com"), "AccountName": format!("member{i}")}),
        )
        .await;
        out.push(
            v["CreateAccountStatus"]["AccountId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    out
}

/// A Python gate script of tests/it/support started with `args`; returns it and its URL
/// (it prints "READY <port>" when it listens).
fn gate(script: &str, args: &[&str]) -> (Proc, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/support")
        .join(script);
    let mut c = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 starts the gate");
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("READY ")
        .expect("the gate is ready");
    let url = format!("http://127.0.0.1:{port}");
    (Proc(c), url)
}

/// The STS gate in front of moto, refusing roles in `denied`; returns it and its URL.
pub fn sts_gate(moto: &str, denied: &[&str]) -> (Proc, String) {
    gate("sts_gate.py", &[moto, &denied.join(",")])
}

/// The S3 gate in front of moto (objects refused on request, `delay_ms` added to every
/// request); returns it and its URL.
pub fn s3_gate(moto: &str, delay_ms: u64) -> (Proc, String) {
    gate("s3_gate.py", &[moto, &delay_ms.to_string()])
}

/// Makes the S3 gate refuse `key` (403 AccessDenied, as a foreign KMS key does), or, with
/// `None`, refuse nothing again.
pub async fn gate_refuse(gate: &str, key: Option<&str>) {
    let c = reqwest::Client::new();
    let r = match key {
        Some(k) => c.put(format!("{gate}/__gate/deny")).body(k.to_string()),
        None => c.delete(format!("{gate}/__gate/deny")),
    };
    assert!(r.send().await.unwrap().status().is_success());
}

/// Makes the S3 gate slow (5 s) on `key`, or, with `None`, on nothing.
pub async fn gate_slow(gate: &str, key: Option<&str>) {
    let c = reqwest::Client::new();
    let r = match key {
        Some(k) => c.put(format!("{gate}/__gate/slow")).body(k.to_string()),
        None => c.delete(format!("{gate}/__gate/slow")),
    };
    assert!(r.send().await.unwrap().status().is_success());
}

/// Requests a gate saw: by method or action, and for the S3 gate "started <key>" per GET.
pub async fn gate_counts(gate: &str) -> Value {
    reqwest::get(format!("{gate}/__gate/count"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Requests the STS gate saw, by action (AssumeRole, GetCallerIdentity…).
pub async fn sts_counts(gate: &str) -> Value {
    reqwest::get(format!("{gate}/__gate/count"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
