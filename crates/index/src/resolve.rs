//! What the cursor is about to use: the file's imports resolved against the indexed paths, and the
//! qualifier before the cursor (`mod.`, `Type::`, `self.`) resolved to the module or type whose members
//! it names. The language rules live in `hearth_syntax::imports`; this only looks them up.

use std::path::Path;

use hearth_syntax::{Import, Language, Qualifier, SymbolKind};

use crate::store::{dir_of, file_name, State};

/// An import whose module is in the index.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedImport {
    /// The name the file uses.
    pub local: String,
    /// The module's files (several for a Go package).
    pub files: Vec<u32>,
    /// The member the name is bound to; None for the module itself.
    pub member: Option<String>,
}

/// Members the cursor is about to pick from: the top level of `files` (scope None) or one type's.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MemberSet {
    pub files: Vec<u32>,
    pub scope: Option<String>,
    /// What the qualifier named, for the snippet's reason (`_base`, `self`, `Index`).
    pub label: String,
}

/// Most files one type may spread over (a Rust type's impl blocks).
const MAX_FILES: usize = 4;
/// Most files of one directory package (Go) whose members are ranked.
const MAX_PACKAGE_FILES: usize = 256;
/// The files that are a package's own module (`pkg/__init__.py` is `pkg`).
const PACKAGE_FILES: &[&str] = &["__init__.py", "mod.rs", "index.ts", "index.tsx", "index.js"];

/// The file's imports whose module is indexed; of the alternatives for one name (`from . import m` is
/// the file `m.py` or a member `m` of `__init__.py`), the first that resolves.
pub(crate) fn resolve_imports(state: &State, imports: Vec<Import>) -> Vec<ResolvedImport> {
    let mut out: Vec<ResolvedImport> = Vec::new();
    for import in imports {
        if out.iter().any(|r| r.local == import.local) {
            continue;
        }
        let mut files = module_files(state, &import.module_paths);
        if files.is_empty() {
            continue;
        }
        if let Some(member) = &import.member {
            if !defines(state, &files, member) {
                // Re-exported (`pub use`, `from .sub import *`, `export * from`): the definition
                // elsewhere, when the name has only one at top level.
                match sole_top_level(state, member) {
                    Some(file) => files = vec![file],
                    None => continue,
                }
            }
        }
        out.push(ResolvedImport { local: import.local, files, member: import.member });
    }
    out
}

/// The indexed files of the first path that names any: exact paths, `*/suffix` paths and
/// `/`-ending directories. When none does, a `*/a/b/c` path may name a package that is the root
/// itself (a checkout of the package's folder): `b/c`, then `c`, from the root.
fn module_files(state: &State, paths: &[String]) -> Vec<u32> {
    let found = first_match(state, paths.iter().map(String::as_str));
    if !found.is_empty() {
        return found;
    }
    let below_root: Vec<String> = paths
        .iter()
        .filter_map(|p| p.strip_prefix("*/"))
        .flat_map(|suffix| {
            suffix
                .match_indices('/')
                .map(move |(at, _)| &suffix[at + 1..])
                .filter(move |rest| keeps_module_name(suffix, rest))
                .map(str::to_string)
        })
        .collect();
    first_match(state, below_root.iter().map(String::as_str))
}

/// Whether `rest`, a tail of the module path `suffix`, still names the module: `pkg/__init__.py`
/// cut to `__init__.py` names whatever package the root is, which only an import of a one-part
/// module (`import pkg`, the root's own package) may mean.
fn keeps_module_name(suffix: &str, rest: &str) -> bool {
    !rest.is_empty() && (rest.contains('/') || !PACKAGE_FILES.contains(&rest) || suffix.matches('/').count() == 1)
}

