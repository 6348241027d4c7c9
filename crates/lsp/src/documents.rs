//! Open documents: their text, version and language, kept in sync through incremental changes.

use std::collections::HashMap;
use std::sync::Arc;

use hearth_base::{LineIndex, PositionError};
use tower_lsp::lsp_types::{TextDocumentContentChangeEvent, Url};

use crate::from_proto;

/// An open document. The text is shared with running requests, which see the version they started on.
#[derive(Clone, Debug)]
pub struct Document {
    pub text: Arc<String>,
    pub index: Arc<LineIndex>,
    pub version: i32,
    pub language: String,
}

impl Document {
    pub fn new(text: String, version: i32, language: String) -> Self {
        Document { index: Arc::new(LineIndex::new(&text)), text: Arc::new(text), version, language }
    }

    /// Applies changes in order; a change with a range outside the text fails and leaves the rest unapplied.
    pub fn apply(&mut self, changes: Vec<TextDocumentContentChangeEvent>, version: i32) -> Result<(), PositionError> {
        for change in changes {
            match change.range {
                None => {
                    self.text = Arc::new(change.text);
                }
                Some(range) => {
                    let span = from_proto::span(&self.text, &self.index, range)?;
                    Arc::make_mut(&mut self.text).replace_range(span, &change.text);
                }
            }
            self.index = Arc::new(LineIndex::new(&self.text));
        }
        self.version = version;
        Ok(())
    }
}

/// All open documents by URI.
#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<Url, Document>,
}

impl Documents {
    pub fn open(&mut self, uri: Url, doc: Document) {
        self.open.insert(uri, doc);
    }

    pub fn close(&mut self, uri: &Url) -> Option<Document> {
        self.open.remove(uri)
    }

    pub fn get(&self, uri: &Url) -> Option<&Document> {
        self.open.get(uri)
    }

    pub fn get_mut(&mut self, uri: &Url) -> Option<&mut Document> {
        self.open.get_mut(uri)
    }

    pub fn uris(&self) -> Vec<Url> {
        self.open.keys().cloned().collect()
    }

    /// Every open document's current text (shared, not copied).
    pub fn texts(&self) -> Vec<(Url, Arc<String>)> {
        self.open.iter().map(|(uri, doc)| (uri.clone(), doc.text.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use tower_lsp::lsp_types::{Position, Range};

    use super::*;

    fn change(l1: u32, c1: u32, l2: u32, c2: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(l1, c1), Position::new(l2, c2))),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn incremental_changes_use_utf16_columns() {
        let mut doc = Document::new("a = \"𝔘\"\nb = 2\n".into(), 1, "python".into());
        // After `"𝔘` is UTF-16 column 7 (the astral char is two units), byte 9.
        doc.apply(vec![change(0, 7, 0, 7, "x"), change(1, 4, 1, 5, "20")], 2).unwrap();
        assert_eq!(doc.text.as_str(), "a = \"𝔘x\"\nb = 20\n");
        doc.apply(vec![change(0, 0, 2, 0, ""), TextDocumentContentChangeEvent { range: None, range_length: None, text: "new".into() }], 3)
            .unwrap();
        assert_eq!((doc.text.as_str(), doc.version), ("new", 3));
        assert!(doc.apply(vec![change(9, 0, 9, 0, "x")], 4).is_err());
        assert_eq!(doc.text.as_str(), "new");
    }
}
