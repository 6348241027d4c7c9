//! Each language's import rules: which names a file's imports bind, where the module they name lives
//! (as candidate root-relative paths), and the qualifier the cursor sits after (`mod.`, `Type::`).
//!
//! Line-based on purpose: it runs on the text being typed, which often does not parse, and needs only
//! the import statements at the top and the few bytes before the cursor.

use crate::Language;

/// A name bound by an import statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The name the file uses (`x` in `import a.b as x`, `y` in `from m import y`).
    pub local: String,
    /// Where the module lives, most likely first: root-relative paths, or path suffixes (`*/a/b.py`
    /// is any indexed path ending in `/a/b.py`); a `/`-ending entry is a directory (Go packages).
    pub module_paths: Vec<String>,
    /// The member of that module the name is bound to (`y` in `from m import y`); None when the name
    /// is the module itself.
    pub member: Option<String>,
}

/// What the cursor follows: `a.b.` gives `segments = ["a", "b"]`, `partial = ""`; `self.fo` gives
/// `["self"]` and `"fo"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qualifier {
    pub segments: Vec<String>,
    pub partial: String,
}

/// Lines from the top scanned for imports (they sit at the top in every language read here).
const IMPORT_SCAN_LINES: usize = 400;

/// The imports of `text`, a file at root-relative `rel`, under `lang`'s rules.
pub fn imports(lang: Language, rel: &str, text: &str) -> Vec<Import> {
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = Vec::new();
    match lang {
        Language::Python => python(dir, text, &mut out),
        Language::Rust => rust(rel, text, &mut out),
        Language::JavaScript | Language::TypeScript | Language::Tsx => javascript(dir, text, &mut out),
        Language::Go => go(text, &mut out),
        _ => {}
    }
    out
}

/// Whether a directory's files share one top-level scope, so that a name defined in a sibling file
/// is in scope without an import (a Go package).
pub fn directory_is_package(lang: Language) -> bool {
    matches!(lang, Language::Go)
}

/// Whether `rel` is a test or test-data file that its directory's package does not see (Go's
/// `_test.go` files and `testdata/` folders, which the go tool leaves out of a build).
pub fn outside_package(lang: Language, rel: &str) -> bool {
    match lang {
        Language::Go => rel.ends_with("_test.go") || rel.starts_with("testdata/") || rel.contains("/testdata/"),
        _ => false,
    }
}

