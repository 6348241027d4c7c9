//! The next-edit flow without VS Code: an edit pause asks `hearth/nextEdit` (latest wins), a fresh
//! answer is shown, Tab jumps to it and then accepts it, and any change or another document clears it.
//! The extension is its host; the integration test hosts it with a plain text document.

import { Debouncer, NEXT_EDIT_PAUSE_MS } from "./debounce";
import type { Position, TextEdit } from "./diffModel";
import {
  isQuietNextEditError,
  nextEditParams,
  parseNextEditResult,
  suggestionView,
  tabAction,
  type LineSpan,
  type NextEditParams,
  type NextEditResult,
  type SuggestionView,
} from "./nextEdit";
import type { Token, TokenSource } from "./timeout";

/** The active editor's document, as the controller needs it. */
export interface ActiveDocument {
  uri: string;
  version: number;
  getText(): string;
  cursor: Position;
  /** Visible lines; undefined: all of them. */
  visible?: LineSpan[];
}

export interface NextEditHost<K extends Token> {
  active(): ActiveDocument | undefined;
  /** Whether suggestions are wanted for this document now (the setting, its language, a running server). */
  wanted(doc: ActiveDocument): boolean;
  request(params: NextEditParams, token: K): PromiseLike<unknown>;
  /** Draws the suggestion on the active editor, or removes it (undefined). */
  render(view: SuggestionView | undefined): void;
  moveCursor(position: Position): void | PromiseLike<void>;
  /** Applies the edits as one undoable change if the document is still at `version`; false when it was not applied. */
  apply(uri: string, version: number, edits: TextEdit[]): PromiseLike<boolean>;
  log(level: "error" | "debug", message: string): void;
}

/** What Tab did: moved to the edit, applied it, found the document changed, or found nothing shown. */
export type TabOutcome = "jump" | "accept" | "stale" | "none";

export class NextEditController<K extends Token> {
  private shown: { uri: string; result: NextEditResult; view: SuggestionView } | undefined;
  private inFlight: { uri: string; source: TokenSource<K> } | undefined;
  /** The document whose edit pause is running. */
  private pausedFor: string | undefined;

  constructor(
    private readonly host: NextEditHost<K>,
    private readonly makeSource: () => TokenSource<K>,
    private readonly pause = new Debouncer(NEXT_EDIT_PAUSE_MS),
  ) {}

  /** The suggestion on screen, as drawn last. */
  get view(): SuggestionView | undefined {
    return this.shown?.view;
  }

  /** Whether a request is running. */
  get requesting(): boolean {
    return this.inFlight !== undefined;
  }

  /** A document changed: its suggestion goes, its request is cancelled, and if it is the active one the pause starts over. */
  changed(uri: string): void {
    if (this.shown?.uri === uri) this.clear();
    if (this.inFlight?.uri === uri) this.cancelRequest();
    const doc = this.host.active();
    if (doc?.uri === uri && this.host.wanted(doc)) {
      this.pausedFor = uri;
      this.pause.schedule(() => void this.trigger());
    }
  }

  /** Another editor became active (or none): a suggestion, request or pause for another document goes. */
  activeChanged(): void {
    const uri = this.host.active()?.uri;
    if (this.shown !== undefined && this.shown.uri !== uri) this.clear();
    if (this.inFlight !== undefined && this.inFlight.uri !== uri) this.cancelRequest();
    if (this.pausedFor !== uri) this.pause.cancel();
  }

  /** The cursor moved or the view scrolled: near edits are drawn inline, far ones as markers. */
  refresh(): void {
    const doc = this.host.active();
    if (this.shown === undefined || doc?.uri !== this.shown.uri || doc.version !== this.shown.result.version) return;
    this.draw(doc, this.shown.result);
  }

  /** Settings changed: when suggestions are no longer wanted, everything stops. */
  reconsider(): void {
    const doc = this.host.active();
    if (doc !== undefined && this.host.wanted(doc)) return;
    this.pause.cancel();
    this.cancelRequest();
    this.clear();
  }

  /**
   * Asks for the next edit of the active document now, cancelling the previous request. Resolves to the
   * result it shows, null when the server suggests nothing, undefined when nothing was asked or the
   * answer came too late (cancelled, or the document or editor changed meanwhile).
   */
  async trigger(): Promise<NextEditResult | null | undefined> {
    this.pause.cancel();
    this.pausedFor = undefined;
    const doc = this.host.active();
    if (doc === undefined || !this.host.wanted(doc)) return undefined;
    this.cancelRequest();
    const source = this.makeSource();
    const token = source.token;
    const mine = { uri: doc.uri, source };
    this.inFlight = mine;
    let raw: unknown;
    try {
      raw = await this.host.request(nextEditParams(doc.uri, doc.version, doc.cursor), token);
    } catch (e) {
      if (!token.isCancellationRequested && !isQuietNextEditError(e)) {
        this.host.log("error", `Next-edit request failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      return undefined;
    } finally {
      if (this.inFlight === mine) this.inFlight = undefined;
      source.dispose();
    }
    if (token.isCancellationRequested) return undefined;
    let result: NextEditResult | null;
    try {
      result = parseNextEditResult(raw);
    } catch (e) {
      this.host.log("error", `Next-edit result not shown: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    if (result === null || result.edits.length === 0) {
      this.host.log("debug", `No next edit${result ? ` (${result.outcome})` : ""}.`);
      return null;
    }
    const now = this.host.active();
    if (now?.uri !== doc.uri || now.version !== result.version) return undefined;
    this.host.log("debug", `Next edit (${result.format}, ${result.edits.length} edits): ${result.reason}`);
    return this.draw(now, result) ? result : undefined;
  }

  /** Tab: jump to the first edit, or accept them all when the cursor is already there. */
  async jumpOrAccept(): Promise<TabOutcome> {
    const shown = this.shown;
    const doc = this.host.active();
    if (shown === undefined || doc?.uri !== shown.uri) return "none";
    const { result } = shown;
    if (doc.version !== result.version) {
      this.clear();
      return "stale";
    }
    if (tabAction(result.edits, doc.cursor) === "jump") {
      await this.host.moveCursor(result.edits[0]!.range.start);
      this.refresh();
      return "jump";
    }
    this.clear();
    return (await this.host.apply(shown.uri, result.version, result.edits)) ? "accept" : "stale";
  }

  /** Escape. */
  dismiss(): void {
    this.clear();
  }

  dispose(): void {
    this.pause.cancel();
    this.cancelRequest();
    this.clear();
  }

  private draw(doc: ActiveDocument, result: NextEditResult): boolean {
    let view: SuggestionView;
    try {
      view = suggestionView(doc.uri, doc.getText(), result, doc.cursor, doc.visible);
    } catch (e) {
      this.host.log("error", `Next edit not shown: ${e instanceof Error ? e.message : String(e)}`);
      this.clear();
      return false;
    }
    this.shown = { uri: doc.uri, result, view };
    this.host.render(view);
    return true;
  }

  private cancelRequest(): void {
    this.inFlight?.source.cancel();
    this.inFlight = undefined;
  }

  private clear(): void {
    if (this.shown === undefined) return;
    this.shown = undefined;
    this.host.render(undefined);
  }
}
