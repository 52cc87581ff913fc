//! The read plan of a source in words, as `check` and `--explain` print it: which account and
//! regions, the root user's names, what is asked of AWS per window and stream, the late sweep,
//! and what all that costs in calls per poll and per day.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::config::{SourceKind, SourceSpec};
use super::coverage::{Aliases, Coverage, RegionOrigin};
use super::open::Opened;
use super::stream::Query;
use crate::rules::pushdown;
use crate::rules::RuleSet;

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn query_text(q: &Query) -> String {
    match q {
        Query::All => "every event".into(),
        Query::Lookup(l) => l.to_string(),
        Query::Pattern(p) => p.clone(),
    }
}

/// Calls in a day for `per_poll` calls every `every`.
fn per_day(per_poll: usize, every: Duration) -> u64 {
    (per_poll as u64 * 86_400).div_ceil(every.as_secs().max(1))
}

/// The plan of one source, as `--explain` prints it. `opened` is the source's streams, for an
/// AWS source (without them, the plan cannot say what the account allows).
pub(crate) fn explain(spec: &SourceSpec, rules: &RuleSet, opened: Option<&Opened>) -> String {
    let mut s = match (&spec.kind, opened) {
        (SourceKind::LookupEvents { .. }, Some(o)) => lookup_events(spec, rules, o),
        (SourceKind::CloudwatchLogs { .. }, _) => cloudwatch_logs(spec, rules),
        (SourceKind::Files { path }, _) => format!(
            "source '{}' (files): {} (CloudTrail .json/.json.gz files, read once each), looked at every {}\n",
            spec.name,
            path.display(),
            human(spec.poll_interval)
        ),
        (SourceKind::LookupEvents { .. }, None) => format!(
            "source '{}' (lookup_events): could not be opened\n",
            spec.name
        ),
        (SourceKind::S3 { .. }, _) => s3(spec),
    };
    if let Some(o) = opened {
        fanout_lines(&mut s, o);
    }
    s.push_str("  every record is checked against the rules locally\n");
    s
}

/// The accounts of a fan-out, and those it cannot read.
fn fanout_lines(s: &mut String, o: &Opened) {
    if o.accounts.is_empty() && o.unreachable.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "  accounts ({}): {}",
        o.accounts.len(),
        o.accounts.join(", ")
    );
    for u in &o.unreachable {
        let _ = writeln!(s, "  account {} CANNOT be read: {}", u.account, u.why);
    }
}