/// Names that `text` binds in a local scope, where they shadow the package's own (Go: the left of
/// `:=`, `var` and `const` declarations inside a body, and `func` parameters). Line-based, as the
/// rest of this module: enough to tell a local `file` from the package's function `file`.
pub fn local_bindings(lang: Language, text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    if lang != Language::Go {
        return out;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    for line in text.lines() {
        let indented = line.starts_with(['\t', ' ']);
        let code = line.split("//").next().unwrap_or(line);
        if let Some((left, _)) = code.split_once(":=") {
            let left = left.trim().trim_start_matches("for ").trim_start_matches("if ").trim_start_matches("switch ");
            out.extend(left.split(',').map(str::trim).filter(|n| !n.is_empty() && n.chars().all(is_ident)));
        }
        let trimmed = code.trim_start();
        if indented {
            for keyword in ["var ", "const "] {
                if let Some(rest) = trimmed.strip_prefix(keyword) {
                    out.extend(
                        rest.split(|c: char| !is_ident(c) && c != ',')
                            .next()
                            .unwrap_or("")
                            .split(',')
                            .map(str::trim)
                            .filter(|n| !n.is_empty()),
                    );
                }
            }
        }
        // `func name(a, b T, c U)` and `func (r *T) name(...)`: every name before a type.
        if let Some(at) = code.find("func") {
            let mut rest = &code[at + 4..];
            while let Some(open) = rest.find('(') {
                let close = rest[open..].find(')').map_or(rest.len(), |c| open + c);
                for param in rest[open + 1..close].split(',') {
                    let name = param.split_whitespace().next().unwrap_or("");
                    if !name.is_empty() && name.chars().all(is_ident) && param.split_whitespace().count() > 1 {
                        out.push(name);
                    }
                }
                rest = &rest[close.min(rest.len())..];
                if rest.len() <= 1 {
                    break;
                }
                rest = &rest[1..];
            }
        }
    }
    out
}

/// Whether another module may use `name` (Go exports capitalised names; Python's `_names` are
/// private by convention, though `__init__` is how a class is called).
pub fn exported(lang: Language, name: &str) -> bool {
    match lang {
        Language::Go => name.starts_with(|c: char| c.is_uppercase()),
        _ => !name.starts_with('_') || name == "__init__",
    }
}

/// Whether the language marks a module's API by the name itself, so that every exported name is API
/// whatever its kind (a Go constant `Enabled`) and an unexported one is out of another package's reach.
pub fn exports_by_name(lang: Language) -> bool {
    matches!(lang, Language::Go)
}

/// The qualifier chain right before `offset`, if the cursor follows `name.` or `name::` (possibly
/// with part of the next name typed).
pub fn qualifier_before(lang: Language, text: &str, offset: usize) -> Option<Qualifier> {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let separators: &[&str] = match lang {
        Language::Rust | Language::Cpp => &["::", "."],
        _ => &["."],
    };
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let partial_start = before.trim_end_matches(is_ident).len();
    let partial = &before[partial_start..];
    let mut rest = &before[..partial_start];
    let mut segments = Vec::new();
    while let Some(sep) = separators.iter().find(|s| rest.ends_with(**s)) {
        let head = &rest[..rest.len() - sep.len()];
        let start = head.trim_end_matches(is_ident).len();
        let name = &head[start..];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        segments.push(name.to_string());
        rest = &head[..start];
    }
    if segments.is_empty() {
        return None;
    }
    segments.reverse();
    Some(Qualifier { segments, partial: partial.to_string() })
}

/// Whether the name at `offset` (with any qualifier before it, `pkg.` or `a::b::`) sits where the
/// language expects a type: Go's `x *T`, `[]T`, `.(*T)`, `func f() T`, `var x T`; Rust's `x: T`,
/// `-> T`, `&T`, `Vec<T`, `dyn T`. False where unsure (a call's argument, an unknown language).
pub fn expects_type(lang: Language, text: &str, offset: usize) -> bool {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let separators: &[&str] = if lang == Language::Rust { &["::"] } else { &["."] };
    let mut before = text[..end].trim_end_matches(is_ident);
    while let Some(head) = separators.iter().find_map(|sep| before.strip_suffix(sep)) {
        let name_start = head.trim_end_matches(is_ident).len();
        if name_start == head.len() {
            break;
        }
        before = &head[..name_start];
    }
    let trimmed = before.trim_end_matches([' ', '\t']);
    let spaced = trimmed.len() < before.len();
    let last_word = trimmed.rsplit(|c: char| !is_ident(c)).next().unwrap_or("");
    let word_ends = !last_word.is_empty() && trimmed.ends_with(last_word);
    match lang {
        Language::Go => {
            const NOT_TYPES: &[&str] = &[
                "return", "case", "go", "defer", "else", "if", "for", "range", "switch", "select", "func", "type", "var", "const",
                "package", "import", "goto", "break", "continue", "default",
            ];
            let last_word_of = |t: &str| t.rsplit(|c: char| !is_ident(c)).next().unwrap_or("").to_string();
            if let Some(pointer) = trimmed.strip_suffix('*').filter(|_| !spaced) {
                // `x *T`, `[]*T`, `.(*T)`; not `= *p` or `f(*p)`.
                let p = pointer.trim_end_matches([' ', '\t']);
                let word = last_word_of(p);
                let named = p.len() < pointer.len() && !word.is_empty() && p.ends_with(&word) && !NOT_TYPES.contains(&word.as_str());
                return p.ends_with(['[', ']']) || p.ends_with(".(") || named;
            }
            // `[]T`, `[4]T`, `.(T)` right after; `func f() T`, `x T`, `chan T` after a space.
            let closes = if spaced { trimmed.ends_with(')') } else { trimmed.ends_with(']') || trimmed.ends_with(".(") };
            closes || (word_ends && spaced && !NOT_TYPES.contains(&last_word) && !trimmed.ends_with("<-"))
        }
        Language::Rust => {
            let annotation = |t: &str| {
                let t = t.trim_end();
                (t.ends_with(':') && !t.ends_with("::")) || t.ends_with("->")
            };
            let reference = trimmed.strip_suffix("&mut").or_else(|| trimmed.strip_suffix('&').filter(|_| !spaced));
            annotation(trimmed)
                || reference.is_some_and(|r| annotation(r) || r.ends_with('<'))
                || (trimmed.ends_with('<') && !spaced && trimmed[..trimmed.len() - 1].ends_with(is_ident))
                || (word_ends && spaced && matches!(last_word, "dyn" | "impl" | "as"))
        }
        _ => false,
    }
}

fn join(dir: &str, tail: &str) -> String {
    match (dir.is_empty(), tail.is_empty()) {
        (true, _) => tail.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{tail}"),
    }
}

/// `dir` with `levels` components removed from its end (None past the root).
fn up(dir: &str, levels: usize) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    if levels > parts.len() {
        return None;
    }
    parts.truncate(parts.len() - levels);
    Some(parts.join("/"))
}

