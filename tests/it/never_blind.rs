//! A dangerous event cannot pass unseen: every enabled region, root under its alias, events
//! that become visible late, a host clock off by 15 minutes, a page that fails mid-window. The
//! `lookup_events` source runs through the real SDK against the wire-level fake CloudTrail,
//! whose clock and answers the test drives (no sleeps).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::support::fake_cloudtrail::{
    record, tally, Behaviour, FakeAccount, FakeCloudTrail, FakeEvent,
};
use crate::support::{at, default_judge, fresh_state, outbox_ids, MIN, T0};
use trailwatch::config::{Config, SourceText};
use trailwatch::poll::Judge;
use trailwatch::poll::{poll_stream, sweep_stream};
use trailwatch::source::aws::Clock;
use trailwatch::source::coverage::{Aliases, RegionOrigin};
use trailwatch::source::{open_source, open_source_on, Opened, SourceSpec};
use trailwatch::state::State;

fn spec(fake: &FakeCloudTrail, extra: &str) -> Arc<SourceSpec> {
    crate::support::fake_cloudtrail::test_aws_env();
    let src = SourceText {
        name: "test.toml".into(),
        text: format!(
            "[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nendpoint_url = \"{}\"\nretry_initial = \"1ms\"\nmax_calls_per_second = 500\n{extra}\n",
            fake.url
        ),
    };
    let cfg = Config::parse(&src).unwrap();
    Arc::new(SourceSpec::parse(&cfg.sources[0], &src).unwrap())
}

/// Polls every stream of an opened source once at `now`.
async fn poll_all(o: &Opened, e: &Judge, state: &State, now: i64) -> u64 {
    let mut raised = 0;
    for s in &o.streams {
        raised += poll_stream(s, e, state, at(now)).await.unwrap().raised;
    }
    raised
}

#[tokio::test]
async fn root_sign_in_in_eu_west_1_with_default_regions_is_alerted() {
    let login = record("root-eu", "ConsoleLogin", T0 + MIN, true).in_region("eu-west-1");
    let fake = FakeCloudTrail::start(vec![login]);
    fake.set_now(T0 + 5 * MIN);
    let o = open_source(&spec(&fake, ""), &BTreeMap::new())
        .await
        .unwrap();
    let c = o.coverage.first().unwrap();
    assert_eq!(c.origin, RegionOrigin::Discovered("account:ListRegions"));
    assert_eq!(o.streams.len(), 17, "every enabled region is a stream");
    let (_d, state) = fresh_state();
    assert_eq!(
        poll_all(&o, &default_judge(), &state, T0 + 5 * MIN).await,
        1
    );
    assert_eq!(outbox_ids(&state), ["root-eu"]);
    // IAM's events are asked for in us-east-1 only; root everywhere.
    let calls = fake.region_lookups();
    let iam: Vec<&str> = calls
        .iter()
        .filter(|(_, l)| l == "EventName=CreateUser")
        .map(|(r, _)| r.as_str())
        .collect();
    assert_eq!(iam, ["us-east-1"]);
    let root = calls.iter().filter(|(_, l)| l == "Username=root").count();
    assert_eq!(root, 17);
}

#[tokio::test]
async fn without_discovery_the_default_regions_still_see_eu_west_1_and_say_so() {
    let login = record("root-eu", "ConsoleLogin", T0 + MIN, true).in_region("eu-west-1");
    let fake = FakeCloudTrail::start(vec![login]);
    fake.set_account(FakeAccount {
        allow_list_regions: false,
        allow_describe_regions: false,
        ..FakeAccount::default()
    });
    let o = open_source(&spec(&fake, ""), &BTreeMap::new())
        .await
        .unwrap();
    let c = o.coverage.first().unwrap();
    assert!(
        matches!(c.origin, RegionOrigin::Fallback(_)),
        "{:?}",
        c.origin
    );
    let w = c.warnings().join("\n");
    assert!(
        w.contains("could not be listed")
            && w.contains("account:ListRegions")
            && w.contains("ec2:DescribeRegions")
            && w.contains("opt-in region the account enabled is NOT polled"),
        "{w}"
    );
    assert!(
        fake.other_calls()
            .contains(&"ec2:DescribeRegions".to_string()),
        "EC2 is asked when the Account API refuses"
    );
    let (_d, state) = fresh_state();
    assert_eq!(
        poll_all(&o, &default_judge(), &state, T0 + 5 * MIN).await,
        1
    );
}

