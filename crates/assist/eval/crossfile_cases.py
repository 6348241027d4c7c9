#!/usr/bin/env python3
"""Cross-file FIM cases from the CPython standard library on this machine.

Each case puts the cursor right before a name that the file imports from a sibling module of its
package (`from .mod import name` then `name(...)`, or `from . import mod` then `mod.name`); the middle
is the rest of that line. The answer therefore uses a name defined in another file of the same
repository (the package), which retrieval can find. Output: JSONL with the fields of fim-dev.jsonl
plus `repo` (the package folder, indexed as the repository), `name` and `defined_in`.

usage: crossfile_cases.py [STDLIB_DIR] > cases.jsonl
"""

import ast
import json
import os
import sys
import sysconfig

PACKAGES = ["asyncio", "email", "json", "concurrent/futures", "importlib", "logging", "http", "xml/etree",
            "unittest", "multiprocessing", "sqlite3", "urllib", "tomllib", "zoneinfo", "wsgiref", "xmlrpc"]
PER_FILE = 3
PER_PACKAGE = 24
MAX_CASES = 160


def top_level_names(path):
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
    except (SyntaxError, UnicodeDecodeError, OSError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def cases_for_file(repo, rel):
    path = os.path.join(repo, rel)
    text = open(path, encoding="utf-8").read()
    tree = ast.parse(text)
    here = os.path.dirname(rel)
    imported = {}  # local name -> (defining module file, name)
    modules = {}  # local module alias -> module file
    last_import = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            last_import = max(last_import, node.end_lineno)
            if node.module:
                sibling = os.path.join(here, *node.module.split(".")) + ".py"
                defined = top_level_names(os.path.join(repo, sibling))
                for alias in node.names:
                    if alias.name in defined:
                        imported[alias.asname or alias.name] = (sibling, alias.name)
            else:
                for alias in node.names:
                    sibling = os.path.join(here, alias.name + ".py")
                    if os.path.exists(os.path.join(repo, sibling)):
                        modules[alias.asname or alias.name] = sibling
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line.encode("utf-8")))
    raw = text.encode("utf-8")
    found, seen_lines = [], set()
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in imported:
            target = (node.lineno, node.col_offset, imported[node.id][1], imported[node.id][0])
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            defined = top_level_names(os.path.join(repo, modules[node.value.id]))
            if node.attr in defined:
                col = node.value.end_col_offset + 1  # after `mod.`
                target = (node.lineno, col, node.attr, modules[node.value.id])
        if target is None or target[0] <= last_import or target[0] in seen_lines:
            continue
        lineno, col, name, defined_in = target
        cursor = starts[lineno - 1] + col
        end = starts[lineno]
        middle = raw[cursor:end].decode("utf-8")
        if not middle.endswith("\n") or not (4 <= len(middle.strip()) <= 120) or not middle.startswith(name):
            continue
        seen_lines.add(lineno)
        found.append({
            "id": f"{rel}:{lineno}:cross-file",
            "repo": repo,
            "path": rel,
            "kind": "cross-file",
            "name": name,
            "defined_in": defined_in,
            "prefix": raw[:cursor].decode("utf-8"),
            "middle": middle,
            "suffix": raw[end:].decode("utf-8"),
        })
    found.sort(key=lambda c: c["id"])
    # Spread the picks over the file.
    step = max(1, len(found) // PER_FILE)
    return found[::step][:PER_FILE]


def main():
    stdlib = sys.argv[1] if len(sys.argv) > 1 else sysconfig.get_paths()["stdlib"]
    total = 0
    for package in PACKAGES:
        repo = os.path.join(stdlib, package)
        if not os.path.isdir(repo):
            continue
        in_package = 0
        for rel in sorted(os.listdir(repo)):
            if not rel.endswith(".py") or total >= MAX_CASES or in_package >= PER_PACKAGE:
                continue
            try:
                cases = cases_for_file(repo, rel)
            except (SyntaxError, UnicodeDecodeError):
                continue
            for case in cases[: min(MAX_CASES - total, PER_PACKAGE - in_package)]:
                print(json.dumps(case))
                total += 1
                in_package += 1
    print(f"{total} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
