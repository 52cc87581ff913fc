//! A wire-level fake of CloudTrail's `LookupEvents` (JSON 1.1 protocol), for the real SDK client.
//! moto does not implement `LookupEvents`, so this stands in for it, with the behaviours that
//! break tailers: newest-first pages of at most 50 with a `NextToken` bound to the request's
//! parameters, one lookup attribute, `ThrottlingException` above a rate (and on a scripted share
//! of calls), events that become visible only some time after their `eventTime`, events per
//! region (the region is read from the request's SigV4 credential scope, as AWS routes it), and
//! scripted failures of given calls.
//!
//! Beside CloudTrail it answers what a source asks of the account, in each service's own
//! protocol: `sts:GetCallerIdentity`, `iam:ListAccountAliases` and `ec2:DescribeRegions` (query
//! protocol, XML), `account:ListRegions` (REST-JSON), each answered or refused. Every answer
//! carries a `Date` header from the fake's clock, and requests signed more than 5 minutes away
//! from it can be refused as AWS refuses them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use serde_json::{json, Value};

/// Static credentials for the SDK's standard chain in this process; no profile files, no
/// instance metadata. Call before the first client is built.
pub fn test_aws_env() {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(k, v);
    }
}

/// One event the fake holds.
#[derive(Debug, Clone)]
pub struct FakeEvent {
    pub id: String,
    pub name: String,
    pub time_ms: i64,
    pub username: String,
    pub source: String,
    /// Not returned before the fake's clock reaches this (late delivery).
    pub visible_ms: i64,
    /// The CloudTrail record's JSON text.
    pub record: String,
    /// The region it is recorded in.
    pub region: String,
}

impl FakeEvent {
    /// The same event recorded in another region.
    pub fn in_region(mut self, region: &str) -> FakeEvent {
        let mut v: Value = serde_json::from_str(&self.record).unwrap();
        v["awsRegion"] = json!(region);
        self.record = v.to_string();
        self.region = region.to_string();
        self
    }

    /// A root event in an account with this alias: its user name is the alias.
    pub fn aliased(mut self, alias: &str) -> FakeEvent {
        let mut v: Value = serde_json::from_str(&self.record).unwrap();
        v["userIdentity"]["userName"] = json!(alias);
        self.record = v.to_string();
        self.username = alias.to_string();
        self
    }

    /// Visible only `ms` after its eventTime.
    pub fn late_by(mut self, ms: i64) -> FakeEvent {
        self.visible_ms = self.time_ms + ms;
        self
    }
}

/// What the fake answers about its account.
#[derive(Debug, Clone)]
pub struct FakeAccount {
    pub id: String,
    pub alias: Option<String>,
    /// The regions enabled for it.
    pub regions: Vec<String>,
    /// Whether these calls are permitted.
    pub allow_aliases: bool,
    pub allow_list_regions: bool,
    pub allow_describe_regions: bool,
}

impl Default for FakeAccount {
    fn default() -> Self {
        FakeAccount {
            id: "111122223333".into(),
            alias: None,
            regions: [
                "ap-northeast-1",
                "ap-northeast-2",
                "ap-northeast-3",
                "ap-south-1",
                "ap-southeast-1",
                "ap-southeast-2",
                "ca-central-1",
                "eu-central-1",
                "eu-north-1",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "sa-east-1",
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
            ]
            .map(String::from)
            .to_vec(),
            allow_aliases: true,
            allow_list_regions: true,
            allow_describe_regions: true,
        }
    }
}

/// A CloudTrail record for the fake.
pub fn record(id: &str, name: &str, time_ms: i64, root: bool) -> FakeEvent {
    let time = jiff::Timestamp::from_millisecond(time_ms)
        .unwrap()
        .to_string();
    let (source, ident, user) = match name {
        "CreateUser" | "DeleteUser" => (
            "iam.amazonaws.com",
            json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/admin", "userName": "admin"}),
            "admin",
        ),
        _ if root => (
            if name == "ConsoleLogin" {
                "signin.amazonaws.com"
            } else {
                "cloudtrail.amazonaws.com"
            },
            json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}),
            "root",
        ),
        _ => (
            "ec2.amazonaws.com",
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/i-1"}),
            "i-1",
        ),
    };
    let rec = json!({
        "eventVersion": "1.08", "userIdentity": ident, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2",
        "requestParameters": {"userName": "mallory"}, "eventID": id,
        "eventType": if root && name == "ConsoleLogin" { "AwsConsoleSignIn" } else { "AwsApiCall" },
        "recipientAccountId": "111122223333"
    });
    FakeEvent {
        id: id.to_string(),
        name: name.to_string(),
        time_ms,
        username: user.to_string(),
        source: source.to_string(),
        visible_ms: time_ms,
        record: rec.to_string(),
        region: "us-east-1".into(),
    }
}

