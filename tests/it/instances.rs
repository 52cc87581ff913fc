//! Several instances of one configuration sharing their state in DynamoDB (a real moto
//! server), reading the wire-level fake CloudTrail: one works while the other stands by; a
//! SIGKILL of the working one is taken over within the lease and a poll, with every alert
//! delivered once and a takeover alert; a one-host state migrated into the table continues
//! without repeats; the local cache refuses to be used as a state of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::fake_cloudtrail::{record, FakeCloudTrail, FakeEvent};
use crate::support::moto_aws::json_call;
use crate::support::servers::{free_port, moto, Receiver};
use crate::support::{bin, eventually, files_config, http_get, signal, spawn_run, text};

const LEASE_S: u64 = 3;

fn config(dir: &Path, name: &str, fake: &str, hook: &str, state: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "state_dir = \"{}/{name}-state\"\ngroup_window = \"0s\"\n{state}\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{fake}\"\nmax_calls_per_second = 100\noverlap = \"60m\"\nmax_window = \"60m\"\npoll_interval = \"1s\"\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\nretry_initial = \"50ms\"\n",
            dir.display()
        ),
    )
    .unwrap();
    p
}

fn shared(moto: &str, instance: &str) -> String {
    format!("[state]\nbackend = \"dynamodb\"\ntable = \"tw-shared\"\nregion = \"us-east-1\"\nendpoint_url = \"{moto}\"\ninstance = \"{instance}\"\nlease = \"{LEASE_S}s\"\n")
}

fn events(from: usize, n: usize) -> Vec<FakeEvent> {
    let now = jiff::Timestamp::now().as_millisecond();
    (from..from + n)
        .map(|i| {
            record(
                &format!("cu-{i:03}"),
                "CreateUser",
                now - 20 * 60_000 + i as i64 * 1_000,
                false,
            )
        })
        .collect()
}

/// A binary attribute's value as DynamoDB's JSON protocol writes it.
fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// How many items of `tree` the shared table holds.
fn items(moto: &str, tree: &str) -> u64 {
    let rt = crate::support::rt();
    let v = rt.block_on(json_call(
        moto,
        "DynamoDB_20120810.Query",
        "1.0",
        json!({"TableName": "tw-shared", "KeyConditionExpression": "t = :t",
               "ExpressionAttributeValues": {":t": {"S": tree}}, "Select": "COUNT"}),
    ));
    v["Count"].as_u64().unwrap()
}

/// `trailwatch ARGS --config CFG`, run to its end.
fn tw(args: &[&str], cfg: &Path) -> std::process::Output {
    bin().args(args).arg("--config").arg(cfg).output().unwrap()
}

fn init(cfg: &Path) {
    let o = tw(&["state", "init"], cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("created DynamoDB table tw-shared in us-east-1"),
        "{}",
        text(&o)
    );
}

/// Two instances, a and b, of one configuration reading the fake CloudTrail (which holds
/// `n` events) into one receiver, the table made, and a running and holding the lease.
struct Pair {
    _moto: crate::support::servers::Proc,
    murl: String,
    fake: FakeCloudTrail,
    r: Receiver,
    dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    pa: crate::support::servers::Proc,
    la: crate::support::Logs,
}

/// `b_top`: top-level keys for b's configuration only.
fn pair(n: usize, b_top: &str) -> Pair {
    let (moto, murl) = moto();
    let fake = FakeCloudTrail::start(events(0, n));
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let a = config(dir.path(), "a", &fake.url, &r.url, &shared(&murl, "a"));
    let b_state = format!("{b_top}{}", shared(&murl, "b"));
    let b = config(dir.path(), "b", &fake.url, &r.url, &b_state);
    init(&a);
    let (pa, mut la) = spawn_run(&a);
    la.until(
        "instance a holds DynamoDB table tw-shared",
        Duration::from_secs(30),
    );
    Pair {
        _moto: moto,
        murl,
        fake,
        r,
        dir,
        a,
        b,
        pa,
        la,
    }
}