fn python_module_paths(base: Option<&str>, dotted: &str) -> Vec<String> {
    let tail = dotted.split('.').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("/");
    match base {
        Some(base) => {
            let at = join(base, &tail);
            if tail.is_empty() {
                vec![join(&at, "__init__.py")]
            } else {
                vec![format!("{at}.py"), join(&at, "__init__.py")]
            }
        }
        // Absolute: from the root, or wherever the package sits below it.
        None if !tail.is_empty() => {
            vec![format!("{tail}.py"), format!("{tail}/__init__.py"), format!("*/{tail}.py"), format!("*/{tail}/__init__.py")]
        }
        None => Vec::new(),
    }
}

/// Python: `import a.b [as x]`, `from .m import y [as z]`, `from . import mod`, parenthesised lists.
fn python(dir: &str, text: &str, out: &mut Vec<Import>) {
    let mut lines = text.lines().take(IMPORT_SCAN_LINES);
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("import ") {
            for item in rest.split(',') {
                let (module, alias) = split_as(item.trim());
                if module.is_empty() {
                    continue;
                }
                let local = alias.unwrap_or_else(|| module.split('.').next().unwrap_or(module));
                // `import a.b` binds `a`; the chain `a.b.` is resolved segment by segment from it.
                let bound = if alias.is_some() { module } else { local };
                out.push(Import { local: local.to_string(), module_paths: python_module_paths(None, bound), member: None });
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let Some((module, names)) = rest.split_once(" import ") else {
                continue;
            };
            let module = module.trim();
            let level = module.chars().take_while(|c| *c == '.').count();
            let base = if level > 0 {
                match up(dir, level - 1) {
                    Some(base) => Some(base),
                    None => continue,
                }
            } else {
                None
            };
            let dotted = &module[level..];
            let mut names = names.trim().to_string();
            if names.starts_with('(') {
                while !names.contains(')') {
                    match lines.next() {
                        Some(more) => {
                            names.push(' ');
                            names.push_str(more.split('#').next().unwrap_or(""));
                        }
                        None => break,
                    }
                }
            }
            let names = names.trim_start_matches('(').split(')').next().unwrap_or("");
            for item in names.split(',') {
                let (name, alias) = split_as(item.trim());
                if name.is_empty() || name == "*" {
                    continue;
                }
                let local = alias.unwrap_or(name).to_string();
                // `name` is a submodule of `module`, or a member of it: both candidates, submodule first.
                let sub = if dotted.is_empty() { name.to_string() } else { format!("{dotted}.{name}") };
                let mut module_paths = python_module_paths(base.as_deref(), &sub);
                let as_module = module_paths.len();
                module_paths.extend(python_module_paths(base.as_deref(), dotted));
                out.push(Import { local: local.clone(), module_paths: module_paths[..as_module].to_vec(), member: None });
                out.push(Import { local, module_paths: module_paths[as_module..].to_vec(), member: Some(name.to_string()) });
            }
        }
    }
}

