#!/usr/bin/env python3
"""Lists the functions of src/ longer than the house allows (80 lines, from the `fn` line to its
closing brace, comments and blank lines included), longest first, or says there are none
(exit 1 when there is one). Items marked `#[cfg(test)]` (each one alone: the code after it is
read) and `tests.rs` files are left out.

Run: python3 scripts/long-functions.py [--max N] [--src DIR] [--top K]
     python3 scripts/long-functions.py --self-test   (proves it finds the functions it must)
"""
import pathlib, re, sys, tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from rust_source import strip, without_test_items  # noqa: E402

FN = re.compile(r"\bfn\s+([A-Za-z_]\w*)")


def functions(text):
    """(name, first line, last line) of every function with a body, nested ones included."""
    code = without_test_items(strip(text))
    out = []
    for m in FN.finditer(code):
        # The body opens at the first `{` at depth 0 of (), [] and <> after the signature; a
        # `;` first means a declaration without a body (a trait method, an extern fn).
        i, depth = m.end(), 0
        while i < len(code):
            c = code[i]
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif c == ";" and depth == 0:
                i = -1
                break
            elif c == "{" and depth == 0:
                break
            i += 1
        if i < 0 or i >= len(code):
            continue
        braces, j = 0, i
        while j < len(code):
            if code[j] == "{":
                braces += 1
            elif code[j] == "}":
                braces -= 1
                if braces == 0:
                    break
            j += 1
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, j) + 1
        out.append((m.group(1), first, last))
    return out


def check(src, limit, top=None, out=print):
    long = []
    for p in sorted(src.rglob("*.rs")):
        if p.name == "tests.rs":  # a `#[cfg(test)] mod tests;` of its folder
            continue
        for name, a, b in functions(p.read_text()):
            n = b - a + 1
            if n > limit:
                long.append((n, f"{p.relative_to(src.parent) if src.parent in p.parents else p}:{a}", name))
    long.sort(reverse=True)
    for n, where, name in long[:top]:
        out(f"{where}: fn {name} is {n} lines (at most {limit})")
    if not long:
        out(f"no function over {limit} lines")
    return len(long)


def self_test():
    body = "\n".join(f"    let x{i} = {i};" for i in range(85))
    cases = {
        "long": (f"fn long() {{\n{body}\n}}\n", "fn long is 87 lines"),
        "nested": (f"impl A {{\n    fn outer(&self) -> Vec<u8> {{\n{body}\n        vec![]\n    }}\n}}\n", "fn outer is 88 lines"),
        "strings": ("fn short() {\n    let s = \"}}}}\";\n    let c = '{';\n}\n" + f"fn after() {{\n{body}\n}}\n", "fn after is 87 lines"),
        "short": ("fn a() {}\ntrait T { fn b(&self); }\n", "no function over"),
        "tests": (f"fn a() {{}}\n#[cfg(test)]\nmod tests {{\n    fn t() {{\n{body}\n    }}\n}}\n", "no function over"),
        # A `#[cfg(test)]` field skips that field only: the long function below it is read.
        "below-test-field": ("struct S {\n    #[cfg(test)]\n    probe: Vec<u8>,\n}\n"
                             + "fn long_after() {\n" + "\n".join(f"    let x{i} = {i};" for i in range(118)) + "\n}\n",
                             "fn long_after is 120 lines"),
    }
    failed = 0
    for name, (text, expect) in cases.items():
        with tempfile.TemporaryDirectory() as d:
            (pathlib.Path(d) / "lib.rs").write_text(text)
            lines = []
            check(pathlib.Path(d), 80, out=lines.append)
            ok = any(expect in l for l in lines)
            print(f"self-test {name}: {'ok' if ok else 'FAILED'} ({'; '.join(lines)})")
            failed += not ok
    return failed


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        sys.exit(1 if self_test() else 0)
    arg = lambda k, d: sys.argv[sys.argv.index(k) + 1] if k in sys.argv else d
    src = pathlib.Path(arg("--src", pathlib.Path(__file__).resolve().parent.parent / "src"))
    top = int(arg("--top", "0")) or None
    sys.exit(1 if check(src, int(arg("--max", "80")), top) else 0)
