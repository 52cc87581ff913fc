//! The daemon through the binary against the fake CloudTrail: a SIGKILL in the middle of a
//! sweep loses and repeats nothing, a second process on the same state is refused, a broken
//! configuration on SIGHUP is rejected, and polling IAM outside us-east-1 warns.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::fake_cloudtrail::{record, FakeCloudTrail, FakeEvent};
use crate::support::servers::Receiver;
use crate::support::{bin, signal, spawn_run};

fn config(dir: &Path, fake: &str, hook: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join("c.toml");
    std::fs::write(
        &p,
        format!(
            "state_dir = \"{}/state\"\ngroup_window = \"0s\"\n{extra}\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{fake}\"\nmax_calls_per_second = 100\noverlap = \"60m\"\nmax_window = \"10m\"\npoll_interval = \"1h\"\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\nretry_initial = \"50ms\"\n",
            dir.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn sigkill_mid_sweep_then_restart_delivers_every_alert_exactly_once() {
    let now = jiff::Timestamp::now().as_millisecond();
    // 300 CreateUser events over the last 50 minutes: 5 windows of 10 minutes, 6 pages.
    let evs: Vec<FakeEvent> = (0..300)
        .map(|i| {
            record(
                &format!("cu-{i:03}"),
                "CreateUser",
                now - 50 * 60_000 + i * 10_000,
                false,
            )
        })
        .collect();
    let fake = FakeCloudTrail::start(evs);
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, &r.url, "");
    // The first process reads three windows' lookups, then the fake holds its next request.
    fake.hold_after(3 * 3);
    let mut first = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fake.wait_held();
    signal(&first, 9);
    first.wait().unwrap();
    fake.release();
    assert_eq!(
        r.received().len(),
        0,
        "--once delivers after the sweep, which never ended"
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ids = r.event_ids();
    assert_eq!(ids.len(), 300, "every alert delivered, none twice");
    ids.dedup();
    assert_eq!(ids.len(), 300);
    let want: Vec<String> = (0..300).map(|i| format!("cu-{i:03}")).collect();
    assert_eq!(ids, want, "oldest first");
}

#[test]
fn a_second_process_on_the_same_state_is_refused_and_sighup_rejects_a_broken_config() {
    let fake = FakeCloudTrail::start(vec![]);
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::servers::free_port();
    let cfg = config(
        dir.path(),
        &fake.url,
        &r.url,
        &format!("metrics_address = \"127.0.0.1:{port}\""),
    );
    let (mut d, mut logs) = spawn_run(&cfg);
    logs.until("trailwatch running", Duration::from_secs(20));
    // Metrics: the first poll's API calls, the outbox depth and the watermark lag are exposed
    // (polled until the first poll has finished, with a deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // 60 minutes of overlap in 10-minute windows, 3 lookups each.
    let want = "trailwatch_api_calls_total{source=\"lookup\"} 18";
    let metrics = loop {
        let m = get(port, "/metrics");
        if m.contains(want) || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.contains(want), "{metrics}");
    assert!(
        metrics.contains("# TYPE trailwatch_outbox_depth gauge"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("trailwatch_watermark_lag_seconds{source=\"lookup\",stream=\"us-east-1\"}"),
        "{metrics}"
    );
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is in use by another trailwatch process"),
        "{err}"
    );
    // A broken configuration on SIGHUP: rejected, the daemon keeps running.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{good}\n[[sources]]\nname = \"x\"\ntype = \"lookup_events\"\nregoins = []\n"),
    )
    .unwrap();
    signal(&d.0, 1);
    let log = logs.until("new configuration rejected", Duration::from_secs(20));
    assert!(log.contains("unknown field `regoins`"), "{log}");
    // A Sigma rule 20,000 brackets deep: refused as broken, not a stack overflow.
    let deep = cfg.with_file_name("deep.yml");
    std::fs::write(
        &deep,
        format!("title: deep\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    eventName: X\n  condition: {}s{}\n", "(".repeat(20_000), ")".repeat(20_000)),
    )
    .unwrap();
    std::fs::write(
        &cfg,
        format!("{good}\n[[rules]]\nsigma = \"{}\"\n", deep.display()),
    )
    .unwrap();
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", crate::support::text(&o));
    assert!(
        crate::support::text(&o).contains("nest deeper than 64"),
        "{}",
        crate::support::text(&o)
    );
    signal(&d.0, 1);
    let log = logs.until("new configuration rejected", Duration::from_secs(20));
    assert!(log.contains("nest deeper than 64"), "{log}");
    // One that parses but cannot start (a secret that is not there): the old one keeps running.
    std::fs::write(
        &cfg,
        good.replace(
            &format!("url = \"{}\"", r.url),
            "url = \"env:TRAILWATCH_TEST_UNSET\"",
        ),
    )
    .unwrap();
    signal(&d.0, 1);
    let log = logs.until("the previous one keeps running", Duration::from_secs(20));
    assert!(
        log.contains("environment variable TRAILWATCH_TEST_UNSET is not set"),
        "{log}"
    );
    // A good one is taken.
    std::fs::write(&cfg, &good).unwrap();
    signal(&d.0, 1);
    logs.until("configuration reloaded", Duration::from_secs(20));
    signal(&d.0, 15);
    let t = std::time::Instant::now();
    assert!(d.0.wait().unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(10));
}

fn get(port: u16, path: &str) -> String {
    crate::support::http_get(port, path)
}

#[test]
fn iam_rules_polled_only_outside_us_east_1_warn() {
    let fake = FakeCloudTrail::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!("state_dir = \"./s\"\n[[sources]]\nname = \"seoul\"\ntype = \"lookup_events\"\nregions = [\"ap-northeast-2\"]\nendpoint_url = \"{}\"\n", fake.url),
    )
    .unwrap();
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(
        out.contains("warning: source 'seoul' does not poll us-east-1: IAM events (CreateUser, DeleteUser…) and console sign-ins through the global sign-in endpoint are recorded only there"),
        "{out}"
    );
    // IAM's events are never recorded in ap-northeast-2: only root is asked for there.
    assert!(
        out.contains("in ap-northeast-2: 1 lookup: Username=root"),
        "{out}"
    );
    assert!(
        out.contains(
            "warning: source 'seoul': enabled regions not polled: ap-northeast-1, ap-northeast-3"
        ),
        "{out}"
    );
}

#[test]
fn check_reports_errors_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "state_dir = \"./s\"\n\n[[sinks]]\nname = \"m\"\ntype = \"email\"\nsmtp_host = \"h\"\nfrom = \"a@b.c\"\nto = [\"not an address\"]\n").unwrap();
    let o = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("c.toml:3:1: sink 'm': `to` address 'not an address' is not valid"),
        "{err}"
    );
}

