//! Suggestions already made, kept so that a keystroke needs no model when it can be answered from
//! them: the rest of a suggestion the user is typing through, or the one prefetched as if the shown
//! suggestion had been accepted (llama.vim's "speculative FIM").

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

/// How many suggestions are kept (across documents); the oldest goes first.
const KEPT: usize = 16;

/// Suggestions by the document text around the cursor they were made for.
#[derive(Debug, Default)]
pub struct ShownSuggestions {
    entries: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    document: String,
    /// What else the suggestion depends on: the model and the options it was made with.
    made_with: u64,
    offset: usize,
    /// Hashes of the text before and after the cursor.
    head: u64,
    tail: u64,
    text: String,
}

/// The part of a suggestion that is still to come at the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reused {
    pub text: String,
    /// Characters of the suggestion already typed (0: a prefetched suggestion, asked for where it was made).
    pub typed: usize,
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl ShownSuggestions {
    /// Keeps `suggestion`, made for `text` with the cursor at byte `offset` of `document`, by the
    /// model and options that `made_with` stands for (see [`fingerprint`]).
    pub fn remember(&mut self, document: &str, made_with: u64, text: &str, offset: usize, suggestion: &str) {
        if suggestion.is_empty() || !text.is_char_boundary(offset) {
            return;
        }
        let entry = Entry {
            document: document.to_string(),
            made_with,
            offset,
            head: hash(&text[..offset]),
            tail: hash(&text[offset..]),
            text: suggestion.to_string(),
        };
        self.entries.retain(|e| !e.same_place(&entry));
        if self.entries.len() == KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// What is left of a kept suggestion at `offset` of `text`: the text after the cursor is the
    /// one the suggestion was made with, and the text before it is that one plus a start of the
    /// suggestion. `None` when nothing is left to show.
    pub fn lookup(&self, document: &str, made_with: u64, text: &str, offset: usize) -> Option<Reused> {
        if !text.is_char_boundary(offset) {
            return None;
        }
        let tail = hash(&text[offset..]);
        self.entries
            .iter()
            .rev()
            .filter(|e| e.document == document && e.made_with == made_with && e.offset <= offset && e.tail == tail)
            .find_map(|e| {
                let typed = text.get(e.offset..offset)?;
                let rest = e.text.strip_prefix(typed)?;
                (!rest.trim().is_empty() && hash(&text[..e.offset]) == e.head)
                    .then(|| Reused { text: rest.to_string(), typed: typed.chars().count() })
            })
    }

    /// Forgets a document's suggestions (it closed).
    pub fn forget(&mut self, document: &str) {
        self.entries.retain(|e| e.document != document);
    }
}

impl Entry {
    /// For the same text, cursor, model and options.
    fn same_place(&self, o: &Entry) -> bool {
        (&self.document, self.made_with, self.offset, self.head, self.tail) == (&o.document, o.made_with, o.offset, o.head, o.tail)
    }
}

/// Stands for what a suggestion depends on besides the text: anything whose `Debug` form changes
/// when it does (the options, the model's load spec).
pub fn fingerprint(parts: &[&dyn std::fmt::Debug]) -> u64 {
    let mut h = DefaultHasher::new();
    for part in parts {
        format!("{part:?}").hash(&mut h);
    }
    h.finish()
}

/// The document as it would be with `suggestion` accepted at `offset`, and the cursor after it.
pub fn accepted(text: &str, offset: usize, suggestion: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + suggestion.len());
    out.push_str(&text[..offset]);
    out.push_str(suggestion);
    out.push_str(&text[offset..]);
    (out, offset + suggestion.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "def area(r):\n    return \n\nprint(area(2))\n";

    const SUGGESTION: &str = "math.pi * r ** 2";

    fn at_return() -> usize {
        TEXT.find("return ").unwrap() + "return ".len()
    }

    /// `SUGGESTION` kept for the cursor after `return `.
    fn one_kept() -> (ShownSuggestions, usize) {
        let mut shown = ShownSuggestions::default();
        shown.remember("a.py", 1, TEXT, at_return(), SUGGESTION);
        (shown, at_return())
    }

    #[test]
    fn typing_through_a_suggestion_shows_its_rest() {
        let (shown, at) = one_kept();
        let (typed, cursor) = accepted(TEXT, at, "math.");
        assert_eq!(shown.lookup("a.py", 1, &typed, cursor), Some(Reused { text: "pi * r ** 2".into(), typed: 5 }));
        // Where it was made, the whole suggestion again.
        assert_eq!(shown.lookup("a.py", 1, TEXT, at).unwrap().text, SUGGESTION);
        // A character that departs from it, another document, an edit elsewhere: no reuse.
        let (other, cursor) = accepted(TEXT, at, "mathx");
        assert_eq!(shown.lookup("a.py", 1, &other, cursor), None);
        assert_eq!(shown.lookup("b.py", 1, &typed, at + 5), None);
        // Made by another model or with other options: not an answer here.
        assert_eq!(shown.lookup("a.py", 2, &typed, at + 5), None);
        let edited_below = typed.replace("area(2)", "area(3)");
        assert_eq!(shown.lookup("a.py", 1, &edited_below, at + 5), None);
        let edited_above = typed.replace("def area", "def size");
        assert_eq!(shown.lookup("a.py", 1, &edited_above, at + 5), None);
        // Typed to its end (or but whitespace): nothing left, a new request decides.
        let (done, cursor) = accepted(TEXT, at, SUGGESTION);
        assert_eq!(shown.lookup("a.py", 1, &done, cursor), None);
    }

    #[test]
    fn a_prefetched_suggestion_is_found_once_the_shown_one_is_accepted() {
        let (mut shown, at) = one_kept();
        let (after, cursor) = accepted(TEXT, at, SUGGESTION);
        shown.remember("a.py", 1, &after, cursor, "\n    # done");
        assert_eq!(shown.lookup("a.py", 1, &after, cursor), Some(Reused { text: "\n    # done".into(), typed: 0 }));
        shown.forget("a.py");
        assert_eq!(shown.lookup("a.py", 1, &after, cursor), None);
    }

    #[test]
    fn only_the_newest_suggestions_are_kept() {
        let mut shown = ShownSuggestions::default();
        for n in 0..KEPT + 1 {
            shown.remember(&format!("{n}.py"), 1, TEXT, at_return(), "x + 1");
        }
        assert_eq!(shown.lookup("0.py", 1, TEXT, at_return()), None);
        assert!(shown.lookup("1.py", 1, TEXT, at_return()).is_some());
        assert!(shown.lookup(&format!("{KEPT}.py"), 1, TEXT, at_return()).is_some());
    }
}
