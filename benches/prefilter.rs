//! How fast the literal prefilter finds a record's candidate rules (the checker's walk of every
//! byte, and the judging of each rule's clauses), one thread, over the lines of a JSON Lines
//! file: `cargo bench --bench prefilter -- FILE [RULES]` (RULES as `scan --rules` takes them;
//! default `default,cis,threats,tests/sigma`). Then the rules with the most candidate records
//! (each one parsed and judged). BENCHMARKS.md quotes it.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo bench --bench prefilter -- FILE.jsonl [RULES]");
        return;
    };
    let rules = args
        .get(1)
        .map_or("default,cis,threats,tests/sigma", String::as_str);
    let data = std::fs::read(path).expect("readable file");
    let mut set = trailwatch::rules::RuleSet::default();
    for spec in rules.split(',') {
        set.add_spec(spec).expect("rules load");
    }
    let eval = trailwatch::rules::Evaluator::new(set);
    let lines: Vec<&[u8]> = (data.split(|&b| b == b'\n'))
        .filter(|l| !l.is_empty())
        .collect();
    let mut cands = Vec::new();
    let (secs, candidates) = (0..3)
        .map(|_| {
            let t = Instant::now();
            let n = (lines.iter())
                .filter(|l| eval.screen(l, &mut cands))
                .count();
            (t.elapsed().as_secs_f64(), n)
        })
        .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a });
    println!(
        "{rules}: {} records, {candidates} candidates, {:.2} ns per byte, {:.0} MB/s (best of 3, 1 thread)",
        lines.len(),
        secs * 1e9 / data.len() as f64,
        data.len() as f64 / 1e6 / secs
    );
    // Which rules make records candidates: each such record is parsed and judged, so these
    // are where a scan's time goes when it is slow.
    let mut per_rule = vec![0usize; eval.rule_count()];
    for l in &lines {
        if eval.screen(l, &mut cands) {
            (per_rule.iter_mut().zip(&cands))
                .filter(|(_, c)| **c)
                .for_each(|(n, _)| *n += 1);
        }
    }
    let mut ranked: Vec<(usize, &str)> = (per_rule.into_iter())
        .zip(eval.enabled().map(|r| r.name.as_str()))
        .collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    println!("the rules with the most candidate records:");
    for (n, name) in ranked.iter().take(8) {
        println!(
            "  {n:>9} ({:.0}%) {name}",
            100.0 * *n as f64 / lines.len() as f64
        );
    }
}