/// A day of synthetic traffic: `rate` events per second from `start_ms`, `total` of them, and
/// among them the listed matching ones (by index). Built on demand, never stored.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub start_ms: i64,
    pub per_second: i64,
    pub total: i64,
    pub matching: Vec<(i64, String, bool)>,
}

impl Synthetic {
    fn time(&self, i: i64) -> i64 {
        self.start_ms + i * 1000 / self.per_second
    }

    fn event(&self, i: i64) -> FakeEvent {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        match self.matching.iter().find(|m| m.0 == i) {
            Some((_, name, root)) => record(&id, name, self.time(i), *root),
            None => record(&id, "DescribeInstances", self.time(i), false),
        }
    }

    /// Indices with time in [start, end], oldest first.
    fn range(&self, start: i64, end: i64) -> std::ops::Range<i64> {
        let first = ((start - self.start_ms) * self.per_second + 999)
            .div_euclid(1000)
            .max(0);
        let last = ((end - self.start_ms) * self.per_second).div_euclid(1000) + 1;
        first.min(self.total)..last.clamp(0, self.total)
    }
}

enum Store {
    List(Vec<FakeEvent>),
    Synthetic(Synthetic),
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Calls per second above which it throttles (0: never).
    pub max_rate: f64,
    /// Every call whose number n has `n * 7 % 10 < throttle_tenths` is throttled (3 = 30%).
    pub throttle_tenths: u64,
    /// Every call fails with this error type (e.g. AccessDeniedException).
    pub fail_with: Option<&'static str>,
    /// CloudTrail calls numbered in this range (1-based) fail with HTTP 500.
    pub fail_calls: Option<std::ops::Range<u64>>,
    /// Refuse requests signed more than 5 minutes away from the fake's clock, as AWS does.
    pub check_signature_time: bool,
}

/// What the fake saw.
#[derive(Debug, Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub throttled: AtomicU64,
    pub events_returned: AtomicU64,
}

struct Shared {
    store: Mutex<Store>,
    behaviour: Mutex<Behaviour>,
    /// The fake's clock for visibility (ms); `i64::MAX` when every event is visible.
    now_ms: AtomicI64,
    counters: Counters,
    bucket: Mutex<Option<(f64, Instant)>>,
    /// Lookup attributes of the calls, as `Key=Value` or `-`.
    lookups: Mutex<Vec<String>>,
    /// The same, with the region of each call.
    region_lookups: Mutex<Vec<(String, String)>>,
    account: Mutex<FakeAccount>,
    /// Calls to the other services, by action (`sts:GetCallerIdentity`…).
    other_calls: Mutex<Vec<String>>,
    /// Pages served before the fake holds every further request (0: never).
    hold_after: AtomicU64,
    held: (Mutex<bool>, Condvar),
    stop: AtomicBool,
    /// Signalled after every CloudTrail call.
    called: (Mutex<()>, Condvar),
    /// `ListPublicKeys`' answer: (region, key) — the key as CloudTrail lists it.
    public_keys: Mutex<Vec<(String, Value)>>,
}