#[test]
fn a_standby_takes_over_a_killed_instance_within_the_lease_and_nothing_is_sent_twice() {
    let port = free_port();
    let top = format!("metrics_address = \"127.0.0.1:{port}\"\n");
    let Pair {
        _moto: _m,
        murl,
        fake,
        r,
        dir: _dir,
        a,
        b,
        mut pa,
        mut la,
    } = pair(20, &top);
    assert!(
        eventually(|| r.event_ids().len() >= 20, Duration::from_secs(60)),
        "a delivers: {:?}",
        r.event_ids()
    );
    let (mut pb, mut lb) = spawn_run(&b);
    lb.until(
        "standby: instance a holds DynamoDB table tw-shared",
        Duration::from_secs(30),
    );
    // A standby is alive, not ready, and says whom it waits for.
    assert!(http_get(port, "/healthz").starts_with("HTTP/1.1 200"));
    let ready = http_get(port, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        ready.contains("standby: instance a holds the lease on table tw-shared"),
        "{ready}"
    );
    assert!(http_get(port, "/metrics").contains("trailwatch_lease_held 0"));
    // What a delivered is recorded in the table before it is killed (a message sent and not
    // yet recorded is the documented at-least-once window).
    assert!(
        eventually(|| items(&murl, "outbox") == 0, Duration::from_secs(30)),
        "a's outbox drained into the table"
    );
    assert!(
        items(&murl, "raised") >= 20,
        "raised marks are in the table"
    );
    // While a renews, the standby waits (a standby that took over early would have fenced a).
    assert!(!la.rest_now().contains("lost its lease"));
    assert!(!lb.rest_now().contains("instance b holds"));
    for e in events(20, 10) {
        fake.add(e);
    }
    let killed = Instant::now();
    signal(&pa.0, 9);
    pa.0.wait().unwrap();
    let took = lb.until(
        "instance b holds DynamoDB table tw-shared",
        Duration::from_secs(30),
    );
    assert!(took.contains("taken over from instance a"), "{took}");
    let after = killed.elapsed();
    assert!(
        after < Duration::from_secs(3 * LEASE_S + 5),
        "taken over after {after:?} (lease {LEASE_S}s)"
    );
    assert!(
        eventually(|| r.received().len() >= 31, Duration::from_secs(60)),
        "b delivers the new events: {:?}",
        r.event_ids()
    );
    let mut ids = r.event_ids();
    ids.retain(|i| i.starts_with("cu-"));
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((n, ids.len()), (30, 30), "every alert once: {ids:?}");
    let bodies: Vec<String> = r.received().iter().map(|g| g.body.clone()).collect();
    let takeovers: Vec<&String> = bodies
        .iter()
        .filter(|b| b.contains("`trailwatch-takeover`"))
        .collect();
    assert_eq!(
        takeovers.len(),
        1,
        "one takeover alert among {} messages",
        bodies.len()
    );
    let metrics = http_get(port, "/metrics");
    assert!(metrics.contains("trailwatch_lease_held 1"));
    let calls = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trailwatch_state_table_calls_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(
        calls.is_some_and(|c| c > 0.0),
        "the table's calls are counted: {metrics}"
    );
    assert!(
        takeovers[0].contains("(instance b)"),
        "its own alerts name the instance"
    );
    assert!(
        takeovers[0].contains("인스턴스 b 가 a 의 작업을 이어받음"),
        "{}",
        takeovers[0]
    );
    // Commands read the shared state from the table, from any host (a's daemon is gone)...
    let o = tw(&["state", "show"], &a);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("state: DynamoDB table tw-shared in us-east-1 (read now)"),
        "{}",
        text(&o)
    );
    let o = tw(&["alerts", "list", "--json"], &a);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("cu-029"), "the history holds b's alerts");
    // ...and a change is asked of the instance that holds the lease, through the table: from
    // a's host, b adds the silence, and it applies to what b reads next.
    let silence = [
        "silence",
        "add",
        "--rule",
        "iam-user-lifecycle",
        "--for",
        "1h",
    ];
    let o = tw(&[&silence[..], &["--reason", "quiet test"]].concat(), &a);
    assert!(o.status.success(), "{}", text(&o));
    let o = tw(&["silence", "list"], &a);
    assert!(text(&o).contains("quiet test"), "{}", text(&o));
    lb.until("added: rule iam-user-lifecycle", Duration::from_secs(10));
    for e in events(30, 1) {
        fake.add(e);
    }
    let quieted = || {
        let o = tw(&["alerts", "list", "--json"], &a);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        out.lines()
            .any(|l| l.contains("cu-030") && l.contains("silenced"))
    };
    assert!(
        eventually(quieted, Duration::from_secs(30)),
        "cu-030 silenced by b"
    );
    // The local folder is a cache: a command that would take it for a state of its own refuses.
    let o = tw(&["backfill", "--since", "1h", "--notify"], &a);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is the local cache of a state shared by several instances"),
        "{}",
        text(&o)
    );
    signal(&pb.0, 15);
    assert!(pb.0.wait().unwrap().success(), "a clean stop");
    let rest = lb.rest();
    let gave_up = rest
        .lines()
        .find(|l| l.contains("instance b gave up DynamoDB table tw-shared"));
    assert!(gave_up.is_some(), "{rest}");
    // The figures docs/instances.md quotes (cargo test --test it instances -- --nocapture).
    eprintln!("takeover after {after:?}; {}", gave_up.unwrap_or_default());
}

