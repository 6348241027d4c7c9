//! The write path: full syncs, path batches and overlays turned into parsed documents, written to
//! Tantivy and the in-memory tables together, and commits.

use super::*;

/// A file parsed and turned into documents, ready to write.
struct Prepared {
    rel: String,
    entry: FileEntry,
    symbols: Vec<(String, SymbolEntry)>,
    docs: Vec<TantivyDocument>,
    chunks: usize,
    /// The marker of a generated file: its definitions are indexed, its chunks are not.
    generated: Option<&'static str>,
}

enum Outcome {
    Indexed(Box<Prepared>),
    Unchanged { rel: String, size: u64, mtime_ns: u64 },
    Skipped(Skipped),
}

/// When a batch's Tantivy commit happens: at once (a full sync), or on the caller's cadence (path
/// batches: the in-memory tables change at once, `Index::commit` makes them visible to BM25).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    Now,
    Later,
}

impl Index {
    /// Bring the index up to date with the working tree: walk it (honouring ignore files), re-read files
    /// whose size or mtime changed, re-parse those whose content hash changed, drop files that are gone,
    /// and commit once. Files with an overlay are left to the overlay. `progress` is called after each
    /// file. The first sync of a new index is the full build.
    pub fn sync(&self, progress: &mut dyn FnMut(Progress)) -> Result<SyncStats, IndexError> {
        self.sync_until(&CancelToken::new(), progress)
    }