#[test]
fn the_agreed_config_sketch_and_the_example_validate() {
    for f in [
        "../shared/reference/config-sketch.toml",
        "config.toml.example",
        "examples/demo.toml",
    ] {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        // The sketch's secrets come from the environment and systemd credentials.
        let o = bin()
            .args(["check", "--skip-secrets", "--config"])
            .arg(&p)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains("configuration is valid"), "{out}");
    }
}

#[test]
fn a_failing_source_raises_a_health_alert_then_a_recovery() {
    let fake = FakeCloudTrail::start(vec![]);
    fake.set_behaviour(crate::support::fake_cloudtrail::Behaviour {
        fail_with: Some("AccessDeniedException"),
        ..Default::default()
    });
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &fake.url,
        &r.url,
        "health_after = \"1s\"\nlanguage = \"en\"",
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("poll_interval = \"1h\"", "poll_interval = \"1s\"");
    std::fs::write(&cfg, text).unwrap();
    let (mut d, mut logs) = spawn_run(&cfg);
    assert!(r.wait_ok(1, Duration::from_secs(30)), "no health alert");
    let first: serde_json::Value = serde_json::from_str(&r.received()[0].body).unwrap();
    let body = first["attachments"][0]["text"].as_str().unwrap();
    assert_eq!(
        first["text"],
        "[HIGH] trailwatch: source lookup/us-east-1 failing"
    );
    assert!(
        body.contains("AccessDeniedException")
            && body.contains("lack the IAM permission cloudtrail:LookupEvents"),
        "{body}"
    );
    fake.set_behaviour(crate::support::fake_cloudtrail::Behaviour::default());
    assert!(r.wait_ok(2, Duration::from_secs(30)), "no recovery message");
    let second: serde_json::Value = serde_json::from_str(&r.received()[1].body).unwrap();
    assert_eq!(
        second["text"],
        "[INFO] trailwatch: source lookup/us-east-1 recovered"
    );
    signal(&d.0, 15);
    assert!(d.0.wait().unwrap().success());
    let log = logs.rest();
    assert!(log.contains("poll failed"), "{log}");
}

#[test]
fn check_probe_names_the_missing_permission_and_reaches_sinks() {
    let fake = FakeCloudTrail::start(vec![]);
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, &r.url, "");
    let o = bin()
        .args(["check", "--probe", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("probe source 'lookup' (us-east-1): ok"),
        "{out}"
    );
    assert!(
        out.contains("probe sink 'hook': ok: http://127.0.0.1:"),
        "{out}"
    );
    assert_eq!(r.received().len(), 1, "one HEAD request, no alert");
    assert!(!out.contains("SECRET-TOKEN"), "{out}");
    fake.set_behaviour(crate::support::fake_cloudtrail::Behaviour {
        fail_with: Some("AccessDeniedException"),
        ..Default::default()
    });
    let o = bin()
        .args(["check", "--probe", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("probe source 'lookup' (us-east-1): FAILED: cloudtrail:LookupEvents in us-east-1: AccessDeniedException")
            && out.contains("the credentials lack the IAM permission cloudtrail:LookupEvents"),
        "{out}"
    );
}

#[test]
fn per_service_endpoints_reach_each_service_without_a_common_one() {
    // VPC interface endpoints serve one service each: every call goes where its service's
    // endpoint says (here the fake for each), none to AWS's public endpoints.
    let fake = FakeCloudTrail::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let u = &fake.url;
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_urls = {{ cloudtrail = \"{u}\", sts = \"{u}\", iam = \"{u}\", account = \"{u}\", ec2 = \"{u}\" }}\n\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let o = bin()
        .args(["check", "--probe", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("account 111122223333"),
        "STS through its endpoint: {out}"
    );
    assert!(
        out.contains("probe source 'lookup' (us-east-1): ok"),
        "CloudTrail through its endpoint: {out}"
    );
    let calls = fake.other_calls();
    assert!(
        calls.contains(&"iam:ListAccountAliases".to_string())
            && calls.contains(&"account:ListRegions".to_string()),
        "IAM and Account through theirs: {calls:?}"
    );
}

#[test]
fn no_credential_reaches_the_log_at_any_level() {
    let fake = FakeCloudTrail::start(vec![]);
    let r = Receiver::start(0, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fake.url, &r.url, "log_level = \"trace\"");
    let token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";
    let o = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .env("AWS_SESSION_TOKEN", token)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let all = crate::support::text(&o);
    assert!(
        all.contains("TRACE") || all.contains("DEBUG"),
        "trace logging is on: {all}"
    );
    assert!(
        !all.contains("AKIDEXAMPLE"),
        "the access key ID leaked: {all}"
    );
    assert!(!all.contains(token), "the session token leaked: {all}");
}