fn split_as(item: &str) -> (&str, Option<&str>) {
    match item.split_once(" as ") {
        Some((name, alias)) => (name.trim(), Some(alias.trim())),
        None => (item.trim(), None),
    }
}

/// The directory holding a Rust file's crate root (`…/src`), for `crate::` paths.
fn rust_crate_dir(rel: &str) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.iter().rposition(|p| *p == "src") {
        Some(i) => parts[..=i].join("/"),
        None => parts[..parts.len().saturating_sub(1)].join("/"),
    }
}

/// The directory of a Rust file's own module: `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`,
/// whose children live in `src/a/b/`.
fn rust_module_dir(rel: &str) -> String {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    match file {
        "mod.rs" | "lib.rs" | "main.rs" => dir.to_string(),
        _ => join(dir, file.trim_end_matches(".rs")),
    }
}

fn rust_module_paths(rel: &str, path: &[&str]) -> Vec<String> {
    let (base, rest) = match path.first() {
        Some(&"crate") => (Some(rust_crate_dir(rel)), &path[1..]),
        Some(&"self") => (Some(rust_module_dir(rel)), &path[1..]),
        Some(&"super") => {
            let supers = path.iter().take_while(|p| **p == "super").count();
            let own = rust_module_dir(rel);
            (up(&own, supers), &path[supers..])
        }
        _ => (None, path),
    };
    let tail = rest.join("/");
    if tail.is_empty() {
        // `crate::X`, `super::X`, `self::X`: an item of that module's own file.
        return match base {
            Some(base) if base == rust_crate_dir(rel) => {
                vec![join(&base, "lib.rs"), join(&base, "main.rs")]
            }
            Some(base) => vec![format!("{base}.rs"), join(&base, "mod.rs")],
            None => Vec::new(),
        };
    }
    match base {
        Some(base) => vec![format!("{}.rs", join(&base, &tail)), join(&join(&base, &tail), "mod.rs")],
        // Another crate of the workspace, or a module declared beside this file.
        None => {
            let own = rust_module_dir(rel);
            let last = rest.last().copied().unwrap_or_default();
            vec![
                format!("{}.rs", join(&own, &tail)),
                join(&join(&own, &tail), "mod.rs"),
                format!("*/{last}.rs"),
                format!("*/{last}/mod.rs"),
            ]
        }
    }
}

/// Rust: `use a::b::c [as d];`, `use a::{b, c::d as e};`, `mod m;`.
fn rust(rel: &str, text: &str, out: &mut Vec<Import>) {
    let mut lines = text.lines().take(IMPORT_SCAN_LINES);
    while let Some(line) = lines.next() {
        let line = line.trim();
        let line = line.strip_prefix("pub ").or_else(|| line.strip_prefix("pub(crate) ")).unwrap_or(line);
        if let Some(name) = line.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            let own = rust_module_dir(rel);
            out.push(Import {
                local: name.trim().to_string(),
                module_paths: vec![format!("{}.rs", join(&own, name.trim())), join(&join(&own, name.trim()), "mod.rs")],
                member: None,
            });
            continue;
        }
        let Some(rest) = line.strip_prefix("use ") else {
            continue;
        };
        let mut statement = rest.to_string();
        while !statement.contains(';') {
            match lines.next() {
                Some(more) => statement.push_str(more.trim()),
                None => break,
            }
        }
        let statement = normalize_use(statement.split(';').next().unwrap_or(""));
        let mut flat = Vec::new();
        flatten_use("", &statement, &mut flat);
        for (path, alias) in flat {
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            let Some((&last, init)) = parts.split_last() else {
                continue;
            };
            if last == "*" || last == "self" && init.is_empty() {
                continue;
            }
            let (last, module) = if last == "self" { (*init.last().unwrap_or(&""), init) } else { (last, &parts[..]) };
            let local = alias.unwrap_or_else(|| last.to_string());
            // The name is a module (a file), or an item of its parent module.
            out.push(Import { local: local.clone(), module_paths: rust_module_paths(rel, module), member: None });
            if module.len() > 1 {
                out.push(Import {
                    local,
                    module_paths: rust_module_paths(rel, &module[..module.len() - 1]),
                    member: Some(last.to_string()),
                });
            }
        }
    }
}