#[test]
fn a_one_host_state_migrated_into_the_table_continues_without_repeats() {
    let (_moto, murl) = moto();
    let fake = FakeCloudTrail::start(events(0, 5));
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let one = config(dir.path(), "one", &fake.url, &r.url, "");
    let o = tw(&["run", "--once"], &one);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(r.event_ids().len(), 5);
    // The same host, now one instance of a shared state.
    let two = config(dir.path(), "one", &fake.url, &r.url, &shared(&murl, "one"));
    let o = tw(
        &["state", "migrate", "--from", "sled", "--to", "dynamodb"],
        &two,
    );
    assert!(!o.status.success(), "no table yet");
    assert!(
        text(&o).contains("trailwatch state init --config"),
        "{}",
        text(&o)
    );
    let o = tw(&["check"], &two);
    assert!(!o.status.success(), "check finds the missing table");
    assert!(
        text(&o).contains("DynamoDB table tw-shared does not exist in us-east-1"),
        "{}",
        text(&o)
    );
    init(&two);
    let o = tw(&["check"], &two);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("state: shared in DynamoDB table tw-shared in us-east-1 as instance one (lease 3s); no instance holds the lease now"),
        "{}",
        text(&o)
    );
    let o = tw(
        &["state", "migrate", "--from", "sled", "--to", "dynamodb"],
        &two,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("copied"), "{}", text(&o));
    assert!(items(&murl, "raised") >= 5 && items(&murl, "watermarks") == 1);
    let o = tw(
        &["state", "migrate", "--from", "sled", "--to", "dynamodb"],
        &two,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("already holds a state"), "{}", text(&o));
    // Its cache emptied, the instance still knows everything from the table.
    std::fs::remove_dir_all(dir.path().join("one-state").join("db")).unwrap();
    for e in events(5, 2) {
        fake.add(e);
    }
    let o = tw(&["run", "--once"], &two);
    assert!(o.status.success(), "{}", text(&o));
    let mut ids = r.event_ids();
    assert_eq!(ids.len(), 7, "the two new events only: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
}

#[test]
fn a_paused_instance_is_fenced_out_sends_nothing_and_stops_when_it_wakes() {
    let Pair {
        _moto: _m,
        murl,
        fake,
        r,
        dir: _dir,
        a: _,
        b,
        mut pa,
        mut la,
    } = pair(5, "");
    assert!(eventually(
        || r.event_ids().len() >= 5,
        Duration::from_secs(60)
    ));
    assert!(eventually(
        || items(&murl, "outbox") == 0,
        Duration::from_secs(30)
    ));
    let (mut pb, mut lb) = spawn_run(&b);
    lb.until("standby: instance a holds", Duration::from_secs(30));
    // A frozen VM: a holds its lease but renews nothing.
    signal(&pa.0, 19);
    lb.until(
        "instance b holds DynamoDB table tw-shared",
        Duration::from_secs(30),
    );
    for e in events(5, 3) {
        fake.add(e);
    }
    assert!(
        eventually(|| r.event_ids().len() >= 9, Duration::from_secs(60)),
        "b delivers the new events and its takeover alert"
    );
    signal(&pa.0, 18);
    let status = pa.0.wait().unwrap();
    assert!(!status.success(), "a stops with an error once it wakes");
    let said = la.rest();
    assert!(
        said.contains("instance a lost its lease on the shared state"),
        "{said}"
    );
    let mut ids = r.event_ids();
    ids.retain(|i| i.starts_with("cu-"));
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (n, ids.len()),
        (8, 8),
        "the woken instance sent nothing again: {ids:?}"
    );
    signal(&pb.0, 15);
    pb.0.wait().unwrap();
}