fn first_match<'p>(state: &State, paths: impl Iterator<Item = &'p str>) -> Vec<u32> {
    for path in paths {
        let (suffix, any) = match path.strip_prefix("*/") {
            Some(rest) => (rest, true),
            None => (path, false),
        };
        let mut files: Vec<u32> = if let Some(dir) = suffix.strip_suffix('/') {
            let ids = if any { state.dir_ending_with(dir).unwrap_or_default() } else { state.files_in_dir(dir) };
            let package = package_files(state, ids);
            if !package.is_empty() {
                return package;
            }
            continue;
        } else if any {
            state.files_ending_with(suffix)
        } else {
            state.file_id(suffix).into_iter().collect()
        };
        if !files.is_empty() {
            files.truncate(MAX_FILES);
            return files;
        }
    }
    Vec::new()
}

/// Of a directory's files, those of its package, at most `MAX_PACKAGE_FILES`.
fn package_files(state: &State, ids: &[u32]) -> Vec<u32> {
    ids.iter().copied().filter(|&id| in_package(state, id)).take(MAX_PACKAGE_FILES).collect()
}

/// Whether a file belongs to its directory's package (a Go package's tests and test data do not).
pub(crate) fn in_package(state: &State, id: u32) -> bool {
    let path = state.path(id);
    Language::from_path(Path::new(&**path)).is_none_or(|lang| !hearth_syntax::outside_package(lang, path))
}

/// The one file that defines `name` at top level, if exactly one does.
fn sole_top_level(state: &State, name: &str) -> Option<u32> {
    let mut files = state.symbols.get(name)?.iter().filter(|d| d.scope.is_none() && d.kind != SymbolKind::Impl).map(|d| d.file);
    let first = files.next()?;
    files.all(|f| f == first).then_some(first)
}

/// Whether any of `files` defines `name` (at any scope).
fn defines(state: &State, files: &[u32], name: &str) -> bool {
    state.symbols.get(name).is_some_and(|defs| defs.iter().any(|d| files.contains(&d.file)))
}

pub(crate) fn is_type(kind: SymbolKind) -> bool {
    use SymbolKind::*;
    matches!(kind, Class | Struct | Enum | Union | Interface | Trait | Type | Impl)
}

/// Whether a definition's scope (`a::B`, `B`, `Outer.B`) is the type `name`.
pub(crate) fn scope_is(scope: &str, name: &str) -> bool {
    scope.strip_suffix(name).is_some_and(|head| head.is_empty() || head.ends_with("::") || head.ends_with('.'))
}

/// The files of `files` that define the type `name`, or None when none does.
fn type_in(state: &State, files: &[u32], name: &str) -> Option<Vec<u32>> {
    let defs = state.symbols.get(name)?;
    let found: Vec<u32> = files.iter().copied().filter(|f| defs.iter().any(|d| d.file == *f && is_type(d.kind))).collect();
    (!found.is_empty()).then_some(found)
}

/// The files anywhere in the index that define the type `name`, the cursor's directory first.
fn type_anywhere(state: &State, rel: &str, name: &str) -> Option<Vec<u32>> {
    let defs = state.symbols.get(name)?;
    let dir = dir_of(rel);
    let mut files: Vec<u32> = defs.iter().filter(|d| is_type(d.kind)).map(|d| d.file).collect();
    files.sort_by_key(|&f| (dir_of(state.path(f)) != dir, f));
    files.dedup();
    files.truncate(MAX_FILES);
    (!files.is_empty()).then_some(files)
}

/// The member sets `qualifier` (the one before `offset`) names, most specific first: `mod.` gives the module,
/// `mod.Type.` or `Type::` a type, and `self.`/`this.` the enclosing class followed by its bases.
pub(crate) fn qualified_members(
    state: &State,
    lang: Language,
    rel: &str,
    text: &str,
    offset: usize,
    qualifier: &Qualifier,
    imports: &[ResolvedImport],
) -> Vec<MemberSet> {
    let head = qualifier.segments[0].as_str();
    let own = state.file_id(rel);
    let before = text[..offset.min(text.len())].trim_end_matches(qualifier.partial.as_str());
    if lang == Language::Rust && matches!(head, "crate" | "super" | "self") && before.ends_with("::") {
        return rust_path_module(state, rel, &qualifier.segments).into_iter().collect();
    }
    if matches!(head, "self" | "this" | "cls" | "Self") && qualifier.segments.len() == 1 {
        return enclosing_class(state, lang, rel, text, offset, own, imports);
    }
    let Some(mut set) = name_to_members(state, rel, head, own, imports) else {
        return Vec::new();
    };
    for segment in &qualifier.segments[1..] {
        let label = format!("{}.{segment}", set.label);
        set = if let Some(files) = type_in(state, &set.files, segment) {
            MemberSet { files, scope: Some(segment.clone()), label }
        } else if let Some(file) = submodule(state, &set, segment) {
            MemberSet { files: vec![file], scope: None, label }
        } else {
            return Vec::new();
        };
    }
    vec![set]
}

