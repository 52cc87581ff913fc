//! How fast serde_json merely parses a JSON Lines file, the baseline beside `trailwatch scan`
//! in BENCHMARKS.md: `cargo bench --bench parse_rate -- FILE`.

use std::time::Instant;

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (f64, usize) {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let n = f();
            (t.elapsed().as_secs_f64(), n)
        })
        .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a })
}

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        eprintln!("usage: cargo bench --bench parse_rate -- FILE.jsonl");
        return;
    };
    let data = std::fs::read(&path).expect("readable file");
    let mb = data.len() as f64 / 1e6;
    let lines = || data.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let (t, n) = best_of(3, || {
        lines()
            .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
            .count()
    });
    println!(
        "serde_json IgnoredAny (validate only), 1 thread: {n} records, {:.0} MB/s",
        mb / t
    );
    let (t, n) = best_of(3, || {
        lines()
            .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok())
            .count()
    });
    println!(
        "serde_json Value (full tree), 1 thread: {n} records, {:.0} MB/s",
        mb / t
    );
}
