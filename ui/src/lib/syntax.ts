// tree-sitter in the Rust core, wired into Monaco: each model's edits go to the core in order,
// and what comes back becomes markers, the outline, semantic tokens and completions.
import { invoke } from "@tauri-apps/api/core";
import { monaco } from "./monaco";

interface Position { line: number; column: number }
interface Span { start: Position; end: Position }
interface Diagnostic { span: Span; message: string }
export interface OutlineSymbol {
  name: string;
  kind: "namespace" | "class" | "struct" | "interface" | "enum" | "function" | "method" | "constructor" | "property";
  span: Span;
  name_span: Span;
  children: OutlineSymbol[];
}
interface Analysis { diagnostics: Diagnostic[]; outline: OutlineSymbol[] }
interface Completion { label: string; kind: "class" | "function" | "method" | "property" | "variable" | "module" | "keyword" }

/** The legend: the order of `TOKEN_TYPES` in crates/syntax/src/highlight.rs. */
const TOKEN_TYPES = [
  "comment", "string", "escape", "keyword", "number", "operator", "punctuation", "type",
  "function", "method", "variable", "parameter", "property", "constant", "module", "attribute",
];
const LANGUAGES = ["python", "javascript", "csharp"];
/** Monaco completes JavaScript itself (its TypeScript worker); these get names from the core. */
const COMPLETED_HERE = ["python", "csharp"];

const toRange = (span: Span) =>
  new monaco.Range(span.start.line + 1, span.start.column + 1, span.end.line + 1, span.end.column + 1);

/** Per model: the promise chain that keeps its requests in order, and its latest analysis. */
const tracked = new Map<string, { queue: Promise<unknown>; analysis: Analysis }>();
const listeners: ((model: monaco.editor.ITextModel, analysis: Analysis) => void)[] = [];

/** Called with a model's analysis whenever it changes (the outline panel listens). */
export function onAnalysis(listener: (model: monaco.editor.ITextModel, analysis: Analysis) => void) {
  listeners.push(listener);
}

export function analysisOf(model: monaco.editor.ITextModel): Analysis | undefined {
  return tracked.get(model.uri.toString())?.analysis;
}

function enqueue<T>(model: monaco.editor.ITextModel, request: () => Promise<T>): Promise<T> {
  const entry = tracked.get(model.uri.toString());
  if (!entry) return Promise.reject(new Error("not tracked"));
  const next = entry.queue.then(request, request);
  entry.queue = next.catch(() => undefined);
  return next;
}

function show(model: monaco.editor.ITextModel, analysis: Analysis) {
  const entry = tracked.get(model.uri.toString());
  if (entry) entry.analysis = analysis;
  monaco.editor.setModelMarkers(
    model,
    "tree-sitter",
    analysis.diagnostics.map((diagnostic) => ({
      ...rangeFields(toRange(diagnostic.span)),
      message: diagnostic.message,
      severity: monaco.MarkerSeverity.Error,
      source: "syntax",
    })),
  );
  for (const listener of listeners) listener(model, analysis);
}

const rangeFields = (range: monaco.Range) => ({
  startLineNumber: range.startLineNumber,
  startColumn: range.startColumn,
  endLineNumber: range.endLineNumber,
  endColumn: range.endColumn,
});

/** Starts tracking a model: opens it in the core and forwards every change. */
export function track(model: monaco.editor.ITextModel) {
  const id = model.uri.toString();
  const language = model.getLanguageId();
  if (!LANGUAGES.includes(language) || tracked.has(id)) return;
  tracked.set(id, { queue: Promise.resolve(), analysis: { diagnostics: [], outline: [] } });
  enqueue(model, () => invoke<Analysis>("syntax_open", { id, language, text: model.getValue() }))
    .then((analysis) => show(model, analysis))
    .catch((error) => console.error("syntax_open", error));
  model.onDidChangeContent((event) => {
    const edits = event.changes.map((change) => ({
      start: { line: change.range.startLineNumber - 1, column: change.range.startColumn - 1 },
      end: { line: change.range.endLineNumber - 1, column: change.range.endColumn - 1 },
      text: change.text,
    }));
    enqueue(model, () => invoke<Analysis>("syntax_edit", { id, edits }))
      .then((analysis) => show(model, analysis))
      .catch((error) => {
        // Out of step with the core (should not happen): start again from the model's text.
        console.error("syntax_edit", error);
        enqueue(model, () => invoke<Analysis>("syntax_open", { id, language, text: model.getValue() }))
          .then((analysis) => show(model, analysis))
          .catch((again) => console.error("syntax_open", again));
      });
  });
  model.onWillDispose(() => {
    tracked.delete(id);
    invoke("syntax_close", { id }).catch(() => undefined);
  });
}

