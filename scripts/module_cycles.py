#!/usr/bin/env python3
"""Fails if Herald's src/ modules import each other in a cycle.

    python3 scripts/module_cycles.py [--graph]

A module is a top-level folder or file of src/ (`config`, `enrich`, `correlate`, `app`, …), and
it depends on another when any of its files names `crate::OTHER` (in a `use`, a path or a doc
link's target) outside its `#[cfg(test)]` part. Unit tests may reach anywhere; the shipped
code may not go round in circles. Prints every cycle found (each once, as the modules in
order) and exits 1, or prints the order the modules build on each other and exits 0.
`--graph` prints every edge with one file that makes it.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
SKIP = {"main.rs", "lib.rs"}


def module_of(rel):
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def strip_comments(text):
    # Line comments (doc comments included: a doc link is no dependency of the code).
    return re.sub(r"//[^\n]*", "", text)


def edges():
    out = {}
    modules = set()
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, ROOT)
            if rel in SKIP:
                continue
            m = module_of(rel)
            modules.add(m)
            text = open(path, encoding="utf-8").read()
            text = text.split("#[cfg(test)]")[0]
            text = strip_comments(text)
            uses = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
            # `use crate::{a, b::c}` groups.
            for group in re.findall(r"\bcrate::\{([^}]*)\}", text, re.S):
                uses |= set(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
            for u in uses:
                if u != m:
                    out.setdefault(m, {}).setdefault(u, rel)
    for m in list(out):
        out[m] = {k: v for k, v in out[m].items() if k in modules}
    return modules, out


def cycles(modules, g):
    found = []
    seen = set()
    # Tarjan's strongly connected components: a component of more than one module is a cycle.
    index, low, stack, on = {}, {}, [], set()
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                key = tuple(sorted(comp))
                if key not in seen:
                    seen.add(key)
                    found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    return found


def order(modules, g):
    done, out = set(), []

    def visit(v):
        if v in done:
            return
        done.add(v)
        for w in sorted(g.get(v, {})):
            visit(w)
        out.append(v)

    for v in sorted(modules):
        visit(v)
    return out


def main():
    modules, g = edges()
    if "--graph" in sys.argv:
        for m in sorted(g):
            for d, where in sorted(g[m].items()):
                print(f"{m} -> {d}  ({where})")
    found = cycles(modules, g)
    if found:
        for comp in found:
            inside = [
                f"{a} -> {b} ({g[a][b]})" for a in comp for b in sorted(g.get(a, {})) if b in comp
            ]
            print("import cycle among " + ", ".join(comp) + ":\n  " + "\n  ".join(inside))
        sys.exit(1)
    print("no import cycle among src/ modules; built bottom up: " + " < ".join(order(modules, g)))


if __name__ == "__main__":
    main()
