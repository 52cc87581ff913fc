//! `trailwatch check`: validates the configuration, prints the plan, and with `--probe` calls
//! each AWS API once and reaches each sink without sending an alert.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::common::{CmdError, ConfigArg};
use crate::defaults;
use crate::settings::Settings;
use crate::sink::Sink;
use crate::source::s3::Trail;
use crate::source::{self, open_source, Opened, SourceKind, SourceSpec};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also call each AWS API once with the configured credentials, and connect to each sink
    /// (without sending anything). Reports the exact IAM permission that is missing.
    #[arg(long)]
    pub probe: bool,
    /// Do not read `env:` and `file:` secrets (checking outside the service, which gets them
    /// from systemd): the sinks that use them are not opened.
    #[arg(long)]
    pub skip_secrets: bool,
    /// Accepted for symmetry with run and backfill: check always prints the plan.
    #[arg(long, hide = true)]
    pub explain: bool,
}

/// Every source, opened (AWS sources learn their account; `files` has nothing to open).
pub(super) struct Plan {
    pub sources: Vec<(Arc<SourceSpec>, Option<Opened>)>,
    /// What an operator must hear: configuration and coverage warnings.
    pub warnings: Vec<String>,
    pub text: String,
}

/// Opens every source and puts the plan of each, and where alerts go, into words.
pub(super) async fn plan(s: &Settings) -> Plan {
    let mut text = String::new();
    let mut warnings = s.warnings.clone();
    let enabled: Vec<String> = s.rules.enabled().map(|r| r.name.clone()).collect();
    let _ = writeln!(
        text,
        "rules: {} enabled ({})",
        enabled.len(),
        enabled.join(", ")
    );
    let mut sources = Vec::new();
    for spec in &s.sources {
        // `check` answers promptly: one retry, not a poll's patience.
        let spec = &Arc::new(SourceSpec {
            retry_attempts: spec.retry_attempts.min(1),
            retry_initial: spec
                .retry_initial
                .min(std::time::Duration::from_millis(300)),
            ..(**spec).clone()
        });
        let opened = open_for_check(s, spec, &mut warnings).await;
        text.push_str(&source::explain(spec, &s.rules, opened.as_ref()));
        if let Some(t) = opened.as_ref().and_then(|o| o.trail.as_ref()) {
            list_places(spec, t, &mut text, &mut warnings).await;
        }
        sources.push((spec.clone(), opened));
    }
    for k in &s.sinks {
        let _ = writeln!(
            text,
            "sink '{}': {} (severity {} and above)",
            k.name,
            k.describe(),
            k.min_severity
        );
    }
    let _ = writeln!(text, "state: {}", s.state_dir.display());
    describe_enrichment(s, &mut text, &mut warnings);
    Plan {
        sources,
        warnings,
        text,
    }
}

/// The databases that name source addresses' networks, and how old each is (a warning past
/// `defaults::ENRICH_STALE`: networks change hands).
fn describe_enrichment(s: &Settings, text: &mut String, warnings: &mut Vec<String>) {
    let now = jiff::Timestamp::now();
    let mut any = false;
    for db in s.enricher.databases() {
        any = true;
        let age = now.duration_since(db.built());
        let days = age.as_secs().max(0) / 86400;
        let _ = writeln!(
            text,
            "enrich: {} = {} ({}, built {}, {days} days ago)",
            db.key(),
            db.path.display(),
            db.database_type(),
            db.built().strftime("%Y-%m-%d")
        );
        if age > crate::when::signed(defaults::ENRICH_STALE) {
            warnings.push(format!(
                "[enrich] {} = {}: built {days} days ago; networks change hands, refresh it (docs/rules.md says how)",
                db.key(),
                db.path.display()
            ));
        }
    }
    if !any {
        let _ = writeln!(text, "enrich: no database: source addresses are shown bare, and `enrich.network` is the address's /24 (or /48)");
    }
}

