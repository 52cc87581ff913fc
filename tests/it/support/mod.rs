//! Shared helpers for the integration tests: running the binary, finding the shared corpus.

#![allow(dead_code)]

pub mod fake_cloudtrail;
pub mod moto_aws;
pub mod servers;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Sends a signal to a child process (15: SIGTERM, 1: SIGHUP, 9: SIGKILL).
pub fn signal(c: &std::process::Child, sig: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe { kill(c.id() as i32, sig) };
}

/// The real CloudTrail corpus beside the repository (`../shared/corpus`).
pub fn corpus() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/invictus-aws-dataset");
    assert!(
        p.is_dir(),
        "the shared corpus is missing at {}: the tests need it",
        p.display()
    );
    p
}

/// 2026-11-22T00:00:00Z, in ms: the time of the tests' records.
pub const T0: i64 = 1_795_305_600_000;
/// A minute, in ms.
pub const MIN: i64 = 60_000;

/// `ms` as a time.
pub fn at(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap()
}

/// An empty state database in a temporary folder (kept alive by the returned guard).
pub fn fresh_state() -> (tempfile::TempDir, trailwatch::state::State) {
    let dir = tempfile::tempdir().unwrap();
    let state = trailwatch::state::State::open(dir.path()).unwrap();
    (dir, state)
}

/// The eventIDs of the alerts waiting in the outbox, oldest first.
pub fn outbox_ids(state: &trailwatch::state::State) -> Vec<String> {
    state
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.alert.event_id)
        .collect()
}

/// The `default` pack's rules, every alert to one sink (`out`).
pub fn default_judge() -> trailwatch::poll::Judge {
    let mut rules = trailwatch::rules::RuleSet::default();
    rules.add_spec("default").unwrap();
    trailwatch::poll::Judge::every_sink(trailwatch::rules::Evaluator::new(rules), &["out"])
}

/// A runtime for a test that drives AWS clients of its own.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// The binary under test: this build's, or TRAILWATCH_TEST_BIN's (an older build, to show that
/// a test fails without its fix).
pub fn exe() -> String {
    std::env::var("TRAILWATCH_TEST_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_trailwatch").to_string())
}

/// The binary, with this process's AWS variables set the same way as for the test's own SDK
/// clients (an S3 or SQS test's).
pub fn aws_bin() -> Command {
    fake_cloudtrail::test_aws_env();
    bin()
}

/// The trailwatch binary, logging at info, with no configuration from the environment and AWS
/// credentials that reach nothing real (no profile, no instance metadata).
pub fn bin() -> Command {
    let mut c = Command::new(exe());
    c.env("RUST_LOG", "info")
        .env_remove("TRAILWATCH_CONFIG")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// A CreateUser record's JSON text at `time_ms` (the IAM rule of the default pack matches it).
pub fn create_user(id: &str, time_ms: i64) -> String {
    fake_cloudtrail::record(id, "CreateUser", time_ms, false).record
}

/// A delivery file of these records' texts.
pub fn delivery_file(records: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", records.join(","))
}

/// Writes a file whose modification time is two minutes ago (read at the first look).
pub fn write_old(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// A `files` source over `dir/trail` holding these records (one delivery file, old enough to
/// be read at once), and `dir/c.toml`: `top` (top-level keys), the source, then `sinks`.
pub fn files_config(records: &[String], top: &str, sinks: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    std::fs::create_dir_all(&trail).unwrap();
    if !records.is_empty() {
        write_old(&trail.join("f1.json"), &delivery_file(records));
    }
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{0}/state\"\n{top}\n[[sources]]\nname = \"files\"\ntype = \"files\"\npath = \"{0}/trail\"\npoll_interval = \"1s\"\n\n{sinks}",
            dir.path().display()
        ),
    )
    .unwrap();
    (dir, cfg)
}

/// `trailwatch run --config cfg` in the background, its log lines read as they come.
pub fn spawn_run(cfg: &std::path::Path) -> (servers::Proc, Logs) {
    let mut d = servers::Proc(
        bin()
            .args(["run", "--config"])
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("trailwatch run starts"),
    );
    let logs = Logs::of(d.0.stderr.take().unwrap());
    (d, logs)
}

/// Standard output and error of a finished command, together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs trailwatch with arguments and optional stdin.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(exe());
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().expect("trailwatch starts");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The scan output lines, parsed.
pub fn matches(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

/// Every record of the corpus.
pub fn corpus_records() -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        out.extend(v["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

/// A child's log lines, read on a thread of their own (a pipe nobody reads fills, and the
/// child blocks on its next log line).
pub struct Logs {
    rx: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: String,
}

impl Logs {
    pub fn of(stderr: std::process::ChildStderr) -> Logs {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Logs {
            rx,
            seen: String::new(),
        }
    }

    /// Waits (at most `deadline`) for a line containing `what`; the lines read until then.
    pub fn until(&mut self, what: &str, deadline: std::time::Duration) -> String {
        let end = std::time::Instant::now() + deadline;
        let mut read = String::new();
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    read.push_str(&l);
                    read.push('\n');
                    self.seen.push_str(&l);
                    self.seen.push('\n');
                    if l.contains(what) {
                        return read;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("'{what}' never logged:\n{}", self.seen);
    }

    /// The lines read so far, and whatever has arrived meanwhile (without waiting).
    pub fn rest_now(&mut self) -> String {
        while let Ok(l) = self.rx.try_recv() {
            self.seen.push_str(&l);
            self.seen.push('\n');
        }
        self.seen.clone()
    }

    /// Every line until the child closed its stderr.
    pub fn rest(&mut self) -> String {
        for l in self.rx.iter() {
            self.seen.push_str(&l);
            self.seen.push('\n');
        }
        self.seen.clone()
    }
}

/// Waits until `cond` holds, asking it every 50 ms, at most `deadline`; true when it held.
/// (For state outside the test's reach, such as a queue's depth, that sends no event.)
pub fn eventually(mut cond: impl FnMut() -> bool, deadline: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The whole HTTP answer (status line, headers, body) to `GET path` on a local port; empty
/// when nothing listens. The connection is closed after the answer.
pub fn http_get(port: u16, path: &str) -> String {
    http_request(port, "GET", path)
}

/// The whole HTTP answer to `METHOD path` on a local port; empty when nothing listens.
pub fn http_request(port: u16, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The DOM headless Chromium built of `url` (a file, or a page of a local server), after its
/// scripts ran (at most 3 s of virtual time), with no network beyond it: its profile in `dir`.
pub fn chromium_dom(dir: &std::path::Path, url: &str) -> String {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed (scripts/test installs Debian's chromium)");
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium").display()
        ))
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        !dom.is_empty(),
        "Chromium built no DOM of {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dom
}