/// `a::{b,c::{d,e as f}}` (normalized) into `(a::b, None)`, `(a::c::d, None)`, `(a::c::e, Some(f))`.
fn flatten_use(prefix: &str, tree: &str, out: &mut Vec<(String, Option<String>)>) {
    if let Some(open) = tree.find('{') {
        let head = &tree[..open];
        let inner = tree[open + 1..].strip_suffix('}').unwrap_or(&tree[open + 1..]);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    flatten_use(&format!("{prefix}{head}"), &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        flatten_use(&format!("{prefix}{head}"), &inner[start..], out);
        return;
    }
    if tree.trim().is_empty() {
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((p, a)) => (p.trim().to_string(), Some(a.trim().to_string())),
        None => (tree.trim().to_string(), None),
    };
    out.push((format!("{prefix}{path}"), alias));
}

/// A use statement with its whitespace reduced to the single spaces of `x as y`.
fn normalize_use(statement: &str) -> String {
    let collapsed = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let punct = |c: Option<&char>| c.is_some_and(|c| matches!(c, ':' | '{' | '}' | ','));
        if c == ' ' && (punct(i.checked_sub(1).and_then(|j| chars.get(j))) || punct(chars.get(i + 1))) {
            continue;
        }
        out.push(c);
    }
    out
}

const JS_EXTENSIONS: [&str; 8] = [".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", "/index.ts", "/index.js"];

fn javascript_module_paths(dir: &str, spec: &str) -> Vec<String> {
    if !(spec.starts_with("./") || spec.starts_with("../")) {
        return Vec::new(); // a package from node_modules: not in the repository
    }
    let mut base: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in spec.split('/') {
        match part {
            "." => {}
            ".." => {
                base.pop();
            }
            p => base.push(p),
        }
    }
    let target = base.join("/");
    let stem = target.trim_end_matches(".js").trim_end_matches(".ts");
    let mut paths = vec![target.clone()];
    paths.extend(JS_EXTENSIONS.iter().map(|ext| format!("{stem}{ext}")));
    paths
}

