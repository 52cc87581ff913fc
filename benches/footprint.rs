//! The idle daemon's footprint: two `lookup_events` regions (the wire-level fake CloudTrail) and
//! one `cloudwatch_logs` source (a real moto server), polling every 60 s, with the release
//! binary. Reports start-up time to READY (read from a NOTIFY_SOCKET, as systemd would), resident
//! memory after FOOTPRINT_SECS (default 3600), CPU time per poll, and the binary's size.
//!
//! Run: cargo build --release && FOOTPRINT_SECS=3600 cargo bench --bench footprint

#[path = "../tests/it/support/fake_cloudtrail.rs"]
#[allow(dead_code)]
mod fake_cloudtrail;
#[path = "../tests/it/support/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_cloudtrail::{record, FakeCloudTrail};

fn proc_field(pid: u32, file: &str, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or("")
        .to_string()
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn main() {
    let secs: u64 = std::env::var("FOOTPRINT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/trailwatch");
    let size = std::fs::metadata(bin)
        .expect("build the release binary first")
        .len();
    let now = jiff::Timestamp::now().as_millisecond();
    let fake = FakeCloudTrail::start(
        (0..200)
            .map(|i| {
                record(
                    &format!("n-{i}"),
                    "DescribeInstances",
                    now - i * 5_000,
                    false,
                )
            })
            .collect(),
    );
    // moto for CloudWatch Logs, with the trail's group.
    let (_moto, moto_url) = servers::moto();
    let status = Command::new("python3")
        .args(["-c", &format!("import boto3; c = boto3.client('logs', endpoint_url='{moto_url}', region_name='ap-northeast-2', aws_access_key_id='x', aws_secret_access_key='x'); c.create_log_group(logGroupName='trail')")])
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{0}/state\"\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\", \"ap-northeast-2\"]\nendpoint_url = \"{1}\"\npoll_interval = \"60s\"\n\n[[sources]]\nname = \"logs\"\ntype = \"cloudwatch_logs\"\nregion = \"ap-northeast-2\"\nlog_group = \"trail\"\nendpoint_url = \"{moto_url}\"\npoll_interval = \"60s\"\n\n[[sinks]]\nname = \"t\"\ntype = \"console\"\n",
            dir.path().display(),
            fake.url
        ),
    )
    .unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let t0 = Instant::now();
    let mut d = Command::new(bin)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    loop {
        let n = sock.recv(&mut buf).unwrap();
        if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
            break;
        }
    }
    let ready = t0.elapsed();
    let cpu_start = cpu_seconds(d.id());
    let calls_start = fake.calls();
    std::thread::sleep(Duration::from_secs(secs));
    let rss = proc_field(d.id(), "status", "VmRSS:");
    let hwm = proc_field(d.id(), "status", "VmHWM:");
    let cpu = cpu_seconds(d.id()) - cpu_start;
    let polls_per_stream = (secs / 60).max(1);
    let polls = polls_per_stream * 3;
    println!(
        "binary (stripped release): {:.1} MiB",
        size as f64 / 1048576.0
    );
    println!("start-up to READY=1: {} ms", ready.as_millis());
    println!("after {secs} s: {rss}, peak {hwm}");
    println!(
        "CPU: {cpu:.2} s over {polls} polls (3 streams x {polls_per_stream}) = {:.1} ms per poll; fake saw {} LookupEvents calls",
        cpu * 1000.0 / polls as f64,
        fake.calls() - calls_start
    );
    unsafe {
        extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        kill(d.id() as i32, 15);
    }
    d.wait().unwrap();
}