/// A bucket on moto whose new objects are announced on an SQS queue.
struct NotifiedBucket {
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    queue: String,
}

impl NotifiedBucket {
    fn new(moto: &str) -> NotifiedBucket {
        use crate::support::moto_aws;
        let rt = crate::support::rt();
        let (s3, queue) = rt.block_on(async {
            let s3 = moto_aws::s3(&moto_aws::conf(moto, "us-east-1").await);
            s3.create_bucket()
                .bucket("trail-bucket")
                .send()
                .await
                .unwrap();
            let (q, arn) = moto_aws::queue(moto, "trail-events").await;
            moto_aws::notify(&s3, "trail-bucket", &arn).await;
            (s3, q)
        });
        NotifiedBucket { rt, s3, queue }
    }

    /// Puts object `i`: one CreateUser record whose eventID is `obj-<i>` (an alert).
    fn put(&self, i: usize) {
        use trailwatch::source::s3::layout::{key_for, Place};
        let place = Place {
            org: None,
            account: "111122223333".into(),
            region: "us-east-1".into(),
        };
        let now = jiff::Timestamp::now();
        let rec = crate::support::fake_cloudtrail::record(
            &format!("obj-{i:02}"),
            "CreateUser",
            now.as_millisecond(),
            false,
        )
        .record;
        let key = key_for("", &place, now, &format!("o{i:02}"));
        let body = crate::support::moto_aws::gz(format!("{{\"Records\":[{rec}]}}").as_bytes());
        self.rt.block_on(crate::support::moto_aws::put(
            &self.s3,
            "trail-bucket",
            &key,
            body,
        ));
    }
}

/// An `s3` source reading a bucket its queue announces, with a shared state.
fn s3_config(dir: &Path, name: &str, moto: &str, queue: &str, hook: &str, port: u16) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "metrics_address = \"127.0.0.1:{port}\"\nstate_dir = \"{}/{name}-state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n{}\n[[sources]]\nname = \"trail\"\ntype = \"s3\"\nbucket = \"trail-bucket\"\nregion = \"us-east-1\"\nendpoint_url = \"{moto}\"\nqueue_url = \"{queue}\"\nlist_interval = \"1h\"\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\nretry_initial = \"50ms\"\n",
            dir.display(),
            shared(moto, name)
        ),
    )
    .unwrap();
    p
}

