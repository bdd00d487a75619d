// The one Monaco editor of the class view: a model per open file, each bound to its Y.Text with
// y-monaco; others' cursors drawn in their colours with their names; this person's cursor sent
// as presence; and following (by choice, or lecture mode's).
import { writable } from "svelte/store";
import { MonacoBinding } from "y-monaco";
import type { Documents, SharedDoc } from "./docs";
import { api, type PresenceState } from "./ipc";
import { monaco } from "./monaco";
import { defineThemes, registerProviders, track } from "./syntax";
import { languageOf } from "./tree";
import type { Tab } from "../stores/editor";

interface Bound {
  model: monaco.editor.ITextModel;
  binding: MonacoBinding | null;
  doc: SharedDoc;
}

let editor: monaco.editor.IStandaloneCodeEditor | null = null;
const bound = new Map<string, Bound>();
let shown: Tab | null = null;
let following: string | null = null;
let onUserMove: () => void = () => undefined;
let runKey: () => void = () => undefined;
/** What Ctrl+Enter in the editor does (the run panel runs the file in front). */
export function onRunKey(run: () => void) {
  runKey = run;
}
/** `Ln 2, Col 5` of this person's cursor, for the status bar. */
export const cursorPosition = writable("");

const keyOf = (tab: Tab) => `${tab.doc}\n${tab.file}`;
const prefersDark = window.matchMedia("(prefers-color-scheme: dark)");
const themeFor = (dark: boolean) => (dark ? "coderoom-dark" : "coderoom-light");
let providersReady = false;

export function createEditor(element: HTMLElement, userMoved: () => void) {
  if (!providersReady) {
    defineThemes();
    registerProviders();
    prefersDark.addEventListener("change", (event) => monaco.editor.setTheme(themeFor(event.matches)));
    providersReady = true;
  }
  onUserMove = userMoved;
  editor = monaco.editor.create(element, {
    model: null,
    theme: themeFor(prefersDark.matches),
    automaticLayout: true,
    fontSize: 15,
    minimap: { enabled: false },
    "semanticHighlighting.enabled": true,
    scrollBeyondLastLine: false,
    tabSize: 4,
  });
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => runKey());
  editor.onKeyDown(() => onUserMove());
  editor.onMouseDown(() => onUserMove());
  element.addEventListener("wheel", () => onUserMove(), { passive: true });
  editor.onDidChangeCursorSelection((event) => {
    cursorPosition.set(`Ln ${event.selection.positionLineNumber}, Col ${event.selection.positionColumn}`);
    sendPresence();
  });
  return editor;
}

export function destroyEditor() {
  for (const entry of bound.values()) {
    entry.binding?.destroy();
    entry.model.dispose();
  }
  bound.clear();
  editor?.dispose();
  editor = null;
  shown = null;
  clearCursors();
}

/** The model the outline describes: the one in front. */
export const outlineFor = () => editor?.getModel() ?? null;

export function revealIn(lineNumber: number, column: number) {
  if (!editor) return;
  editor.setPosition({ lineNumber, column });
  editor.revealPositionInCenter({ lineNumber, column });
  editor.focus();
}

/** Shows `tab` (binding its model first), read-only with `readOnlyReason` unless writable. */
export async function show(tab: Tab | null, documents: Documents, writable: boolean, readOnlyReason: string) {
  shown = tab;
  if (!editor) return;
  editor.updateOptions({ readOnly: !writable, readOnlyMessage: { value: readOnlyReason } });
  if (!tab || !tab.file) {
    editor.setModel(null);
    return;
  }
  const entry = await bind(tab, documents);
  if (shown !== tab || !editor) return;
  if (editor.getModel() !== entry?.model) editor.setModel(entry?.model ?? null);
  editor.updateOptions({ tabSize: languageOf(tab.file) === "javascript" ? 2 : 4 });
  sendPresence();
}

async function bind(tab: Tab, documents: Documents): Promise<Bound | null> {
  const key = keyOf(tab);
  const doc = documents.get(tab.doc);
  const existing = bound.get(key);
  if (existing && existing.doc === doc) return existing;
  if (existing) unbind(key);
  await doc.ready;
  const text = doc.files.get(tab.file);
  if (!text) return null;
  const again = bound.get(key);
  if (again) return again;
  const uri = monaco.Uri.file(`/${tab.doc.replace(":", "-")}/${tab.file}`);
  monaco.editor.getModel(uri)?.dispose();
  const model = monaco.editor.createModel(text.toString(), languageOf(tab.file), uri);
  const binding = new MonacoBinding(text, model, editor ? new Set([editor]) : new Set(), null);
  const entry = { model, binding, doc };
  bound.set(key, entry);
  track(model);
  // The file's text object replaced (renamed, deleted, made again elsewhere): bind again.
  const watch = (event: { keysChanged: Set<string> }) => {
    if (event.keysChanged.has(tab.file) && bound.get(key) === entry) {
      doc.files.unobserve(watch);
      unbind(key);
      if (shown && keyOf(shown) === key) void show(shown, documents, !editor?.getOption(monaco.editor.EditorOption.readOnly), "");
    }
  };
  doc.files.observe(watch);
  return entry;
}