/// The fake holding `ev` in account 111122223333, aliased acme-prod (which IAM tells only when
/// `iam_allowed`), and `[account_aliases]` naming it as `table` says.
fn aliased_account(
    ev: &FakeEvent,
    iam_allowed: bool,
    table: Option<&str>,
) -> (FakeCloudTrail, BTreeMap<String, String>) {
    let fake = FakeCloudTrail::start(vec![ev.clone()]);
    fake.set_account(FakeAccount {
        alias: Some("acme-prod".into()),
        allow_aliases: iam_allowed,
        ..FakeAccount::default()
    });
    let aliases = table
        .map(|t| ("111122223333".to_string(), t.to_string()))
        .into_iter()
        .collect();
    (fake, aliases)
}

#[tokio::test]
async fn root_in_an_aliased_account_is_looked_up_under_its_alias() {
    // Root's API call in an account whose alias is acme-prod: its user name is the alias.
    let ev = record("root-alias", "StopLogging", T0 + MIN, true).aliased("acme-prod");
    for (iam_allowed, table) in [(true, None), (false, Some("acme-prod"))] {
        let (fake, aliases) = aliased_account(&ev, iam_allowed, table);
        let o = open_source(&spec(&fake, "regions = [\"us-east-1\"]"), &aliases)
            .await
            .unwrap();
        match &o.coverage.first().unwrap().aliases {
            Aliases::Known { aliases, .. } => assert_eq!(aliases, &["acme-prod"]),
            a => panic!("{a:?}"),
        }
        let (_d, state) = fresh_state();
        assert_eq!(
            poll_all(&o, &default_judge(), &state, T0 + 5 * MIN).await,
            1
        );
        assert_eq!(outbox_ids(&state), ["root-alias"]);
        let t = tally(&fake.lookups());
        assert_eq!(t.get("Username=acme-prod"), Some(&1), "{t:?}");
    }
}

#[tokio::test]
async fn a_host_clock_15_minutes_ahead_still_learns_the_account_and_finds_root_under_its_alias() {
    // The first calls are signed with the host's clock, which AWS refuses; once the answers'
    // Date has told AWS's time, the discovery is asked again and succeeds: the alias comes
    // from iam:ListAccountAliases, or from [account_aliases] once the account is known.
    let ev = record("root-skewed", "StopLogging", T0 + MIN, true).aliased("acme-prod");
    for (iam_allowed, table) in [(true, None), (false, Some("acme-prod"))] {
        let (fake, aliases) = aliased_account(&ev, iam_allowed, table);
        fake.set_behaviour(Behaviour {
            check_signature_time: true,
            ..Behaviour::default()
        });
        fake.set_now(T0 + 5 * MIN);
        let clock = Arc::new(Clock::new("lookup"));
        clock.set_host(at(T0 + 5 * MIN + 15 * MIN));
        let o = open_source_on(&spec(&fake, "regions = [\"us-east-1\"]"), &aliases, clock)
            .await
            .unwrap();
        let c = o.coverage.first().unwrap();
        assert_eq!(
            c.account.as_deref(),
            Some("111122223333"),
            "the identity is learned"
        );
        match &c.aliases {
            Aliases::Known { aliases, .. } => assert_eq!(aliases, &["acme-prod"]),
            other => panic!("IAM allowed {iam_allowed}: {other:?}"),
        }
        let (_d, state) = fresh_state();
        poll_all(&o, &default_judge(), &state, T0 + 5 * MIN).await;
        assert_eq!(outbox_ids(&state), ["root-skewed"]);
    }
}

