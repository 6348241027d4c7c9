//! FIM prompt templates: how prefix, suffix and retrieved files become one token sequence for a model family.

use super::codec::Codec;

/// The special tokens a FIM template needs, taken from the model's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FimSpecials {
    pub prefix: u32,
    pub suffix: u32,
    pub middle: u32,
    pub file_sep: Option<u32>,
    pub repo_name: Option<u32>,
}

/// A retrieved file fragment as the prompt shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextFile {
    pub path: String,
    pub text: String,
}

/// Prefix-suffix-middle prompts. With retrieved context, models that have a file separator get the
/// repository-level format (Qwen2.5-Coder, StarCoder2):
/// `<repo_name>R\n<file_sep>path\ntext\n ... <file_sep>current\n<fim_prefix>P<fim_suffix>S<fim_middle>`;
/// others get each fragment as a commented header and its text at the head of the prefix.
/// Without context every model gets the plain `<fim_prefix>P<fim_suffix>S<fim_middle>`.
#[derive(Clone, Debug)]
pub struct Template {
    pub specials: FimSpecials,
    /// Line comment marker for fragment headers in models without file separators.
    pub line_comment: String,
}

/// Everything the template places around the cut prefix and suffix tokens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Frame<'a> {
    pub repo_name: Option<&'a str>,
    pub path: Option<&'a str>,
    pub context: &'a [ContextFile],
}

impl Template {
    pub fn new(specials: FimSpecials, line_comment: &str) -> Self {
        Template { specials, line_comment: line_comment.to_string() }
    }

    /// Whether context uses the repository-level format.
    pub fn repo_level(&self) -> bool {
        self.specials.file_sep.is_some()
    }

    /// Tokens before `<fim_prefix>` (repo-level) or right after it (commented fragments): the head, each
    /// file that fits, and the tail, as [`Template::context_parts`] returns them.
    pub fn context_tokens(&self, codec: &dyn Codec, frame: &Frame) -> Vec<u32> {
        if frame.context.is_empty() {
            return Vec::new();
        }
        let (head, files, tail) = self.context_parts(codec, frame);
        let mut out = head;
        files.into_iter().for_each(|f| out.extend(f));
        out.extend(tail);
        out
    }

    /// Context tokens in pieces, so a caller can drop files that do not fit the budget.
    pub fn context_parts(&self, codec: &dyn Codec, frame: &Frame) -> (Vec<u32>, Vec<Vec<u32>>, Vec<u32>) {
        let mut head = Vec::new();
        let mut tail = Vec::new();
        let files = match self.specials.file_sep {
            Some(file_sep) => {
                if let (Some(repo_name), Some(name)) = (self.specials.repo_name, frame.repo_name) {
                    head.push(repo_name);
                    head.extend(codec.encode(&format!("{name}\n")));
                }
                tail.push(file_sep);
                tail.extend(codec.encode(&format!("{}\n", frame.path.unwrap_or("untitled"))));
                let files = frame.context.iter().map(|file| {
                    let mut ids = vec![file_sep];
                    ids.extend(codec.encode(&format!("{}\n{}\n", file.path, strip_newline(&file.text))));
                    ids
                });
                files.collect()
            }
            None => frame
                .context
                .iter()
                .map(|file| {
                    let text = format!("{} {}\n{}\n\n", self.line_comment, file.path, strip_newline(&file.text));
                    codec.encode(&text)
                })
                .collect(),
        };
        (head, files, tail)
    }

    /// Tokens the template adds around context, prefix and suffix: the fixed cost of a prompt.
    pub fn fixed_len(&self) -> usize {
        3
    }

    /// The full prompt. `context` comes from [`Template::context_tokens`].
    pub fn render(&self, context: &[u32], prefix: &[u32], suffix: &[u32]) -> Vec<u32> {
        let s = self.specials;
        let mut ids = Vec::with_capacity(context.len() + prefix.len() + suffix.len() + 3);
        if self.repo_level() {
            ids.extend_from_slice(context);
            ids.push(s.prefix);
        } else {
            ids.push(s.prefix);
            ids.extend_from_slice(context);
        }
        ids.extend_from_slice(prefix);
        ids.push(s.suffix);
        ids.extend_from_slice(suffix);
        ids.push(s.middle);
        ids
    }

    /// A readable rendering of prompt ids: text decoded, specials by name. For tests and `--json` output.
    pub fn display(&self, codec: &dyn Codec, ids: &[u32]) -> String {
        let s = self.specials;
        let name = |id: u32| -> Option<&'static str> {
            match id {
                _ if id == s.prefix => Some("<|fim_prefix|>"),
                _ if id == s.suffix => Some("<|fim_suffix|>"),
                _ if id == s.middle => Some("<|fim_middle|>"),
                _ if Some(id) == s.file_sep => Some("<|file_sep|>"),
                _ if Some(id) == s.repo_name => Some("<|repo_name|>"),
                _ => None,
            }
        };
        let mut out = String::new();
        let mut run = Vec::new();
        for &id in ids {
            match name(id) {
                Some(n) => {
                    out.push_str(&codec.decode(&run));
                    run.clear();
                    out.push_str(n);
                }
                None => run.push(id),
            }
        }
        out.push_str(&codec.decode(&run));
        out
    }
}

fn strip_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// Line comment marker for an LSP language id or file extension.
pub fn line_comment_for(language: &str) -> &'static str {
    match language {
        "python" | "py" | "ruby" | "rb" | "shellscript" | "sh" | "bash" | "toml" | "yaml" | "yml" | "perl" | "r"
        | "elixir" | "ex" | "julia" | "jl" | "makefile" | "dockerfile" => "#",
        "lua" | "sql" | "haskell" | "hs" => "--",
        "lisp" | "clojure" | "clj" | "scheme" => ";;",
        _ => "//",
    }
}