#[test]
fn three_instances_on_a_notified_bucket_lose_nothing_when_the_working_one_is_killed() {
    crate::support::fake_cloudtrail::test_aws_env();
    let (_moto, murl) = moto();
    let bucket = NotifiedBucket::new(&murl);
    let queue = bucket.queue.clone();
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let cfgs: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .zip(&ports)
        .map(|(n, p)| s3_config(dir.path(), n, &murl, &queue, &r.url, *p))
        .collect();
    init(&cfgs[0]);
    let mut runs: Vec<_> = cfgs.iter().map(|c| spawn_run(c)).collect();
    // One of the three holds the lease; which one is a race.
    let holds = |runs: &mut Vec<(crate::support::servers::Proc, crate::support::Logs)>| {
        runs.iter_mut().enumerate().position(|(i, (_, l))| {
            let name = ["a", "b", "c"][i];
            l.rest_now()
                .contains(&format!("instance {name} holds DynamoDB table"))
        })
    };
    assert!(
        eventually(|| holds(&mut runs).is_some(), Duration::from_secs(30)),
        "an instance takes the lease"
    );
    let first = holds(&mut runs).unwrap();
    // A standby's status page says it stands by, and for whom (the holder's shows the state).
    let mut standby_page = String::new();
    let says = eventually(
        || {
            standby_page = http_get(ports[(first + 1) % 3], "/");
            standby_page.starts_with("HTTP/1.1 503")
                && standby_page.contains("<h1>standing by</h1>")
                && standby_page.contains("standby: instance ")
        },
        Duration::from_secs(20),
    );
    assert!(says, "{standby_page}");
    // The holder's own pages once its configuration started (a moment after it took the lease).
    assert!(eventually(
        || http_get(ports[first], "/").contains("<h1>trailwatch status</h1>"),
        Duration::from_secs(20)
    ));
    // Answers no standby will read (their askers died waiting): an hour old, and one from
    // before answers had a time. The holder sweeps them once it takes work in.
    let orphan = |k: &str, at: Option<i64>| {
        let mut item =
            json!({"t": {"S": "hand-answer"}, "k": {"B": b64(k)}, "v": {"B": b64("{}")}});
        if let Some(at) = at {
            item["at"] = json!({"N": at.to_string()});
        }
        crate::support::rt().block_on(json_call(
            &murl,
            "DynamoDB_20120810.PutItem",
            "1.0",
            json!({"TableName": "tw-shared", "Item": item}),
        ));
    };
    let hour_ago = jiff::Timestamp::now().as_second() - 3600;
    orphan("orphan-old", Some(hour_ago));
    orphan("orphan-untimed", None);
    assert_eq!(items(&murl, "hand-answer"), 2);
    for i in 0..30 {
        bucket.put(i);
    }
    // The standbys share the reading: objects they read reach the holder, which raises them.
    let handed = |i: usize| {
        let m = http_get(ports[i], "/metrics");
        m.lines()
            .filter(|l| l.starts_with("trailwatch_objects_handed_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    // The working instance dies in the middle of the work.
    assert!(eventually(
        || r.event_ids().len() >= 10,
        Duration::from_secs(60)
    ));
    let by_standbys = || (0..3).filter(|i| *i != first).map(handed).sum::<u64>();
    assert!(
        eventually(|| by_standbys() > 0, Duration::from_secs(30)),
        "the standbys read none of the objects"
    );
    eprintln!(
        "objects read by the standbys before the kill: {}",
        by_standbys()
    );
    assert_eq!(handed(first), 0, "the holder hands nothing");
    // Once work was taken in, the answers nobody reads are gone (the fresh ones are read and
    // removed by their standbys).
    assert!(
        eventually(|| items(&murl, "hand-answer") == 0, Duration::from_secs(20)),
        "orphaned answers swept: {} left",
        items(&murl, "hand-answer")
    );
    signal(&runs[first].0 .0, 9);
    runs[first].0 .0.wait().unwrap();
    for i in 30..60 {
        bucket.put(i);
    }
    let all = |r: &Receiver| {
        let mut ids = ids_of(r);
        ids.dedup();
        ids.len() >= 60
    };
    assert!(
        r.wait_for(all, Duration::from_secs(120)),
        "every object's alert: {:?}",
        ids_of(&r)
    );
    let mut runs_left: Vec<_> = runs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != first)
        .collect();
    let took: Vec<usize> = runs_left
        .iter_mut()
        .filter_map(|(i, (_, l))| {
            l.rest_now();
            l.seen
                .contains(&format!(
                    "instance {} holds DynamoDB table",
                    ["a", "b", "c"][*i]
                ))
                .then_some(*i)
        })
        .collect();
    assert_eq!(took.len(), 1, "exactly one instance took over");
    let ids = ids_of(&r);
    let mut once = ids.clone();
    once.dedup();
    assert_eq!(once.len(), 60);
    // At most the one message in flight when the kill came is sent again (the documented
    // at-least-once window: sent, not yet recorded).
    eprintln!("repeats after the kill: {}", ids.len() - once.len());
    assert!(
        ids.len() - once.len() <= 1,
        "repeats: {}",
        ids.len() - once.len()
    );
    for (_, (mut p, _)) in runs_left {
        signal(&p.0, 15);
        assert!(p.0.wait().unwrap().success());
    }
}

fn ids_of(r: &Receiver) -> Vec<String> {
    let mut ids: Vec<String> = r
        .event_ids()
        .into_iter()
        .filter(|i| i.starts_with("obj-"))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_standby_is_started_and_alive_for_systemd_and_run_once_does_not_wait_for_the_lease() {
    use std::os::unix::net::UnixDatagram;
    let Pair {
        _moto: _m,
        murl,
        fake,
        r,
        dir,
        a: _,
        b,
        mut pa,
        mut la,
    } = pair(1, "");
    // b under a systemd that wants READY within its start timeout and a ping every second.
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // systemd names the main process in WATCHDOG_PID: the shell's pid, which exec keeps.
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" run --config \"$1\"")
        .arg(crate::support::exe())
        .arg(&b);
    for (k, v) in bin().get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let mut pb = crate::support::servers::Proc(
        sh.env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "1000000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut said = Vec::new();
    let mut buf = [0u8; 512];
    while said
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        let n = sock
            .recv(&mut buf)
            .expect("the standby keeps talking to systemd");
        said.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert!(said.iter().any(|m| m.contains("READY=1")), "{said:?}");
    assert!(
        said.iter()
            .any(|m| m.contains("STATUS=standby: instance a holds the lease")),
        "{said:?}"
    );
    assert!(
        !la.rest_now().contains("lost its lease"),
        "b stood by all along"
    );
    // A one-shot run does not wait behind the instance at work.
    let c = config(dir.path(), "c", &fake.url, &r.url, &shared(&murl, "c"));
    let o = tw(&["run", "--once"], &c);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(
            "instance a holds the lease on table tw-shared: `run --once` does not wait for it"
        ),
        "{}",
        text(&o)
    );
    signal(&pb.0, 15);
    assert!(pb.0.wait().unwrap().success());
    signal(&pa.0, 15);
    assert!(pa.0.wait().unwrap().success());
}

#[test]
fn a_record_larger_than_a_dynamodb_item_is_copied_whole_and_read_back() {
    let (_moto, murl) = moto();
    let r = Receiver::start(0, vec![]);
    // 900 KB that does not compress much: a DynamoDB item holds 400 KB.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let noise: String = (0..900_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let now = jiff::Timestamp::now();
    let rec = json!({"eventVersion": "1.08", "eventID": "huge-1", "eventName": "CreateUser",
        "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1", "eventType": "AwsApiCall",
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/admin", "userName": "admin"},
        "requestParameters": {"userName": "u", "tags": [{"key": "k", "value": noise.clone()}]}});
    let sink = format!("[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{}\"\n", r.url);
    let top = format!("group_window = \"0s\"\n{}", shared(&murl, "one"));
    let (_dir, cfg) = files_config(&[rec.to_string()], &top, &sink);
    init(&cfg);
    let o = tw(&["run", "--once"], &cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(r.event_ids(), ["huge-1"]);
    // It went in parts; the delivered outbox entry's parts went with it.
    assert!(items(&murl, "history+") >= 1, "the history entry in parts");
    assert_eq!(
        items(&murl, "outbox+"),
        0,
        "no part left of the delivered entry"
    );
    // Read back from the table (another host would see the same): the record whole.
    let o = tw(&["alerts", "list", "--json"], &cfg);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&noise),
        "the record is whole"
    );
}

#[test]
fn a_standby_killed_while_it_holds_messages_loses_nothing_and_its_messages_come_back() {
    use crate::support::moto_aws::{in_flight, waiting};
    crate::support::fake_cloudtrail::test_aws_env();
    let (_moto, murl) = moto();
    let bucket = NotifiedBucket::new(&murl);
    let queue = bucket.queue.clone();
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    // A lease long enough that the standby does not take over while the holder is paused.
    let cfgs: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|n| {
            let p = s3_config(dir.path(), n, &murl, &queue, &r.url, free_port());
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(
                &p,
                text.replace(&format!("lease = \"{LEASE_S}s\""), "lease = \"120s\""),
            )
            .unwrap();
            p
        })
        .collect();
    init(&cfgs[0]);
    let (mut a, mut la) = spawn_run(&cfgs[0]);
    la.until("instance a holds DynamoDB table", Duration::from_secs(30));
    let (mut b, mut lb) = spawn_run(&cfgs[1]);
    lb.until("shares the reading of the queue", Duration::from_secs(60));
    // The holder is paused: the standby alone receives, reads, and waits for an answer.
    signal(&a.0, 19);
    for i in 0..12 {
        bucket.put(i);
    }
    let last = std::cell::Cell::new((0, 0));
    assert!(
        eventually(
            || bucket.rt.block_on(async {
                // None visible, every one received (the holder may have left S3's test
                // event in the queue when it was paused: 13).
                let (all, held) = (waiting(&murl, &queue).await, in_flight(&murl, &queue).await);
                last.set((all, held));
                all == held && held >= 12
            }),
            // A receive returns with the first message that comes, and a standby's read then
            // waits up to 30 s for the paused holder's answer: the last messages may wait
            // for a free receive that long (and those the paused holder's receives took come
            // back after 30 s, to the standby).
            Duration::from_secs(90)
        ),
        "the standby holds every message: (waiting, in flight) = {:?}\n{}",
        last.get(),
        lb.rest_now()
    );
    // It dies holding them; the holder wakes.
    signal(&b.0, 9);
    b.0.wait().unwrap();
    signal(&a.0, 18);
    let all = |r: &Receiver| ids_of(r).len() >= 12;
    assert!(
        r.wait_for(all, Duration::from_secs(90)),
        "every object's alert: {:?}",
        ids_of(&r)
    );
    // The messages the dead standby held come back within their visibility timeout and are
    // found read: the queue empties.
    assert!(
        eventually(
            || bucket
                .rt
                .block_on(async { waiting(&murl, &queue).await == 0 }),
            Duration::from_secs(60)
        ),
        "the dead standby's messages come back and are dealt with"
    );
    let ids = ids_of(&r);
    let mut once = ids.clone();
    once.dedup();
    assert_eq!(ids, once, "nothing twice");
    signal(&a.0, 15);
    assert!(a.0.wait().unwrap().success());
    drop(la.rest());
}