/// Opens an AWS source within the discovery timeout (a `files` source has nothing to open);
/// what it cannot cover goes to `warnings`.
async fn open_for_check(
    s: &Settings,
    spec: &Arc<SourceSpec>,
    warnings: &mut Vec<String>,
) -> Option<Opened> {
    if let SourceKind::Files { .. } = &spec.kind {
        return None;
    }
    let opened = match tokio::time::timeout(
        defaults::DISCOVERY_TIMEOUT,
        open_source(spec, &s.account_aliases),
    )
    .await
    {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            warnings.push(e.to_string());
            return None;
        }
        Err(_) => {
            warnings.push(format!(
                "source '{}': AWS did not answer within {}s",
                spec.name,
                defaults::DISCOVERY_TIMEOUT.as_secs()
            ));
            return None;
        }
    };
    for c in &opened.coverage {
        warnings.extend(c.warnings());
    }
    for u in &opened.unreachable {
        warnings.push(format!(
            "source '{}': account {} cannot be read: {}",
            spec.name, u.account, u.why
        ));
    }
    Some(opened)
}

/// The accounts and regions an `s3` source's bucket holds.
async fn list_places(spec: &SourceSpec, t: &Trail, text: &mut String, warnings: &mut Vec<String>) {
    let listed = tokio::time::timeout(defaults::DISCOVERY_TIMEOUT, t.places()).await;
    let listed = listed.unwrap_or_else(|_| {
        Err(crate::source::aws::ApiError::new(
            "s3:ListBucket",
            format!(
                "no answer within {}s",
                defaults::DISCOVERY_TIMEOUT.as_secs()
            ),
            crate::source::aws::ApiErrorKind::Transient,
        ))
    });
    match listed {
        Ok(ps) if ps.is_empty() => warnings.push(format!(
            "source '{}': no CloudTrail files under s3://{}/{}AWSLogs/ (is `prefix` the trail's S3 key prefix?)",
            spec.name, t.bucket.name, t.bucket.base
        )),
        Ok(ps) => {
            let list: Vec<String> = ps.iter().map(|p| p.stream()).collect();
            let _ = writeln!(text, "  found {} accounts and regions: {}", ps.len(), list.join(", "));
        }
        Err(e) => warnings.push(format!("source '{}': {e}", spec.name)),
    }
}

