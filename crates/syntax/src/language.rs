//! The three grammars and their queries, loaded once.

use std::sync::OnceLock;

use tree_sitter::Query;

use crate::SyntaxError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    JavaScript,
    CSharp,
}

pub(crate) struct Grammar {
    pub language: tree_sitter::Language,
    pub highlights: Query,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Python, Language::JavaScript, Language::CSharp];

    /// `python`, `javascript` or `csharp` (the names the runner and the UI use).
    pub fn from_name(name: &str) -> Result<Self, SyntaxError> {
        match name {
            "python" => Ok(Self::Python),
            "javascript" => Ok(Self::JavaScript),
            "csharp" => Ok(Self::CSharp),
            other => Err(SyntaxError::UnknownLanguage(other.to_owned())),
        }
    }

    /// The language of a file name, by its extension.
    pub fn from_path(path: &str) -> Option<Self> {
        match std::path::Path::new(path).extension()?.to_str()? {
            "py" => Some(Self::Python),
            "js" | "mjs" | "cjs" => Some(Self::JavaScript),
            "cs" => Some(Self::CSharp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::JavaScript => "javascript",
            Self::CSharp => "csharp",
        }
    }

    pub(crate) fn grammar(self) -> Result<&'static Grammar, SyntaxError> {
        static GRAMMARS: [OnceLock<Result<Grammar, String>>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let (slot, language, highlights) = match self {
            Self::Python => (
                &GRAMMARS[0],
                tree_sitter::Language::new(tree_sitter_python::LANGUAGE),
                tree_sitter_python::HIGHLIGHTS_QUERY,
            ),
            Self::JavaScript => (
                &GRAMMARS[1],
                tree_sitter::Language::new(tree_sitter_javascript::LANGUAGE),
                tree_sitter_javascript::HIGHLIGHT_QUERY,
            ),
            Self::CSharp => (
                &GRAMMARS[2],
                tree_sitter::Language::new(tree_sitter_c_sharp::LANGUAGE),
                tree_sitter_c_sharp::HIGHLIGHTS_QUERY,
            ),
        };
        slot.get_or_init(|| {
            let highlights = Query::new(&language, highlights).map_err(|e| e.to_string())?;
            Ok(Grammar {
                language,
                highlights,
            })
        })
        .as_ref()
        .map_err(|reason| SyntaxError::Grammar {
            language: self.name(),
            reason: reason.clone(),
        })
    }
}
