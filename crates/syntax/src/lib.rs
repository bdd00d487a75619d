//! tree-sitter for Coderoom: one incrementally updated parse tree per open document, and from it
//! semantic tokens for Monaco, live syntax errors, an outline and completion names, for Python,
//! JavaScript and C#.

mod diagnostics;
mod document;
mod documents;
mod highlight;
mod language;
mod outline;

pub use diagnostics::Diagnostic;
pub use document::{Document, TextEdit};
pub use documents::{Analysis, Documents};
pub use highlight::{SemanticTokens, TOKEN_TYPES};
pub use language::Language;
pub use outline::{Completion, CompletionKind, Symbol, SymbolKind};

/// A place in a document: zero-based line, and column in UTF-16 code units as Monaco counts them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// A stretch of a document, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start: Position,
    pub end: Position,
}

#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    #[error("unknown language {0:?}: Coderoom parses python, javascript and csharp")]
    UnknownLanguage(String),
    #[error("no open document {0:?}")]
    NoDocument(String),
    #[error("the edit at line {line}, column {column} is outside the document ({lines} lines)")]
    EditOutOfRange {
        line: u32,
        column: u32,
        lines: usize,
    },
    #[error("parsing took longer than {0} ms and was abandoned")]
    ParseTimedOut(u64),
    #[error("the {language} grammar could not be loaded: {reason}")]
    Grammar {
        language: &'static str,
        reason: String,
    },
}
