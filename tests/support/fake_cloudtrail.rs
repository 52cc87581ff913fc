//! A wire-level fake of CloudTrail's `LookupEvents` (JSON 1.1 protocol), for the real SDK client.
//! moto does not implement `LookupEvents`, so this stands in for it, with the behaviours that
//! break tailers: newest-first pages of at most 50 with a `NextToken` bound to the request's
//! parameters, one lookup attribute, `ThrottlingException` above a rate (and on a scripted share
//! of calls), and events that become visible only some time after their `eventTime`.

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
            "signin.amazonaws.com",
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
    /// Pages served before the fake holds every further request (0: never).
    hold_after: AtomicU64,
    held: (Mutex<bool>, Condvar),
    stop: AtomicBool,
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
            hold_after: AtomicU64::new(0),
            held: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
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

    pub fn lookups(&self) -> Vec<String> {
        self.shared.lookups.lock().unwrap().clone()
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

    pub fn release(&self) {
        self.shared.hold_after.store(0, Ordering::SeqCst);
        let (m, cv) = &self.shared.held;
        *m.lock().unwrap() = false;
        cv.notify_all();
    }
}

/// One keep-alive HTTP/1.1 connection: requests with a Content-Length body, each answered in
/// a single write (TCP_NODELAY: no delayed-ACK stalls on large pages).
fn serve(conn: TcpStream, sh: &Shared) {
    let _ = conn.set_nodelay(true);
    let mut r = BufReader::new(conn.try_clone().expect("socket clones"));
    let mut w = conn;
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        // Request line, then headers up to the blank line.
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let (status, out) = handle(sh, &String::from_utf8_lossy(&body));
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{out}",
            out.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn error(kind: &str, msg: &str) -> (u16, String) {
    (400, json!({"__type": kind, "message": msg}).to_string())
}

fn secs(v: &Value) -> Option<i64> {
    v.as_f64().map(|s| (s * 1000.0).round() as i64)
}

fn handle(sh: &Shared, body: &str) -> (u16, String) {
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
    sh.lookups.lock().unwrap().push(match &attr {
        Some((k, v)) => format!("{k}={v}"),
        None => "-".into(),
    });
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
        e.time_ms >= start
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
