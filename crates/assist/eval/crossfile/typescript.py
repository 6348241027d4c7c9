"""TypeScript cross-file cases from a package's `src/` tree (rxjs 7.8.1 by default), with gold labels
from bracket-aware scanning (comments, strings, template text and regex literals masked).

The tree is one repository. A case puts the cursor right before a use of a name that the file
imports from a relative module (`import { A, type B } from './x'`, resolved to `x.ts`, `x.tsx` or
`x/index.ts`) and that the target exports at brace depth 0 (`export function A`, `export class A`,
`export abstract class A`, `export interface A`, `export type A`, `export const A`, `export enum A`,
`export declare ...`). Overloaded functions count from their first signature; any other repeated
definition is ambiguous and skipped, as are renamed imports (`B as C`), `.d.ts` files, uses inside
import/export lists, property names (`x.A`, `A: ...`) and class members named like the import.
"""

import os
import re

from .common import Source, generate_groups, blank, brace_depths, make_case, matching_close, pick_per_file, word

ID = r"[A-Za-z_$][\w$]*"
JUMP = re.compile(r"[/'\"`{}]")
REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {""}
REGEX_KEYWORDS = {"return", "typeof", "case", "do", "else", "in", "of", "yield", "await", "void", "delete",
                  "instanceof", "new", "throw"}
IMPORT = re.compile(rf"(?<![\w$.])import\s+(?:type\s+)?(?:{ID}\s*,\s*)?\{{([^}}]*)\}}\s*from")
EXPORT_LIST = re.compile(r"(?<![\w$.])export\s+(?:type\s+)?\{[^}]*\}")
EXPORTED = re.compile(r"^[ \t]*export\s+(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?"
                      rf"(function\s*\*?|class|interface|type|const\s+enum|const|enum)\s+({ID})", re.M)
DECLARED = r"(?<![\w$.])(?:function\s*\*?|class|interface|type|const|let|var|enum)\s+"


def default_root():
    assets = os.environ.get("HEARTH_ASSETS") or os.path.expanduser("~/.cache/hearth/assets")
    return os.path.join(assets, "eval-trees", "rxjs")


def repos(root):
    """[(label, tree)]: the package's `src/` folder (or root itself when it has none)."""
    src = os.path.join(root, "src")
    tree = src if os.path.isdir(src) else root
    return [(os.path.basename(os.path.normpath(root)), os.path.abspath(tree))] if os.path.isdir(tree) else []


def ts_files(repo):
    out = []
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d != "node_modules" and not d.startswith("."))
        rel = os.path.relpath(folder, repo)
        out += [os.path.normpath(os.path.join(rel, f)).replace(os.sep, "/") for f in files
                if f.endswith((".ts", ".tsx")) and not f.endswith(".d.ts")]
    return sorted(out)


def mask(text):
    """The text with comments, string literals, template text and regex literals blanked."""
    chars, n = list(text), len(text)
    open_braces = []  # per open `${`: the `{` opened inside it and not yet closed
    m = JUMP.search(text)
    while m:
        i, c = m.start(), m.group()
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c in "'\"":
            j = quote_end(text, i + 1, c)
        elif c == "`" or (c == "}" and open_braces and open_braces[-1] == 0):
            if c == "}":
                open_braces.pop()
            j = template_end(text, i + 1)
            if text.startswith("${", j - 2):
                open_braces.append(0)
        elif c == "/" and regex_allowed(chars, i):
            j = regex_end(text, i)
        else:
            if open_braces and c in "{}":
                open_braces[-1] += 1 if c == "{" else -1
            m = JUMP.search(text, i + 1)
            continue
        blank(chars, i, j)
        m = JUMP.search(text, max(j, i + 1))
    return "".join(chars)


def quote_end(text, j, quote):
    while j < len(text) and text[j] not in (quote, "\n"):
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, len(text))


def template_end(text, j):
    """Offset just past the closing backtick or the `${` of the template text starting at j."""
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == "`":
            return j + 1
        elif text.startswith("${", j):
            return j + 2
        else:
            j += 1
    return len(text)


def regex_allowed(chars, i):
    """Whether a `/` at i starts a regex literal (judged by the code before it)."""
    j = i - 1
    while j >= 0 and chars[j].isspace():
        j -= 1
    if j < 0 or chars[j] in REGEX_AFTER:
        return True
    k = j
    while k >= 0 and (chars[k].isalnum() or chars[k] in "_$"):
        k -= 1
    return "".join(chars[k + 1:j + 1]) in REGEX_KEYWORDS


