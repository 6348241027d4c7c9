"""Go cross-file cases from the Go standard library's source (Debian's golang-src), with gold labels
from bracket-aware scanning (comments, strings and runes masked).

Each top-level tree (`go`, `net`, `crypto`, `encoding`, `text`, `image`) is one repository, and each
of its folders one package: its `.go` files other than tests and `testdata/`. Two kinds of case:
- `pkg.Name`, where `pkg` is a package the file imports from the same tree (`import "go/token"` in
  the `go` tree is the folder `token/`), with the cursor right after the dot;
- a bare use of a name that another file of the file's own package defines (Go puts every
  top-level name of a package in scope without an import), with the cursor right before it.
The name must be defined exactly once at the top level of its package (`func`, `type`, `var` and
`const`, blocks included; methods are not top-level names), and, for bare uses, nowhere in the
file itself (no `name :=`, `var name` or parameter of that name). Uses in the import block, after a
dot, and as keys of composite literals (`Name: value`) are skipped.
"""

import glob
import os
import re

from .common import Source, generate_groups, brace_depths, line_end, make_case, mask_literals, matching_close, pick_per_file, word

TREES = ["go", "net", "crypto", "encoding", "text", "image"]
IDENT = r"[A-Za-z_]\w*"
JUMP = re.compile(r"//|/\*|[\"'`]")
FUNC = re.compile(rf"^func\s+({IDENT})", re.M)
SINGLE = re.compile(rf"^(?:type|var|const)\s+({IDENT}(?:\s*,\s*{IDENT})*)", re.M)
BLOCK = re.compile(r"^(?:type|var|const)\s*\(", re.M)
BLOCK_ITEM = re.compile(rf"^[ \t]*({IDENT}(?:\s*,\s*{IDENT})*)", re.M)
IMPORT_BLOCK = re.compile(r"^import\s*\(", re.M)
IMPORT_SPEC = re.compile(rf"(?:^|\n)[ \t]*(?:import[ \t]+)?(?:({IDENT}|\.)[ \t]+)?\"([^\"\n]+)\"")
IMPORT_LINE = re.compile(rf"^import[ \t]+(?:({IDENT}|\.)[ \t]+)?\"([^\"\n]+)\"", re.M)
QUALIFIED = re.compile(rf"(?<![\w.])({IDENT})\.({IDENT})")
KEYWORDS = {"break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for",
            "func", "go", "goto", "if", "import", "interface", "map", "package", "range", "return", "select",
            "struct", "switch", "type", "var"}


def default_root():
    """The newest Go standard library source that Debian's golang-src installs."""
    found = sorted(glob.glob("/usr/share/go-*/src") + glob.glob("/usr/lib/go-*/src"),
                   key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    return found[-1] if found else "/usr/share/go/src"


def repos(root):
    return [(tree, os.path.abspath(os.path.join(root, tree))) for tree in TREES if os.path.isdir(os.path.join(root, tree))]


def mask(text):
    """The text with comments, interpreted and raw strings and runes blanked (offsets kept)."""
    return mask_literals(text, JUMP, literal_end)


def literal_end(text, m):
    """Just past the comment, string or rune that starts at match `m`."""
    i, c, n = m.start(), m.group(), len(text)
    if c == "//":
        return line_end(text, i)
    if c in ("/*", "`"):
        close = "*/" if c == "/*" else "`"
        j = text.find(close, i + len(c))
        return n if j < 0 else j + len(close)
    j = i + 1
    while j < n and text[j] != c and text[j] != "\n":
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, n)


def paren_close(masked, open_at):
    """The offset of the `)` that closes the one at `open_at` (the last offset if none does)."""
    return matching_close(masked, open_at) - 1


