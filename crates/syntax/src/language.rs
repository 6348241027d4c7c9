//! The languages Hearth parses, and how a path or an LSP language id maps to one.

use std::path::Path;

/// A language with a tree-sitter grammar and query files in `grammars/<dir_name>/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    C,
    Cpp,
    CSharp,
    Ruby,
    Lua,
}

impl Language {
    pub const ALL: [Language; 12] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Java,
        Language::C,
        Language::Cpp,
        Language::CSharp,
        Language::Ruby,
        Language::Lua,
    ];

    /// The language of a file, from its extension (or its name, for a few well-known files).
    pub fn from_path(path: &Path) -> Option<Language> {
        let name = path.file_name()?.to_str()?;
        if matches!(name, "Rakefile" | "Gemfile" | "Guardfile" | "Vagrantfile") {
            return Some(Language::Ruby);
        }
        let ext = path.extension()?.to_str()?;
        Self::from_extension(ext)
    }

    /// The language for a file extension without the dot (`"rs"`, `"tsx"`); case-sensitive for `.C`/`.H`.
    pub fn from_extension(ext: &str) -> Option<Language> {
        Some(match ext {
            "rs" => Language::Rust,
            "py" | "pyi" | "pyw" => Language::Python,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            "java" => Language::Java,
            "c" | "h" => Language::C,
            "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "tpp" | "C" | "H" => Language::Cpp,
            "cs" => Language::CSharp,
            "rb" | "rake" | "gemspec" => Language::Ruby,
            "lua" => Language::Lua,
            _ => return None,
        })
    }

    /// The language for an LSP `languageId` (as VS Code and Neovim send them).
    pub fn from_lsp_id(id: &str) -> Option<Language> {
        Some(match id {
            "rust" => Language::Rust,
            "python" => Language::Python,
            "javascript" | "javascriptreact" => Language::JavaScript,
            "typescript" => Language::TypeScript,
            "typescriptreact" => Language::Tsx,
            "go" => Language::Go,
            "java" => Language::Java,
            "c" => Language::C,
            "cpp" => Language::Cpp,
            "csharp" => Language::CSharp,
            "ruby" => Language::Ruby,
            "lua" => Language::Lua,
            _ => return None,
        })
    }

    /// The inverse of [`Language::name`].
    pub fn from_name(name: &str) -> Option<Language> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// A stable lower-case name, used in the index and in `grammars/` (`"c_sharp"` for C#).
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::CSharp => "c_sharp",
            Language::Ruby => "ruby",
            Language::Lua => "lua",
        }
    }

    /// What starts a comment that runs to the end of the line.
    pub fn line_comment(self) -> &'static str {
        match self {
            Language::Python | Language::Ruby => "#",
            Language::Lua => "--",
            _ => "//",
        }
    }

    /// `line` without a comment at its end (`scanEnd // top-level value ended` is `scanEnd`). Only a
    /// line with no string or character literal before the comment is cut, so that a `"//"` stays.
    pub fn without_trailing_comment(self, line: &str) -> &str {
        let marker = self.line_comment();
        let Some(at) = line.find(marker) else {
            return line;
        };
        let code = &line[..at];
        if code.trim().is_empty() || !code.ends_with([' ', '\t']) || code.contains(['"', '\'', '`']) {
            return line;
        }
        code.trim_end()
    }

    /// The tree-sitter grammar.
    pub fn grammar(self) -> tree_sitter::Language {
        let f = match self {
            Language::Rust => tree_sitter_rust::LANGUAGE,
            Language::Python => tree_sitter_python::LANGUAGE,
            Language::JavaScript => tree_sitter_javascript::LANGUAGE,
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX,
            Language::Go => tree_sitter_go::LANGUAGE,
            Language::Java => tree_sitter_java::LANGUAGE,
            Language::C => tree_sitter_c::LANGUAGE,
            Language::Cpp => tree_sitter_cpp::LANGUAGE,
            Language::CSharp => tree_sitter_c_sharp::LANGUAGE,
            Language::Ruby => tree_sitter_ruby::LANGUAGE,
            Language::Lua => tree_sitter_lua::LANGUAGE,
        };
        f.into()
    }

    /// The grammar's `node-types.json`: which node kinds may appear inside which.
    pub(crate) fn node_types(self) -> &'static str {
        match self {
            Language::Rust => tree_sitter_rust::NODE_TYPES,
            Language::Python => tree_sitter_python::NODE_TYPES,
            Language::JavaScript => tree_sitter_javascript::NODE_TYPES,
            Language::TypeScript => tree_sitter_typescript::TYPESCRIPT_NODE_TYPES,
            Language::Tsx => tree_sitter_typescript::TSX_NODE_TYPES,
            Language::Go => tree_sitter_go::NODE_TYPES,
            Language::Java => tree_sitter_java::NODE_TYPES,
            Language::C => tree_sitter_c::NODE_TYPES,
            Language::Cpp => tree_sitter_cpp::NODE_TYPES,
            Language::CSharp => tree_sitter_c_sharp::NODE_TYPES,
            Language::Ruby => tree_sitter_ruby::NODE_TYPES,
            Language::Lua => tree_sitter_lua::NODE_TYPES,
        }
    }

    /// Whether a tree-sitter node kind is an identifier in this grammar (a name a reference can use).
    pub(crate) fn is_identifier_kind(self, kind: &str) -> bool {
        kind == "identifier" || kind.ends_with("_identifier") || (self == Language::Ruby && kind == "constant")
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_lsp_ids_map_to_languages() {
        assert_eq!(Language::from_path(Path::new("src/main.rs")), Some(Language::Rust));
        assert_eq!(Language::from_path(Path::new("a/b.tsx")), Some(Language::Tsx));
        assert_eq!(Language::from_path(Path::new("x.hpp")), Some(Language::Cpp));
        assert_eq!(Language::from_path(Path::new("Rakefile")), Some(Language::Ruby));
        assert_eq!(Language::from_path(Path::new("README.md")), None);
        assert_eq!(Language::from_path(Path::new("Makefile")), None);
        assert_eq!(Language::from_lsp_id("typescriptreact"), Some(Language::Tsx));
        assert_eq!(Language::from_lsp_id("plaintext"), None);
        for lang in Language::ALL {
            assert_eq!(Language::from_name(lang.name()), Some(lang));
        }
    }
}
