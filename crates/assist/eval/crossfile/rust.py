"""Rust cross-file cases from crates in the cargo registry, with gold labels from bracket-aware scanning.

Each crate folder is one repository and its `src/` files (except `main.rs` and `bin/`) its module tree:
`src/lib.rs` is `crate`, `src/a/b.rs` or `src/a/b/mod.rs` is `crate::a::b`. A case puts the cursor
right before `Name` where the file uses an item that a top-level `use` imports from another module
file (`use crate::a::Name;`, `use super::x::{A, B};`; renamed ones, `B as C`, are skipped), or
where it writes a path through a module (`crate::a::Name`, `super::Name`, `m::Name` with `m`
imported or declared by `mod m;`). The item must be defined exactly once at brace depth 0 of that
file (comments and strings masked). Uses inside `use` and `mod m;` declarations and inline
`mod m { ... }` blocks (another scope), fields, and enum variants that share the name are skipped.
"""

import glob
import os
import re

from .common import Source, generate_groups, brace_depths, line_end, make_case, mask_literals, matching_close, pick_per_file, word

CRATES = ["tantivy-0.", "candle-core-", "tower-lsp-", "tokenizers-", "notify-"]
IDENT = r"[A-Za-z_]\w*"
CHAR = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F_]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'")
LITERAL_START = re.compile(r"""/[/*]|(?<!\w)[bc]?r#*"|(?<!\w)[bc]["']|["']""")
USE = re.compile(r"(?<![\w:])use\s")
PATH = re.compile(rf"(?<![\w:]){IDENT}(?:::{IDENT})+")
INLINE_MOD = re.compile(rf"(?<!\w)mod\s+{IDENT}\s*\{{")
ENUM = re.compile(rf"(?<!\w)enum\s+{IDENT}[^{{;]*\{{")
MOD_DECL = re.compile(rf"^[ \t]*(?:pub(?:\([^)\n]*\))?\s+)?mod\s+({IDENT})\s*;", re.M)
ITEM = re.compile(r"^[ \t]*(?:pub(?:\([^)\n]*\))?\s+)?(?:(?:const|async|unsafe|extern|default)\s+)*"
                  rf"(?:(?:fn|struct|enum|trait|type|const|static|union)\s+(?:mut\s+)?|macro_rules!\s*)({IDENT})",
                  re.M)


def default_root():
    return os.path.expanduser("~/.cargo/registry/src")


def version_key(folder, prefix):
    return [int(p) if p.isdigit() else -1 for p in re.split(r"[.+-]", folder[len(prefix):])]


def repos(root):
    """(crate folder name, absolute path): the highest version of each of CRATES found in root/ or
    root/*/ (the registry's `src` folder or one of its index folders)."""
    found = []
    for prefix in CRATES:
        candidates = glob.glob(os.path.join(root, prefix + "*")) + glob.glob(os.path.join(root, "*", prefix + "*"))
        dirs = {os.path.basename(d): os.path.abspath(d) for d in candidates
                if re.fullmatch(re.escape(prefix) + r"\d[\w.+-]*", os.path.basename(d))}
        if dirs:
            best = max(dirs, key=lambda d: version_key(d, prefix))
            found.append((best, dirs[best]))
    return found


def mask(text):
    """The text with comments, string and char literals blanked (offsets and newlines kept)."""
    return mask_literals(text, LITERAL_START, literal_end)


def literal_end(text, m):
    """Just past the comment, string or char literal that starts at match `m`."""
    i, c, n = m.start(), m.group(), len(text)
    if c == "//":
        return line_end(text, i)
    if c == "/*":
        return block_comment_end(text, i)
    if c.endswith('"') and "r" in c:
        hashes = c[c.index("r") + 1:-1]
        j = text.find('"' + hashes, m.end())
        return n if j < 0 else j + 1 + len(hashes)
    if c.endswith('"'):
        return string_end(text, m.end())
    char = CHAR.match(text, m.end() - 1)
    return char.end() if char else m.end()  # a lifetime or label when not a char literal


def block_comment_end(text, i):
    depth, j = 0, i
    while j < len(text):
        if text.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(text)


def string_end(text, j):
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            return j + 1
        else:
            j += 1
    return len(text)


def parse_use(body):
    """[(path segments, local name)] of one `use` tree (without `use` and `;`); globs dropped."""
    tokens, out = re.findall(rf"{IDENT}|::|[{{}},*]", body), []

    def tree(i, prefix):
        path = list(prefix)
        while i < len(tokens):
            t = tokens[i]
            if t == "{":
                i += 1
                while i < len(tokens) and tokens[i] != "}":
                    i = tree(i, path)
                    i += tokens[i] == "," if i < len(tokens) else 0
                return i + 1
            if t in "*,}":
                return i + (t == "*")
            i += 1
            if i < len(tokens) and tokens[i] == "::":
                path, i = path + [t], i + 1
                continue
            full = path if t == "self" else path + [t]
            local = full[-1] if full else t
            if i + 1 < len(tokens) and tokens[i] == "as":
                local, i = tokens[i + 1], i + 2
            out.append((full, local))
            return i
        return i

    if not body.lstrip().startswith("::"):
        tree(0, [])
    return out