/// A running fake, on a loopback port.
pub struct FakeCloudTrail {
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeCloudTrail {
    pub fn start(events: Vec<FakeEvent>) -> FakeCloudTrail {
        Self::with_store(Store::List(events))
    }

    pub fn synthetic(s: Synthetic) -> FakeCloudTrail {
        Self::with_store(Store::Synthetic(s))
    }

    fn with_store(store: Store) -> FakeCloudTrail {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake binds");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            behaviour: Mutex::new(Behaviour::default()),
            now_ms: AtomicI64::new(i64::MAX),
            counters: Counters::default(),
            bucket: Mutex::new(None),
            lookups: Mutex::new(Vec::new()),
            region_lookups: Mutex::new(Vec::new()),
            account: Mutex::new(FakeAccount::default()),
            other_calls: Mutex::new(Vec::new()),
            hold_after: AtomicU64::new(0),
            held: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
            called: (Mutex::new(()), Condvar::new()),
            public_keys: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                let sh = sh.clone();
                thread::spawn(move || serve(conn, &sh));
            }
        });
        FakeCloudTrail { url, shared }
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = b;
    }

    /// Sets the fake's clock (ms): events with a later `visible_ms` stay hidden.
    pub fn set_now(&self, ms: i64) {
        self.shared.now_ms.store(ms, Ordering::SeqCst);
    }

    pub fn add(&self, ev: FakeEvent) {
        if let Store::List(v) = &mut *self.shared.store.lock().unwrap() {
            v.push(ev);
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn calls(&self) -> u64 {
        self.shared.counters.calls.load(Ordering::SeqCst)
    }

    /// Blocks until at least `n` CloudTrail calls were answered (or `deadline` passed); true
    /// when they were.
    pub fn wait_calls(&self, n: u64, deadline: std::time::Duration) -> bool {
        let (m, cv) = &self.shared.called;
        let g = m.lock().unwrap();
        let (_g, t) = cv
            .wait_timeout_while(g, deadline, |_| self.calls() < n)
            .unwrap();
        !t.timed_out()
    }

    pub fn lookups(&self) -> Vec<String> {
        self.shared.lookups.lock().unwrap().clone()
    }

    /// `(region, Key=Value)` of every LookupEvents call.
    pub fn region_lookups(&self) -> Vec<(String, String)> {
        self.shared.region_lookups.lock().unwrap().clone()
    }

    pub fn set_account(&self, a: FakeAccount) {
        *self.shared.account.lock().unwrap() = a;
    }

    /// The calls made to the other services.
    pub fn other_calls(&self) -> Vec<String> {
        self.shared.other_calls.lock().unwrap().clone()
    }

    /// After `pages` more successful pages, every request waits until `release`.
    pub fn hold_after(&self, pages: u64) {
        let served = self.shared.counters.calls.load(Ordering::SeqCst);
        self.shared
            .hold_after
            .store(served + pages, Ordering::SeqCst);
    }

    /// Blocks until a request is being held.
    pub fn wait_held(&self) {
        let (m, cv) = &self.shared.held;
        let mut held = m.lock().unwrap();
        while !*held {
            held = cv.wait(held).unwrap();
        }
    }

    /// The public keys `ListPublicKeys` lists for `region`: DER (base64), MD5 fingerprint,
    /// validity (seconds since the epoch).
    pub fn set_public_keys(&self, region: &str, keys: &[(String, String, i64, i64)]) {
        let mut all = self.shared.public_keys.lock().unwrap();
        all.retain(|(r, _)| r != region);
        for (der, fp, from, to) in keys {
            let k = json!({"Value": der, "Fingerprint": fp,
                "ValidityStartTime": *from as f64, "ValidityEndTime": *to as f64});
            all.push((region.to_string(), k));
        }
    }

    /// The `ListPublicKeys` calls made, by region.
    pub fn public_key_calls(&self) -> Vec<String> {
        self.shared
            .other_calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| {
                c.strip_prefix("cloudtrail:ListPublicKeys ")
                    .map(String::from)
            })
            .collect()
    }

    pub fn release(&self) {
        self.shared.hold_after.store(0, Ordering::SeqCst);
        let (m, cv) = &self.shared.held;
        *m.lock().unwrap() = false;
        cv.notify_all();
    }
}

/// One HTTP request as the fake needs it.
struct Request {
    path: String,
    target: String,
    /// The region of the SigV4 credential scope.
    region: String,
    /// `X-Amz-Date`, as ms since the epoch.
    signed_ms: Option<i64>,
    body: String,
}

/// An answer: status, content type, extra headers, body.
struct Answer {
    status: u16,
    ctype: &'static str,
    headers: Vec<(String, String)>,
    body: String,
}

fn json_answer((status, body): (u16, String)) -> Answer {
    Answer {
        status,
        ctype: "application/x-amz-json-1.1",
        headers: Vec::new(),
        body,
    }
}

