#!/usr/bin/env python3
"""The pattern engines (src/pattern/) are pure functions over JSON that any tool could reuse:
no AWS, no tokio, no I/O, nothing of trailwatch outside src/pattern/ (docs/architecture.md).
This check reads their sources and names every line that breaks that.

Usage: scripts/pure-engines.py [--self-test]   (exit 1 when a line breaks it)
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rust_source import strip, without_test_items  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# What an engine may not name: crates of AWS and async, I/O, the rest of trailwatch.
FORBIDDEN = [
    (re.compile(r"\baws_[a-z_]+::"), "an AWS crate"),
    (re.compile(r"\btokio::"), "tokio"),
    (re.compile(r"\breqwest::|\bhyper::|\blettre::|\bsled::"), "a network or storage crate"),
    (re.compile(r"\bstd::(fs|process)\b|\bstd::net::(Tcp|Udp|ToSocketAddrs)"), "I/O (files, sockets, processes)"),
    (re.compile(r"\bcrate::(?!pattern\b)[a-z_]+"), "trailwatch outside src/pattern"),
]


def violations(text, name):
    """Every line of `text` that names what an engine may not. Comments and strings are not
    code; an item marked `#[cfg(test)]` (tests may read files) is skipped alone, wherever it
    stands, and the code after it is read."""
    out = []
    code_lines = without_test_items(strip(text)).splitlines()
    for n, (line, code) in enumerate(zip(text.splitlines(), code_lines), 1):
        if not code.strip():
            continue
        for pattern, what in FORBIDDEN:
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
    print("self-test: the planted tokio, std::fs, crate::rules and (below a #[cfg(test)] field) crate::state lines are found; the comment, the string, the test field and the test module are not")


def main():
    if "--self-test" in sys.argv:
        self_test()
        return 0
    files = sorted((ROOT / "src/pattern").rglob("*.rs"))
    found = []
    for f in files:
        if f.name == "tests.rs":
            continue
        found += violations(f.read_text(), str(f.relative_to(ROOT)))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} lines make a pattern engine impure", file=sys.stderr)
        return 1
    print(f"the pattern engines are pure ({len(files)} files read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
