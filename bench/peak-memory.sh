#!/usr/bin/env bash
# Peak resident memory of `trailwatch run --once` (release, default limits) reading hostile
# files through a `files` source, against the same command on an empty folder, in one run:
#   records  a 14 MB gzip file inflating to 3 GiB of CreateUser records
#   string   a 3 MB gzip file inflating to one record whose userAgent is 3 GiB long
#   huge     a plain 200 MB delivery file holding one 200 MB record
# Usage: bench/peak-memory.sh      Results: a Markdown table on stdout. Needs /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
tw=$PWD/target/release/trailwatch
work=bench/data/peak-memory
mkdir -p "$work"
if [ ! -s "$work/huge/trail/huge.json" ]; then
  for c in empty records string huge; do mkdir -p "$work/$c/trail"; done
  python3 - "$work" <<'PY'
import json, sys, zlib
work = sys.argv[1]
rec = json.dumps({"eventVersion": "1.08", "userIdentity": {"type": "IAMUser",
    "arn": "arn:aws:iam::111122223333:user/mallory", "accountId": "111122223333",
    "userName": "mallory"}, "eventTime": "2026-11-22T00:00:00Z",
    "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventType": "AwsApiCall",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.1", "userAgent": "aws-cli/2",
    "requestParameters": {"userName": "x"}, "eventID": "bomb-1",
    "recipientAccountId": "111122223333"}, separators=(",", ":"))
head, tail = rec.split("aws-cli/2")
def gz(path, parts):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for p in parts:
            out.write(c.compress(p))
        out.write(c.flush())
unit = ((rec + ",") * 1000).encode()
gz(f"{work}/records/trail/records.json.gz",
   [b'{"Records":['] + [unit] * ((3 << 30) // len(unit) + 1) + [(rec + "]}").encode()])
mib = b"A" * (1 << 20)
gz(f"{work}/string/trail/string.json.gz",
   [('{"Records":[' + head).encode()] + [mib] * (3 << 10) + [(tail + "]}").encode()])
with open(f"{work}/huge/trail/huge.json", "w") as f:
    f.write('{"Records":[' + head + "U" * 200_000_000 + tail.replace("bomb-1", "huge-1") + "]}")
PY
  touch -d '2 minutes ago' "$work"/*/trail/*
fi
echo "| input | file size | peak RSS | wall time | alerts |"
echo "|---|---|---|---|---|"
for c in empty records string huge; do
  dir=$PWD/$work/$c
  rm -rf "$dir/state"
  printf 'state_dir = "%s/state"\n[[sources]]\nname = "files"\ntype = "files"\npath = "%s/trail"\n[[sinks]]\nname = "out"\ntype = "console"\n' "$dir" "$dir" > "$dir/c.toml"
  /usr/bin/time -o "$dir/time.txt" -f "%M %e" "$tw" run --once --config "$dir/c.toml" > "$dir/out.txt" 2> "$dir/err.txt"
  read -r kib secs < "$dir/time.txt"
  size=$(du -sh --apparent-size "$dir/trail" | cut -f1)
  alerts=$(grep -c '"eventID"\|eventID:' "$dir/out.txt" || true)
  printf '| %s | %s | %.1f MiB | %s s | %s |\n' "$c" "$size" "$(echo "$kib / 1024" | bc -l)" "$secs" "$alerts"
done
