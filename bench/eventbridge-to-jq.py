#!/usr/bin/env python3
"""Translates the event-pattern rules that `trailwatch rules list --json` prints (on stdin) into
one jq selection over CloudTrail records, the baseline of bench/scan-vs-jq.sh for packs written
in EventBridge's language. It covers the operators the built-in packs use: value lists, exists,
prefix, suffix, numeric, wildcard, anything-but (values, prefix, wildcard), $or and nested objects, with
EventBridge's array flattening (a path through arrays matches when any element does).
Exclusions are applied; rules that can never match (an empty variable) are left out.

Usage: trailwatch rules list --json --rules threats | bench/eventbridge-to-jq.py [--skip-threshold]
       [--with FILE.jq ...]   (FILE.jq: another `select(...)` selection to OR in, with its defs)
"""

import json
import re
import sys

HELPERS = r"""# EventBridge semantics in jq: the values at a path, arrays flattened at every step.
def ev_at($p): reduce $p[] as $k ([.]; [.[] | if type == "array" then .[] else . end
  | objects | select(has($k)) | .[$k]]) | [.[] | if type == "array" then .[] else . end];
def ev_wild($w): "^" + ($w | [splits("(?<!\\\\)\\*")] | map(gsub("\\\\\\*"; "*")
  | gsub("(?<c>[.+?^${}()|\\[\\]\\\\/*])"; "\\\(.c)")) | join(".*")) + "$";
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
    skip_threshold = "--skip-threshold" in args
    others = [args[i + 1] for i, a in enumerate(args) if a == "--with"]
    preds = []
    for line in sys.stdin:
        r = json.loads(line)
        if not r["enabled"] or r["inert"] or (skip_threshold and r["threshold"]):
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
