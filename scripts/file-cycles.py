#!/usr/bin/env python3
"""Fails when the files of a crate import each other in a cycle.

An edge runs from a file to the file of every `crate::a::b` or `super::x` path it names outside
its tests; a strongly connected set of more than one file is a cycle (ARCHITECTURE.md: files
depend one way). Usage: scripts/file-cycles.py [CRATES_DIR]
"""
import os
import re
import sys
from collections import defaultdict

PATH = re.compile(r"\b(crate|super)::((?:\w+::)*\w+)")


def module_file(src, parts):
    """The file that defines the longest prefix of `parts`, under `src`."""
    for n in range(len(parts), 0, -1):
        base = os.path.join(src, *parts[:n])
        for candidate in (base + ".rs", os.path.join(base, "mod.rs")):
            if os.path.exists(candidate):
                return candidate
    return None


def module_path(src, path):
    parts = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return [] if parts in (["lib"], ["main"]) else parts


def edges(src):
    graph = defaultdict(set)
    for root, _, names in os.walk(src):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            text = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
            here = module_path(src, path)
            graph[path]
            for kind, rest in PATH.findall(text):
                base = [] if kind == "crate" else here[:-1]
                target = module_file(src, base + rest.split("::"))
                if target and target != path:
                    graph[path].add(target)
    return graph


def cycles(graph):
    """Tarjan's strongly connected components of more than one file, iteratively."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main():
    crates = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "crates")
    failed = False
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        if not os.path.isdir(src):
            continue
        graph = edges(src)
        for component in cycles(graph):
            failed = True
            names = [os.path.relpath(p, src) for p in component]
            print(f"file-cycles: {crate}: {' <-> '.join(names)}", file=sys.stderr)
            for a in component:
                for b in sorted(graph[a] & set(component)):
                    print(f"    {os.path.relpath(a, src)} uses {os.path.relpath(b, src)}", file=sys.stderr)
    if failed:
        sys.exit(1)
    print("file-cycles: no cycle between the files of any crate")


if __name__ == "__main__":
    main()
