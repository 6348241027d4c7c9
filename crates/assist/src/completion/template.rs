//! Completion prompt templates: how prefix, suffix and retrieved files become one token sequence,
//! per model family. FIM models get their family's documented layout ([`FimFormat`]); models trained
//! without FIM tokens (Gemma 3) get a left-to-right prompt: the file's path as a comment header,
//! retrieved context as comments, then the prefix.

use hearth_model::{FimFormat, FimTokens};

use super::codec::Codec;

/// A retrieved file fragment as the prompt shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextFile {
    pub path: String,
    pub text: String,
}

/// How the model completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Fill in the middle with the family's special tokens.
    Fim(FimTokens),
    /// Continue the prefix; the suffix is not in the prompt (post-processing cuts what repeats it).
    LeftToRight,
}

/// Fill-in-the-middle prompts. With retrieved context, models that have a file separator get the
/// repository-level format (Qwen2.5-Coder, StarCoder2, CodeGemma):
/// `<repo_name>R\n<file_sep>path\ntext\n ... <file_sep>current\n<fim_prefix>P<fim_suffix>S<fim_middle>`;
/// other FIM models get each fragment as a commented header and its text at the head of the prefix.
/// Left to right: `# context from path`, the fragment's lines commented out, then `# path` and
/// the prefix. A BOS comes first for models that want one (CodeLlama, DeepSeek-Coder, Gemma).
#[derive(Clone, Debug)]
pub struct Template {
    pub layout: Layout,
    pub bos: Option<u32>,
    /// Line comment marker for headers and left-to-right context.
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
    pub fn new(layout: Layout, bos: Option<u32>, line_comment: &str) -> Self {
        Template { layout, bos, line_comment: line_comment.to_string() }
    }

    fn fim(&self) -> Option<&FimTokens> {
        match &self.layout {
            Layout::Fim(f) => Some(f),
            Layout::LeftToRight => None,
        }
    }

    /// Whether the suffix goes into the prompt.
    pub fn has_suffix(&self) -> bool {
        self.fim().is_some()
    }

    /// Whether context uses the repository-level format.
    pub fn repo_level(&self) -> bool {
        self.fim().is_some_and(|f| f.file_sep.is_some())
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
        let c = &self.line_comment;
        let files = match self.fim().and_then(|f| f.file_sep.map(|sep| (f, sep))) {
            Some((fim, file_sep)) => {
                // StarCoder2 puts no newline after the repository name; Qwen2.5-Coder does.
                let newline = if fim.format == FimFormat::StarCoder { "" } else { "\n" };
                if let (Some(repo_name), Some(name)) = (fim.repo_name, frame.repo_name) {
                    head.push(repo_name);
                    head.extend(codec.encode(&format!("{name}{newline}")));
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
            None if self.fim().is_some() => {
                frame.context.iter().map(|file| codec.encode(&format!("{c} {}\n{}\n\n", file.path, strip_newline(&file.text)))).collect()
            }
            None => frame
                .context
                .iter()
                .map(|file| {
                    let body: String = strip_newline(&file.text).lines().map(|l| format!("{c} {l}\n")).collect();
                    codec.encode(&format!("{c} context from {}:\n{body}{c}\n", file.path))
                })
                .collect(),
        };
        (head, files, tail)
    }

    /// Tokens that come before the prefix whatever the context: a left-to-right prompt's path header.
    pub fn header_tokens(&self, codec: &dyn Codec, path: Option<&str>) -> Vec<u32> {
        match (&self.layout, path) {
            (Layout::LeftToRight, Some(path)) => codec.encode(&format!("{} {path}\n", self.line_comment)),
            _ => Vec::new(),
        }
    }

    /// Special tokens the template adds around context, prefix and suffix: the fixed cost of a prompt.
    pub fn fixed_len(&self) -> usize {
        let bos = usize::from(self.bos.is_some());
        bos + self.fim().map_or(0, |f| f.layout(&[], &[]).len())
    }

    /// The full prompt. `context` comes from [`Template::context_tokens`], `header` from
    /// [`Template::header_tokens`].
    pub fn render(&self, context: &[u32], header: &[u32], prefix: &[u32], suffix: &[u32]) -> Vec<u32> {
        let mut ids = Vec::with_capacity(context.len() + header.len() + prefix.len() + suffix.len() + 4);
        ids.extend(self.bos);
        match self.fim() {
            Some(fim) if self.repo_level() => {
                ids.extend_from_slice(context);
                ids.extend(fim.layout(prefix, suffix));
            }
            Some(fim) => {
                let mut head = context.to_vec();
                head.extend_from_slice(prefix);
                ids.extend(fim.layout(&head, suffix));
            }
            None => {
                ids.extend_from_slice(context);
                ids.extend_from_slice(header);
                ids.extend_from_slice(prefix);
            }
        }
        ids
    }

    /// Where the prefix's tokens end in a rendered prompt of `len` ids with `suffix_len` suffix tokens.
    pub fn prefix_end(&self, len: usize, suffix_len: usize) -> usize {
        match self.fim() {
            Some(f) if f.format != FimFormat::Codestral => len - suffix_len - 1 - usize::from(f.middle.is_some()),
            _ => len,
        }
    }

    /// A readable rendering of prompt ids (special tokens by their spelling). For tests and `--json` output.
    pub fn display(&self, codec: &dyn Codec, ids: &[u32]) -> String {
        codec.decode(ids)
    }
}

fn strip_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// Line comment marker for an LSP language id or file extension.
pub fn line_comment_for(language: &str) -> &'static str {
    match language {
        "python" | "py" | "ruby" | "rb" | "shellscript" | "sh" | "bash" | "toml" | "yaml" | "yml" | "perl" | "r" | "elixir" | "ex"
        | "julia" | "jl" | "makefile" | "dockerfile" => "#",
        "lua" | "sql" | "haskell" | "hs" => "--",
        "lisp" | "clojure" | "clj" | "scheme" => ";;",
        _ => "//",
    }
}
