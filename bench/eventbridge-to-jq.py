#!/usr/bin/env python3
"""Translates the event-pattern rules that `trailwatch rules list --json` prints (on stdin) into
one jq selection over CloudTrail records, the baseline of bench/scan-vs-jq.sh for packs written
in EventBridge's language. It covers the operators the built-in packs use: value lists, exists,
prefix, suffix, numeric, cidr, wildcard, anything-but (values, prefix, suffix, wildcard), $or and nested
objects, with EventBridge's array flattening (a path through arrays matches when any element
does). Exclusions are applied; rules that can never match (an empty variable) are left out.
Threshold and first-seen rules become plain selections (jq keeps no counts and no sightings);
--skip-stateful leaves them out instead (to compare the records selected with trailwatch's).

Usage: trailwatch rules list --json --rules threats | bench/eventbridge-to-jq.py [--skip-stateful]
       [--with FILE.jq ...]   (FILE.jq: another `select(...)` selection to OR in, with its defs)
"""

import ipaddress
import json
import sys

HELPERS = r"""# EventBridge semantics in jq: the values at a path, arrays flattened at every step.
def ev_at($p): reduce $p[] as $k ([.]; [.[] | if type == "array" then .[] else . end
  | objects | select(has($k)) | .[$k]]) | [.[] | if type == "array" then .[] else . end];
def ev_wild($w): "^" + ($w | [splits("(?<!\\\\)\\*")] | map(gsub("\\\\\\*"; "*")
  | gsub("(?<c>[.+?^${}()|\\[\\]\\\\/*])"; "\\\(.c)")) | join(".*")) + "$";
# cidr: an IP literal (as a string) inside a block, IPv4 and IPv6 apart (addresses written
# with an IPv4 tail, `::ffff:1.2.3.4`, are not read as IPv6 here).
def ev_ip4: if type == "string" and test("^(0|[1-9][0-9]{0,2})([.](0|[1-9][0-9]{0,2})){3}$")
  then split(".") | map(tonumber) | if all(.[]; . <= 255)
    then .[0] * 16777216 + .[1] * 65536 + .[2] * 256 + .[3] else null end
  else null end;
def ev_hex: ascii_downcase | explode
  | reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end));
def ev_groups: if . == "" then [] else split(":") end;
def ev_ip6: if type == "string" and test("^[0-9A-Fa-f:]+$") and test(":") then
    (if test("::") then split("::")
      | if length != 2 then null
        else (.[0] | ev_groups) as $a | (.[1] | ev_groups) as $b
          | if ($a + $b | length) > 7 then null else $a + [range(8 - ($a + $b | length)) | "0"] + $b end
        end
     else split(":") end)
    | if . == null or length != 8 or any(.[]; length == 0 or length > 4) then null
      else map(ev_hex) end
  else null end;
def ev_cidr4($n; $bits): ev_ip4 as $a | $a != null
  and (($a / pow(2; 32 - $bits)) | floor) == (($n / pow(2; 32 - $bits)) | floor);
def ev_cidr6($n; $bits): ev_ip6 as $a | $a != null and all(range(8); . as $i
  | ($bits - 16 * $i) as $r
  | if $r >= 16 then $a[$i] == $n[$i] elif $r <= 0 then true
    else (($a[$i] / pow(2; 16 - $r)) | floor) == (($n[$i] / pow(2; 16 - $r)) | floor) end);
"""


def jq_str(s):
    return json.dumps(s, ensure_ascii=False)