    /// [`Index::sync`] that stops reading files once `cancel` is set (the server's client went away),
    /// commits the files read so far (the next sync does the rest), and returns [`IndexError::Cancelled`].
    pub fn sync_until(&self, cancel: &CancelToken, progress: &mut dyn FnMut(Progress)) -> Result<SyncStats, IndexError> {
        let started = Instant::now();
        let mut skipped = Vec::new();
        let git = GitState::read(&self.root);
        let walked = walk::walk(&self.root, &self.root, false, self.options.max_file_size, &git.tracked, &mut skipped);
        let present: HashSet<&str> = walked.iter().map(|c| c.rel.as_str()).collect();
        {
            let mut state = self.write_state();
            state.git = git;
            // Skipped files that are gone (the walk saw them neither as candidates nor as skipped).
            let walk_skipped: HashSet<&str> = skipped.iter().map(|s| s.path.as_str()).collect();
            state.skipped.retain(|rel, _| present.contains(rel.as_str()) || walk_skipped.contains(rel.as_str()));
        }
        let (to_read, removed, seen) = {
            let state = self.read_state();
            let removed: Vec<String> = state
                .files
                .keys()
                .filter(|rel| !present.contains(String::as_str(rel)) && !state.overlays.contains_key(*rel))
                .cloned()
                .collect();
            let seen = walked.len();
            let to_read: Vec<Candidate> = walked
                .into_iter()
                .filter(|c| !state.overlays.contains_key(&c.rel))
                .filter(|c| state.files.get(&c.rel).is_none_or(|f| f.size != c.size || f.mtime_ns != c.mtime_ns))
                .collect();
            let to_read = cap_total_size(&state.files, &removed, to_read, self.options.max_index_bytes, &mut skipped);
            (to_read, removed, seen)
        };
        let mut stats = self.apply(to_read, removed, skipped, cancel, progress, Commit::Now)?;
        stats.files_seen = seen;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    /// Re-index just these paths (files or directories, absolute or root-relative) in one commit: changed
    /// files are re-parsed, vanished ones dropped, ignore rules still apply. The watcher calls this.
    /// The in-memory tables change at once; the Tantivy commit is left to [`Index::commit`] (the
    /// watcher commits once writes have been idle for a moment).
    pub fn update_paths(&self, paths: &[PathBuf]) -> Result<SyncStats, IndexError> {
        let started = Instant::now();
        let mut skipped = Vec::new();
        let mut candidates: HashMap<String, Candidate> = HashMap::new();
        let mut removed = Vec::new();
        let mut dirs_walked = HashSet::new();
        let mut filter = walk::DirFilter::new(&self.root);
        let tracked = self.read_state().git.tracked.clone();
        for path in paths {
            let abs = if path.is_absolute() { path.clone() } else { self.root.join(path) };
            let Some(rel) = self.relative_path(&abs) else {
                continue;
            };
            let in_walked_dir = if abs.is_dir() { filter.is_walked(&abs) } else { abs.parent().is_some_and(|p| filter.is_walked(p)) };
            if !in_walked_dir {
                // Inside an ignored or vendored directory (or one that is gone): not ours, unless git
                // tracks it.
                let max = self.options.max_file_size;
                let kept = if abs.is_dir() {
                    walk::walk(&self.root, &abs, false, max, &tracked, &mut skipped)
                        .into_iter()
                        .filter(|c| tracked.contains(&c.rel))
                        .collect()
                } else if tracked.contains(&rel) {
                    walk::tracked_candidate(&self.root, &rel, max, &mut skipped).into_iter().collect()
                } else {
                    Vec::new()
                };
                for c in kept {
                    candidates.insert(c.rel.clone(), c);
                }
                removed.push(rel);
                continue;
            }
            if abs.is_dir() {
                for c in walk::walk(&self.root, &abs, false, self.options.max_file_size, &tracked, &mut skipped) {
                    candidates.insert(c.rel.clone(), c);
                }
                continue;
            }
            let Some(parent) = abs.parent() else { continue };
            let accepted = if dirs_walked.insert(parent.to_path_buf()) {
                walk::walk(&self.root, parent, true, self.options.max_file_size, &tracked, &mut skipped)
            } else {
                Vec::new()
            };
            for c in accepted {
                candidates.insert(c.rel.clone(), c);
            }
            if !candidates.contains_key(&rel) {
                removed.push(rel);
            }
        }
        let wanted: HashSet<String> = paths.iter().filter_map(|p| self.relative_path(&self.root.join(p))).collect();
        let (to_read, removed) = {
            let state = self.read_state();
            // A deleted directory: everything known under it goes.
            let mut gone: Vec<String> = removed
                .into_iter()
                .flat_map(|rel| {
                    let prefix = format!("{rel}/");
                    let mut under: Vec<String> = state.files.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                    if state.files.contains_key(&rel) {
                        under.push(rel);
                    }
                    under
                })
                .filter(|rel| !state.overlays.contains_key(rel) && !candidates.contains_key(rel))
                .collect();
            gone.sort();
            gone.dedup();
            let to_read: Vec<Candidate> = candidates
                .into_values()
                .filter(|c| wanted.contains(&c.rel) || wanted.iter().any(|w| c.rel.starts_with(&format!("{w}/"))))
                .filter(|c| !state.overlays.contains_key(&c.rel))
                .collect();
            (to_read, gone)
        };
        skipped.retain(|s| wanted.contains(&s.path));
        let seen = to_read.len();
        let never = CancelToken::new();
        let mut stats = self.apply(to_read, removed, skipped, &never, &mut |_| {}, Commit::Later)?;
        stats.files_seen = seen;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    /// HEAD's commit id as of the last sync.
    pub fn git_head(&self) -> Option<String> {
        self.read_state().git.head.clone()
    }

    /// Read, parse and write `to_read`, delete `removed`, and commit as `commit` says (the caller
    /// fills in `files_seen`).
    fn apply(
        &self,
        to_read: Vec<Candidate>,
        removed: Vec<String>,
        mut skipped: Vec<Skipped>,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(Progress),
        commit: Commit,
    ) -> Result<SyncStats, IndexError> {
        let mut guard = lock(&self.writer);
        let writer = guard.as_mut().ok_or(IndexError::ReadOnly)?;
        let mut stats = SyncStats::default();
        for s in &skipped {
            tracing::info!("skipping {}: {}", s.path, s.reason);
        }
        let mut to_delete: Vec<String> = removed;
        to_delete.extend(skipped.iter().map(|s| s.path.clone()));
        let known_hashes: HashMap<String, u64> = {
            let state = self.read_state();
            to_read.iter().filter_map(|c| Some((c.rel.clone(), state.files.get(&c.rel)?.hash))).collect()
        };
        let total = to_read.len();
        let mut progress_state = Progress { files_done: 0, files_total: total, bytes_done: 0 };
        let next = AtomicUsize::new(0);
        let threads = worker_count(self.options.threads, total);
        std::thread::scope(|scope| -> Result<(), IndexError> {
            // Small: each outcome holds a parsed file's documents.
            let (tx, rx) = mpsc::sync_channel::<Outcome>(2 * threads);
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, to_read, known_hashes, fields) = (&next, &to_read, &known_hashes, self.fields);
                let max_size = self.options.max_file_size;
                scope.spawn(move || loop {
                    if cancel.is_cancelled() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = to_read.get(i) else { break };
                    let outcome = prepare_from_disk(&fields, c, known_hashes.get(&c.rel).copied(), max_size);
                    if tx.send(outcome).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for outcome in rx {
                match outcome {
                    Outcome::Indexed(prepared) => {
                        stats.bytes_indexed += prepared.entry.size;
                        progress_state.bytes_done += prepared.entry.size;
                        self.write_prepared(writer, *prepared, &mut stats)?;
                    }
                    Outcome::Unchanged { rel, size, mtime_ns } => {
                        stats.files_unchanged += 1;
                        if let Some(entry) = self.write_state().files.get_mut(&rel) {
                            entry.size = size;
                            entry.mtime_ns = mtime_ns;
                        }
                    }
                    Outcome::Skipped(s) => {
                        tracing::info!("skipping {}: {}", s.path, s.reason);
                        to_delete.push(s.path.clone());
                        skipped.push(s);
                    }
                }
                progress_state.files_done += 1;
                progress(progress_state);
            }
            Ok(())
        })?;
        {
            let mut state = self.write_state();
            for rel in &to_delete {
                writer.delete_term(Term::from_field_text(self.fields.path, rel));
                state.skipped.remove(rel);
                if state.remove_file(rel) {
                    stats.files_removed += 1;
                }
            }
            for s in &skipped {
                state.skipped.insert(s.path.clone(), s.reason.clone());
            }
        }
        if stats.files_indexed > 0 || !to_delete.is_empty() {
            self.mark_pending();
        }
        if commit == Commit::Now {
            self.commit_locked(writer)?;
        }
        stats.skipped = skipped;
        if cancel.is_cancelled() {
            return Err(IndexError::Cancelled);
        }
        Ok(stats)
    }

    fn write_prepared(&self, writer: &IndexWriter, prepared: Prepared, stats: &mut SyncStats) -> Result<(), IndexError> {
        writer.delete_term(Term::from_field_text(self.fields.path, &prepared.rel));
        for doc in prepared.docs {
            writer.add_document(doc)?;
        }
        stats.files_indexed += 1;
        stats.symbols += prepared.symbols.len();
        stats.chunks += prepared.chunks;
        let mut state = self.write_state();
        state.insert_file(&prepared.rel, prepared.entry, prepared.symbols);
        if let Some(marker) = prepared.generated {
            // Listed as skipped too (renames edit it as text), though its definitions are indexed.
            state.skipped.insert(prepared.rel, SkipReason::Generated { marker });
        }
        Ok(())
    }

    /// Index `text` as the content of `path` (an open document's unsaved text). The overlay wins over the
    /// disk until [`Index::clear_overlay`]; the changed lines count as a recent edit for retrieval.
    /// Costs one single-file parse; the symbol table changes at once, BM25 sees it after the next
    /// [`Index::commit`]. Callers debounce keystrokes.
    pub fn set_overlay(&self, path: &Path, text: &str) -> Result<(), IndexError> {
        let rel = self.relative_path(path).ok_or_else(|| IndexError::OutsideRoot(path.to_path_buf()))?;
        let lang = Language::from_path(Path::new(&rel));
        let previous = self.text_of(&rel);
        {
            let mut state = self.write_state();
            state.overlays.insert(rel.clone(), Arc::from(text));
            if let Some(previous) = previous {
                if let Some((start_line, end_line)) = changed_lines(&previous, text) {
                    state.recent_edits.retain(|e| !(e.path == rel && e.start_line <= end_line && start_line <= e.end_line));
                    state.recent_edits.push_front(RecentEdit { path: rel.clone(), start_line, end_line, at: Instant::now() });
                    state.recent_edits.truncate(MAX_RECENT_EDITS);
                }
            }
        }
        let Some(lang) = lang else { return Ok(()) };
        let outcome = prepare_text(&self.fields, (rel.clone(), lang), text, 0, None);
        self.write_single(rel, outcome)
    }

    /// Drop the overlay of `path` and re-index it from the disk (or drop it if the file is gone).
    pub fn clear_overlay(&self, path: &Path) -> Result<(), IndexError> {
        let rel = self.relative_path(path).ok_or_else(|| IndexError::OutsideRoot(path.to_path_buf()))?;
        if self.write_state().overlays.remove(&rel).is_none() {
            return Ok(());
        }
        self.update_paths(&[PathBuf::from(&rel)]).map(|_| ())
    }

    fn write_single(&self, rel: String, outcome: Result<Prepared, SkipReason>) -> Result<(), IndexError> {
        let mut guard = lock(&self.writer);
        let writer = guard.as_mut().ok_or(IndexError::ReadOnly)?;
        match outcome {
            Ok(prepared) => self.write_prepared(writer, prepared, &mut SyncStats::default())?,
            Err(reason) => {
                tracing::info!("skipping {rel}: {reason}");
                writer.delete_term(Term::from_field_text(self.fields.path, &rel));
                self.write_state().remove_file(&rel);
            }
        }
        self.mark_pending();
        Ok(())
    }

    fn mark_pending(&self) {
        *lock(&self.pending_since) = Some(Instant::now());
    }

    fn commit_locked(&self, writer: &mut IndexWriter) -> Result<bool, IndexError> {
        if lock(&self.pending_since).take().is_none() {
            return Ok(false);
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(true)
    }

    /// Make every write so far durable and visible to BM25 search and `references` (one Tantivy commit,
    /// with its fsyncs). Single-file updates and path batches leave this to the caller or the watcher;
    /// `sync`, `search`, `references` and `stats` do it themselves. Returns whether there was anything.
    pub fn commit(&self) -> Result<bool, IndexError> {
        match lock(&self.writer).as_mut() {
            Some(writer) => self.commit_locked(writer),
            None => Ok(false),
        }
    }

    /// Whether some write is not yet committed (not yet seen by BM25 search).
    pub fn has_uncommitted(&self) -> bool {
        lock(&self.pending_since).is_some()
    }

    /// [`Index::commit`] if there are writes and none in the last `idle`.
    pub fn commit_if_idle(&self, idle: Duration) -> Result<bool, IndexError> {
        let due = lock(&self.pending_since).is_some_and(|since| since.elapsed() >= idle);
        if due {
            self.commit()
        } else {
            Ok(false)
        }
    }
}

/// Keeps the index within `limit` source bytes: files already indexed (and staying) count first, then
/// the candidates in walk order; those that would pass the limit go to `skipped`, unread.
fn cap_total_size(
    files: &FastMap<String, FileEntry>,
    removed: &[String],
    candidates: Vec<Candidate>,
    limit: u64,
    skipped: &mut Vec<Skipped>,
) -> Vec<Candidate> {
    let replaced: HashSet<&str> = candidates.iter().map(|c| c.rel.as_str()).collect();
    let gone: HashSet<&str> = removed.iter().map(String::as_str).collect();
    let mut total: u64 =
        files.iter().filter(|(rel, _)| !replaced.contains(rel.as_str()) && !gone.contains(rel.as_str())).map(|(_, f)| f.size).sum();
    let mut kept = Vec::with_capacity(candidates.len());
    for c in candidates {
        if total.saturating_add(c.size) > limit {
            skipped.push(Skipped { path: c.rel, reason: SkipReason::OverIndexCap { limit } });
        } else {
            total += c.size;
            kept.push(c);
        }
    }
    kept
}

/// First and last changed line (in the new text) between two versions, or None if equal.
fn changed_lines(old: &str, new: &str) -> Option<(u32, u32)> {
    if old == new {
        return None;
    }
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let prefix = old_lines.iter().zip(&new_lines).take_while(|(a, b)| a == b).count();
    let suffix = old_lines[prefix..].iter().rev().zip(new_lines[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let last = new_lines.len().saturating_sub(suffix + 1).max(prefix);
    Some((prefix as u32, last as u32))
}

fn prepare_from_disk(fields: &Fields, c: &Candidate, known_hash: Option<u64>, max_size: u64) -> Outcome {
    let skip = |reason| Outcome::Skipped(Skipped { path: c.rel.clone(), reason });
    // The file may have changed since the walk: grown, or been replaced by a FIFO.
    let bytes = match hearth_base::read_regular(&c.abs, max_size) {
        Ok(bytes) => bytes,
        Err(hearth_base::ReadError::TooLarge { size, limit }) => return skip(SkipReason::TooLarge { size, limit }),
        Err(e) => return skip(SkipReason::Unreadable { error: e.to_string() }),
    };
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    if known_hash == Some(hash) {
        return Outcome::Unchanged { rel: c.rel.clone(), size: c.size, mtime_ns: c.mtime_ns };
    }
    let decoded = match walk::decode(bytes) {
        Ok(decoded) => decoded,
        Err(reason) => return skip(reason),
    };
    match prepare_text(fields, (c.rel.clone(), c.lang), &decoded.text, c.mtime_ns, decoded.generated) {
        Ok(prepared) => Outcome::Indexed(Box::new(prepared)),
        Err(reason) => skip(reason),
    }
}

/// Parse a file and build its documents: one file document (hash, references, definitions, symbols as
/// JSON) and one document per chunk, but for a generated file, whose chunks are left out.
fn prepare_text(
    fields: &Fields,
    (rel, lang): (String, Language),
    text: &str,
    mtime_ns: u64,
    generated: Option<&'static str>,
) -> Result<Prepared, SkipReason> {
    let syntax = analyze(lang, text).map_err(|e| SkipReason::Unparsable { error: e.to_string() })?;
    let lines = hearth_base::LineIndex::new(text);
    let mut scopes = Interner::default();
    let mut stored: Vec<StoredSymbol> = Vec::with_capacity(syntax.symbols.len());
    let mut symbols: Vec<(String, SymbolEntry)> = Vec::with_capacity(syntax.symbols.len());
    for s in syntax.symbols {
        let name_col = (s.name_range.start_byte - lines.line_start(s.name_range.start_line).unwrap_or(0)) as u32;
        let entry = SymbolEntry {
            file: 0,
            scope: s.scope.as_deref().map(|p| scopes.get(p)),
            kind: s.kind,
            start_byte: lines.line_start(s.range.start_line).unwrap_or(0) as u32,
            end_byte: s.range.end_byte as u32,
            start_line: s.range.start_line,
            end_line: s.range.end_line,
            name_line: s.name_range.start_line,
            name_col,
        };
        stored.push(StoredSymbol {
            n: s.name.clone(),
            k: s.kind.as_str().to_string(),
            s: entry.start_line,
            e: entry.end_line,
            l: entry.name_line,
            c: name_col,
            b: entry.start_byte,
            d: entry.end_byte,
            p: s.scope,
        });
        symbols.push((s.name, entry));
    }
    let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    let mut file_doc = TantivyDocument::default();
    file_doc.add_text(fields.path, &rel);
    file_doc.add_text(fields.doc_type, DOC_FILE);
    file_doc.add_text(fields.lang, lang.name());
    file_doc.add_u64(fields.hash, hash);
    file_doc.add_u64(fields.size, text.len() as u64);
    file_doc.add_u64(fields.mtime, mtime_ns);
    file_doc.add_text(fields.symbols, serde_json::to_string(&stored).expect("symbols serialize"));
    if let Some(marker) = generated {
        let at = walk::GENERATED_MARKERS.iter().position(|m| *m == marker).unwrap_or(0);
        file_doc.add_u64(fields.generated, at as u64 + 1);
    }
    let chunks = if generated.is_some() { &[][..] } else { &syntax.chunks[..] };
    let mut docs = vec![file_doc];
    for chunk in chunks {
        let mut doc = TantivyDocument::default();
        doc.add_text(fields.path, &rel);
        doc.add_text(fields.doc_type, DOC_CHUNK);
        doc.add_text(fields.kind, chunk.kind.as_str());
        doc.add_text(fields.name, &chunk.name);
        doc.add_u64(fields.start_line, chunk.range.start_line as u64);
        doc.add_u64(fields.end_line, chunk.range.end_line as u64);
        doc.add_u64(fields.start_byte, chunk.range.start_byte as u64);
        doc.add_u64(fields.end_byte, chunk.range.end_byte as u64);
        let mut stored_extra = false;
        if let Some(header) = &chunk.header {
            doc.add_text(fields.header, header);
            stored_extra = true;
        }
        doc.add_text(fields.body, &chunk.text);
        if text.get(chunk.range.start_byte..chunk.range.end_byte) != Some(chunk.text.as_str()) {
            doc.add_text(fields.text, &chunk.text);
            stored_extra = true;
        }
        doc.add_u64(fields.stored_extra, stored_extra as u64);
        docs.push(doc);
    }
    let entry = FileEntry { id: 0, lang, hash, size: text.len() as u64, mtime_ns, defined: Box::default() };
    Ok(Prepared { rel, entry, symbols, docs, chunks: chunks.len(), generated })
}

#[cfg(test)]
mod tests {
    use super::changed_lines;

    #[test]
    fn changed_lines_spans_the_edit_in_the_new_text() {
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nc\n"), None);
        assert_eq!(changed_lines("a\nb\nc\n", "a\nX\nc\n"), Some((1, 1)));
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nX\nY\nc\n"), Some((2, 3)));
        assert_eq!(changed_lines("a\nb\nc\n", "a\nc\n"), Some((1, 1)));
    }
}
