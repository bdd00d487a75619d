// The web view's copies of the class's documents: one Y.Doc per document, kept equal to the
// Rust yrs document (which is authoritative). Local edits go to Rust as yjs updates, one
// request at a time and in order (queued ones merged); changes from the room arrive as frames
// and are applied with the REMOTE origin, so they are not sent back.
import * as Y from "yjs";
import { api, sentence, type DocumentFrame } from "./ipc";

const REMOTE = Symbol("from the room");

export class SharedDoc {
  readonly ydoc = new Y.Doc();
  readonly files: Y.Map<Y.Text>;
  readonly ready: Promise<void>;
  private pending: Uint8Array[] = [];
  private sending = false;
  private closed = false;

  constructor(
    readonly key: string,
    private readonly onRefused: (doc: SharedDoc, reason: string) => void,
  ) {
    this.files = this.ydoc.getMap<Y.Text>("files");
    this.ydoc.on("update", (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && !this.closed) {
        this.pending.push(update);
        void this.flush();
      }
    });
    this.ready = api.docState(key).then((state) => {
      if (state.length > 0) Y.applyUpdate(this.ydoc, state, REMOTE);
    });
  }

  applyRemote(update: Uint8Array) {
    Y.applyUpdate(this.ydoc, update, REMOTE);
  }

  /** Sends what was typed, in order; a refused edit drops this copy for Rust's. */
  private async flush() {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.pending.length > 0 && !this.closed) {
        const update = this.pending.length === 1 ? this.pending[0] : Y.mergeUpdates(this.pending);
        this.pending = [];
        // Marks for measuring a keystroke's way (the window bench reads them).
        performance.mark("coderoom:edit-sent");
        try {
          await api.docUpdate(this.key, update);
        } catch (error) {
          this.pending = [];
          this.onRefused(this, sentence(error));
          return;
        }
      }
    } finally {
      this.sending = false;
    }
  }

  close() {
    this.closed = true;
    this.ydoc.destroy();
  }
}

type Listener = (key: string, doc: SharedDoc) => void;

/** Every document of the class this window has opened. */
export class Documents {
  private docs = new Map<string, SharedDoc>();
  private listeners: Listener[] = [];

  constructor(private readonly notice: (message: string) => void) {}

  /** Called when a document is (re)made, so editors bind to the new copy. */
  onReplaced(listener: Listener) {
    this.listeners.push(listener);
  }

  get(key: string): SharedDoc {
    let doc = this.docs.get(key);
    if (!doc) {
      doc = new SharedDoc(key, (refused, reason) => {
        this.notice(reason);
        this.reload(refused.key);
      });
      this.docs.set(key, doc);
    }
    return doc;
  }

  has(key: string) {
    return this.docs.has(key);
  }

  /** Drops the copy of `key` for Rust's (after a refused edit or a reset). */
  reload(key: string) {
    this.docs.get(key)?.close();
    this.docs.delete(key);
    const doc = this.get(key);
    for (const listener of this.listeners) listener(key, doc);
  }

  frame(frame: DocumentFrame) {
    performance.mark("coderoom:frame-arrived");
    if (frame.reset) {
      if (this.docs.has(frame.doc)) this.reload(frame.doc);
      return;
    }
    // A document not opened yet loads its whole state when it is.
    this.docs.get(frame.doc)?.applyRemote(frame.update);
  }

  closeAll() {
    for (const doc of this.docs.values()) doc.close();
    this.docs.clear();
  }
}