def leaf(path, matchers):
    """jq for `any value at path matches any of matchers`."""
    p = jq_str(path)
    ors = []
    for m in matchers:
        if isinstance(m, dict):
            (op, arg), = m.items()
            if op == "exists":
                ors.append(f"(ev_at({p}) | length {'>' if arg else '=='} 0)")
            elif op == "prefix":
                ors.append(f"any(ev_at({p})[]; type == \"string\" and startswith({jq_str(arg)}))")
            elif op == "suffix":
                ors.append(f"any(ev_at({p})[]; type == \"string\" and endswith({jq_str(arg)}))")
            elif op == "numeric":
                conds = " and ".join(f". {o} {jq_str(n)}" for o, n in zip(arg[::2], arg[1::2]))
                ors.append(f"any(ev_at({p})[]; type == \"number\" and {conds})")
            elif op == "cidr":
                net = ipaddress.ip_network(arg, strict=False)
                if net.version == 4:
                    test = f"ev_cidr4({int(net.network_address)}; {net.prefixlen})"
                else:
                    groups = [int(net.network_address) >> (16 * (7 - i)) & 0xFFFF for i in range(8)]
                    test = f"ev_cidr6({json.dumps(groups)}; {net.prefixlen})"
                ors.append(f"any(ev_at({p})[]; {test})")
            elif op == "wildcard":
                ors.append(f"any(ev_at({p})[]; type == \"string\" and test(ev_wild({jq_str(arg)})))")
            elif op == "anything-but":
                if isinstance(arg, dict):
                    (op2, arg2), = arg.items()
                    vals = arg2 if isinstance(arg2, list) else [arg2]
                    if op2 == "wildcard":
                        cond = " or ".join(f"test(ev_wild({jq_str(v)}))" for v in vals)
                    elif op2 == "prefix":
                        cond = " or ".join(f"startswith({jq_str(v)})" for v in vals)
                    elif op2 == "suffix":
                        cond = " or ".join(f"endswith({jq_str(v)})" for v in vals)
                    else:
                        raise SystemExit(f"unsupported anything-but {op2}")
                    ors.append(f"any(ev_at({p})[]; type == \"string\" and (({cond}) | not))")
                else:
                    vals = arg if isinstance(arg, list) else [arg]
                    ors.append(f"any(ev_at({p})[]; . as $v | {jq_str(vals)} | index([$v]) | not)")
            else:
                raise SystemExit(f"unsupported operator {op}")
        else:
            ors.append(f"any(ev_at({p})[]; . == {jq_str(m)})")
    return "(" + " or ".join(ors) + ")"


def obj(path, pattern):
    ands = []
    for k, v in pattern.items():
        if k == "$or":
            ands.append("(" + " or ".join(obj(path, alt) for alt in v) + ")")
        elif isinstance(v, dict):
            ands.append(obj(path + [k], v))
        else:
            ands.append(leaf(path + [k], v))
    return "(" + " and ".join(ands) + ")" if ands else "true"


def envelope(pattern):
    """The record-level predicate of an EventBridge pattern over the CloudTrail envelope."""
    ands = []
    for k, v in pattern.items():
        if k == "detail":
            ands.append(obj([], v))
        elif k == "source":
            srcs = [s[4:] + ".amazonaws.com" for s in v]
            ands.append(f"(.eventSource as $s | {jq_str(srcs)} | index([$s]))")
        elif k == "detail-type":
            ands.append("true")
        else:
            raise SystemExit(f"unsupported envelope key {k}")
    return "(" + " and ".join(ands) + ")"


def main():
    args = sys.argv[1:]
    skip_stateful = "--skip-stateful" in args
    others = [args[i + 1] for i, a in enumerate(args) if a == "--with"]
    preds = []
    for line in sys.stdin:
        r = json.loads(line)
        stateful = r["threshold"] or r["first_seen"]
        if not r["enabled"] or r["inert"] or (skip_stateful and stateful):
            continue
        if r["language"] != "event_pattern":
            raise SystemExit(f"{r['name']}: only event patterns are translated")
        pred = envelope(json.loads(r["pattern"]))
        for x in r["exclude"]:
            pred += f" and ({envelope(json.loads(x))} | not)"
        preds.append(f"  # {r['name']}\n  ({pred})")
    defs, bodies = [], []
    for f in others:
        text = open(f).read()
        head, _, body = text.partition("select(")
        defs.append("\n".join(l for l in head.splitlines() if not l.startswith("#")))
        bodies.append("  (" + body.rstrip().removesuffix(")").strip() + ")")
    print("# Generated by bench/eventbridge-to-jq.py; do not edit.")
    print(HELPERS + "\n".join(d for d in defs if d.strip()))
    print("select(\n" + "\n  or\n".join(bodies + preds) + "\n)")


if __name__ == "__main__":
    main()