class Tree:
    """A tree's packages (folder -> non-test files), masked texts and top-level definitions, cached."""

    def __init__(self, repo):
        self.repo = repo
        self.packages = {}
        for folder, dirs, files in os.walk(repo):
            dirs[:] = sorted(d for d in dirs if d not in ("testdata", "vendor") and not d.startswith((".", "_")))
            rel = os.path.relpath(folder, repo).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            gofiles = sorted(f for f in files if f.endswith(".go") and not f.endswith("_test.go"))
            if gofiles:
                self.packages[rel] = [f"{rel}/{f}" if rel else f for f in gofiles]
        self.files = {f for fs in self.packages.values() for f in fs}
        self._masked, self._defs, self._package_defs = {}, {}, {}

    def masked(self, rel):
        if rel not in self._masked:
            masked = mask(Source(self.repo, rel).text)
            self._masked[rel] = masked, brace_depths(masked)
        return self._masked[rel]

    def definitions(self, rel):
        """{name: [1-based line]} of a file's top-level names."""
        if rel not in self._defs:
            masked, depth = self.masked(rel)
            defs = {}

            def add(names, at):
                for name in re.findall(IDENT, names):
                    if name != "_":
                        defs.setdefault(name, []).append(masked.count("\n", 0, at) + 1)

            for m in FUNC.finditer(masked):
                add(m.group(1), m.start(1))
            for m in SINGLE.finditer(masked):
                if depth[m.start()] == 0:
                    add(m.group(1), m.start(1))
            for m in BLOCK.finditer(masked):
                if depth[m.start()] != 0:
                    continue
                body_start, body_end = m.end(), paren_close(masked, m.end() - 1)
                body = masked[body_start:body_end]
                inner, d = [0] * (len(body) + 1), 0
                for k, c in enumerate(body):
                    inner[k] = d
                    d += 1 if c in "({[" else -1 if c in ")}]" else 0
                for item in BLOCK_ITEM.finditer(body):
                    if inner[item.start(1)] == 0 and item.group(1).split(",")[0].strip() not in KEYWORDS:
                        add(item.group(1), body_start + item.start(1))
            self._defs[rel] = defs
        return self._defs[rel]

    def package_of(self, rel):
        return rel.rsplit("/", 1)[0] if "/" in rel else ""

    def package_definitions(self, package):
        """{name: [(file, 1-based line)]} of the top-level names of a package's files."""
        if package not in self._package_defs:
            defs = {}
            for f in self.packages.get(package, []):
                for name, lines in self.definitions(f).items():
                    defs.setdefault(name, []).extend((f, line) for line in lines)
            self._package_defs[package] = defs
        return self._package_defs[package]

    def defined_once(self, package, name):
        """(file, line) of the one top-level definition of `name` in the package, or None."""
        found = self.package_definitions(package).get(name, [])
        return found[0] if len(found) == 1 else None


def import_spans(masked):
    """[(start, end)] of the import declarations (one-line imports and `import ( … )` blocks)."""
    spans = [(m.start(), paren_close(masked, m.end() - 1)) for m in IMPORT_BLOCK.finditer(masked)]
    return spans + [m.span() for m in IMPORT_LINE.finditer(masked)]


def import_map(tree, text, spans, label):
    """{local name: package folder}: the imports of packages in this tree. The paths are read from the
    text, since masking blanks them as strings."""
    out = {}
    for start, end in spans:
        for m in IMPORT_SPEC.finditer(text[start:end + 1]):
            alias, path = m.group(1), m.group(2)
            if alias in ("_", "."):
                continue
            parts = path.split("/")
            if parts[0] != label:
                continue
            folder = "/".join(parts[1:])
            if folder in tree.packages:
                out[alias or parts[-1]] = folder
    return out


def declared_locally(masked, name):
    """Whether the file binds `name` itself (a short variable declaration, var/const, a parameter)."""
    n = re.escape(name)
    return bool(re.search(rf"(?<![\w.]){n}(?:\s*,\s*{IDENT})*\s*:=|(?<![\w.]){IDENT}\s*,\s*{n}\s*(?:,\s*{IDENT}\s*)*:="
                          rf"|(?:var|const)\s+{n}\b|[(,]\s*{n}(?:\s*,\s*{IDENT})*\s+[*\[\]\w.]|\brange\b[^\n]*\b{n}\b", masked))


def is_bare_use(masked, start, end):
    before, after = masked[max(0, start - 1):start], masked[end:end + 3]
    return before != "." and not re.match(r"\s*:(?!=)", after)


def cases_for_file(tree, label, rel):
    src, (masked, depth) = Source(tree.repo, rel), tree.masked(rel)
    text = src.text
    spans = import_spans(masked)
    packages = import_map(tree, text, spans, label)
    package = tree.package_of(rel)
    cases = []

    def add(cursor, name, found):
        if found and found[0] != rel and not any(a <= cursor < b for a, b in spans):
            cases.append(make_case(src, label, "go", cursor, name, found[0], found[1]))

    for m in QUALIFIED.finditer(masked):
        folder = packages.get(m.group(1))
        if folder is not None and m.group(2)[:1].isupper():
            add(m.start(2), m.group(2), tree.defined_once(folder, m.group(2)))
    own, words = tree.definitions(rel), set(re.findall(IDENT, masked))
    for name, found in tree.package_definitions(package).items():
        if len(found) != 1 or found[0][0] == rel or len(name) < 4 or name not in words or name in own:
            continue
        if declared_locally(masked, name):
            continue
        for m in word(name).finditer(masked):
            if depth[m.start()] > 0 and is_bare_use(masked, m.start(), m.end()):
                add(m.start(), name, found[0])
    return pick_per_file(cases)


def generate(root):
    """[(tree, [cases of one file, ...])] for each of TREES found under `root`."""
    return generate_groups(repos(root), Tree, cases_for_file)
