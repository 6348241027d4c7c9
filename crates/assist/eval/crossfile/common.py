"""What the language generators share: a file's text with its line table, turning a cursor into a
case, picking cases evenly (deterministically) per file and over files and repositories, bracket
helpers for masked code, and the check that a written case is exact against the files."""

import bisect
import os
import re

PER_FILE = 3
PER_DEFINITION = 3  # cases of one definition (name, defined_in) in a repository


class Source:
    """A file's exact text (newlines untranslated) and the offsets its lines start at."""

    def __init__(self, repo, rel):
        self.repo, self.rel = repo, rel
        with open(os.path.join(repo, rel), encoding="utf-8", newline="") as f:
            self.text = f.read()
        self.starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    def line_of(self, offset):
        """1-based line of a character offset."""
        return bisect.bisect_right(self.starts, offset)

    def offset_of_byte_col(self, line, col):
        """Character offset of a UTF-8 byte column (as Python's `ast` reports them) on a 1-based line."""
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        return start + len(self.text[start:end].encode("utf-8")[:col].decode("utf-8", "replace"))


def make_case(src, label, language, cursor, name, defined_in, defined_line):
    """The case with the cursor at `cursor` (right before `name`), or None when its line is unfit."""
    line = src.line_of(cursor)
    if line >= len(src.starts) or defined_in == src.rel or defined_line < 1:
        return None  # last line without a newline, or a same-file definition
    end = src.starts[line]
    middle = src.text[cursor:end]
    if not middle.startswith(name) or not 4 <= len(middle.strip()) <= 120:
        return None
    return {
        "id": f"{label}/{src.rel}:{line}",
        "repo": src.repo,
        "path": src.rel,
        "language": language,
        "kind": "cross-file",
        "name": name,
        "defined_in": defined_in,
        "defined_line": defined_line,
        "prefix": src.text[:cursor],
        "middle": middle,
        "suffix": src.text[end:],
        "_cursor": cursor,
    }