class Crate:
    """A crate's module files, masked texts and top-level definitions, cached."""

    def __init__(self, repo):
        self.repo = repo
        self.files = {os.path.relpath(p, repo).replace(os.sep, "/")
                      for p in glob.glob(os.path.join(repo, "src", "**", "*.rs"), recursive=True)}
        self._masked, self._defs = {}, {}

    def masked(self, rel):
        """(masked text, brace depth at each offset) of a file."""
        if rel not in self._masked:
            masked = mask(Source(self.repo, rel).text)
            self._masked[rel] = masked, brace_depths(masked)
        return self._masked[rel]

    def module_file(self, path):
        """The file of module path `path` (a list; [] is the crate root), or None."""
        if not path:
            return "src/lib.rs" if "src/lib.rs" in self.files else None
        base = "src/" + "/".join(path)
        return next((f for f in (base + ".rs", base + "/mod.rs") if f in self.files), None)

    def definitions(self, rel):
        """{name: [(1-based line, brace depth)]} of the items a file defines."""
        if rel not in self._defs:
            masked, depth = self.masked(rel)
            self._defs[rel] = {}
            for m in ITEM.finditer(masked):
                line = masked.count("\n", 0, m.start(1)) + 1
                self._defs[rel].setdefault(m.group(1), []).append((line, depth[m.start(1)]))
        return self._defs[rel]

    def definition_line(self, rel, name):
        """1-based line of the one top-level definition of `name` in `rel`, or None."""
        lines = [line for line, depth in self.definitions(rel).get(name, []) if depth == 0]
        return lines[0] if len(lines) == 1 else None

    def defines(self, rel, name):
        """Whether `rel` defines `name` at any depth (then a bare use may be the local one)."""
        return name in self.definitions(rel)


def module_path(rel):
    """Module path of a file in the crate's module tree, or None (main.rs, bin/, lib.rs-less)."""
    parts = rel[len("src/"):-len(".rs")].split("/")
    if parts[0] in ("main", "bin"):
        return None
    return [] if parts == ["lib"] else parts[:-1] if parts[-1] == "mod" else parts


def start(crate, here, segs, aliases):
    """Resolve a path's leading `crate`/`self`/`super`/alias segments and the module segments after
    them: (module path, the segments left), or None when it does not start in this crate."""
    if segs[0] == "crate":
        mod, segs = [], segs[1:]
    elif segs[0] in ("self", "super"):
        mod = list(here)
        while segs and segs[0] in ("self", "super"):
            if segs[0] == "super":
                if not mod:
                    return None
                mod.pop()
            segs = segs[1:]
    elif segs[0] in aliases:
        mod, segs = aliases[segs[0]], segs[1:]
    else:
        return None
    while len(segs) > 1 and crate.module_file(mod + segs[:1]):
        mod, segs = mod + segs[:1], segs[1:]
    return mod, segs


def imports(crate, rel, here, masked, depth):
    """Top-level `use`s and `mod m;`: ({local: module path}, {local: (file, name)})."""
    aliases = {m.group(1): here + [m.group(1)] for m in MOD_DECL.finditer(masked)
               if depth[m.start()] == 0 and crate.module_file(here + [m.group(1)])}
    items = {}
    for m in USE.finditer(masked):
        if depth[m.start()] != 0:
            continue
        for segs, local in parse_use(masked[m.end():masked.find(";", m.end())]):
            resolved = segs and start(crate, here, segs, aliases)
            if not resolved:
                continue
            mod, rest = resolved
            if not rest:
                aliases[local] = mod
            elif len(rest) == 1 and crate.module_file(mod) not in (None, rel):
                items[local] = (crate.module_file(mod), rest[0])
    return aliases, items


def skipped_spans(masked):
    """Spans of `use` and `mod m;` declarations and of inline module bodies, where no cursor goes."""
    spans = [(m.start(), masked.find(";", m.end())) for m in USE.finditer(masked)]
    spans += [m.span() for m in MOD_DECL.finditer(masked)]
    spans += [(m.start(), matching_close(masked, m.end() - 1)) for m in INLINE_MOD.finditer(masked)]
    return spans


def is_use(masked, enums, start, end):
    """Whether the identifier at start..end is a use: not a field or method (`x.name`, `name: ..`),
    a lifetime, a later path segment (`a::name`) or a variant declared in an enum body."""
    before, after = masked[max(0, start - 2):start], masked[end:end + 3]
    if before.endswith((".", "'")) or before == "::" or re.match(r"\s*:(?!:)", after):
        return False
    in_enum = any(a < start < b for a, b in enums)
    return not (in_enum and masked[:start].rstrip()[-1:] in ("{", ",", "]"))


def uses(crate, rel, masked, aliases, items):
    """(cursor offset, name, defining file) of bare uses of imported items and of module paths."""
    enums = [(m.end(), matching_close(masked, m.end() - 1)) for m in ENUM.finditer(masked)]
    for local, (defined_in, name) in items.items():
        if local != name or crate.defines(rel, name):
            continue
        for m in word(name).finditer(masked):
            if is_use(masked, enums, m.start(), m.end()):
                yield m.start(), name, defined_in
    here = module_path(rel)
    for m in PATH.finditer(masked):
        segs = m.group().split("::")
        resolved = start(crate, here, segs, aliases)
        if resolved and resolved[1] and len(resolved[1]) < len(segs):
            name = resolved[1][0]
            offset = m.start() + len("::".join(segs[:len(segs) - len(resolved[1])])) + 2
            yield offset, name, crate.module_file(resolved[0])


def cases_for_file(crate, label, rel):
    here = module_path(rel)
    if here is None:
        return []
    src, (masked, depth) = Source(crate.repo, rel), crate.masked(rel)
    aliases, items = imports(crate, rel, here, masked, depth)
    spans = skipped_spans(masked)
    cases = []
    for cursor, name, defined_in in uses(crate, rel, masked, aliases, items):
        if defined_in in (None, rel) or any(a <= cursor < b for a, b in spans):
            continue
        line = crate.definition_line(defined_in, name)
        if line:
            cases.append(make_case(src, label, "rust", cursor, name, defined_in, line))
    return pick_per_file(cases)


def generate(root):
    """[(crate, [cases of one file, ...])] for each crate of CRATES found under `root`."""
    return generate_groups(repos(root), Crate, cases_for_file)