#[tokio::test]
async fn an_unknown_alias_still_catches_root_sign_ins_and_says_what_it_can_miss() {
    let login = record("root-login", "ConsoleLogin", T0 + MIN, true).aliased("acme-prod");
    let call = record("root-call", "StopLogging", T0 + 2 * MIN, true).aliased("acme-prod");
    let fake = FakeCloudTrail::start(vec![login, call]);
    fake.set_account(FakeAccount {
        alias: Some("acme-prod".into()),
        allow_aliases: false,
        ..FakeAccount::default()
    });
    let o = open_source(&spec(&fake, "regions = [\"us-east-1\"]"), &BTreeMap::new())
        .await
        .unwrap();
    let c = o.coverage.first().unwrap();
    assert!(c.aliases_unknown());
    let w = c.warnings().join("\n");
    assert!(
        w.contains("alias is unknown") && w.contains("root API calls can be MISSED"),
        "{w}"
    );
    let (_d, state) = fresh_state();
    poll_all(&o, &default_judge(), &state, T0 + 5 * MIN).await;
    // The sign-in is found by its event source; the API call under the alias is the blind
    // spot the warning names.
    assert_eq!(outbox_ids(&state), ["root-login"]);
    let t = tally(&fake.lookups());
    assert_eq!(t.get("EventSource=signin.amazonaws.com"), Some(&1), "{t:?}");
}

#[tokio::test]
async fn an_event_visible_45_minutes_late_is_alerted_once_by_the_sweep() {
    let late = record("late-45", "CreateUser", T0 + 10 * MIN, false).late_by(45 * MIN);
    let fake = FakeCloudTrail::start(vec![late]);
    let s = open_source(&spec(&fake, "regions = [\"us-east-1\"]"), &BTreeMap::new())
        .await
        .unwrap()
        .streams
        .pop()
        .unwrap();
    let (_d, state) = fresh_state();
    let e = default_judge();
    let mut late_reports = Vec::new();
    let mut raised_by = Vec::new();
    // Polls every minute for 80 minutes, a sweep every 10.
    for m in 0..=80 {
        let now = T0 + m * MIN;
        fake.set_now(now);
        let p = poll_stream(&s, &e, &state, at(now)).await.unwrap();
        if p.raised > 0 {
            raised_by.push(("poll", m));
        }
        if m % 10 == 0 {
            let r = sweep_stream(&s, &e, &state, at(now)).await.unwrap();
            if r.raised > 0 {
                raised_by.push(("sweep", m));
            }
            late_reports.extend(r.late);
        }
    }
    assert_eq!(
        raised_by,
        [("sweep", 60)],
        "the polls' 20-minute re-read missed it"
    );
    assert_eq!(outbox_ids(&state), ["late-45"]);
    assert_eq!(late_reports.len(), 1);
    assert_eq!(late_reports[0].event_id, "late-45");
    assert_eq!(
        late_reports[0].lateness.as_secs(),
        50 * 60,
        "first seen at minute 60"
    );
}

#[tokio::test]
async fn a_host_clock_15_minutes_off_loses_no_event() {
    for offset in [15 * MIN, -15 * MIN] {
        // Events every 5 minutes, each visible 10 minutes after its eventTime.
        let evs: Vec<FakeEvent> = (0..10)
            .map(|i| {
                record(&format!("cu-{i}"), "CreateUser", T0 + i * 5 * MIN, false).late_by(10 * MIN)
            })
            .collect();
        let fake = FakeCloudTrail::start(evs);
        // As AWS does, the fake refuses requests signed more than 5 minutes off its clock.
        fake.set_behaviour(Behaviour {
            check_signature_time: true,
            ..Behaviour::default()
        });
        fake.set_now(T0);
        let clock = Arc::new(Clock::new("lookup"));
        clock.set_host(at(T0 + offset));
        let s = open_source_on(
            &spec(&fake, "regions = [\"us-east-1\"]\nlate_sweep = \"0s\""),
            &BTreeMap::new(),
            clock.clone(),
        )
        .await
        .unwrap()
        .streams
        .pop()
        .unwrap();
        let (_d, state) = fresh_state();
        let e = default_judge();
        // The daemon polls every minute at its clock's now; the host clock runs `offset` off.
        for m in 0..=70 {
            fake.set_now(T0 + m * MIN);
            clock.set_host(at(T0 + m * MIN + offset));
            let now = s.clock.now();
            poll_stream(&s, &e, &state, now).await.unwrap();
        }
        let want: Vec<String> = (0..10).map(|i| format!("cu-{i}")).collect();
        assert_eq!(outbox_ids(&state), want, "host clock off by {offset} ms");
        let skew = s.clock.skew().unwrap().as_secs();
        assert!((skew + offset / 1000).abs() <= 1, "skew {skew} s");
    }
}