const symbolKinds: Record<OutlineSymbol["kind"], monaco.languages.SymbolKind> = {
  namespace: monaco.languages.SymbolKind.Namespace,
  class: monaco.languages.SymbolKind.Class,
  struct: monaco.languages.SymbolKind.Struct,
  interface: monaco.languages.SymbolKind.Interface,
  enum: monaco.languages.SymbolKind.Enum,
  function: monaco.languages.SymbolKind.Function,
  method: monaco.languages.SymbolKind.Method,
  constructor: monaco.languages.SymbolKind.Constructor,
  property: monaco.languages.SymbolKind.Property,
};

function toDocumentSymbol(symbol: OutlineSymbol): monaco.languages.DocumentSymbol {
  return {
    name: symbol.name,
    detail: "",
    kind: symbolKinds[symbol.kind],
    tags: [],
    range: toRange(symbol.span),
    selectionRange: toRange(symbol.name_span),
    children: symbol.children.map(toDocumentSymbol),
  };
}

const completionKinds: Record<Completion["kind"], monaco.languages.CompletionItemKind> = {
  class: monaco.languages.CompletionItemKind.Class,
  function: monaco.languages.CompletionItemKind.Function,
  method: monaco.languages.CompletionItemKind.Method,
  property: monaco.languages.CompletionItemKind.Property,
  variable: monaco.languages.CompletionItemKind.Variable,
  module: monaco.languages.CompletionItemKind.Module,
  keyword: monaco.languages.CompletionItemKind.Keyword,
};

/** Semantic tokens, go-to-symbol and completion for the three languages, from the core. */
export function registerProviders() {
  for (const language of LANGUAGES) {
    monaco.languages.registerDocumentSemanticTokensProvider(language, {
      getLegend: () => ({ tokenTypes: TOKEN_TYPES, tokenModifiers: [] }),
      provideDocumentSemanticTokens: async (model) => {
        const id = model.uri.toString();
        const tokens = await enqueue(model, () => invoke<{ data: number[] }>("syntax_tokens", { id }));
        return { data: new Uint32Array(tokens.data) };
      },
      releaseDocumentSemanticTokens: () => undefined,
    });
    monaco.languages.registerDocumentSymbolProvider(language, {
      provideDocumentSymbols: (model) => (analysisOf(model)?.outline ?? []).map(toDocumentSymbol),
    });
  }
  for (const language of COMPLETED_HERE) {
    monaco.languages.registerCompletionItemProvider(language, {
      provideCompletionItems: async (model, position) => {
        const id = model.uri.toString();
        const completions = await enqueue(model, () => invoke<Completion[]>("syntax_completions", { id }));
        const word = model.getWordUntilPosition(position);
        const range = new monaco.Range(position.lineNumber, word.startColumn, position.lineNumber, word.endColumn);
        return {
          suggestions: completions.map((completion) => ({
            label: completion.label,
            kind: completionKinds[completion.kind],
            insertText: completion.label,
            range,
          })),
        };
      },
    });
  }
}

/** Light and dark themes with a colour for every semantic token type (VS Code's palette). */
export function defineThemes() {
  monaco.editor.defineTheme("coderoom-light", {
    base: "vs",
    inherit: true,
    colors: {},
    rules: [
      { token: "comment", foreground: "008000" },
      { token: "string", foreground: "a31515" },
      { token: "escape", foreground: "ee0000" },
      { token: "keyword", foreground: "0000ff" },
      { token: "number", foreground: "098658" },
      { token: "operator", foreground: "000000" },
      { token: "punctuation", foreground: "000000" },
      { token: "type", foreground: "267f99" },
      { token: "function", foreground: "795e26" },
      { token: "method", foreground: "795e26" },
      { token: "variable", foreground: "001080" },
      { token: "parameter", foreground: "001080" },
      { token: "property", foreground: "001080" },
      { token: "constant", foreground: "0070c1" },
      { token: "module", foreground: "267f99" },
      { token: "attribute", foreground: "795e26" },
    ],
  });
  monaco.editor.defineTheme("coderoom-dark", {
    base: "vs-dark",
    inherit: true,
    colors: {},
    rules: [
      { token: "comment", foreground: "6a9955" },
      { token: "string", foreground: "ce9178" },
      { token: "escape", foreground: "d7ba7d" },
      { token: "keyword", foreground: "569cd6" },
      { token: "number", foreground: "b5cea8" },
      { token: "operator", foreground: "d4d4d4" },
      { token: "punctuation", foreground: "d4d4d4" },
      { token: "type", foreground: "4ec9b0" },
      { token: "function", foreground: "dcdcaa" },
      { token: "method", foreground: "dcdcaa" },
      { token: "variable", foreground: "9cdcfe" },
      { token: "parameter", foreground: "9cdcfe" },
      { token: "property", foreground: "9cdcfe" },
      { token: "constant", foreground: "4fc1ff" },
      { token: "module", foreground: "4ec9b0" },
      { token: "attribute", foreground: "dcdcaa" },
    ],
  });
}
