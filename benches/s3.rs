//! The `s3` source on moto, with the release binary: S3 calls per poll in steady state (counted
//! from moto's own request log), and backfill throughput (files/s, MB/s of JSON) against
//! `trailwatch scan` of the same files on local disk, in the same run.
//!
//! The bucket is an organization trail of ACCOUNTS × REGIONS places, each with FILES_PER_PLACE
//! gzipped delivery files made of the real corpus (invictus), delivered over the last hours.
//!
//! Run: cargo build --release && cargo bench --bench s3   (S3_FILES=N files per place, default 48)

#[path = "../tests/it/support/fake_cloudtrail.rs"]
#[allow(dead_code)]
mod fake_cloudtrail;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use trailwatch::source::s3::layout::{key_for, Place};

const BUCKET: &str = "bench-trail";
const ORG: &str = "o-a1b2c3d4e5";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 3] = ["us-east-1", "ap-northeast-2", "eu-west-1"];

/// Requests moto served, by kind (from its request log).
#[derive(Default)]
struct Seen {
    lists: AtomicU64,
    gets: AtomicU64,
}

struct Moto {
    child: Child,
    url: String,
    seen: Arc<Seen>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 -m moto.server");
    let seen = Arc::new(Seen::default());
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        if lines
            .next()
            .expect("moto exited")
            .unwrap()
            .contains("Running on")
        {
            break;
        }
    }
    let s = seen.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            if l.contains(&format!("\"GET /{BUCKET}?")) || l.contains(&format!("\"GET /{BUCKET}/?"))
            {
                s.lists.fetch_add(1, Ordering::Relaxed);
            } else if l.contains(&format!("\"GET /{BUCKET}/AWSLogs/")) {
                s.gets.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        seen,
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/invictus-aws-dataset");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn place(account: &str, region: &str) -> Place {
    Place {
        org: Some(ORG.into()),
        account: account.into(),
        region: region.into(),
    }
}

async fn client(url: &str) -> aws_sdk_s3::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

async fn put(c: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    c.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

fn tw(args: &[&str], cfg: &Path) -> (std::process::Output, f64) {
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/trailwatch");
    let t = Instant::now();
    let o = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (o, t.elapsed().as_secs_f64())
}

fn main() {
    fake_cloudtrail::test_aws_env();
    let per_place: usize = std::env::var("S3_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    let m = moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let now = Timestamp::now();
    // Files delivered every 5 minutes, the newest 25 minutes ago (outside the daemon's first
    // read: the steady state is what is measured).
    let (mut files, mut stored, mut json) = (0u64, 0u64, 0u64);
    let s3 = rt.block_on(async {
        let s3 = client(&m.url).await;
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        for a in ACCOUNTS {
            for r in REGIONS {
                for i in 0..per_place {
                    let text = &corpus[(files as usize) % corpus.len()];
                    let body = gz(text);
                    let at = now - jiff::SignedDuration::from_mins(25 + 5 * i as i64);
                    let key = key_for("", &place(a, r), at, &format!("{files:05}"));
                    std::fs::write(local.join(format!("{files:05}.json.gz")), &body).unwrap();
                    files += 1;
                    stored += body.len() as u64;
                    json += text.len() as u64;
                    put(&s3, &key, body).await;
                }
            }
        }
        s3
    });
    let places = ACCOUNTS.len() * REGIONS.len();
    println!(
        "bucket: {files} files ({places} accounts×regions × {per_place}), {:.1} MB stored, {:.1} MB of JSON",
        stored as f64 / 1e6,
        json as f64 / 1e6
    );
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\n[[sources]]\nname = \"org-trail\"\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
            dir.path().display(),
            m.url
        ),
    )
    .unwrap();
    // Steady state: a first poll (from 20 minutes back: nothing), then one new file per place
    // (five minutes of an organization's delivery), then a poll.
    tw(&["run", "--once"], &cfg);
    rt.block_on(async {
        for a in ACCOUNTS {
            for r in REGIONS {
                let key = key_for("", &place(a, r), Timestamp::now(), "new");
                put(&s3, &key, gz(&corpus[0])).await;
            }
        }
    });
    let (l0, g0) = (
        m.seen.lists.load(Ordering::Relaxed),
        m.seen.gets.load(Ordering::Relaxed),
    );
    tw(&["run", "--once"], &cfg);
    let lists = m.seen.lists.load(Ordering::Relaxed) - l0;
    let gets = m.seen.gets.load(Ordering::Relaxed) - g0;
    println!(
        "one poll, {places} accounts×regions, one new file each: {lists} ListObjectsV2 + {gets} GetObject ({} listing the bucket's folders + {places} listing a day each)",
        lists.saturating_sub(places as u64)
    );
    // Backfill of the whole bucket against scan of the same files on local disk.
    let since = (now - jiff::SignedDuration::from_hours(6 + per_place as i64 / 12)).to_string();
    let (o, secs) = tw(&["backfill", "--since", &since], &cfg);
    let summary = String::from_utf8_lossy(&o.stderr)
        .lines()
        .find(|l| l.contains("S3 files"))
        .unwrap_or("")
        .to_string();
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/trailwatch");
    let t = Instant::now();
    let scan = Command::new(bin)
        .args(["scan", "-j", "2"])
        .arg(&local)
        .output()
        .unwrap();
    let scan_secs = t.elapsed().as_secs_f64();
    assert!(scan.status.success() || scan.status.code() == Some(0));
    // The same objects fetched by boto3 with 8 threads: how fast moto itself serves them.
    let py = format!(
        "import boto3, concurrent.futures as f, time\nc = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\nkeys = [o['Key'] for p in c.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}') for o in p.get('Contents', [])]\nt = time.time()\nwith f.ThreadPoolExecutor(8) as ex: n = sum(ex.map(lambda k: len(c.get_object(Bucket='{BUCKET}', Key=k)['Body'].read()), keys))\nprint(len(keys), time.time() - t)",
        m.url
    );
    let o = Command::new("python3").args(["-c", &py]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let mut it = out.split_whitespace();
    let (n, py_secs): (f64, f64) = (
        it.next().and_then(|x| x.parse().ok()).unwrap_or(0.0),
        it.next().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN),
    );
    println!("backfill (whole command, {secs:.2} s): {summary}");
    println!(
        "baseline: boto3, 8 threads, only downloading the same {n} objects: {py_secs:.2} s, {:.0} files/s; backfill/download time ratio {:.2}",
        n / py_secs,
        secs / py_secs
    );
    println!(
        "backfill: {:.0} files/s, {:.1} MB/s of JSON; scan of the same files on local disk: {scan_secs:.2} s, {:.1} MB/s; backfill/scan time ratio {:.1}",
        files as f64 / secs,
        json as f64 / 1e6 / secs,
        json as f64 / 1e6 / scan_secs,
        secs / scan_secs
    );
}