/// Reads one request (request line, headers, a Content-Length body); `None` at the end.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (mut len, mut target, mut region, mut signed_ms) =
        (0usize, String::new(), String::new(), None);
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.parse().unwrap_or(0),
            "x-amz-target" => target = v.to_string(),
            "authorization" => {
                // Credential=AKID/20261123/us-east-1/cloudtrail/aws4_request
                if let Some(c) = v.split("Credential=").nth(1) {
                    region = c.split('/').nth(2).unwrap_or("").to_string();
                }
            }
            "x-amz-date" => {
                signed_ms = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", v)
                    .ok()
                    .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                    .map(|z| z.timestamp().as_millisecond());
            }
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        target,
        region,
        signed_ms,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// One keep-alive HTTP/1.1 connection: requests with a Content-Length body, each answered in
/// a single write (TCP_NODELAY: no delayed-ACK stalls on large pages).
fn serve(conn: TcpStream, sh: &Shared) {
    let _ = conn.set_nodelay(true);
    let mut r = BufReader::new(conn.try_clone().expect("socket clones"));
    let mut w = conn;
    while let Some(req) = read_request(&mut r) {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let a = route(sh, &req);
        let reason = if a.status == 200 { "OK" } else { "Error" };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nDate: {}\r\nContent-Length: {}\r\n",
            a.status,
            a.ctype,
            http_date(sh.now()),
            a.body.len()
        );
        for (k, v) in &a.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if w.write_all(format!("{head}\r\n{}", a.body).as_bytes())
            .is_err()
        {
            return;
        }
    }
}

/// An HTTP date (RFC 7231) of ms since the epoch.
fn http_date(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

impl Shared {
    /// The fake's clock: set by the test, else the real time.
    fn now(&self) -> i64 {
        match self.now_ms.load(Ordering::SeqCst) {
            i64::MAX => jiff::Timestamp::now().as_millisecond(),
            ms => ms,
        }
    }
}

/// Sends a request to the service it is for.
fn route(sh: &Shared, req: &Request) -> Answer {
    let signed_late = sh.behaviour.lock().unwrap().check_signature_time
        && req
            .signed_ms
            .is_some_and(|t| (t - sh.now()).abs() > 5 * 60_000);
    let action = req
        .body
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .unwrap_or("")
        .to_string();
    if req.target.ends_with(".LookupEvents") {
        if signed_late {
            return json_answer(error(
                "InvalidSignatureException",
                "Signature expired: the request time is more than 5 minutes away from the server time",
            ));
        }
        let a = json_answer(handle(sh, &req.body, &req.region));
        let _g = sh.called.0.lock().unwrap();
        sh.called.1.notify_all();
        return a;
    }
    if req.target.ends_with(".ListPublicKeys") {
        return list_public_keys(sh, req);
    }
    if req.path.starts_with("/listRegions") {
        return account_list_regions(sh, signed_late);
    }
    if !action.is_empty() {
        return query_action(sh, &action, signed_late);
    }
    json_answer(error(
        "UnknownOperationException",
        "the fake does not know this call",
    ))
}

/// The keys of the request's region valid within its StartTime..EndTime, as CloudTrail lists
/// them (every key when no time is given).
fn list_public_keys(sh: &Shared, req: &Request) -> Answer {
    sh.other_calls
        .lock()
        .unwrap()
        .push(format!("cloudtrail:ListPublicKeys {}", req.region));
    if let Some(kind) = sh.behaviour.lock().unwrap().fail_with {
        return json_answer(error(kind, "User: arn:aws:sts::111122223333:assumed-role/bastion/i-1 is not authorized to perform: cloudtrail:ListPublicKeys"));
    }
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let (from, to) = (
        body["StartTime"].as_f64().unwrap_or(f64::MIN),
        body["EndTime"].as_f64().unwrap_or(f64::MAX),
    );
    let keys: Vec<Value> = sh
        .public_keys
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, k)| {
            *r == req.region
                && k["ValidityStartTime"].as_f64().unwrap_or(0.0) <= to
                && k["ValidityEndTime"].as_f64().unwrap_or(f64::MAX) >= from
        })
        .map(|(_, k)| k.clone())
        .collect();
    json_answer((200, json!({ "PublicKeyList": keys }).to_string()))
}

fn query_error(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        ctype: "text/xml",
        headers: Vec::new(),
        body: format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    }
}

fn xml(body: String) -> Answer {
    Answer {
        status: 200,
        ctype: "text/xml",
        headers: Vec::new(),
        body,
    }
}