def regex_end(text, i):
    """Offset past a regex literal's flags, or i + 1 when the line ends first (then it was a division)."""
    j, in_class = i + 1, False
    while j < len(text) and text[j] != "\n":
        if text[j] == "\\":
            j += 1
        elif text[j] == "[":
            in_class = True
        elif text[j] == "]":
            in_class = False
        elif text[j] == "/" and not in_class:
            return re.match(r"[a-z]*", text[j + 1:]).end() + j + 1
        j += 1
    return i + 1


class Tree:
    """The tree's files, masked texts and top-level exports, cached."""

    def __init__(self, repo):
        self.repo, self.files = repo, set(ts_files(repo))
        self._masked, self._exports = {}, {}

    def masked(self, rel):
        if rel not in self._masked:
            self._masked[rel] = mask(Source(self.repo, rel).text)
        return self._masked[rel]

    def export_line(self, rel, name):
        """1-based line of the top-level exported definition of `name` in `rel` (an overload set's
        first signature), or None when there is none or more than one."""
        if rel not in self._exports:
            masked = self.masked(rel)
            depth, exports = brace_depths(masked), {}
            for m in EXPORTED.finditer(masked):
                if depth[m.start(2)] == 0:
                    kind = "function" if m.group(1).startswith("function") else m.group(1)
                    exports.setdefault(m.group(2), []).append((kind, masked.count("\n", 0, m.start(2)) + 1))
            self._exports[rel] = exports
        found = self._exports[rel].get(name, [])
        if len(found) == 1 or found and all(kind == "function" for kind, _ in found):
            return found[0][1]
        return None

    def resolve(self, rel, spec):
        """The file a relative import specifier names, or None."""
        if not spec.startswith("."):
            return None
        base = os.path.normpath(os.path.join(os.path.dirname(rel), spec)).replace(os.sep, "/")
        base = base[:-3] if base.endswith(".js") else base
        return next((f for f in (base + ".ts", base + ".tsx", base + "/index.ts") if f in self.files), None)


def imports(tree, rel, text, masked):
    """({local name: defining file}, [spans of the import statements])."""
    names, spans = {}, []
    for m in IMPORT.finditer(masked):
        spec = re.compile(r"""\s*(['"])([^'"\n]*)\1""").match(text, m.end())
        if not spec:
            continue
        spans.append((m.start(), spec.end()))
        target = tree.resolve(rel, spec.group(2))
        for item in m.group(1).split(","):
            parts = item.split()
            if parts and parts[0] == "type":
                parts = parts[1:]
            if target and len(parts) == 1 and re.fullmatch(ID, parts[0]):
                names[parts[0]] = target
    return names, spans


def is_member_name(masked, start, end):
    """Whether the name at start..end heads its line and is followed by a parameter list and then
    `:` or `{` (a method declaration), or is followed by `:` or `?:` (a property or key)."""
    if re.match(r"\s*\??:(?!:)", masked[end:]):
        return True
    line_start = masked.rfind("\n", 0, start) + 1
    call = re.match(r"\s*(?:<[^>()]*>\s*)?\(", masked[end:])
    if not call or masked[line_start:start].strip(" \t") not in ("", "public", "static", "async"):
        return False
    close = matching_close(masked, end + call.end() - 1)
    return re.match(r"\s*[:{]", masked[close:]) is not None


def cases_for_file(tree, label, rel):
    src, masked = Source(tree.repo, rel), tree.masked(rel)
    names, spans = imports(tree, rel, src.text, masked)
    spans += [m.span() for m in EXPORT_LIST.finditer(masked)]
    cases = []
    for name, defined_in in names.items():
        line = tree.export_line(defined_in, name)
        if not line or re.search(DECLARED + re.escape(name) + r"(?![\w$])", masked):
            continue
        for m in word(name).finditer(masked):
            before = masked[max(0, m.start() - 3):m.start()]
            if (before.endswith(".") and before != "..." or any(a <= m.start() < b for a, b in spans)
                    or is_member_name(masked, m.start(), m.end())):
                continue
            cases.append(make_case(src, label, "typescript", m.start(), name, defined_in, line))
    return pick_per_file(cases)


def generate(root):
    """[(label, [cases of one file, ...])] for the package under `root`."""
    return generate_groups(repos(root), Tree, cases_for_file)
