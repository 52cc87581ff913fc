#!/usr/bin/env python3
"""Things written in one place only (docs/architecture.md), and every line that breaks that:

- a "trailwatch-…" literal (the names of trailwatch's own alerts and what it makes) outside
  src/names.rs;
- gzip's magic bytes (0x1f, 0x8b) outside src/format/ (gzip is told by format::is_gzip);
- an AWS error recognised by its text (`.message.contains("NoSuchKey")`: a code looked for in
  a message) outside src/source/aws/error.rs: errors are matched by type (ApiError::is,
  is_condition_failed).

Whole files are read, tests included (a test that spells a name spells it where it may drift).

Usage: scripts/one-place.py [--self-test]   (exit 1 when a line breaks a rule)
"""
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (pattern, the one place it may be written, what it is)
RULES = [
    (re.compile(r'\\?"trailwatch-'), "src/names.rs", 'a "trailwatch-" name (use names::OwnAlert or a constant of src/names.rs)'),
    (re.compile(r"0x1f,\s*0x8b|\\x1f\\x8b"), "src/format/", "gzip's magic bytes (use format::is_gzip)"),
    (re.compile(r'\.message\s*\.contains\("[A-Z][A-Za-z]+'), "src/source/aws/error.rs", "an error recognised by its text (match its code: ApiError::is)"),
]


def violations(root):
    out = []
    for f in sorted((root / "src").rglob("*.rs")):
        rel = f.relative_to(root).as_posix()
        for n, line in enumerate(f.read_text().splitlines(), 1):
            for pattern, home, what in RULES:
                if pattern.search(line) and not rel.startswith(home):
                    out.append(f"{rel}:{n}: {what}: {line.strip()}")
    return out


def self_test():
    planted = {
        "src/names.rs": 'pub const X: &str = "trailwatch-health";\n',
        "src/format/file.rs": "const MAGIC: [u8; 2] = [0x1f, 0x8b];\n",
        "src/source/aws/error.rs": 'fn f(e: &E) -> bool { e.message.contains("x") }\n',
        "src/daemon/own.rs": 'const R: &str = "trailwatch-late-event";\n',
        "src/poll/object.rs": "let gz = head.starts_with(&[0x1f, 0x8b]);\n",
        "src/instances/table.rs": 'Err(e) if e.message.contains("ConditionalCheckFailed") => {}\n',
        "src/config/test.rs": 'let t = "role = \\"trailwatch-reader\\"";\n',
    }
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for name, text in planted.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        found = violations(root)
    places = sorted(f.split(":")[0] for f in found)
    want = ["src/config/test.rs", "src/daemon/own.rs", "src/instances/table.rs", "src/poll/object.rs"]
    assert places == want, found
    print("self-test: the planted name, magic bytes and error text outside their places are found; those in their places are not")


def main():
    if "--self-test" in sys.argv:
        self_test()
        return 0
    found = violations(ROOT)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} lines write outside its one place what belongs there", file=sys.stderr)
        return 1
    print("names, gzip's magic bytes and error codes are each written in one place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
