//! The open documents of one window, by id, and what the editor asks of them.

use std::collections::{BTreeSet, HashMap};

use crate::outline::keywords;
use crate::{
    Completion, CompletionKind, Diagnostic, Document, Language, SemanticTokens, Symbol,
    SyntaxError, TextEdit,
};

/// What the editor shows after each change: the errors and the outline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Analysis {
    pub diagnostics: Vec<Diagnostic>,
    pub outline: Vec<Symbol>,
}

#[derive(Default)]
pub struct Documents {
    open: HashMap<String, Document>,
}

impl Documents {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens (or replaces) a document and analyses it.
    pub fn open(&mut self, id: &str, language: &str, text: &str) -> Result<Analysis, SyntaxError> {
        let document = Document::new(Language::from_name(language)?, text)?;
        let analysis = analyse(&document);
        self.open.insert(id.to_owned(), document);
        Ok(analysis)
    }

    pub fn close(&mut self, id: &str) {
        self.open.remove(id);
    }

    pub fn get(&self, id: &str) -> Result<&Document, SyntaxError> {
        self.open
            .get(id)
            .ok_or_else(|| SyntaxError::NoDocument(id.to_owned()))
    }

    /// Applies the editor's changes and analyses the result.
    pub fn edit(&mut self, id: &str, edits: &[TextEdit]) -> Result<Analysis, SyntaxError> {
        let document = self
            .open
            .get_mut(id)
            .ok_or_else(|| SyntaxError::NoDocument(id.to_owned()))?;
        document.apply_edits(edits)?;
        Ok(analyse(document))
    }

    pub fn semantic_tokens(&self, id: &str) -> Result<SemanticTokens, SyntaxError> {
        self.get(id)?.semantic_tokens()
    }

    /// Names defined in every open document of the same language as `id`, then its keywords.
    pub fn completions(&self, id: &str) -> Result<Vec<Completion>, SyntaxError> {
        let language = self.get(id)?.language();
        let mut seen = BTreeSet::new();
        let mut completions = Vec::new();
        for document in self.open.values().filter(|d| d.language() == language) {
            for completion in document.defined_names() {
                if seen.insert(completion.label.clone()) {
                    completions.push(completion);
                }
            }
        }
        for keyword in keywords(language) {
            if seen.insert((*keyword).to_owned()) {
                completions.push(Completion {
                    label: (*keyword).to_owned(),
                    kind: CompletionKind::Keyword,
                });
            }
        }
        Ok(completions)
    }
}

fn analyse(document: &Document) -> Analysis {
    Analysis {
        diagnostics: document.diagnostics(),
        outline: document.outline(),
    }
}
