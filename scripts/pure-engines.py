#!/usr/bin/env python3
"""The pattern engines (src/pattern/) are pure functions over JSON that any tool could reuse:
no AWS, no tokio, no I/O, nothing of trailwatch outside src/pattern/ (docs/architecture.md).
The integrity checks (src/integrity/: a digest's signed text, its signature, its findings) are
held to the same: pure functions over bytes, nothing of trailwatch outside src/integrity/ (the
crypto crate aws-lc-rs is not AWS's SDK). This check reads their sources and names every line
that breaks that.

Usage: scripts/pure-engines.py [--self-test]   (exit 1 when a line breaks it)
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rust_source import strip, without_test_items  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# What an engine may not name: crates of AWS and async, I/O, the rest of trailwatch.
def forbidden(room):
    """What the pure module `room` (under src/) may not name."""
    return [
        (re.compile(r"\baws_(?!lc_rs\b)[a-z0-9_]+::"), "an AWS crate"),
        (re.compile(r"\btokio::"), "tokio"),
        (re.compile(r"\breqwest::|\bhyper::|\blettre::|\bsled::"), "a network or storage crate"),
        (re.compile(r"\bstd::(fs|process)\b|\bstd::net::(Tcp|Udp|ToSocketAddrs)"), "I/O (files, sockets, processes)"),
        (re.compile(rf"\bcrate::(?!{room}\b)[a-z_]+"), f"trailwatch outside src/{room}"),
    ]


# The pure modules.
ROOMS = ["pattern", "integrity"]


def violations(text, name, room="pattern"):
    """Every line of `text` that names what an engine may not. Comments and strings are not
    code; an item marked `#[cfg(test)]` (tests may read files) is skipped alone, wherever it
    stands, and the code after it is read."""
    out = []
    code_lines = without_test_items(strip(text)).splitlines()
    for n, (line, code) in enumerate(zip(text.splitlines(), code_lines), 1):
        if not code.strip():
            continue
        for pattern, what in forbidden(room):
            if pattern.search(code):
                out.append(f"{name}:{n}: {what}: {line.strip()}")
    return out


def self_test():
    bad = ("use crate::pattern::literals::Encoding;\nuse tokio::sync::Mutex;\nfn f() { std::fs::read(\"x\"); }\n"
           "use crate::rules::Rule;\n// crate::state is fine in a comment\nconst S: &str = \"std::fs in a string\";\n"
           "struct P {\n    #[cfg(test)]\n    probe: std::fs::File,\n}\nuse crate::state::State;\n"
           "#[cfg(test)]\nmod tests { fn t() { std::fs::read(\"y\"); } }\n")
    found = violations(bad, "planted.rs")
    assert len(found) == 4, found
    assert any("tokio" in f for f in found) and any("I/O" in f for f in found)
    assert any("outside src/pattern" in f and "rules" in f for f in found)
    assert any("crate::state::State" in f for f in found), "the line below a test field is read"
    integrity = ("use aws_lc_rs::signature::UnparsedPublicKey;\nuse crate::integrity::finding::Finding;\n"
                 "use aws_sdk_s3::Client;\nuse crate::state::State;\n")
    found = violations(integrity, "planted.rs", "integrity")
    assert len(found) == 2, found
    assert any("AWS crate" in f and "aws_sdk_s3" in f for f in found)
    assert any("outside src/integrity" in f and "crate::state" in f for f in found)
    print("self-test: in src/integrity, the planted aws_sdk_s3 and crate::state lines are found; aws-lc-rs and crate::integrity are not")
    print("self-test: the planted tokio, std::fs, crate::rules and (below a #[cfg(test)] field) crate::state lines are found; the comment, the string, the test field and the test module are not")


def main():
    if "--self-test" in sys.argv:
        self_test()
        return 0
    found, read = [], 0
    for room in ROOMS:
        files = sorted((ROOT / "src" / room).rglob("*.rs"))
        read += len(files)
        for f in files:
            if f.name == "tests.rs":
                continue
            found += violations(f.read_text(), str(f.relative_to(ROOT)), room)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} lines make a pure module ({', '.join(ROOMS)}) impure", file=sys.stderr)
        return 1
    print(f"the pattern engines and the integrity checks are pure ({read} files read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
