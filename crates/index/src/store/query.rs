//! Reads: files and their texts, symbols by name or fuzzy query, references, BM25 search over chunks,
//! and the index's size.

use super::*;

impl Index {
    /// At most `max_lines` whole lines of a file from byte `start` (a line start) up to byte `end`: from
    /// the overlay, else read from the disk without reading the rest of the file.
    pub(crate) fn read_span(&self, rel: &str, start: usize, end: usize, max_lines: u32, files: &mut OpenFiles) -> Option<String> {
        const MAX_SPAN_BYTES: usize = 16 << 10;
        let end = end.min(start + MAX_SPAN_BYTES);
        let overlay = self.read_state().overlays.get(rel).cloned();
        let bytes = match overlay {
            Some(text) => text.as_bytes().get(start..end.min(text.len()))?.to_vec(),
            None => {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = files.open(&self.root, rel)?;
                file.seek(SeekFrom::Start(start as u64)).ok()?;
                let mut bytes = Vec::with_capacity(end.saturating_sub(start));
                file.take(end.saturating_sub(start) as u64).read_to_end(&mut bytes).ok()?;
                bytes
            }
        };
        let valid = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        };
        let lines: Vec<&str> = valid.lines().take(max_lines as usize).collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The indexed files (root-relative paths) with their languages, in path order.
    pub fn files(&self) -> Vec<(String, Language)> {
        let mut files: Vec<(String, Language)> = self.read_state().files.iter().map(|(rel, entry)| (rel.clone(), entry.lang)).collect();
        files.sort();
        files
    }

    /// The indexed files, root-relative and sorted (files with an unsaved overlay included).
    pub fn file_paths(&self) -> Vec<String> {
        let mut files: Vec<String> = self.read_state().files.keys().cloned().collect();
        files.sort();
        files
    }

    /// Files of a parsed language that the index saw and left out (too large, binary, not UTF-8,
    /// minified, generated, over the index cap), root-relative and sorted, with the reason; files
    /// gone from disk since are left out.
    pub fn skipped_files(&self) -> Vec<Skipped> {
        let state = self.read_state();
        state
            .skipped
            .iter()
            .filter(|(rel, _)| self.root.join(rel).exists())
            .map(|(path, reason)| Skipped { path: path.clone(), reason: reason.clone() })
            .collect()
    }

    /// The current text of a root-relative path: its overlay, else the disk.
    pub fn text_of(&self, rel: &str) -> Option<Arc<str>> {
        if let Some(text) = self.read_state().overlays.get(rel) {
            return Some(text.clone());
        }
        let bytes = hearth_base::read_regular(&self.root.join(rel), self.options.max_file_size).ok()?;
        String::from_utf8(bytes).ok().map(Arc::from)
    }

    /// Definitions named exactly `name`, best first (files changed recently first, then by path).
    pub fn symbols(&self, name: &str) -> Vec<SymbolDef> {
        let entries = {
            let state = self.read_state();
            let mut entries: Vec<(Arc<str>, SymbolEntry)> =
                state.symbols.get(name).into_iter().flatten().map(|e| (state.path(e.file).clone(), e.clone())).collect();
            entries.sort_by(|(a_path, a), (b_path, b)| {
                state
                    .git
                    .recency(b_path)
                    .total_cmp(&state.git.recency(a_path))
                    .then_with(|| (a_path, a.start_line).cmp(&(b_path, b.start_line)))
            });
            entries
        };
        let mut texts = HashMap::new();
        entries.into_iter().map(|(path, e)| self.symbol_def(name, path, e, &mut texts)).collect()
    }

    /// The public form of a table entry, with its signature read from the file's current text.
    fn symbol_def(&self, name: &str, path: Arc<str>, entry: SymbolEntry, texts: &mut HashMap<Arc<str>, Option<Arc<str>>>) -> SymbolDef {
        let text = texts.entry(path.clone()).or_insert_with(|| self.text_of(&path));
        let signature = text
            .as_deref()
            .and_then(|t| t.lines().nth(entry.start_line as usize))
            .map(|line| {
                let line = line.trim();
                line[..walk::floor_char_boundary(line, hearth_syntax::MAX_SIGNATURE_BYTES)].to_string()
            })
            .unwrap_or_default();
        SymbolDef {
            path,
            name: name.to_string(),
            kind: entry.kind,
            scope: entry.scope.map(|s| s.to_string()),
            signature,
            start_line: entry.start_line,
            end_line: entry.end_line,
            name_line: entry.name_line,
            name_col: entry.name_col,
        }
    }

    /// The definitions in one file, in line order (an outline; the agent's repository map).
    pub fn outline(&self, rel: &str) -> Vec<SymbolDef> {
        let entries: Vec<(Arc<str>, Arc<str>, SymbolEntry)> = {
            let state = self.read_state();
            let Some(id) = state.file_id(rel) else { return Vec::new() };
            state.file_symbols(id).into_iter().map(|(name, e)| (name, state.path(id).clone(), e.clone())).collect()
        };
        let mut texts = HashMap::new();
        entries.into_iter().map(|(name, path, e)| self.symbol_def(&name, path, e, &mut texts)).collect()
    }