/// JavaScript/TypeScript: `import x, { a, b as c } from './m'`, `import * as ns from './m'`,
/// `const x = require('./m')`, `const { a } = require('./m')`.
fn javascript(dir: &str, text: &str, out: &mut Vec<Import>) {
    let mut lines = text.lines().take(IMPORT_SCAN_LINES);
    while let Some(line) = lines.next() {
        let line = line.trim();
        let mut statement = line.to_string();
        let (clause, spec) = if line.starts_with("import ") || line.starts_with("export ") && line.contains(" from ") {
            while !statement.contains(" from ") && !statement.contains(';') && statement.starts_with("import {") {
                match lines.next() {
                    Some(more) => {
                        statement.push(' ');
                        statement.push_str(more.trim());
                    }
                    None => break,
                }
            }
            let Some((clause, spec)) = statement.split_once(" from ") else {
                continue;
            };
            let clause = clause.trim_start_matches("import ").trim_start_matches("export ").trim_start_matches("type ");
            (clause.to_string(), spec.to_string())
        } else if let Some(at) = line.find("require(") {
            let head = line[..at].trim_end().trim_end_matches('=').trim();
            let clause = head.trim_start_matches("const ").trim_start_matches("let ").trim_start_matches("var ");
            (clause.to_string(), line[at + "require(".len()..].to_string())
        } else {
            continue;
        };
        let spec: String = spec.trim().chars().skip(1).take_while(|c| *c != '\'' && *c != '"' && *c != '`').collect();
        let paths = javascript_module_paths(dir, &spec);
        if paths.is_empty() {
            continue;
        }
        let clause = clause.trim();
        let (default, named) = match clause.find('{') {
            Some(open) => (clause[..open].trim().trim_end_matches(','), Some(&clause[open + 1..])),
            None => (clause, None),
        };
        let default = default.trim();
        if let Some(ns) = default.strip_prefix("* as ") {
            out.push(Import { local: ns.trim().to_string(), module_paths: paths.clone(), member: None });
        } else if !default.is_empty() && default.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            out.push(Import { local: default.to_string(), module_paths: paths.clone(), member: None });
        }
        if let Some(named) = named {
            for item in named.split('}').next().unwrap_or("").split(',') {
                let item = item.trim().trim_start_matches("type ");
                let (name, alias) = match item.split_once(" as ").or_else(|| item.split_once(':')) {
                    Some((n, a)) => (n.trim(), Some(a.trim())),
                    None => (item, None),
                };
                if name.is_empty() {
                    continue;
                }
                out.push(Import { local: alias.unwrap_or(name).to_string(), module_paths: paths.clone(), member: Some(name.to_string()) });
            }
        }
    }
}