#[test]
fn an_instance_starting_alone_on_a_waiting_queue_reads_it_at_once() {
    crate::support::fake_cloudtrail::test_aws_env();
    let (_moto, murl) = moto();
    let bucket = NotifiedBucket::new(&murl);
    let queue = bucket.queue.clone();
    // Announced before any instance runs.
    for i in 0..20 {
        bucket.put(i);
    }
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = s3_config(dir.path(), "a", &murl, &queue, &r.url, free_port());
    init(&cfg);
    let (mut a, mut la) = spawn_run(&cfg);
    la.until("instance a holds DynamoDB table", Duration::from_secs(30));
    // An instance starts as a standby for a moment: messages it took then and dropped when
    // it took the lease would stay hidden for the 30 s visibility timeout.
    let all = |r: &Receiver| ids_of(r).len() >= 20;
    assert!(
        r.wait_for(all, Duration::from_secs(20)),
        "every waiting message read at once: {:?}",
        ids_of(&r)
    );
    assert!(!la.rest_now().contains("shares the reading"));
    signal(&a.0, 15);
    assert!(a.0.wait().unwrap().success());
}

#[test]
fn a_table_that_hangs_is_said_after_a_third_of_the_lease() {
    // A DynamoDB endpoint that takes connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "hang",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/unused",
        &format!("[state]\nbackend = \"dynamodb\"\ntable = \"tw-hangs\"\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\ninstance = \"a\"\nlease = \"3s\"\n"),
    );
    let mut d = crate::support::servers::Proc(
        crate::support::aws_bin()
            .args(["state", "init", "--config"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut logs = crate::support::Logs::of(d.0.stderr.take().unwrap());
    let said = logs.until("has not answered for", Duration::from_secs(20));
    assert!(
        said.contains("DynamoDB table tw-hangs in us-east-1: CreateTable has not answered for 1s, a third of the lease"),
        "{said}"
    );
    drop(silent);
}
