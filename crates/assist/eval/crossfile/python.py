"""Python cross-file cases from CPython standard-library packages, with gold labels from `ast`.

Each package folder is one repository. A file's imports from its own package bind names
(`from .mod import name`, `from pkg.mod import name`) and modules (`from . import mod`,
`import pkg.mod as mod`, `import pkg`); a case puts the cursor right before a later use of such a
name, or right after `mod.` in `mod.name`, where `name` is defined exactly once at the top level of
the other file (`def`/`class` line, not decorators, or the first line of an assignment).
"""

import ast
import os
import sysconfig

from .common import Source, make_case, pick_per_file

PACKAGES = ["asyncio", "email", "json", "concurrent/futures", "importlib", "logging", "http", "xml/etree",
            "unittest", "multiprocessing", "sqlite3", "urllib", "tomllib", "zoneinfo", "wsgiref", "xmlrpc"]
SKIP_DIRS = {"__pycache__", "test", "tests"}


def default_root():
    return sysconfig.get_paths()["stdlib"]


def repos(root):
    """(label, absolute folder) of each package present under `root`, in PACKAGES order."""
    found = [(p, os.path.abspath(os.path.join(root, p))) for p in PACKAGES]
    return [(label, path) for label, path in found if os.path.isdir(path)]


def python_files(repo):
    """Root-relative `/`-separated paths of the package's .py files, sorted."""
    out = []
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel = os.path.relpath(folder, repo)
        out += [os.path.normpath(os.path.join(rel, f)).replace(os.sep, "/") for f in files if f.endswith(".py")]
    return sorted(out)


class Package:
    """The files of one package: parsed trees and their top-level definitions, cached."""

    def __init__(self, repo, label):
        self.repo, self.dotted = repo, label.replace("/", ".")
        self.files = set(python_files(repo))
        self._defs = {}

    def tree(self, rel):
        with open(os.path.join(self.repo, rel), encoding="utf-8", newline="") as f:
            return ast.parse(f.read())

    def definitions(self, rel):
        """name -> 1-based lines of its top-level definitions in `rel` ({} when unreadable)."""
        if rel not in self._defs:
            try:
                self._defs[rel] = top_level_definitions(self.tree(rel))
            except (SyntaxError, UnicodeDecodeError, OSError):
                self._defs[rel] = {}
        return self._defs[rel]

    def defined_once(self, rel, name):
        """The definition line of `name` in `rel` when there is exactly one, else None."""
        lines = self.definitions(rel).get(name, []) if rel else []
        return lines[0] if len(lines) == 1 and not name.startswith("__") else None

    def module(self, folder, parts):
        """The file of module `parts` under package folder `folder` ('' is the root), or None."""
        base = "/".join([folder, *parts]).strip("/")
        candidates = [f"{base}.py", f"{base}/__init__.py"] if base else ["__init__.py"]
        return next((rel for rel in candidates if rel in self.files), None)

    def submodule(self, rel, name):
        """The file of submodule `name` of the package whose `__init__.py` is `rel`, or None."""
        if not rel.endswith("__init__.py"):
            return None
        return self.module(os.path.dirname(rel), [name])

    def absolute(self, dotted):
        """The file of an absolute module name inside this package, or None."""
        if dotted != self.dotted and not dotted.startswith(self.dotted + "."):
            return None
        rest = dotted[len(self.dotted):].strip(".")
        return self.module("", rest.split(".") if rest else [])

    def relative(self, rel, level, dotted):
        """The file of `from <level dots><dotted> import ...` written in `rel`, or None."""
        folder = os.path.dirname(rel)
        for _ in range(level - 1):
            if not folder:
                return None
            folder = os.path.dirname(folder)
        return self.module(folder, dotted.split(".") if dotted else [])


def top_level_definitions(tree):
    """{name: [1-based lines]} of the module body's `def`/`class` statements and assignments."""
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            names = [node.target.id]
        else:
            names = []
        for name in names:
            defs.setdefault(name, []).append(node.lineno)
    return defs


def bindings(pkg, rel, tree):
    """What the file's top-level imports bind: ({local name: (file, name)}, {local name: module file})."""
    names, modules = {}, {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = (pkg.relative(rel, node.level, node.module) if node.level
                      else pkg.absolute(node.module or ""))
            for alias in node.names if source else []:
                local = alias.asname or alias.name
                sub = pkg.submodule(source, alias.name)
                if sub:
                    modules[local] = sub
                elif pkg.defined_once(source, alias.name):
                    names[local] = (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                # `import a.b as c` binds c to a.b; `import a.b` binds a to a.
                dotted = alias.name if alias.asname else alias.name.split(".")[0]
                target = pkg.absolute(dotted)
                if target:
                    modules[alias.asname or dotted] = target
    return names, modules


def module_of(pkg, modules, expr):
    """The module file an expression (`mod` or `mod.sub`) denotes, or None."""
    if isinstance(expr, ast.Name):
        return modules.get(expr.id)
    if isinstance(expr, ast.Attribute):
        parent = module_of(pkg, modules, expr.value)
        return parent and pkg.submodule(parent, expr.attr)
    return None


def uses(pkg, names, modules, tree):
    """(line, byte column, name, defining file) of each use of an imported name in `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
            yield node.lineno, node.col_offset, names[node.id][1], names[node.id][0]
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            source = module_of(pkg, modules, node.value)
            if source and not pkg.submodule(source, node.attr):
                yield node.end_lineno, node.end_col_offset - len(node.attr.encode()), node.attr, source


def cases_for_file(pkg, label, rel):
    src = Source(pkg.repo, rel)
    tree = ast.parse(src.text)
    names, modules = bindings(pkg, rel, tree)
    local = top_level_definitions(tree)
    import_lines = {n for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                    for n in range(node.lineno, node.end_lineno + 1)}
    cases = []
    for line, col, name, defined_in in uses(pkg, names, modules, tree):
        defined_line = pkg.defined_once(defined_in, name)
        if line in import_lines or name in local or not defined_line:
            continue
        cursor = src.offset_of_byte_col(line, col)
        cases.append(make_case(src, label, "python", cursor, name, defined_in, defined_line))
    return pick_per_file(cases)


def generate(root):
    """[(label, [cases of one file, ...])] for each package under `root`."""
    groups = []
    for label, repo in repos(root):
        pkg = Package(repo, label)
        per_file = []
        for rel in sorted(pkg.files):
            try:
                per_file.append(cases_for_file(pkg, label, rel))
            except (SyntaxError, UnicodeDecodeError):
                continue
        groups.append((label, [c for c in per_file if c]))
    return groups
