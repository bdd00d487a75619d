//! The editor's tree-sitter commands: each forwards to `coderoom_syntax::Documents`. They are
//! async so a large file is parsed off the window's main thread.

use std::sync::Mutex;

use coderoom_syntax::{Analysis, Completion, Documents, SemanticTokens, TextEdit};

#[derive(Default)]
pub struct OpenDocuments(Mutex<Documents>);

impl OpenDocuments {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Documents) -> Result<T, coderoom_syntax::SyntaxError>,
    ) -> Result<T, String> {
        let mut documents = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut documents).map_err(|error| error.to_string())
    }
}

#[tauri::command]
pub async fn syntax_open(
    documents: tauri::State<'_, OpenDocuments>,
    id: String,
    language: String,
    text: String,
) -> Result<Analysis, String> {
    documents.with(|d| d.open(&id, &language, &text))
}

#[tauri::command]
pub async fn syntax_edit(
    documents: tauri::State<'_, OpenDocuments>,
    id: String,
    edits: Vec<TextEdit>,
) -> Result<Analysis, String> {
    documents.with(|d| d.edit(&id, &edits))
}

#[tauri::command]
pub async fn syntax_close(
    documents: tauri::State<'_, OpenDocuments>,
    id: String,
) -> Result<(), String> {
    documents.with(|d| {
        d.close(&id);
        Ok(())
    })
}

#[tauri::command]
pub async fn syntax_tokens(
    documents: tauri::State<'_, OpenDocuments>,
    id: String,
) -> Result<SemanticTokens, String> {
    documents.with(|d| d.semantic_tokens(&id))
}

#[tauri::command]
pub async fn syntax_completions(
    documents: tauri::State<'_, OpenDocuments>,
    id: String,
) -> Result<Vec<Completion>, String> {
    documents.with(|d| d.completions(&id))
}