    /// Definitions whose name contains every part of `query` (case-insensitive), at most `limit`.
    pub fn find_symbols(&self, query: &str, limit: usize) -> Vec<SymbolDef> {
        let needle = query.to_lowercase();
        let found: Vec<(Arc<str>, Arc<str>, SymbolEntry)> = {
            let state = self.read_state();
            let mut names: Vec<&Arc<str>> = state.symbols.keys().filter(|n| n.to_lowercase().contains(&needle)).collect();
            names.sort_by_key(|n| (n.len(), n.to_string()));
            names
                .into_iter()
                .flat_map(|n| {
                    let state = &state;
                    state.symbols[n].iter().map(move |e| (n.clone(), state.path(e.file).clone(), e.clone()))
                })
                .take(limit)
                .collect()
        };
        let mut texts = HashMap::new();
        found.into_iter().map(|(name, path, e)| self.symbol_def(&name, path, e, &mut texts)).collect()
    }

    /// Every occurrence of the identifier `name` in indexed files (overlays win), definitions included,
    /// never inside strings or comments. In path order.
    ///
    /// Candidates are the files with a chunk holding `name`'s token (every line with a word in it is in
    /// some chunk), or every file when `name` has no token; those holding `name` as a word are parsed.
    pub fn references(&self, name: &str) -> Result<Vec<Location>, IndexError> {
        self.commit()?;
        // Candidate files with their languages, in path order.
        let files: Vec<(String, Language)> = match tokenizer::whole_token(name) {
            Some(token) => {
                let searcher = self.reader.searcher();
                let query = TermQuery::new(Term::from_field_text(self.fields.body, &token), IndexRecordOption::Basic);
                let mut paths = HashSet::new();
                let mut columns = SegmentColumns::new(&searcher);
                for address in searcher.search(&query, &DocSetCollector)? {
                    paths.insert(columns.path(address)?);
                }
                let state = self.read_state();
                let mut files: Vec<(String, Language)> = paths
                    .into_iter()
                    .filter_map(|p| {
                        let lang = state.files.get(&p)?.lang;
                        Some((p, lang))
                    })
                    .collect();
                files.sort();
                files
            }
            None => self.files(),
        };
        // Candidates are parsed on the sync's parser threads; results keep path order.
        let occurrences_in = |(rel, lang): &(String, Language)| -> Result<Vec<Location>, IndexError> {
            let Some(text) = self.text_of(rel) else {
                return Ok(Vec::new());
            };
            if !tokenizer::contains_word(&text, name) {
                return Ok(Vec::new());
            }
            let lines = hearth_base::LineIndex::new(&text);
            let ranges = hearth_syntax::identifier_occurrences(*lang, &text, name)?;
            Ok(ranges
                .into_iter()
                .map(|range| Location {
                    path: rel.clone(),
                    line: range.start_line,
                    col: (range.start_byte - lines.line_start(range.start_line).unwrap_or(0)) as u32,
                    start_byte: range.start_byte,
                    end_byte: range.end_byte,
                })
                .collect())
        };
        let mut out = Vec::new();
        for found in map_on_threads(&files, self.options.threads, occurrences_in) {
            out.extend(found?);
        }
        Ok(out)
    }

    /// Chunks ranked by BM25 over the identifiers of `query` (split like code: `parseUrl` finds `parse_url`).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        self.commit()?;
        let mut tokenizer = CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(query);
        let mut terms = Vec::new();
        while let Some(token) = stream.next() {
            terms.push(token.text.clone());
        }
        terms.sort();
        terms.dedup();
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(Term::from_field_text(self.fields.body, t), IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        self.chunk_hits(&BooleanQuery::new(clauses), limit)
    }

    pub(crate) fn chunk_hits(&self, query: &dyn Query, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        let searcher = self.reader.searcher();
        let top = searcher.search(query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        let mut columns = SegmentColumns::new(&searcher);
        for (score, address) in top {
            let Some(chunk) = columns.chunk(address)? else {
                continue;
            };
            hits.push(SearchHit {
                path: chunk.path,
                kind: chunk.kind,
                name: chunk.name,
                start_line: chunk.start_line,
                end_line: chunk.end_line,
                score,
            });
        }
        Ok(hits)
    }

    /// Totals, and the size of the index directory.
    pub fn stats(&self) -> Result<IndexStats, IndexError> {
        self.commit()?;
        let searcher = self.reader.searcher();
        let chunk_query = TermQuery::new(Term::from_field_text(self.fields.doc_type, DOC_CHUNK), IndexRecordOption::Basic);
        let chunks = searcher.search(&chunk_query, &Count)? as u64;
        let state = self.read_state();
        Ok(IndexStats {
            files: state.files.len(),
            source_bytes: state.files.values().map(|f| f.size).sum(),
            symbols: state.symbols.values().map(|defs| defs.len()).sum(),
            chunks,
            index_bytes: dir_size(&self.dir),
        })
    }

    /// Wait for Tantivy's background merges to finish (benchmarks measure the settled size).
    pub fn wait_merging(&self) -> Result<(), IndexError> {
        let mut guard = lock(&self.writer);
        if let Some(writer) = guard.take() {
            writer.wait_merging_threads()?;
            *guard = Some(self.tantivy.writer_with_num_threads(1, self.options.writer_memory.max(15 << 20))?);
        }
        Ok(())
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}
