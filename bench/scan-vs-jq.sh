#!/usr/bin/env bash
# Times `trailwatch scan` against jq doing the same selection, in the same run, on a JSON Lines
# corpus made by replicating ../shared/corpus (default 100 copies, about 366 MB).
# Usage: bench/scan-vs-jq.sh [COPIES]      Results: a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-100}
corpus=../shared/corpus/invictus-aws-dataset
data=bench/data
mkdir -p "$data"
# The gzipped copies have a folder per count: a run with another count must not change what
# this one reads.
one=$data/once.jsonl big=$data/corpus-x$copies.jsonl gz=$data/gz-x$copies
if [ ! -s "$big" ] || [ ! -d "$gz" ]; then
  jq -c '.Records[]' "$corpus"/*.json > "$one"
  for _ in $(seq "$copies"); do cat "$one"; done > "$big"
  gzip -1 -c "$one" > "$data/once.jsonl.gz"
  rm -rf "$gz" && mkdir -p "$gz"
  for i in $(seq "$copies"); do cp "$data/once.jsonl.gz" "$gz/part-$i.jsonl.gz"; done
fi
cargo build --release --quiet
tw=target/release/trailwatch
mb=$(( $(stat -c %s "$big") / 1000000 ))
cores=$(nproc)

best() { # best wall time of 3 runs, in seconds
  local b=999999 s e t
  for _ in 1 2 3; do
    s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l); b=$(echo "if ($t < $b) $t else $b" | bc -l)
  done
  printf '%.3f' "$b"
}
row() { # label seconds [baseline-seconds]
  local rate ratio=""
  rate=$(echo "$mb / $2" | bc -l)
  [ -n "${3:-}" ] && ratio=$(printf '%.1f×' "$(echo "$3 / $2" | bc -l)")
  printf '| %s | %s s | %.0f MB/s | %s |\n' "$1" "$2" "$rate" "$ratio"
}
check() { # two commands must select the same number of records
  local a b; a=$(bash -c "$1" | wc -l); b=$(bash -c "$2" | wc -l)
  [ "$a" = "$b" ] || { echo "mismatch: $a vs $b matches" >&2; exit 1; }
  echo "$a"
}

n_default=$(check "jq -c -f bench/default.jq $big" "$tw scan $big")
n_cis=$(jq -c -f bench/cis.jq "$big" | wc -l)
n_cis_tw=$($tw scan --rules cis "$big" | jq -r .location | sort -u | wc -l)   # records, not (record, rule) pairs
[ "$n_cis" = "$n_cis_tw" ] || { echo "cis mismatch: jq $n_cis, trailwatch $n_cis_tw records" >&2; exit 1; }

# All three packs: the threats pack's event patterns translated to jq (bench/eventbridge-to-jq.py),
# ORed with default.jq and cis.jq. Threshold and first-seen rules are plain selections for jq
# (it keeps no counts and no sightings), so the records are compared on the threats rules
# that are neither.
$tw rules list --json --rules threats | python3 bench/eventbridge-to-jq.py --skip-stateful > "$data/threats-plain.jq"
$tw rules list --json --rules threats | python3 bench/eventbridge-to-jq.py --with bench/default.jq --with bench/cis.jq > "$data/all-packs.jq"
stateful=$($tw rules list --json --rules threats | jq -c -s '[.[] | select(.threshold != null or .first_seen != null) | .name]')
n_threats=$(jq -c -f "$data/threats-plain.jq" "$big" | wc -l)
n_threats_tw=$($tw scan --rules threats "$big" | jq -r --argjson s "$stateful" 'select(.rule | IN($s[]) | not) | .location' | sort -u | wc -l)
[ "$n_threats" = "$n_threats_tw" ] || { echo "threats mismatch: jq $n_threats, trailwatch $n_threats_tw records" >&2; exit 1; }

echo "Corpus: $big, $mb MB, $(wc -l < "$big") records; $cores cores; default matches $n_default, cis records $n_cis, threats records (no threshold or first-seen rule) $n_threats"
echo
echo "| command | wall (best of 3) | rate | vs jq |"
echo "|---|---|---|---|"
t_cat=$(best cat "$big"); row "cat (read the bytes)" "$t_cat"
t_jq=$(best jq -c -f bench/default.jq "$big"); row "jq, default selection" "$t_jq"
row "trailwatch scan, default, 1 thread" "$(best $tw scan -j1 "$big")" "$t_jq"
row "trailwatch scan, default, $cores threads" "$(best $tw scan "$big")" "$t_jq"
t_jqc=$(best jq -c -f bench/cis.jq "$big"); row "jq, cis selection" "$t_jqc"
row "trailwatch scan --rules cis, 1 thread" "$(best $tw scan -j1 --rules cis "$big")" "$t_jqc"
row "trailwatch scan --rules cis, $cores threads" "$(best $tw scan --rules cis "$big")" "$t_jqc"
t_jqa=$(best jq -c -f "$data/all-packs.jq" "$big"); row "jq, default+cis+threats selection" "$t_jqa"
row "trailwatch scan --rules default,cis,threats, 1 thread" "$(best $tw scan -j1 --rules default,cis,threats "$big")" "$t_jqa"
row "trailwatch scan --rules default,cis,threats, $cores threads" "$(best $tw scan --rules default,cis,threats "$big")" "$t_jqa"
# The three packs and Sigma rules (tests/sigma), against the same jq baseline (jq does less).
all_sigma=default,cis,threats,tests/sigma
row "trailwatch scan --rules default,cis,threats,tests/sigma, 1 thread" "$(best $tw scan -j1 --rules $all_sigma "$big")" "$t_jqa"
row "trailwatch scan --rules default,cis,threats,tests/sigma, $cores threads" "$(best $tw scan --rules $all_sigma "$big")" "$t_jqa"
row "trailwatch scan, default, no prefilter, $cores threads" "$(best $tw scan --no-prefilter "$big")" "$t_jq"
echo
echo "Gzipped input ($(ls "$gz" | wc -l) files of $(stat -c %s "$data/once.jsonl.gz") bytes, same records):"
echo
echo "| command | wall (best of 3) | rate (uncompressed) |"
echo "|---|---|---|"
t=$(best $tw scan -j1 "$gz"); printf '| trailwatch scan, 1 thread | %s s | %.0f MB/s |\n' "$t" "$(echo "$mb / $t" | bc -l)"
t=$(best $tw scan "$gz"); printf '| trailwatch scan, %s threads | %s s | %.0f MB/s |\n' "$cores" "$t" "$(echo "$mb / $t" | bc -l)"
echo
cargo bench --quiet --bench parse_rate -- "$big" 2>/dev/null | sed 's/^/- /'
