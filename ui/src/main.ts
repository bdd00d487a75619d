import "./style.css";
import { getVersion } from "@tauri-apps/api/app";
import { monaco } from "./monaco";
import { STARTERS, type Starter } from "./starters";
import { defineThemes, onAnalysis, registerProviders, track, type OutlineSymbol } from "./syntax";

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};

const languagePicker = byId<HTMLSelectElement>("language");
const fileName = byId<HTMLSpanElement>("file-name");
const cursorPosition = byId<HTMLSpanElement>("cursor-position");
const languageName = byId<HTMLSpanElement>("language-name");
const outlineList = byId<HTMLUListElement>("outline-list");
const errorCount = byId<HTMLSpanElement>("error-count");
const appVersion = byId<HTMLSpanElement>("app-version");

const prefersDark = window.matchMedia("(prefers-color-scheme: dark)");
const themeFor = (dark: boolean) => (dark ? "coderoom-dark" : "coderoom-light");
defineThemes();
registerProviders();

// One model per language, made when first picked (JavaScript's starts the TypeScript worker, which
// costs ~100 MB), so switching back and forth keeps what was typed.
const models = new Map<Starter["id"], monaco.editor.ITextModel>();
function modelFor(starter: Starter): monaco.editor.ITextModel {
  let model = models.get(starter.id);
  if (!model) {
    model = monaco.editor.createModel(starter.text, starter.id, monaco.Uri.file(`/${starter.fileName}`));
    models.set(starter.id, model);
    track(model);
  }
  return model;
}

const editor = monaco.editor.create(byId("editor"), {
  model: null,
  theme: themeFor(prefersDark.matches),
  automaticLayout: true,
  fontSize: 15,
  minimap: { enabled: false },
  "semanticHighlighting.enabled": true,
  scrollBeyondLastLine: false,
  tabSize: 4,
});
prefersDark.addEventListener("change", (event) => monaco.editor.setTheme(themeFor(event.matches)));

for (const starter of STARTERS) {
  languagePicker.add(new Option(starter.label, starter.id));
}

function showLanguage(id: Starter["id"]) {
  const starter = STARTERS.find((candidate) => candidate.id === id) ?? STARTERS[0];
  editor.setModel(modelFor(starter));
  editor.updateOptions({ tabSize: starter.id === "javascript" ? 2 : 4 });
  languagePicker.value = starter.id;
  fileName.textContent = starter.fileName;
  languageName.textContent = starter.label;
  showCursor();
  editor.focus();
}

function showCursor() {
  const position = editor.getPosition();
  cursorPosition.textContent = position ? `Ln ${position.lineNumber}, Col ${position.column}` : "";
}

// The outline panel and the error count follow the shown model's analysis.
function renderOutline(symbols: OutlineSymbol[], depth = 0, into = outlineList) {
  if (depth === 0) into.replaceChildren();
  for (const symbol of symbols) {
    const item = document.createElement("li");
    item.className = `symbol symbol-${symbol.kind}`;
    item.style.paddingLeft = `${8 + depth * 14}px`;
    item.textContent = symbol.name;
    item.title = `${symbol.kind} ${symbol.name}, line ${symbol.name_span.start.line + 1}`;
    item.addEventListener("click", () => {
      const position = { lineNumber: symbol.name_span.start.line + 1, column: symbol.name_span.start.column + 1 };
      editor.setPosition(position);
      editor.revealPositionInCenter(position);
      editor.focus();
    });
    into.append(item);
    renderOutline(symbol.children, depth + 1, into);
  }
}
onAnalysis((model, analysis) => {
  if (model !== editor.getModel()) return;
  renderOutline(analysis.outline);
  const count = analysis.diagnostics.length;
  errorCount.textContent = count === 0 ? "No syntax errors" : `${count} syntax error${count === 1 ? "" : "s"}`;
});
editor.onDidChangeModel(() => {
  outlineList.replaceChildren();
  errorCount.textContent = "";
});

languagePicker.addEventListener("change", () => showLanguage(languagePicker.value as Starter["id"]));
editor.onDidChangeCursorPosition(showCursor);
showLanguage("python");

// The version comes from the Rust side, which also proves the IPC bridge is up.
getVersion()
  .then((version) => {
    appVersion.textContent = `Coderoom v${version}`;
  })
  .catch(() => {
    appVersion.textContent = "Coderoom (outside the app)";
  });
