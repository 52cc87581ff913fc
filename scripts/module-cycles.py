#!/usr/bin/env python3
"""Lists import cycles between the crate's modules, and between its top-level folders, or says
there are none (exit 1 when there is one).

A module is a file of src/ (`a/b.rs` and `a/b/mod.rs` are `a::b`; test modules are left out,
and every item marked `#[cfg(test)]` alone: the code after it is read).
Module A depends on module B when A's code (tests excluded) names an item defined in B: through
a `use` tree (brace groups expanded, `self`/`super`/`crate` resolved from A's own place) or a
path written in the code. Re-exports are followed to the module that defines the item, so
`use super::Rule` in `rules/evaluate.rs` depends on `rules::rule` when `rules/mod.rs` says
`pub use rule::Rule`, and on `rules` itself when `Rule` is defined in `rules/mod.rs`.

Folders: each top-level module (`src/rules/`, `src/record.rs`…) is one node; an edge between
two of them is any module edge that crosses them.

Run: python3 scripts/module-cycles.py [--src DIR] [--verbose]
     python3 scripts/module-cycles.py --self-test   (proves it finds the cycles it must)
"""
import pathlib, re, sys, tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from rust_source import strip, without_test_items  # noqa: E402


def split_top(s):
    """Splits `a, b::{c, d}, e` at top-level commas."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "{": depth += 1
        elif ch == "}": depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur)); cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def expand_use(tree, prefix=()):
    """(path segments, bound name) for each leaf of a use tree; glob leaves bind '*'."""
    tree = re.sub(r"\s+", "", tree)
    if tree.startswith("::"):
        tree = tree[2:]
    m = re.match(r"^(.*?)(?:::)?\{(.*)\}$", tree, re.S)
    if m and m.group(0) == tree:
        head = [p for p in m.group(1).split("::") if p]
        out = []
        for sub in split_top(m.group(2)):
            out += expand_use(sub, prefix + tuple(head))
        return out
    segs = [p for p in tree.split("::") if p]
    if segs and segs[-1] == "self":
        segs = segs[:-1]
    full = list(prefix) + segs
    name = full[-1] if full else None
    return [(full, name)]


USE = re.compile(r"\b(?:pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]+);")


def uses_of(code):
    """The use trees of a file, with `as` renames kept: (segments, bound name)."""
    out = []
    for m in USE.finditer(code):
        raw = m.group(1)
        # Renames: `a::b as c` → bind c. Handle them before whitespace is removed.
        leaves = []
        for full, name in expand_use(re.sub(r"\s+as\s+(\w+)", r"@\1", raw)):
            bound = name
            if full and "@" in full[-1]:
                seg, bound = full[-1].split("@", 1)
                full = full[:-1] + [seg]
                if seg == "self":
                    full = full[:-1]
            leaves.append((full, bound))
        out.extend(leaves)
    return out

# ---------------------------------------------------------------- the module tree

def modules(src):
    """Module path → file, leaving out the binary and test modules."""
    mods = {}
    for p in sorted(src.rglob("*.rs")):
        rel = p.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts == ["main"] or "bin" in parts[:1]:
            continue
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        mods["::".join(parts)] = p
    # Drop modules declared under #[cfg(test)] by their parent.
    for m, p in list(mods.items()):
        code = strip(p.read_text())
        for t in re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            child = f"{m}::{t}" if m else t
            for k in [k for k in mods if k == child or k.startswith(child + "::")]:
                del mods[k]
    return mods


class Crate:
    def __init__(self, src):
        self.mods = modules(src)
        self.code = {m: without_test_items(strip(p.read_text())) for m, p in self.mods.items()}
        self.is_dir = {m: p.name in ("mod.rs", "lib.rs") for m, p in self.mods.items()}
        # Names each module brings into scope with `use` (re-exports included).
        self.imports, self.globs = {}, {}
        for m, code in self.code.items():
            imp, globs = {}, []
            for segs, name in uses_of(code):
                absolute = self.absolute(m, segs)
                if absolute is None:
                    continue
                if name == "*":
                    globs.append(absolute[:-1])
                elif name:
                    imp[name] = absolute
            self.imports[m], self.globs[m] = imp, globs

    def absolute(self, m, segs):
        """A path written in module m, from the crate root; None for other crates."""
        if not segs:
            return None
        here = m.split("::") if m else []
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] in ("self", "super"):
            base = list(here)
            rest = list(segs)
            if rest[0] == "self":
                rest = rest[1:]
            while rest and rest[0] == "super":
                base = base[:-1]
                rest = rest[1:]
            return base + rest
        # A child module, or a name the module imported (uniform paths).
        child = "::".join(here + [segs[0]])
        if child in self.mods:
            return here + segs
        if segs[0] in self.imports.get(m, {}):
            return self.imports[m][segs[0]] + segs[1:]
        return None

    def resolve(self, segs, depth=0):
        """The module that defines the item at `segs` (following re-exports)."""
        cur = []
        for i, s in enumerate(segs):
            cand = "::".join(cur + [s])
            if cand in self.mods:
                cur.append(s)
                continue
            here = "::".join(cur)
            target = self.imports.get(here, {}).get(s)
            if target is not None and depth < 30 and target != segs:
                return self.resolve(target + segs[i + 1:], depth + 1)
            for g in self.globs.get(here, []):
                r = self.resolve(g + segs[i:], depth + 1) if depth < 30 else None
                if r is not None and r != "::".join(g) and r != here:
                    return r
            return here
        return "::".join(cur)

    def edges(self):
        out = {m: set() for m in self.mods}
        for m, code in self.code.items():
            refs = [self.absolute(m, segs) for segs, _ in uses_of(code)]
            body = USE.sub(" ", code)
            # Paths written in the code: `crate::…`, `super::…`, `self::…`, and paths that start
            # at a child module or a name the module imported (`dooray::DoorayConfig`).
            for ref in re.findall(r"(?<![\w:])([A-Za-z_]\w*(?:::\w+)+)", body):
                refs.append(self.absolute(m, ref.split("::")))
            for r in refs:
                if r is None:
                    continue
                target = self.resolve(r)
                if target and target != m and target in self.mods:
                    out[m].add(target)
        return out

# ---------------------------------------------------------------- cycles

def strongly_connected(edges):
    index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop(); on.discard(w); c.append(w)
                if w == v:
                    break
            if len(c) > 1:
                sccs.append(sorted(c))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sccs


def folder_edges(edges):
    top = lambda m: m.split("::")[0]
    fe = {}
    for a, bs in edges.items():
        if not a:
            continue
        fe.setdefault(top(a), set())
        for b in bs:
            if b and top(a) != top(b):
                fe[top(a)].add(top(b))
    return fe


def why(edges, cycle):
    """One edge of each step around a cycle, for the report."""
    members = set(cycle)
    return ", ".join(f"{a} → {b}" for a in cycle for b in sorted(edges.get(a, ())) if b in members)


def check(src, verbose=False, out=print):
    crate = Crate(src)
    edges = crate.edges()
    found = 0
    for c in strongly_connected(edges):
        out(f"module cycle: {' ↔ '.join(c)}  ({why(edges, c)})"); found += 1
    fedges = folder_edges(edges)
    for c in strongly_connected(fedges):
        # Name the module edges that make each folder step.
        steps = []
        for a in c:
            for b in sorted(fedges[a]):
                if b in c:
                    via = sorted(f"{x}→{y}" for x, ys in edges.items() if x and x.split("::")[0] == a
                                 for y in ys if y.split("::")[0] == b)
                    steps.append(f"{a} → {b} [{', '.join(via[:4])}{' …' if len(via) > 4 else ''}]")
        out(f"folder cycle: {' ↔ '.join(c)}  ({'; '.join(steps)})"); found += 1
    if verbose:
        for a in sorted(edges):
            out(f"{a or '(crate)'} → {', '.join(sorted(edges[a]))}")
    if not found:
        out(f"no import cycle among {len(edges)} modules and {len(fedges)} folders")
    return found

# ---------------------------------------------------------------- self-test

CASES = {
    # super:: from a file resolves to its folder's module, not one above.
    "super": ({
        "lib.rs": "pub mod a;\npub mod b;\n",
        "a/mod.rs": "mod x;\npub use x::X;\npub struct A;\n",
        "a/x.rs": "use super::A;\npub struct X;\n",
    }, "module cycle: a ↔ a::x"),
    # A brace group names several modules at once.
    "braces": ({
        "lib.rs": "pub mod p;\npub mod q;\n",
        "p.rs": "use crate::{q::Q, p as _};\npub struct P;\n",
        "q.rs": "use crate::{p::{self, P}};\npub struct Q;\n",
    }, "module cycle: p ↔ q"),
    # Folders that use each other through different files.
    "folders": ({
        "lib.rs": "pub mod f;\npub mod g;\n",
        "f/mod.rs": "pub mod one;\npub mod two;\n",
        "f/one.rs": "pub fn one() { crate::g::a::x(); }\n",
        "f/two.rs": "pub fn two() {}\n",
        "g/mod.rs": "pub mod a;\npub mod b;\n",
        "g/a.rs": "pub fn x() {}\n",
        "g/b.rs": "use crate::f::two::two;\npub fn y() { two() }\n",
    }, "folder cycle: f ↔ g"),
    # Re-exports are followed to the defining file: no cycle here.
    "reexport": ({
        "lib.rs": "pub mod r;\n",
        "r/mod.rs": "mod rule;\nmod set;\npub use rule::Rule;\npub use set::Set;\n",
        "r/rule.rs": "pub struct Rule;\n",
        "r/set.rs": "use super::Rule;\n// crate::r::Set in a comment is not a use\npub struct Set(Rule);\n",
    }, "no import cycle"),
    # A child module named in the code, without `use`, is a dependency too.
    "child": ({
        "lib.rs": "pub mod k;\n",
        "k/mod.rs": "mod a;\npub enum E { A(a::Conf) }\npub trait T {}\n",
        "k/a.rs": "pub struct Conf;\nimpl super::T for Conf {}\n",
    }, "module cycle: k ↔ k::a"),
    # Test modules are not dependencies.
    "tests": ({
        "lib.rs": "pub mod s;\npub mod t;\n",
        "s.rs": "pub fn s() {}\n#[cfg(test)]\nmod tests { use crate::t::T; }\n",
        "t.rs": "use crate::s::s;\npub struct T;\n",
    }, "no import cycle"),
    # A `#[cfg(test)]` field hides that field only: the import below it makes a cycle.
    "below-test-field": ({
        "lib.rs": "pub mod u;\npub mod v;\n",
        "u.rs": "pub struct U {\n    #[cfg(test)]\n    pub probe: u8,\n}\nuse crate::v::V;\npub fn u(_: V) {}\n",
        "v.rs": "use crate::u::U;\npub struct V(U);\n",
    }, "module cycle: u ↔ v"),
}


def self_test():
    failed = 0
    for name, (files, expect) in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            root = pathlib.Path(d)
            for f, text in files.items():
                (root / f).parent.mkdir(parents=True, exist_ok=True)
                (root / f).write_text(text)
            lines = []
            check(root, out=lines.append)
            ok = any(l.startswith(expect) for l in lines)
            print(f"self-test {name}: {'ok' if ok else 'FAILED'} ({'; '.join(lines)})")
            failed += not ok
    return failed


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        sys.exit(1 if self_test() else 0)
    src = pathlib.Path(__file__).resolve().parent.parent / "src"
    if "--src" in sys.argv:
        src = pathlib.Path(sys.argv[sys.argv.index("--src") + 1])
    sys.exit(1 if check(src, verbose="--verbose" in sys.argv) else 0)
