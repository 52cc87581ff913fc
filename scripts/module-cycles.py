#!/usr/bin/env python3
"""Lists import cycles between the crate's modules (one module per file), or says there are none.

A module A depends on B when A's file names `crate::B…` or `super::…` resolving to B (tests
excluded). Run: python3 scripts/module-cycles.py [--folders]
"""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent / "src"
mods = {}
for p in root.rglob("*.rs"):
    rel = p.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    mods["::".join(parts)] = p

def resolve(path):
    parts = path.split("::")
    while parts:
        k = "::".join(parts)
        if k in mods:
            return k
        parts = parts[:-1]
    return None

folders = "--folders" in sys.argv
edges = {m: set() for m in mods}
for m, p in mods.items():
    text = p.read_text()
    text = text.split("#[cfg(test)]")[0]
    here = m.split("::") if m else []
    is_mod_file = p.name in ("mod.rs", "lib.rs")
    for ref in re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text):
        parts = ref.split("::")
        base = list(here) if is_mod_file else list(here[:-1])
        if parts[0] == "crate":
            base, parts = [], parts[1:]
        elif parts[0] == "self":
            base, parts = (list(here) if is_mod_file else list(here)), parts[1:]
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
        target = resolve("::".join(base + parts))
        if target is not None and target != m and not m.startswith(target + "::") and target != "":
            edges[m].add(target)

if folders:
    top = lambda m: m.split("::")[0]
    fe = {}
    for a, bs in edges.items():
        for b in bs:
            if top(a) != top(b):
                fe.setdefault(top(a), set()).add(top(b))
    edges = fe

# Tarjan's strongly connected components.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def strong(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        if len(c) > 1: sccs.append(sorted(c))
sys.setrecursionlimit(10000)
for v in list(edges):
    if v not in index:
        strong(v)
if sccs:
    for c in sccs:
        print("cycle:", " ↔ ".join(c))
    sys.exit(1)
print(f"no import cycle among {len(edges)} {'folders' if folders else 'modules'}")
