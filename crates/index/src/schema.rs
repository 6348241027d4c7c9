//! The Tantivy schema and its version. Bump [`SCHEMA_VERSION`] whenever the schema or what goes in it
//! changes: an index with another version is rebuilt on open.

use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::TantivyDocument;

/// Written to `hearth.json` beside the Tantivy files.
pub const SCHEMA_VERSION: u32 = 3;

/// `doc_type` values: one `file` document per file, one `chunk` document per retrieval chunk.
pub(crate) const DOC_FILE: &str = "file";
pub(crate) const DOC_CHUNK: &str = "chunk";

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    /// Root-relative path with `/` separators; every document of a file carries it (deletes go by it).
    pub path: Field,
    pub doc_type: Field,
    pub lang: Field,
    /// xxh3 of the file's bytes (file documents).
    pub hash: Field,
    pub size: Field,
    /// Modification time in ns since the epoch (0 for overlays): unchanged files are not re-read.
    pub mtime: Field,
    /// Distinct identifiers the file uses, verbatim (file documents; `references(name)`).
    pub refs: Field,
    /// The file's symbols as JSON (file documents; loaded into memory on open).
    pub symbols: Field,
    /// Chunk documents: kind, name, lines, header, and the body indexed with the code tokenizer.
    pub kind: Field,
    pub name: Field,
    pub start_line: Field,
    pub end_line: Field,
    /// Byte span of the chunk's lines, so retrieval reads just those bytes.
    pub start_byte: Field,
    pub end_byte: Field,
    pub header: Field,
    pub body: Field,
    /// Stored only when a chunk is not a plain slice of its file (outlines of long classes).
    pub text: Field,
}

/// A stored text field of a document ("" when absent).
pub(crate) fn doc_str(doc: &TantivyDocument, field: Field) -> &str {
    doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("")
}

/// A stored u64 field of a document (0 when absent).
pub(crate) fn doc_u64(doc: &TantivyDocument, field: Field) -> u64 {
    doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
}

pub(crate) fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let code = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(super::tokenizer::CODE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    // Exact-match fields need no BM25 length norms.
    let raw_unstored = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let fields = Fields {
        path: b.add_text_field("path", STRING | STORED),
        doc_type: b.add_text_field("doc_type", STRING),
        lang: b.add_text_field("lang", STRING | STORED),
        hash: b.add_u64_field("hash", STORED),
        size: b.add_u64_field("size", STORED),
        mtime: b.add_u64_field("mtime", STORED),
        refs: b.add_text_field("refs", raw_unstored.clone()),
        symbols: b.add_text_field("symbols", STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        name: b.add_text_field("name", STORED),
        start_line: b.add_u64_field("start_line", STORED),
        end_line: b.add_u64_field("end_line", STORED),
        start_byte: b.add_u64_field("start_byte", STORED),
        end_byte: b.add_u64_field("end_byte", STORED),
        header: b.add_text_field("header", STORED),
        body: b.add_text_field("body", code(false)),
        text: b.add_text_field("text", STORED),
    };
    (b.build(), fields)
}