/// Probes what a source needs besides its streams: an organization's accounts and their roles,
/// an `s3` source's bucket, objects, the keys its digests are checked with, and queue. True when something failed.
async fn probe_more(spec: &SourceSpec, o: &Opened) -> bool {
    let mut failed = false;
    let mut say = |ok: bool, what: String| {
        failed |= !ok;
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("probe source '{}': {verdict}: {what}", spec.name);
    };
    if spec.fanout.is_some() {
        say(true, format!("{} accounts to read", o.accounts.len()));
        for u in &o.unreachable {
            say(false, format!("account {}: {}", u.account, u.why));
        }
    }
    let Some(t) = &o.trail else {
        return failed;
    };
    let places = match t.places().await {
        Ok(p) => p,
        Err(e) => {
            say(false, e.to_string());
            return failed;
        }
    };
    say(
        true,
        format!(
            "s3:ListBucket on s3://{} ({} accounts and regions)",
            t.bucket.name,
            places.len()
        ),
    );
    if let Some(p) = places.first() {
        match t.bucket.list(&p.dir(&t.bucket.base), None, None).await {
            Ok(l) => match l.keys.first() {
                Some(k) => match t.bucket.probe_object(&k.key).await {
                    Ok(()) => say(true, format!("s3:GetObject on {}", k.key)),
                    Err(e) => say(false, e.to_string()),
                },
                None => say(true, "no file to read yet".into()),
            },
            Err(e) => say(false, e.to_string()),
        }
    }
    if let Some(keys) = &t.keys {
        // The digests are checked with the keys of each region they are in.
        let mut regions: Vec<&str> = places.iter().map(|p| p.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        for region in regions {
            match keys.probe(region).await {
                Ok(n) => say(true, format!("cloudtrail:ListPublicKeys in {region} ({n} keys; the trail's digests are checked with them)")),
                Err(e) => say(false, format!("{e} (the trail's digests cannot be checked without it; `verify_digests = false` turns the check off)")),
            }
        }
    }
    if let Some(q) = &t.queue {
        match q.probe().await {
            Ok(n) => say(true, format!("sqs:ReceiveMessage on {} ({n} waiting; sqs:DeleteMessage is needed too and cannot be probed without deleting)", q.url)),
            Err(e) => say(false, e.to_string()),
        }
    }
    failed
}

pub(super) fn run(a: CheckArgs) -> Result<ExitCode, CmdError> {
    let s = a.config.load()?;
    crate::logging::init(s.log_format, s.log_level.as_deref(), "warn");
    let rt = super::common::runtime()?;
    rt.block_on(async {
        let problems = super::common::runnable_problems(&s, a.skip_secrets);
        if !problems.is_empty() {
            eprintln!(
                "trailwatch: {}: the configuration parses, but `run` would refuse it:",
                s.path.display()
            );
            for p in &problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::from(2));
        }
        println!("{}: configuration is valid", s.path.display());
        if !say_missing_credentials(&s).await {
            return Ok(ExitCode::from(1));
        }
        let plan = plan(&s).await;
        say_plan(&s, &plan);
        let mut failed = run_rule_tests(&s);
        failed |= say_unloaded_credentials(&s);
        if a.probe {
            failed |= probe_sources(&plan).await;
            failed |= probe_sinks(&s).await;
        }
        Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Says which AWS sources find no credentials at all, and how to give them; false when one
/// does not (nothing could be read: the plan would only repeat that failure).
async fn say_missing_credentials(s: &Settings) -> bool {
    let mut asked: Vec<&crate::source::aws::AwsAccess> = Vec::new();
    let mut ok = true;
    for spec in &s.sources {
        if matches!(spec.kind, SourceKind::Files { .. }) || asked.contains(&&spec.access) {
            continue;
        }
        asked.push(&spec.access);
        if let Some(why) = crate::source::aws::no_credentials(&spec.access, "us-east-1").await {
            ok = false;
            eprintln!("trailwatch: source '{}': {why}", spec.name);
        }
    }
    if !ok {
        eprintln!(
            "trailwatch: check failed: AWS sources need credentials; {}",
            crate::source::aws::HOW_TO_GIVE_CREDENTIALS
        );
    }
    ok
}

/// Prints the plan and every warning about it.
fn say_plan(s: &Settings, plan: &Plan) {
    print!("{}", plan.text);
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    if s.sources.is_empty() {
        println!("warning: no [[sources]]: run would watch nothing");
    }
    if s.sinks.is_empty() {
        println!("warning: no [[sinks]]: alerts would go nowhere");
    }
    for r in s.rules.enabled() {
        if let Some(why) = &r.inert {
            println!("warning: rule '{}' can never match: {why}", r.name);
        }
    }
    say_quiet(s, jiff::Timestamp::now());
    say_set_aside(s);
    say_endpoint(s);
}

/// Where the operator endpoint listens, and who may see its pages.
fn say_endpoint(s: &Settings) {
    let Some(addr) = s.metrics_address else {
        println!("operator endpoint: off (metrics_address sets it: the status page, /metrics, /healthz, /readyz)");
        return;
    };
    let who = match &s.operator_token {
        Some(t) => format!(
            "the pages ask for operator_token ({}) as Authorization: Bearer; /metrics, /healthz and /readyz are open",
            t.origin()
        ),
        None => "open to this host (loopback); from elsewhere, an SSH tunnel".into(),
    };
    println!("operator endpoint: http://{addr}/ (the status page), /alerts, /metrics, /healthz, /readyz: {who}");
}

/// Shadow rules, and every exception: in force until when, or ended (no longer applied).
fn say_quiet(s: &Settings, now: jiff::Timestamp) {
    for r in s.rules.enabled() {
        if r.mode == crate::rules::quiet::Mode::Shadow {
            println!(
                "rule '{}' runs in shadow mode: its alerts are recorded (alerts list), not delivered",
                r.name
            );
        }
        for x in &r.exceptions {
            let day = x.until.strftime("%Y-%m-%d %H:%M UTC");
            if x.active(now) {
                println!(
                    "exception of rule '{}' until {day} ({}): {}",
                    r.name,
                    x.when.describe(),
                    x.reason
                );
            } else {
                println!(
                    "warning: the exception of rule '{}' ({}) ended {day} and no longer applies: {} — remove it or give it a new end",
                    r.name,
                    x.when.describe(),
                    x.reason
                );
            }
        }
    }
}

/// When each place's digests were last verified, and the `s3` sources that check digests but
/// verified none yet (is log file validation on?).
fn say_digests(s: &Settings, links: Vec<(crate::state::ChainId, crate::state::Link)>) {
    let now = jiff::Timestamp::now();
    for spec in &s.sources {
        if spec.verifies_digests() && !links.iter().any(|((src, _, _), _)| *src == spec.name) {
            println!(
                "digests: source '{}': none verified yet. Is log file validation on for the trail? `aws cloudtrail get-trail --name TRAIL` shows LogFileValidationEnabled; `aws cloudtrail update-trail --name TRAIL --enable-log-file-validation` turns it on (its first digest comes within the hour)",
                spec.name
            );
        }
    }
    for ((source, stream, chain), l) in links {
        let at = crate::when::from_millis(l.verified_ms);
        println!(
            "digests: source '{source}' {} ({chain}): last verified {} ({}), up to {}",
            stream.trim_end_matches("/digests"),
            at,
            crate::when::ago(now, at),
            crate::when::from_millis(l.end_ms)
        );
    }
}

/// The S3 objects the state holds set aside because they could not be read.
fn say_set_aside(s: &Settings) {
    // A shared state's folder is a cache; `state show` reads the table.
    if let Some(cfg) = &s.instances {
        let holder = match crate::instances::setup::holder(cfg) {
            Ok(Some(h)) => format!("instance {h} holds the lease"),
            Ok(None) => "no instance holds the lease now".into(),
            Err(e) => format!("the lease cannot be read: {e}"),
        };
        println!(
            "state: shared in DynamoDB table {} in {} as instance {} (lease {}s); {holder}",
            cfg.table,
            cfg.region,
            cfg.instance,
            cfg.lease.as_secs()
        );
        return;
    }
    if !s.state_dir.join("db").exists() {
        say_digests(s, Vec::new());
        return;
    }
    match crate::state::State::open(&s.state_dir) {
        Ok(st) => {
            for a in st.all_aside().unwrap_or_default() {
                println!(
                    "warning: source '{}' ({}): {} could not be read and is set aside ({} tries since {}): {}",
                    a.source, a.stream, a.key, a.tries, a.since, a.error
                );
            }
            say_digests(s, st.chain_links().unwrap_or_default());
        }
        Err(crate::state::StateError::Locked(_)) => println!(
            "state: {} is in use by the running daemon (its metrics and /readyz say whether objects are set aside and when digests were verified)",
            s.state_dir.display()
        ),
        Err(e) => println!("warning: {e}"),
    }
}

/// The rules' own tests (a rule that fails its tests would miss what it promises); true when
/// one failed.
fn run_rule_tests(s: &Settings) -> bool {
    let tests = crate::rules::testing::run_all(&s.rules);
    let mut failed = false;
    for o in tests.iter().filter(|o| !o.passed) {
        failed = true;
        println!("rule test FAILED: {} / {}: {}", o.rule, o.test, o.why);
    }
    println!(
        "rule tests: {} of {} passed",
        tests.iter().filter(|o| o.passed).count(),
        tests.len()
    );
    if failed {
        eprintln!("trailwatch: check failed: a rule does not do what its tests say (above)");
    }
    failed
}

/// One call per AWS API of every source (a folder is looked at); true when one failed.
async fn probe_sources(plan: &Plan) -> bool {
    let mut failed = false;
    for (spec, opened) in &plan.sources {
        if let source::SourceKind::Files { path } = &spec.kind {
            let ok = path.is_dir() && std::fs::read_dir(path).is_ok();
            let verdict = if ok {
                "is readable"
            } else {
                "is NOT a readable folder"
            };
            println!("probe source '{}': {} {verdict}", spec.name, path.display());
            failed |= !ok;
            continue;
        }
        let Some(opened) = opened else {
            failed = true;
            println!(
                "probe source '{}': FAILED: it could not be opened",
                spec.name
            );
            continue;
        };
        failed |= probe_more(spec, opened).await;
        for st in &opened.streams {
            match st.probe().await {
                Ok(_) => println!("probe source '{}' ({}): ok", spec.name, st.name),
                Err(e) => {
                    failed = true;
                    println!("probe source '{}' ({}): FAILED: {e}", spec.name, st.name);
                }
            }
        }
    }
    failed
}

/// Reaches every sink without sending anything; true when one failed.
async fn probe_sinks(s: &Settings) -> bool {
    let mut failed = false;
    for k in &s.sinks {
        let r = match Sink::open(k) {
            Ok(sink) => sink.probe().await,
            Err(e) => Err(e.problem.to_string()),
        };
        match r {
            Ok(m) => println!("probe sink '{}': ok: {m}", k.name),
            Err(e) => {
                failed = true;
                println!("probe sink '{}': FAILED: {e}", k.name);
            }
        }
    }
    failed
}

/// The systemd credentials the installed unit loads (`LoadCredential=`,
/// `LoadCredentialEncrypted=`, `SetCredential=` in `trailwatch.service` and its drop-ins), or
/// `None` when no unit is installed here. The unit search path is `$SYSTEMD_UNIT_PATH` (as
/// systemd reads it), else systemd's folders.
fn unit_credentials() -> Option<Vec<String>> {
    let dirs: Vec<PathBuf> = match std::env::var("SYSTEMD_UNIT_PATH") {
        Ok(p) if !p.is_empty() => p.split(':').map(PathBuf::from).collect(),
        _ => [
            "/etc/systemd/system",
            "/run/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
        ]
        .map(PathBuf::from)
        .to_vec(),
    };
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.join("trailwatch.service"))
        .filter(|f| f.is_file())
        .collect();
    if files.is_empty() {
        return None;
    }
    for d in &dirs {
        if let Ok(rd) = std::fs::read_dir(d.join("trailwatch.service.d")) {
            files.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "conf")),
            );
        }
    }
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for line in text.lines().map(str::trim) {
            let value = [
                "LoadCredential=",
                "LoadCredentialEncrypted=",
                "SetCredential=",
            ]
            .iter()
            .find_map(|k| line.strip_prefix(k));
            if let Some(name) = value.and_then(|v| v.split(':').next()) {
                names.push(name.trim().to_string());
            }
        }
    }
    Some(names)
}

