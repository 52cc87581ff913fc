//! The read plan of a source in words, as `check` and `--explain` print it: what is asked of
//! AWS per window and stream, and what that costs in calls.

use std::fmt::Write as _;
use std::time::Duration;

use super::config::{SourceKind, SourceSpec};
use super::stream::{lookup_regions, plan_queries};
use crate::rules::pushdown::{self, LookupPlan};
use crate::rules::RuleSet;

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The plan of one source, as `--explain` prints it.
pub async fn explain(spec: &SourceSpec, rules: &RuleSet) -> String {
    let mut s = match &spec.kind {
        SourceKind::LookupEvents { .. } => lookup_events(spec, rules).await,
        SourceKind::CloudwatchLogs { .. } => cloudwatch_logs(spec, rules),
        SourceKind::Files { path } => format!(
            "source '{}' (files): {} (CloudTrail .json/.json.gz files, read once each), looked at every {}\n",
            spec.name,
            path.display(),
            human(spec.poll_interval)
        ),
    };
    s.push_str("  every record is checked against the rules locally\n");
    s
}

async fn lookup_events(spec: &SourceSpec, rules: &RuleSet) -> String {
    let mut s = String::new();
    let queries = plan_queries(spec, rules);
    let regions = lookup_regions(spec).await;
    let _ = writeln!(
        s,
        "source '{}' (lookup_events): regions {}; every {}, re-reading {} behind the watermark; at most {} calls/s per region",
        spec.name,
        regions.join(", "),
        human(spec.poll_interval),
        human(spec.overlap),
        spec.rate
    );
    match pushdown::lookup_plan(rules, spec.pushdown_max_lookups) {
        _ if !spec.pushdown => {
            let _ = writeln!(s, "  reads every event (pushdown = false)");
        }
        LookupPlan::Lookups(ls) => {
            let names: Vec<String> = ls.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "  pushdown: {} lookups per region and window: {}",
                ls.len(),
                names.join(", ")
            );
        }
        LookupPlan::ReadAll { reason } => {
            let _ = writeln!(s, "  reads every event: {reason}");
        }
    }
    let _ = writeln!(
        s,
        "  calls per poll: at least {} ({} per region; one more per further page of 50 events)",
        queries.len() * regions.len(),
        queries.len()
    );
    s
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
    s
}