/// STS, IAM and EC2 (query protocol).
fn query_action(sh: &Shared, action: &str, signed_late: bool) -> Answer {
    let a = sh.account.lock().unwrap().clone();
    let service = match action {
        "GetCallerIdentity" => "sts",
        "ListAccountAliases" => "iam",
        "DescribeRegions" => "ec2",
        _ => "unknown",
    };
    sh.other_calls
        .lock()
        .unwrap()
        .push(format!("{service}:{action}"));
    if signed_late {
        return query_error(
            403,
            "SignatureDoesNotMatch",
            "Signature expired: the request time is more than 5 minutes away from the server time",
        );
    }
    match action {
        "GetCallerIdentity" => xml(format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{0}:user/bastion</Arn><UserId>AIDAEXAMPLE</UserId><Account>{0}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
            a.id
        )),
        "ListAccountAliases" if !a.allow_aliases => query_error(
            403,
            "AccessDenied",
            "User: arn:aws:iam::111122223333:user/bastion is not authorized to perform: iam:ListAccountAliases",
        ),
        "ListAccountAliases" => xml(format!(
            "<ListAccountAliasesResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ListAccountAliasesResult><IsTruncated>false</IsTruncated><AccountAliases>{}</AccountAliases></ListAccountAliasesResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListAccountAliasesResponse>",
            a.alias.map(|x| format!("<member>{x}</member>")).unwrap_or_default()
        )),
        "DescribeRegions" if !a.allow_describe_regions => Answer {
            status: 403,
            ctype: "text/xml",
            headers: Vec::new(),
            body: "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>".into(),
        },
        "DescribeRegions" => xml(format!(
            "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><regionInfo>{}</regionInfo></DescribeRegionsResponse>",
            a.regions
                .iter()
                .map(|r| format!("<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>"))
                .collect::<String>()
        )),
        _ => query_error(400, "InvalidAction", "the fake does not know this action"),
    }
}

/// `account:ListRegions` (REST-JSON).
fn account_list_regions(sh: &Shared, signed_late: bool) -> Answer {
    let a = sh.account.lock().unwrap().clone();
    sh.other_calls
        .lock()
        .unwrap()
        .push("account:ListRegions".into());
    let refuse = |kind: &str, msg: &str| Answer {
        status: 403,
        ctype: "application/json",
        headers: vec![("x-amzn-ErrorType".into(), format!("{kind}:"))],
        body: json!({ "message": msg }).to_string(),
    };
    if signed_late {
        return refuse("InvalidSignatureException", "Signature expired");
    }
    if !a.allow_list_regions {
        return refuse(
            "AccessDeniedException",
            "User is not authorized to perform: account:ListRegions",
        );
    }
    let regions: Vec<Value> = a
        .regions
        .iter()
        .map(|r| json!({"RegionName": r, "RegionOptStatus": "ENABLED_BY_DEFAULT"}))
        .collect();
    Answer {
        status: 200,
        ctype: "application/json",
        headers: Vec::new(),
        body: json!({ "Regions": regions }).to_string(),
    }
}

fn error(kind: &str, msg: &str) -> (u16, String) {
    (400, json!({"__type": kind, "message": msg}).to_string())
}

fn secs(v: &Value) -> Option<i64> {
    v.as_f64().map(|s| (s * 1000.0).round() as i64)
}