/// Sinks whose secrets are systemd credentials the installed service does not load: it
/// would refuse to start. One line each, with the drop-in that fixes it; true when any.
fn say_unloaded_credentials(s: &Settings) -> bool {
    // Under the service itself, what it loads is what it has.
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_some() {
        return false;
    }
    let Some(loaded) = unit_credentials() else {
        return false;
    };
    let mut failed = false;
    if let Some(name) = s.operator_token.as_ref().and_then(|t| t.credential()) {
        if !loaded.iter().any(|l| l == name) {
            failed = true;
            eprintln!(
                "trailwatch: operator_token reads credential:{name}, which the installed service does not load (its unit has no LoadCredential={name}:…): the service would not start. Add it: `sudo systemctl edit trailwatch`, then\n  [Service]\n  LoadCredential={name}:/etc/trailwatch/credentials/{name}\nand put the token in /etc/trailwatch/credentials/{name} (mode 0600)"
            );
        }
    }
    for k in &s.sinks {
        for name in k.credentials() {
            if !loaded.contains(&name) {
                failed = true;
                eprintln!(
                    "trailwatch: sink '{}' reads credential:{name}, which the installed service does not load (its unit has no LoadCredential={name}:…): the service would not start. Add it: `sudo systemctl edit trailwatch`, then\n  [Service]\n  LoadCredential={name}:/etc/trailwatch/credentials/{name}\nand put the value in /etc/trailwatch/credentials/{name} (mode 0600)",
                    k.name
                );
            }
        }
    }
    failed
}
