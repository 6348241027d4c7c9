#!/usr/bin/env python3
"""Cross-file FIM cases for evaluating retrieval, in Python, Rust, TypeScript and Go.

Each case puts the cursor right before a name that the file uses but that is defined in ANOTHER file
of the same repository; the middle is the rest of that line. The gold definition (`defined_in`,
`defined_line`) comes from Python's `ast` for Python and from bracket-aware scanning (comments and
strings masked) for Rust, TypeScript and Go, independently of Hearth. Sources:
  python      packages of the running interpreter's stdlib (each package folder is a repository)
  rust        tantivy, candle-core, tower-lsp, tokenizers, notify in ~/.cargo/registry/src/*/
  typescript  rxjs 7.8.1's src/ (scripts/fetch-eval-trees.sh puts it in the asset cache)
  go          go, net, crypto, encoding, text and image of the Go standard library (Debian's golang-src):
              `pkg.Name` of an imported package, and bare names from another file of the same package
At most 3 cases a file, spread over it, and the total shared evenly over the repositories. Every
case is checked against the files before it is written (prefix + middle + suffix is the file,
middle starts with the name, the definition line holds the name).

usage: crossfile_cases.py --lang python|rust|typescript|go [--root DIR] [--max-cases 160] > cases.jsonl
       crossfile_cases.py --check cases.jsonl ...    re-check written cases against the files
Output: JSONL with id, repo, path, language, kind, name, defined_in, defined_line, prefix, middle, suffix.
"""

import argparse
import json
import sys

from crossfile import common, go, python, rust, typescript

LANGUAGES = {"python": python, "rust": rust, "typescript": typescript, "go": go}


def check_files(paths):
    """Re-check JSONL files of cases; the number of failures."""
    failures = total = 0
    for path in paths:
        seen = set()
        with open(path, encoding="utf-8") as f:
            for line in filter(str.strip, f):
                total += 1
                case = json.loads(line)
                try:
                    assert case.get("id") not in seen, f"{case.get('id')}: repeated id"
                    seen.add(case.get("id"))
                    common.check_case(case)
                except AssertionError as e:
                    failures += 1
                    print(f"{path}: {e}", file=sys.stderr)
    print(f"{total} cases checked, {failures} failed", file=sys.stderr)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lang", choices=LANGUAGES, default="python")
    ap.add_argument("--root", help="where the repositories are (default: per language, see above)")
    ap.add_argument("legacy_root", nargs="?", help=argparse.SUPPRESS)  # `crossfile_cases.py STDLIB_DIR`
    ap.add_argument("--max-cases", type=int, default=160)
    ap.add_argument("--check", nargs="+", metavar="JSONL", help="check written cases instead")
    args = ap.parse_args()
    if args.check:
        sys.exit(1 if check_files(args.check) else 0)
    lang = LANGUAGES[args.lang]
    root = args.root or args.legacy_root or lang.default_root()
    groups = lang.generate(root)
    if not groups:
        sys.exit(f"no {args.lang} repositories under {root}")
    total = 0
    for label, cases in common.select(groups, args.max_cases):
        for case in cases:
            common.check_case(case)
            print(json.dumps(case))
        total += len(cases)
        print(f"  {label}: {len(cases)} cases", file=sys.stderr)
    print(f"{total} {args.lang} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