/// `crate::a::b::`, `super::`, `self::m::`: the module that Rust path names, by the import rules of
/// a `use` of one of its items.
fn rust_path_module(state: &State, rel: &str, segments: &[String]) -> Option<MemberSet> {
    const PROBE: &str = "__hearth_member";
    let statement = format!("use {}::{PROBE};", segments.join("::"));
    let import = hearth_syntax::imports(Language::Rust, rel, &statement).into_iter().find(|i| i.member.as_deref() == Some(PROBE))?;
    let files = module_files(state, &import.module_paths);
    (!files.is_empty()).then(|| MemberSet { files, scope: None, label: segments.join("::") })
}

/// `pkg.sub` where `pkg` is a module: the file of its submodule `sub` (`pkg/sub.py`,
/// `pkg/sub/__init__.py`, `a/sub.rs` beside `a/mod.rs`, `dir/sub.ts` beside `dir/index.ts`).
fn submodule(state: &State, set: &MemberSet, name: &str) -> Option<u32> {
    const EXTENSIONS: &[&str] = &["py", "rs", "ts", "tsx", "js"];
    if set.scope.is_some() {
        return None;
    }
    set.files.iter().find_map(|&file| {
        let path = state.path(file);
        let (dir, file_name) = (dir_of(path), file_name(path));
        let stem = file_name.split('.').next().unwrap_or(file_name);
        let package = match stem {
            "__init__" | "mod" | "index" | "lib" => dir.to_string(),
            _ if dir.is_empty() => stem.to_string(),
            _ => format!("{dir}/{stem}"),
        };
        let base = if package.is_empty() { name.to_string() } else { format!("{package}/{name}") };
        EXTENSIONS
            .iter()
            .map(|ext| format!("{base}.{ext}"))
            .chain(PACKAGE_FILES.iter().map(|f| format!("{base}/{f}")))
            .find_map(|candidate| state.file_id(&candidate))
    })
}

/// What a bare name (`_base`, `Executor`, `Index`) names: an imported module, an imported type, a type
/// in the cursor's file, or a type elsewhere in the index.
fn name_to_members(state: &State, rel: &str, name: &str, own: Option<u32>, imports: &[ResolvedImport]) -> Option<MemberSet> {
    let label = name.to_string();
    if let Some(import) = imports.iter().find(|i| i.local == name) {
        return match &import.member {
            None => Some(MemberSet { files: import.files.clone(), scope: None, label }),
            Some(member) => type_in(state, &import.files, member).map(|files| MemberSet { files, scope: Some(member.clone()), label }),
        };
    }
    let files = own.and_then(|id| type_in(state, &[id], name)).or_else(|| type_anywhere(state, rel, name))?;
    Some(MemberSet { files, scope: Some(name.to_string()), label })
}