def spread(items, k):
    """k items evenly spaced over `items` (all of them when there are at most k)."""
    n = len(items)
    return list(items) if n <= k else [items[i * n // k] for i in range(k)]


def pick_per_file(cases):
    """At most PER_FILE cases of one file, one per line, different names first (each name's middle
    use), spread over the file."""
    by_line, by_name = {}, {}
    for case in sorted(filter(None, cases), key=lambda c: c["_cursor"]):
        by_line.setdefault(case["id"], case)
    for case in by_line.values():
        by_name.setdefault(case["name"], []).append(case)
    picked = spread([uses[len(uses) // 2] for uses in by_name.values()], PER_FILE)
    chosen = {id(c) for c in picked}
    rest = [c for c in by_line.values() if id(c) not in chosen]
    picked = sorted(picked + spread(rest, PER_FILE - len(picked)), key=lambda c: c["_cursor"])
    for case in picked:
        del case["_cursor"]
    return picked


def brace_depths(masked):
    """depth[i]: how many `{` are open before character i of masked code."""
    depth, d = [0] * (len(masked) + 1), 0
    for i, c in enumerate(masked):
        depth[i] = d
        if c == "{":
            d += 1
        elif c == "}" and d:
            d -= 1
    depth[len(masked)] = d
    return depth


def matching_close(masked, open_at):
    """Offset just past the bracket that closes the one at `open_at` (end of text if none)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    opening, closing, d = masked[open_at], pairs[masked[open_at]], 0
    for i in range(open_at, len(masked)):
        if masked[i] == opening:
            d += 1
        elif masked[i] == closing:
            d -= 1
            if d == 0:
                return i + 1
    return len(masked)


def mask_literals(text, start, literal_end):
    """The text with every comment and literal blanked (offsets and newlines kept): `start` finds
    where one may begin, `literal_end(text, match)` gives the offset just past it."""
    chars = list(text)
    m = start.search(text)
    while m:
        i, j = m.start(), literal_end(text, m)
        blank(chars, i, j)
        m = start.search(text, max(j, i + 1))
    return "".join(chars)


def line_end(text, i):
    """The offset of the first newline at or after `i` (the end of the text if none)."""
    j = text.find("\n", i)
    return len(text) if j < 0 else j


def blank(chars, start, end):
    """Replace chars[start:end] with spaces, keeping newlines (so offsets and lines stay put)."""
    for k in range(start, end):
        if chars[k] != "\n":
            chars[k] = " "


def word(name):
    """A regex matching `name` as a whole identifier (`$` counts as an identifier character)."""
    return re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")


def fair_shares(sizes, total):
    """Split `total` over groups of the given sizes as evenly as their sizes allow (round-robin)."""
    shares, left = [0] * len(sizes), total
    while left > 0 and any(s < n for s, n in zip(shares, sizes)):
        for i, n in enumerate(sizes):
            if left > 0 and shares[i] < n:
                shares[i] += 1
                left -= 1
    return shares


def spread_over_files(per_file, k):
    """k cases out of per-file lists: every file's first pick before any file's second, each round
    spread evenly over the files; returned in file order."""
    picked, rank = [], 0
    while len(picked) < k:
        round_ = [cases[rank] for cases in per_file if len(cases) > rank]
        if not round_:
            break
        picked += spread(round_, k - len(picked))
        rank += 1
    return sorted(picked, key=lambda c: (c["path"], len(c["prefix"])))


def cap_per_definition(per_file, cap=PER_DEFINITION):
    """The per-file lists keeping at most `cap` cases of each definition, spread over the files."""
    uses = {}
    for cases in per_file:
        for case in cases:
            uses.setdefault((case["defined_in"], case["name"]), []).append(case)
    kept = {id(c) for same in uses.values() for c in spread(same, cap)}
    return [kept_ for kept_ in ([c for c in cases if id(c) in kept] for cases in per_file) if kept_]


def select(groups, max_cases):
    """[(label, cases)]: at most max_cases out of [(label, per-file lists)], shared fairly among the
    groups, at most PER_DEFINITION cases a definition."""
    groups = [(label, cap_per_definition(per_file)) for label, per_file in groups]
    shares = fair_shares([sum(map(len, per_file)) for _, per_file in groups], max_cases)
    return [(label, spread_over_files(per_file, k)) for (label, per_file), k in zip(groups, shares)]


FIELDS = ["id", "repo", "path", "language", "kind", "name", "defined_in", "defined_line",
          "prefix", "middle", "suffix"]


def read_exact(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def check_case(case):
    """Raise AssertionError unless the case is exact against the files on disk."""
    where = case.get("id")
    assert list(case) == FIELDS, f"{where}: fields {list(case)}"
    assert case["kind"] == "cross-file" and case["language"] in ("python", "rust", "typescript", "go"), where
    assert os.path.isabs(case["repo"]) and "\\" not in case["path"] + case["defined_in"], where
    assert case["path"] != case["defined_in"], f"{where}: defined in the same file"
    text = read_exact(os.path.join(case["repo"], case["path"]))
    assert case["prefix"] + case["middle"] + case["suffix"] == text, f"{where}: text differs from the file"
    middle = case["middle"]
    assert middle.startswith(case["name"]) and middle.endswith("\n") and "\n" not in middle[:-1], where
    lines = read_exact(os.path.join(case["repo"], case["defined_in"])).split("\n")
    line = lines[case["defined_line"] - 1] if 1 <= case["defined_line"] <= len(lines) else ""
    assert word(case["name"]).search(line), f"{where}: {case['defined_in']}:{case['defined_line']} lacks the name"


def generate_groups(repos, open_repo, cases_for_file):
    """[(label, [cases of one file, ...])] for each (label, repo) of `repos`: `open_repo(repo)` reads
    a repository, `cases_for_file(opened, label, rel)` gives one file's cases."""
    groups = []
    for label, repo in repos:
        opened = open_repo(repo)
        per_file = [cases_for_file(opened, label, rel) for rel in sorted(opened.files)]
        groups.append((label, [c for c in per_file if c]))
    return groups