/// Go: `import "a/b/pkg"`, `import alias "a/b/pkg"` and `import ( … )` blocks; the package is the
/// directory (any indexed directory ending in the import path's last segments).
fn go(text: &str, out: &mut Vec<Import>) {
    let mut in_block = false;
    for line in text.lines().take(IMPORT_SCAN_LINES) {
        let line = line.trim();
        let spec = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("import") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let Some(quote) = spec.find('"') else {
            continue;
        };
        let alias = spec[..quote].trim();
        let path: String = spec[quote + 1..].chars().take_while(|c| *c != '"').collect();
        let last = path.rsplit('/').next().unwrap_or(&path).to_string();
        let local = if alias.is_empty() { last.clone() } else { alias.to_string() };
        if local == "_" || local == "." || path.is_empty() {
            continue;
        }
        // The longest suffix first: `x/y/pkg` inside the repository, else any `…/pkg/`.
        let parts: Vec<&str> = path.split('/').collect();
        let module_paths = (0..parts.len()).map(|i| format!("*/{}/", parts[i..].join("/"))).collect();
        out.push(Import { local, module_paths, member: None });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn type_positions_go_and_rust() {
        let at_end = |lang, text: &str| expects_type(lang, text, text.len());
        for text in [
            "func f(x *",
            "func f(x *ast.",
            "\tbuf []",
            "\tRoot      *",
            "var p224GG *[96]fiat.",
            "d, ok := decl.(*ast.",
            "tpar, _ := t.(*",
            "func newLocalListener() net.",
            "\toption option",
            "\tscope    *",
            "var table ",
            "ch chan ",
            "var p = &nistCurve[*nistec.",
        ] {
            assert!(at_end(Language::Go, text), "Go type at the end of {text:?}");
        }
        for text in [
            "x = ",
            "return ",
            "ip = ",
            "if call, ok := ",
            "\t\treturn fw == ",
            "x = *",
            "a * ",
            "f(",
            "func ",
            "type ",
            "m := image.",
            "case ",
            "x <- ",
        ] {
            assert!(!at_end(Language::Go, text), "Go value at the end of {text:?}");
        }
        for text in ["let x: ", "fn f() -> ", "fn f(x: &", "Vec<", "Box<dyn ", "x as ", "fn f(x: &mut ", "let x: std::io::"] {
            assert!(at_end(Language::Rust, text), "Rust type at the end of {text:?}");
        }
        for text in ["let x = ", "std::", "a < ", "f(&", "Foo::"] {
            assert!(!at_end(Language::Rust, text), "Rust value at the end of {text:?}");
        }
        assert!(!at_end(Language::Python, "x: "));
    }

    #[test]
    fn go_packages_are_directories_without_their_tests() {
        assert!(directory_is_package(Language::Go) && !directory_is_package(Language::Python));
        assert!(outside_package(Language::Go, "net/http/server_test.go"));
        assert!(outside_package(Language::Go, "go/types/testdata/check/x.go"));
        assert!(!outside_package(Language::Go, "net/http/server.go"));
        assert!(!outside_package(Language::Rust, "tests/x_test.go"));
        assert!(exported(Language::Go, "Handler") && !exported(Language::Go, "handler"));
        assert!(exported(Language::Python, "__init__") && !exported(Language::Python, "_private"));
    }

    #[test]
    fn go_local_bindings_shadow_package_names() {
        let text = "package p\n\nvar top = 1\n\nfunc (r *Reader) read(file string, n, m int) error {\n\tdata, err := open(file)\n\tfor i, line := range data {\n\t\tvar count int\n\t}\n\tx := top\n}\n";
        let mut got = local_bindings(Language::Go, text);
        got.sort();
        assert_eq!(got, ["count", "data", "err", "file", "i", "line", "m", "r", "x"]);
        assert!(local_bindings(Language::Python, "x := 1").is_empty());
    }

    fn show(lang: Language, rel: &str, text: &str) -> String {
        imports(lang, rel, text)
            .iter()
            .map(|i| {
                format!(
                    "{} -> {}{}\n",
                    i.local,
                    i.module_paths.join(" | "),
                    i.member.as_ref().map_or(String::new(), |m| format!(" :: {m}"))
                )
            })
            .collect()
    }

    #[test]
    fn python_imports_resolve_relative_and_absolute_modules() {
        let text = "import os, json.decoder as jd\nfrom . import _base\nfrom ..util import (helper,\n    other as o)\nfrom concurrent.futures import thread\n";
        expect![[r#"
            os -> os.py | os/__init__.py | */os.py | */os/__init__.py
            jd -> json/decoder.py | json/decoder/__init__.py | */json/decoder.py | */json/decoder/__init__.py
            _base -> concurrent/futures/_base.py | concurrent/futures/_base/__init__.py
            _base -> concurrent/futures/__init__.py :: _base
            helper -> concurrent/util/helper.py | concurrent/util/helper/__init__.py
            helper -> concurrent/util.py | concurrent/util/__init__.py :: helper
            o -> concurrent/util/other.py | concurrent/util/other/__init__.py
            o -> concurrent/util.py | concurrent/util/__init__.py :: other
            thread -> concurrent/futures/thread.py | concurrent/futures/thread/__init__.py | */concurrent/futures/thread.py | */concurrent/futures/thread/__init__.py
            thread -> concurrent/futures.py | concurrent/futures/__init__.py | */concurrent/futures.py | */concurrent/futures/__init__.py :: thread
        "#]]
        .assert_eq(&show(Language::Python, "concurrent/futures/process.py", text));
    }

    #[test]
    fn rust_use_trees_and_mod_declarations() {
        let text = "mod parse;\nuse crate::store::{Index, dir_of as dir};\nuse super::live::Update;\nuse super::Version;\nuse crate::Error;\nuse std::sync::Arc;\n";
        expect![[r#"
            parse -> crates/index/src/retrieve/parse.rs | crates/index/src/retrieve/parse/mod.rs
            Index -> crates/index/src/store/Index.rs | crates/index/src/store/Index/mod.rs
            Index -> crates/index/src/store.rs | crates/index/src/store/mod.rs :: Index
            dir -> crates/index/src/store/dir_of.rs | crates/index/src/store/dir_of/mod.rs
            dir -> crates/index/src/store.rs | crates/index/src/store/mod.rs :: dir_of
            Update -> crates/index/src/live/Update.rs | crates/index/src/live/Update/mod.rs
            Update -> crates/index/src/live.rs | crates/index/src/live/mod.rs :: Update
            Version -> crates/index/src/Version.rs | crates/index/src/Version/mod.rs
            Version -> crates/index/src/lib.rs | crates/index/src/main.rs :: Version
            Error -> crates/index/src/Error.rs | crates/index/src/Error/mod.rs
            Error -> crates/index/src/lib.rs | crates/index/src/main.rs :: Error
            Arc -> crates/index/src/retrieve/std/sync/Arc.rs | crates/index/src/retrieve/std/sync/Arc/mod.rs | */Arc.rs | */Arc/mod.rs
            Arc -> crates/index/src/retrieve/std/sync.rs | crates/index/src/retrieve/std/sync/mod.rs | */sync.rs | */sync/mod.rs :: Arc
        "#]]
        .assert_eq(&show(Language::Rust, "crates/index/src/retrieve.rs", text));
    }

    #[test]
    fn javascript_imports_and_requires() {
        let text = "import * as proto from './protocol';\nimport Client, { send, Kind as K } from '../client.js';\nimport x from 'vscode';\nconst { join } = require('./paths');\n";
        expect![[r#"
            proto -> src/lib/protocol | src/lib/protocol.ts | src/lib/protocol.tsx | src/lib/protocol.d.ts | src/lib/protocol.js | src/lib/protocol.jsx | src/lib/protocol.mjs | src/lib/protocol/index.ts | src/lib/protocol/index.js
            Client -> src/client.js | src/client.ts | src/client.tsx | src/client.d.ts | src/client.js | src/client.jsx | src/client.mjs | src/client/index.ts | src/client/index.js
            send -> src/client.js | src/client.ts | src/client.tsx | src/client.d.ts | src/client.js | src/client.jsx | src/client.mjs | src/client/index.ts | src/client/index.js :: send
            K -> src/client.js | src/client.ts | src/client.tsx | src/client.d.ts | src/client.js | src/client.jsx | src/client.mjs | src/client/index.ts | src/client/index.js :: Kind
            join -> src/lib/paths | src/lib/paths.ts | src/lib/paths.tsx | src/lib/paths.d.ts | src/lib/paths.js | src/lib/paths.jsx | src/lib/paths.mjs | src/lib/paths/index.ts | src/lib/paths/index.js :: join
        "#]]
        .assert_eq(&show(Language::TypeScript, "src/lib/main.ts", text));
    }

    #[test]
    fn go_imports_name_their_package_directory() {
        let text = "package main\n\nimport (\n\t\"fmt\"\n\tstore \"example.com/app/internal/storage\"\n)\n";
        expect![[r#"
            fmt -> */fmt/
            store -> */example.com/app/internal/storage/ | */app/internal/storage/ | */internal/storage/ | */storage/
        "#]]
        .assert_eq(&show(Language::Go, "cmd/main.go", text));
    }

    #[test]
    fn qualifiers_before_the_cursor() {
        let q = |lang, text: &str| qualifier_before(lang, text, text.len()).map(|q| format!("{:?} {:?}", q.segments, q.partial));
        assert_eq!(q(Language::Python, "class T(_base."), Some(r#"["_base"] """#.into()));
        assert_eq!(q(Language::Python, "    x = self.fo"), Some(r#"["self"] "fo""#.into()));
        assert_eq!(q(Language::Python, "a.b.c"), Some(r#"["a", "b"] "c""#.into()));
        assert_eq!(q(Language::Rust, "let v = Index::op"), Some(r#"["Index"] "op""#.into()));
        assert_eq!(q(Language::Python, "x = 1.5"), None);
        assert_eq!(q(Language::Python, "return value"), None);
    }
}