/// `self.` or `this.`: the class (or Rust impl) around the cursor, then its bases.
fn enclosing_class(
    state: &State,
    lang: Language,
    rel: &str,
    text: &str,
    offset: usize,
    own: Option<u32>,
    imports: &[ResolvedImport],
) -> Vec<MemberSet> {
    let Some((class, bases)) = class_header_before(lang, &text[..offset.min(text.len())]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let files = own.and_then(|id| type_in(state, &[id], &class)).or_else(|| type_anywhere(state, rel, &class));
    if let Some(files) = files {
        out.push(MemberSet { files, scope: Some(class.clone()), label: "self".into() });
    }
    for base in bases {
        let set = match base.rsplit_once('.') {
            Some((module, name)) => imports
                .iter()
                .find(|i| i.local == module && i.member.is_none())
                .and_then(|i| type_in(state, &i.files, name))
                .map(|files| MemberSet { files, scope: Some(name.to_string()), label: base.clone() }),
            None => name_to_members(state, rel, &base, own, imports).filter(|s| s.scope.is_some()),
        };
        if let Some(set) = set {
            if !out.contains(&set) {
                out.push(set);
            }
        }
    }
    out
}

/// The innermost class header above the cursor and its bases: `class A(B, m.C):` in Python,
/// `class A extends B implements C {` in JS/TS, `impl A {` / `impl T for A {` in Rust.
fn class_header_before(lang: Language, before: &str) -> Option<(String, Vec<String>)> {
    let cursor_indent = before.rsplit('\n').next().map_or(0, |line| line.len() - line.trim_start().len());
    for line in before.lines().rev() {
        let indent = line.len() - line.trim_start().len();
        let line = line.trim();
        match lang {
            Language::Python => {
                let Some(rest) = line.strip_prefix("class ") else {
                    continue;
                };
                if indent >= cursor_indent {
                    continue;
                }
                let name = ident_prefix(rest);
                let bases = rest[name.len()..].trim_start().strip_prefix('(').map(|b| b.split(')').next().unwrap_or("")).unwrap_or("");
                let bases = bases.split(',').map(str::trim).filter(|b| !b.is_empty() && !b.contains('=')).map(String::from).collect();
                return Some((name.to_string(), bases));
            }
            Language::JavaScript | Language::TypeScript | Language::Tsx => {
                let rest = line.trim_start_matches("export ").trim_start_matches("default ").trim_start_matches("abstract ");
                let Some(rest) = rest.strip_prefix("class ") else {
                    continue;
                };
                let name = ident_prefix(rest);
                let mut bases = Vec::new();
                let tail = &rest[name.len()..];
                for keyword in ["extends ", "implements "] {
                    if let Some(at) = tail.find(keyword) {
                        let list = &tail[at + keyword.len()..];
                        let list = list.split(['{', '<']).next().unwrap_or("");
                        let list = list.split(" implements ").next().unwrap_or("");
                        bases.extend(list.split(',').map(str::trim).filter(|b| !b.is_empty()).map(String::from));
                    }
                }
                return Some((name.to_string(), bases));
            }
            Language::Rust => {
                let Some(rest) = line.strip_prefix("impl").filter(|r| r.starts_with([' ', '<'])) else {
                    continue;
                };
                let rest = skip_generics(rest.trim_start());
                let target = rest.rsplit(" for ").next().unwrap_or(rest);
                let name = ident_prefix(target.trim());
                if !name.is_empty() {
                    return Some((name.to_string(), Vec::new()));
                }
            }
            _ => return None,
        }
    }
    None
}

/// `text` past a leading `<…>` (nested brackets included).
fn skip_generics(text: &str) -> &str {
    if !text.starts_with('<') {
        return text;
    }
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return text[i + 1..].trim_start();
                }
            }
            _ => {}
        }
    }
    ""
}

fn ident_prefix(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_headers_and_their_bases() {
        let py = "class A(base.B, C, metaclass=M):\n    def f(self):\n        self.";
        assert_eq!(class_header_before(Language::Python, py), Some(("A".into(), vec!["base.B".into(), "C".into()])));
        let ts = "export class Client extends Base implements Api {\n  run() {\n    this.";
        assert_eq!(class_header_before(Language::TypeScript, ts), Some(("Client".into(), vec!["Base".into(), "Api".into()])));
        let rs = "impl<T: Clone> Display for Wrapper<T> {\n    fn fmt(&self) {\n        self.";
        assert_eq!(class_header_before(Language::Rust, rs), Some(("Wrapper".into(), vec![])));
        assert_eq!(class_header_before(Language::Python, "def f():\n    self."), None);
    }
}