function unbind(key: string) {
  const entry = bound.get(key);
  if (!entry) return;
  bound.delete(key);
  if (editor?.getModel() === entry.model) editor.setModel(null);
  entry.binding?.destroy();
  entry.model.dispose();
}

/** Drops every binding to `doc` (its copy was replaced); the shown tab binds again. */
export function forgetDocument(doc: string) {
  for (const key of [...bound.keys()]) if (key.startsWith(`${doc}\n`)) unbind(key);
}

let presenceTimer: ReturnType<typeof setTimeout> | null = null;
export function setFollowing(person: string | null) {
  following = person;
  sendPresence();
}

/** Where this person is, sent at most every 40 ms. */
function sendPresence() {
  if (presenceTimer) return;
  presenceTimer = setTimeout(() => {
    presenceTimer = null;
    const model = editor?.getModel();
    const selection = editor?.getSelection();
    const at = model && selection ? model.getOffsetAt(selection.getPosition()) : null;
    const range: [number, number] | null =
      model && selection && !selection.isEmpty()
        ? [model.getOffsetAt(selection.getStartPosition()), model.getOffsetAt(selection.getEndPosition())]
        : null;
    api
      .setPresence({
        doc: shown?.doc ?? null,
        file: shown?.file || null,
        cursor: at,
        selection: range,
        following,
      })
      .catch(() => undefined);
  }, 40);
}

// Others' cursors: a caret and selection in their colour, and a label with their name.
let decorations: monaco.editor.IEditorDecorationsCollection | null = null;
const labels = new Map<number, monaco.editor.IContentWidget>();
const colourClasses = new Map<string, number>();
const style = document.createElement("style");
document.head.append(style);

function colourClass(colour: string) {
  let index = colourClasses.get(colour);
  if (index === undefined) {
    index = colourClasses.size;
    colourClasses.set(colour, index);
    const safe = /^#[0-9a-fA-F]{6}$/.test(colour) ? colour : "#888888";
    style.textContent +=
      `.remote-caret-${index}{border-left:2px solid ${safe};margin-left:-1px}` +
      `.remote-selection-${index}{background:${safe}40}`;
  }
  return index;
}

function clearCursors() {
  decorations?.clear();
  for (const widget of labels.values()) editor?.removeContentWidget(widget);
  labels.clear();
}

export function drawCursors(states: Map<number, PresenceState>, me: string) {
  if (!editor) return;
  const model = editor.getModel();
  clearCursors();
  if (!model || !shown) return;
  const shownTab = shown;
  const here = [...states.entries()].filter(
    ([, p]) => p.person !== me && p.doc === shownTab.doc && p.file === shownTab.file && p.cursor !== null,
  );
  const length = model.getValueLength();
  const items: monaco.editor.IModelDeltaDecoration[] = [];
  for (const [client, p] of here) {
    const index = colourClass(p.colour);
    const position = model.getPositionAt(Math.min(p.cursor ?? 0, length));
    items.push({
      range: new monaco.Range(position.lineNumber, position.column, position.lineNumber, position.column),
      options: { beforeContentClassName: `remote-caret remote-caret-${index}`, stickiness: 1 },
    });
    if (p.selection) {
      const start = model.getPositionAt(Math.min(p.selection[0], length));
      const end = model.getPositionAt(Math.min(p.selection[1], length));
      items.push({
        range: monaco.Range.fromPositions(start, end),
        options: { className: `remote-selection-${index}` },
      });
    }
    const node = document.createElement("div");
    node.className = "remote-cursor-label";
    node.textContent = p.name;
    node.style.background = /^#[0-9a-fA-F]{6}$/.test(p.colour) ? p.colour : "#888888";
    const widget: monaco.editor.IContentWidget = {
      getId: () => `remote-cursor-${client}`,
      getDomNode: () => node,
      getPosition: () => ({
        position,
        preference: [
          monaco.editor.ContentWidgetPositionPreference.ABOVE,
          monaco.editor.ContentWidgetPositionPreference.BELOW,
        ],
      }),
    };
    labels.set(client, widget);
    editor.addContentWidget(widget);
  }
  decorations = editor.createDecorationsCollection(items);
}

/** Marks the lines a run's output points at in the files of `doc` (compile errors carry
 * their message); markers of an earlier run of the document go. */
export function markRunErrors(doc: string, errors: { file: string; line: number; column: number | null; message: string | null }[]) {
  for (const [key, entry] of bound) {
    if (!key.startsWith(`${doc}\n`)) continue;
    const file = key.slice(doc.length + 1);
    monaco.editor.setModelMarkers(
      entry.model,
      "run",
      errors
        .filter((e) => e.file === file && e.line <= entry.model.getLineCount())
        .map((e) => ({
          startLineNumber: e.line,
          startColumn: e.column ?? 1,
          endLineNumber: e.line,
          endColumn: e.column ? e.column + 1 : entry.model.getLineMaxColumn(e.line),
          message: e.message ?? "the program stopped here",
          severity: monaco.MarkerSeverity.Error,
          source: "run",
        })),
    );
  }
}

/** Puts the followed person's cursor in view. */
export function revealOffset(offset: number) {
  const model = editor?.getModel();
  if (!editor || !model) return;
  const position = model.getPositionAt(Math.min(offset, model.getValueLength()));
  editor.revealPositionInCenterIfOutsideViewport(position);
}
