//! The Tantivy schema and its version. Bump [`SCHEMA_VERSION`] whenever the schema or what goes in it
//! changes: an index with another version is rebuilt on open.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use tantivy::columnar::{Column, StrColumn};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING};
use tantivy::{DocAddress, DocId, Searcher, SegmentReader, TantivyDocument};

/// One symbol in a file document's stored JSON (the `symbols` field), with one-letter keys because
/// every file's list is stored and read back on open.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredSymbol {
    /// The name.
    pub n: String,
    /// The kind (`SymbolKind::as_str`).
    pub k: String,
    /// First and last line of the definition (0-based).
    pub s: u32,
    pub e: u32,
    /// The line and column of the name.
    pub l: u32,
    pub c: u32,
    /// The definition's byte span.
    pub b: u32,
    pub d: u32,
    /// The enclosing scope (`Type`, `a::b`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
}

/// Written to `hearth.json` beside the Tantivy files.
pub const SCHEMA_VERSION: u32 = 6;

/// `doc_type` values: one `file` document per file, one `chunk` document per retrieval chunk.
pub(crate) const DOC_FILE: &str = "file";
pub(crate) const DOC_CHUNK: &str = "chunk";

/// Field names read back as fast-field columns.
const PATH: &str = "path";
const KIND: &str = "kind";
const NAME: &str = "name";
const START_LINE: &str = "start_line";
const END_LINE: &str = "end_line";
const START_BYTE: &str = "start_byte";
const END_BYTE: &str = "end_byte";
const STORED_EXTRA: &str = "stored_extra";

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    /// Root-relative path with `/` separators; every document of a file carries it (deletes go by it).
    /// A fast field (a column), not stored: see [`Columns`].
    pub path: Field,
    pub doc_type: Field,
    pub lang: Field,
    /// xxh3 of the file's bytes (file documents).
    pub hash: Field,
    pub size: Field,
    /// Modification time in ns since the epoch (0 for overlays): unchanged files are not re-read.
    pub mtime: Field,
    /// The file's symbols as JSON (file documents; loaded into memory on open).
    pub symbols: Field,
    /// Chunk documents: kind, name, lines and byte span are fast fields (columns, read without the doc
    /// store); the header of a window and the text of an outline are stored, flagged by `stored_extra`;
    /// the body is indexed with the code tokenizer and not stored.
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
    /// 1 when the chunk document stores a header or a text (fetch it), else 0.
    pub stored_extra: Field,
    /// File documents of generated files: 1 + the index of the marker in `walk::GENERATED_MARKERS`
    /// (their definitions are indexed, their chunks are not); absent for other files.
    pub generated: Field,
}

/// A chunk as its fast fields describe it.
pub(crate) struct ChunkMeta {
    pub path: String,
    pub kind: String,
    pub name: String,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    /// The stored document has a header or an outline text.
    pub stored_extra: bool,
}

/// The fast-field columns of one segment: every document's path and the chunks' metadata, read without
/// decompressing doc-store blocks.
pub(crate) struct Columns {
    path: StrColumn,
    kind: Option<StrColumn>,
    name: Option<StrColumn>,
    numbers: Option<[Column<u64>; 5]>,
}

impl Columns {
    /// None for a segment without documents.
    pub fn open(segment: &SegmentReader) -> tantivy::Result<Option<Columns>> {
        let fast = segment.fast_fields();
        let Some(path) = fast.str(PATH)? else {
            return Ok(None);
        };
        let number = |name| fast.column_opt::<u64>(name);
        let numbers = match (number(START_LINE)?, number(END_LINE)?, number(START_BYTE)?, number(END_BYTE)?, number(STORED_EXTRA)?) {
            (Some(a), Some(b), Some(c), Some(d), Some(e)) => Some([a, b, c, d, e]),
            _ => None,
        };
        Ok(Some(Columns { path, kind: fast.str(KIND)?, name: fast.str(NAME)?, numbers }))
    }

    /// The path of any document ("" if it has none).
    pub fn path(&self, doc: DocId) -> String {
        str_value(&self.path, doc)
    }

    /// A chunk document's metadata (None for a file document).
    pub fn chunk(&self, doc: DocId) -> Option<ChunkMeta> {
        let [start_line, end_line, start_byte, end_byte, extra] = self.numbers.as_ref()?;
        let num = |column: &Column<u64>| column.first(doc).map(|v| v as u32);
        Some(ChunkMeta {
            path: self.path(doc),
            kind: self.kind.as_ref().map_or(String::new(), |c| str_value(c, doc)),
            name: self.name.as_ref().map_or(String::new(), |c| str_value(c, doc)),
            start_line: num(start_line)?,
            end_line: num(end_line)?,
            start_byte: num(start_byte)?,
            end_byte: num(end_byte)?,
            stored_extra: num(extra)? != 0,
        })
    }
}

/// [`Columns`] of a searcher's segments, opened on first use.
pub(crate) struct SegmentColumns<'s> {
    searcher: &'s Searcher,
    open: HashMap<u32, Option<Columns>>,
}

impl<'s> SegmentColumns<'s> {
    pub fn new(searcher: &'s Searcher) -> Self {
        SegmentColumns { searcher, open: HashMap::new() }
    }

    pub fn of(&mut self, address: DocAddress) -> tantivy::Result<Option<&Columns>> {
        let columns = match self.open.entry(address.segment_ord) {
            Entry::Occupied(slot) => slot.into_mut(),
            Entry::Vacant(slot) => slot.insert(Columns::open(self.searcher.segment_reader(address.segment_ord))?),
        };
        Ok(columns.as_ref())
    }

    pub fn path(&mut self, address: DocAddress) -> tantivy::Result<String> {
        Ok(self.of(address)?.map(|c| c.path(address.doc_id)).unwrap_or_default())
    }

    pub fn chunk(&mut self, address: DocAddress) -> tantivy::Result<Option<ChunkMeta>> {
        Ok(self.of(address)?.and_then(|c| c.chunk(address.doc_id)))
    }
}

fn str_value(column: &StrColumn, doc: DocId) -> String {
    let mut out = String::new();
    if let Some(ord) = column.term_ords(doc).next() {
        // An ordinal from the column itself is always in its dictionary.
        let _ = column.ord_to_str(ord, &mut out);
    }
    out
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
        let indexing =
            TextFieldIndexing::default().set_tokenizer(super::tokenizer::CODE_TOKENIZER).set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        path: b.add_text_field(PATH, STRING | FAST),
        doc_type: b.add_text_field("doc_type", STRING),
        lang: b.add_text_field("lang", STRING | STORED),
        hash: b.add_u64_field("hash", STORED),
        size: b.add_u64_field("size", STORED),
        mtime: b.add_u64_field("mtime", STORED),
        symbols: b.add_text_field("symbols", STORED),
        kind: b.add_text_field(KIND, STRING | FAST),
        name: b.add_text_field(NAME, FAST),
        start_line: b.add_u64_field(START_LINE, FAST),
        end_line: b.add_u64_field(END_LINE, FAST),
        start_byte: b.add_u64_field(START_BYTE, FAST),
        end_byte: b.add_u64_field(END_BYTE, FAST),
        header: b.add_text_field("header", STORED),
        body: b.add_text_field("body", code(false)),
        text: b.add_text_field("text", STORED),
        stored_extra: b.add_u64_field(STORED_EXTRA, FAST),
        generated: b.add_u64_field("generated", STORED),
    };
    (b.build(), fields)
}