fn handle(sh: &Shared, body: &str, region: &str) -> (u16, String) {
    let n = sh.counters.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let hold = sh.hold_after.load(Ordering::SeqCst);
    if hold > 0 && n > hold {
        let (m, cv) = &sh.held;
        let mut held = m.lock().unwrap();
        *held = true;
        cv.notify_all();
        while *held {
            held = cv.wait(held).unwrap();
        }
    }
    let b = sh.behaviour.lock().unwrap().clone();
    if b.fail_calls.as_ref().is_some_and(|r| r.contains(&n)) {
        return (
            500,
            json!({"__type": "InternalServerErrorException", "message": "scripted failure"})
                .to_string(),
        );
    }
    if let Some(kind) = b.fail_with {
        return error(kind, "User: arn:aws:sts::111122223333:assumed-role/bastion/i-1 is not authorized to perform: cloudtrail:LookupEvents");
    }
    if b.throttle_tenths > 0 && n * 7 % 10 < b.throttle_tenths {
        sh.counters.throttled.fetch_add(1, Ordering::SeqCst);
        return error("ThrottlingException", "Rate exceeded");
    }
    if b.max_rate > 0.0 {
        // A token bucket, as AWS meters API calls: `max_rate` tokens, refilled at that rate.
        let mut bucket = sh.bucket.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = bucket.unwrap_or((b.max_rate, now));
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * b.max_rate).min(b.max_rate);
        if tokens < 1.0 {
            *bucket = Some((tokens, now));
            sh.counters.throttled.fetch_add(1, Ordering::SeqCst);
            return error("ThrottlingException", "Rate exceeded");
        }
        *bucket = Some((tokens - 1.0, now));
    }
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return error("SerializationException", "bad JSON");
    };
    let attrs = req["LookupAttributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if attrs.len() > 1 {
        return error(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute",
        );
    }
    let attr = attrs.first().map(|a| {
        (
            a["AttributeKey"].as_str().unwrap_or("").to_string(),
            a["AttributeValue"].as_str().unwrap_or("").to_string(),
        )
    });
    let shown = match &attr {
        Some((k, v)) => format!("{k}={v}"),
        None => "-".into(),
    };
    sh.region_lookups
        .lock()
        .unwrap()
        .push((region.to_string(), shown.clone()));
    sh.lookups.lock().unwrap().push(shown);
    let start = req.get("StartTime").and_then(secs).unwrap_or(i64::MIN);
    let end = req.get("EndTime").and_then(secs).unwrap_or(i64::MAX);
    let max = req["MaxResults"].as_u64().unwrap_or(50).clamp(1, 50) as usize;
    let params = format!("{start}/{end}/{attr:?}");
    let offset = match req["NextToken"].as_str() {
        None => 0,
        Some(t) => match t.split_once('|') {
            Some((o, p)) if p == params => o.parse().unwrap_or(0),
            _ => {
                return error(
                    "InvalidNextTokenException",
                    "A token is valid only with the parameters it was issued for",
                )
            }
        },
    };
    let now = sh.now_ms.load(Ordering::SeqCst);
    let keep = |e: &FakeEvent| {
        e.region == region
            && e.time_ms >= start
            && e.time_ms <= end
            && e.visible_ms <= now
            && match &attr {
                None => true,
                Some((k, v)) => match k.as_str() {
                    "EventName" => &e.name == v,
                    "Username" => &e.username == v,
                    "EventSource" => &e.source == v,
                    "EventId" => &e.id == v,
                    _ => false,
                },
            }
    };
    // Newest first.
    let (page, more): (Vec<FakeEvent>, bool) = match &*sh.store.lock().unwrap() {
        Store::List(v) => {
            let mut sel: Vec<&FakeEvent> = v.iter().filter(|e| keep(e)).collect();
            sel.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then(b.id.cmp(&a.id)));
            let page = sel
                .iter()
                .skip(offset)
                .take(max)
                .map(|e| (*e).clone())
                .collect();
            (page, sel.len() > offset + max)
        }
        Store::Synthetic(_) if region != "us-east-1" => (Vec::new(), false),
        Store::Synthetic(s) => {
            let r = s.range(start, end);
            match &attr {
                None => {
                    let hi = r.end - offset as i64;
                    let lo = (hi - max as i64).max(r.start);
                    let page = (lo..hi).rev().map(|i| s.event(i)).collect();
                    (page, lo > r.start)
                }
                Some(_) => {
                    let mut sel: Vec<FakeEvent> = s
                        .matching
                        .iter()
                        .filter(|m| r.contains(&m.0))
                        .map(|m| s.event(m.0))
                        .filter(|e| keep(e))
                        .collect();
                    sel.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
                    let more = sel.len() > offset + max;
                    (sel.into_iter().skip(offset).take(max).collect(), more)
                }
            }
        }
    };
    sh.counters
        .events_returned
        .fetch_add(page.len() as u64, Ordering::SeqCst);
    let events: Vec<Value> = page
        .iter()
        .map(|e| {
            json!({
                "EventId": e.id, "EventName": e.name, "ReadOnly": "false",
                "EventTime": e.time_ms as f64 / 1000.0, "EventSource": e.source,
                "Username": e.username, "Resources": [], "CloudTrailEvent": e.record
            })
        })
        .collect();
    let mut out = json!({ "Events": events });
    if more {
        out["NextToken"] = json!(format!("{}|{params}", offset + max));
    }
    (200, out.to_string())
}

/// Lookup attribute counts, for assertions.
pub fn tally(lookups: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in lookups {
        *m.entry(l.clone()).or_insert(0) += 1;
    }
    m
}

impl Drop for FakeCloudTrail {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.release();
    }
}