#[tokio::test]
async fn a_page_error_mid_window_keeps_what_was_raised() {
    let evs: Vec<FakeEvent> = (0..120)
        .map(|i| record(&format!("cu-{i:03}"), "CreateUser", T0 + i * 1_000, false))
        .collect();
    let fake = FakeCloudTrail::start(evs);
    let s = open_source(
        &spec(&fake, "regions = [\"us-east-1\"]\nretry_attempts = 0"),
        &BTreeMap::new(),
    )
    .await
    .unwrap()
    .streams
    .pop()
    .unwrap();
    // The second page of the first lookup (EventName=CreateUser) fails.
    fake.set_behaviour(Behaviour {
        fail_calls: Some(2..3),
        ..Behaviour::default()
    });
    let (_d, state) = fresh_state();
    let e = default_judge();
    let err = poll_stream(&s, &e, &state, at(T0 + 10 * MIN)).await;
    assert!(err.is_err());
    assert_eq!(
        state.outbox_len(),
        50,
        "the first page's matches were raised and kept"
    );
    assert_eq!(state.watermark("lookup", "us-east-1").unwrap(), None);
    let again = poll_stream(&s, &e, &state, at(T0 + 11 * MIN))
        .await
        .unwrap();
    assert_eq!((again.raised, again.repeated), (70, 50));
    let want: Vec<String> = (0..120).map(|i| format!("cu-{i:03}")).collect();
    assert_eq!(outbox_ids(&state), want);
    // The outbox drains oldest event first, whatever order the pages came in.
    let first = state.outbox().unwrap()[0].1.alert.event_id.clone();
    assert_eq!(first, "cu-000");
}

mod daemon {
    //! The same promises through the binary: what the daemon says, alerts and exports.

    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;

    use crate::support::fake_cloudtrail::{record, FakeAccount, FakeCloudTrail};
    use crate::support::servers::{free_port, Proc, Receiver};

    use crate::support::bin;