/// An `s3` source's plan.
fn s3(spec: &SourceSpec) -> String {
    let SourceKind::S3 {
        bucket,
        prefix,
        accounts,
        regions,
        queue_url,
        list_interval,
        ..
    } = &spec.kind
    else {
        return String::new();
    };
    let mut s = String::new();
    let only = |what: &str, v: &[String]| {
        if v.is_empty() {
            format!("every {what} found")
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(
        s,
        "source '{}' (s3): s3://{bucket}/{prefix}AWSLogs/ (a trail's or an organization trail's files); accounts: {}; regions: {}",
        spec.name,
        only("account", accounts),
        only("region", regions)
    );
    let _ = match queue_url {
        Some(q) => writeln!(
            s,
            "  new files as the queue {q} announces them; the bucket is also listed every {} for what notifications missed",
            human(*list_interval)
        ),
        None => writeln!(
            s,
            "  listed every {}: per account and region, only the days that can hold new files, from {} before the last file read; each file read once",
            human(*list_interval),
            human(spec.overlap)
        ),
    };
    s
}

fn coverage_lines(s: &mut String, c: &Coverage) {
    let regions = c.regions.join(", ");
    let _ = match &c.origin {
        RegionOrigin::Configured => writeln!(s, "  regions (configured): {regions}"),
        RegionOrigin::Discovered(api) => writeln!(
            s,
            "  regions: the {} enabled for the account (from {api}, again every 6h): {regions}",
            c.regions.len()
        ),
        RegionOrigin::Fallback(_) => writeln!(
            s,
            "  regions: the {} AWS enables by default (the enabled ones could not be listed): {regions}",
            c.regions.len()
        ),
    };
    let _ = match &c.aliases {
        Aliases::Known { aliases, from } if aliases.is_empty() => writeln!(
            s,
            "  root is looked up as \"root\" (the account has no alias, from {from})"
        ),
        Aliases::Known { aliases, from } => writeln!(
            s,
            "  root is looked up as \"root\" and as its alias {} (from {from})",
            aliases.join(", ")
        ),
        Aliases::Unknown { .. } => writeln!(
            s,
            "  root is looked up as \"root\" only — the alias is UNKNOWN; console sign-ins are also looked up by eventSource signin.amazonaws.com"
        ),
    };
}

fn lookup_events(spec: &SourceSpec, rules: &RuleSet, o: &Opened) -> String {
    let mut s = String::new();
    let account = match o.coverage.as_slice() {
        [c] => c.account.clone().unwrap_or_else(|| "unknown".into()),
        cs => format!("{} accounts", cs.len()),
    };
    let _ = writeln!(
        s,
        "source '{}' (lookup_events): account {account}; every {}, re-reading {} behind the watermark; at most {} calls/s per region",
        spec.name,
        human(spec.poll_interval),
        human(spec.overlap),
        spec.rate
    );
    for c in &o.coverage {
        if o.coverage.len() > 1 {
            let _ = writeln!(
                s,
                "  account {}:",
                c.account.as_deref().unwrap_or("unknown")
            );
        }
        coverage_lines(&mut s, c);
    }
    // Regions with the same queries, together.
    let mut groups: BTreeMap<Vec<String>, Vec<&str>> = BTreeMap::new();
    let mut per_poll = 0;
    for st in &o.streams {
        let qs: Vec<String> = st.queries(rules).iter().map(query_text).collect();
        per_poll += qs.len();
        groups.entry(qs).or_default().push(&st.name);
    }
    for (qs, regions) in &groups {
        let _ = match qs.as_slice() {
            _ if !spec.pushdown => writeln!(
                s,
                "  in {}: every event (pushdown = false)",
                regions.join(", ")
            ),
            [] => writeln!(
                s,
                "  in {}: nothing to ask (the rules' events are never recorded there)",
                regions.join(", ")
            ),
            [one] if one == "every event" => writeln!(
                s,
                "  in {}: every event (a rule pins nothing a lookup can ask for)",
                regions.join(", ")
            ),
            [one] => writeln!(s, "  in {}: 1 lookup: {one}", regions.join(", ")),
            _ => writeln!(
                s,
                "  in {}: {} lookups: {}",
                regions.join(", "),
                qs.len(),
                qs.join(", ")
            ),
        };
    }
    sweep_and_cost(
        &mut s,
        spec,
        per_poll,
        "one more per further page of 50 events",
    );
    s
}

fn sweep_and_cost(s: &mut String, spec: &SourceSpec, per_poll: usize, pages: &str) {
    let polls = per_day(per_poll, spec.poll_interval);
    if spec.late_sweep.is_zero() {
        let _ = writeln!(s, "  late sweep: off (late_sweep = \"0s\"): an event visible more than {} after its eventTime is missed", human(spec.overlap));
        let _ = writeln!(
            s,
            "  calls: at least {per_poll} per poll ({pages}), {polls} per day"
        );
        return;
    }
    let sweeps = per_day(per_poll, spec.late_sweep_interval);
    let _ = writeln!(
        s,
        "  late sweep: every {}, re-reading from {} to {} ago with the same plan",
        human(spec.late_sweep_interval),
        human(spec.late_sweep),
        human(spec.overlap)
    );
    let _ = writeln!(
        s,
        "  calls: at least {per_poll} per poll ({pages}); per day {polls} for polls + {sweeps} for the sweep = {}",
        polls + sweeps
    );
}

fn cloudwatch_logs(spec: &SourceSpec, rules: &RuleSet) -> String {
    let SourceKind::CloudwatchLogs {
        region,
        log_group,
        log_stream_prefix,
    } = &spec.kind
    else {
        return String::new();
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "source '{}' (cloudwatch_logs): log group {}{} in {}; every {}, re-reading {} behind the watermark; at most {} calls/s",
        spec.name,
        log_group,
        log_stream_prefix.as_ref().map(|p| format!(" (streams {p}*)")).unwrap_or_default(),
        region.as_deref().unwrap_or("the configured region"),
        human(spec.poll_interval),
        human(spec.overlap),
        spec.rate
    );
    let plan = pushdown::logs_plan(rules);
    let _ = match (&plan.filter_pattern, spec.pushdown) {
        (_, false) => writeln!(s, "  reads every event (pushdown = false)"),
        (Some(p), true) => writeln!(s, "  server-side filterPattern ({}): {p}", plan.reason),
        (None, true) => writeln!(s, "  reads every event: {}", plan.reason),
    };
    let _ = writeln!(
        s,
        "  windows are on delivery time (a log event's timestamp), which is at or after eventTime"
    );
    sweep_and_cost(
        &mut s,
        spec,
        1,
        "one more per further page of up to 10,000 events",
    );
    s
}