    fn config(
        dir: &std::path::Path,
        fake: &str,
        hook: &str,
        source_extra: &str,
        extra: &str,
    ) -> std::path::PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(
            &p,
            format!(
                "state_dir = \"{}/state\"\ngroup_window = \"0s\"\nlanguage = \"en\"\n{extra}\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nendpoint_url = \"{fake}\"\nmax_calls_per_second = 100\n{source_extra}\n\n[[sinks]]\nname = \"hook\"\ntype = \"dooray\"\nmax_per_second = 0\nstorm_after = 0\nurl = \"{hook}\"\nretry_initial = \"50ms\"\n",
                dir.display()
            ),
        )
        .unwrap();
        p
    }

    fn subjects(r: &Receiver) -> Vec<String> {
        r.received()
            .iter()
            .map(|g| {
                serde_json::from_str::<serde_json::Value>(&g.body).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn an_unknown_alias_is_said_in_check_the_log_and_a_health_alert() {
        let fake = FakeCloudTrail::start(vec![]);
        fake.set_account(FakeAccount {
            alias: Some("acme-prod".into()),
            allow_aliases: false,
            ..FakeAccount::default()
        });
        let r = Receiver::start(0, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &fake.url,
            &r.url,
            "regions = [\"us-east-1\"]",
            "",
        );
        let o = bin()
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success());
        assert!(
            out.contains("root is looked up as \"root\" only — the alias is UNKNOWN")
                && out.contains("warning: source 'lookup': the account's alias is unknown (account 111122223333 is not in [account_aliases] and iam:ListAccountAliases: AccessDenied"),
            "{out}"
        );
        assert!(
            out.contains("in us-east-1: 4 lookups: EventName=CreateUser, EventName=DeleteUser, Username=root, EventSource=signin.amazonaws.com"),
            "{out}"
        );
        let o = bin()
            .args(["run", "--once", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{log}");
        assert!(log.contains("root API calls can be MISSED"), "{log}");
        assert_eq!(
            subjects(&r),
            ["[HIGH] trailwatch: source lookup may miss root activity"]
        );
        // Said once per account and source, not at every start.
        bin()
            .args(["run", "--once", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(r.received().len(), 1);
    }

    #[test]
    fn an_event_later_than_overlap_is_swept_alerted_and_reported() {
        let t0 = jiff::Timestamp::now().as_millisecond() / 1000 * 1000;
        let min = 60_000;
        // A CreateUser at minute 1 that becomes visible only at minute 46.
        let fake = FakeCloudTrail::start(vec![
            record("late-1", "CreateUser", t0 + min, false).late_by(45 * min)
        ]);
        fake.set_now(t0);
        let r = Receiver::start(0, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = config(
            dir.path(),
            &fake.url,
            &r.url,
            "regions = [\"us-east-1\"]\npoll_interval = \"200ms\"\nlate_sweep_interval = \"200ms\"",
            &format!("metrics_address = \"127.0.0.1:{port}\""),
        );
        let mut d = Proc(
            bin()
                .args(["run", "--config"])
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let lines = BufReader::new(d.0.stderr.take().unwrap()).lines();
        // AWS's time, which the daemon takes from the fake's Date, moves as the test says:
        // polls cover minute 2 and minute 30 while the event is invisible, then minute 50,
        // when it is visible but behind every poll's 20-minute re-read.
        for m in [2, 30, 50] {
            fake.set_now(t0 + m * min);
            // Three polls of three lookups: the last surely read with the new time.
            let n = fake.calls();
            assert!(
                fake.wait_calls(n + 9, Duration::from_secs(30)),
                "polls stopped"
            );
        }
        assert!(r.wait_ok(2, Duration::from_secs(30)), "{:?}", subjects(&r));
        let got = subjects(&r);
        assert!(
            got.iter()
                .any(|s| s.starts_with("[HIGH] IAM user mallory created by admin")),
            "{got:?}"
        );
        let late = r
            .received()
            .into_iter()
            .find(|g| g.body.contains("trailwatch: an event arrived"))
            .expect("a late-event alert");
        assert!(
            late.body.contains("event late-1 (rule iam-user-lifecycle"),
            "{}",
            late.body
        );
        // The daemon's "now" follows the fake's Date one answer behind, and the fake's clock
        // jumps: the event is first seen between minute 30 and minute 50 of AWS's time.
        let metrics = get(port);
        let max: f64 = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("trailwatch_event_lateness_max_seconds{source=\"lookup\"} ")
            })
            .expect("a lateness maximum")
            .parse()
            .unwrap();
        assert!((1200.0..3000.0).contains(&max), "{metrics}");
        assert!(
            metrics.contains("trailwatch_late_events_total{source=\"lookup\"} 1\n")
                && metrics.contains(
                    "trailwatch_event_lateness_seconds_bucket{le=\"1200.0\",source=\"lookup\"} 0\n"
                )
                && metrics.contains(
                    "trailwatch_event_lateness_seconds_bucket{le=\"3600.0\",source=\"lookup\"} 1\n"
                ),
            "{metrics}"
        );
        crate::support::signal(&d.0, 15);
        let log: String = lines.map(|l| l.unwrap() + "\n").collect();
        assert!(
            log.contains("was first seen") && log.contains("later than overlap"),
            "{log}"
        );
        assert_eq!(
            r.received()
                .iter()
                .filter(|g| g.body.contains("late-1"))
                .count(),
            2,
            "the alert and the late-event alert, once each"
        );
    }

    fn get(port: u16) -> String {
        crate::support::http_get(port, "/metrics")
    }
}
