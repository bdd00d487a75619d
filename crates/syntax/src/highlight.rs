//! Semantic tokens from each grammar's highlight query, run on the document's own tree (so a
//! keystroke costs an incremental reparse, not the full parse a fresh highlighter would do).

use streaming_iterator::StreamingIterator;
use tree_sitter::QueryCursor;

use crate::{Document, SyntaxError};

/// The token types, in the order of the legend given to Monaco.
pub const TOKEN_TYPES: [&str; 16] = [
    "comment",
    "string",
    "escape",
    "keyword",
    "number",
    "operator",
    "punctuation",
    "type",
    "function",
    "method",
    "variable",
    "parameter",
    "property",
    "constant",
    "module",
    "attribute",
];

/// Monaco's encoding: five numbers per token (line delta, start delta, length, type, modifiers),
/// lines and columns in UTF-16 units, no token crossing a line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SemanticTokens {
    pub data: Vec<u32>,
}

impl SemanticTokens {
    /// Decoded as (line, column, length, type name), for tests and tools.
    pub fn decode(&self) -> Vec<(u32, u32, u32, &'static str)> {
        let (mut line, mut column) = (0, 0);
        self.data
            .chunks_exact(5)
            .map(|token| {
                if token[0] > 0 {
                    column = 0;
                }
                line += token[0];
                column += token[1];
                (line, column, token[2], TOKEN_TYPES[token[3] as usize])
            })
            .collect()
    }
}

/// The token type of a capture name (`function.method` → `method`), if it gets one.
fn token_type(capture: &str) -> Option<u32> {
    let name = match capture {
        "function.method" => "method",
        "function" | "function.builtin" | "function.macro" => "function",
        "constructor" | "type" | "type.builtin" => "type",
        "variable.parameter" => "parameter",
        "variable" | "variable.builtin" => "variable",
        "property" | "property.definition" => "property",
        "constant" | "constant.builtin" => "constant",
        "string.escape" | "escape" => "escape",
        "string" | "string.special" => "string",
        other => match other.split('.').next() {
            Some("punctuation") => "punctuation",
            Some(first) => first,
            None => return None,
        },
    };
    TOKEN_TYPES
        .iter()
        .position(|&t| t == name)
        .map(|i| i as u32)
}

const UNPAINTED: u8 = u8::MAX;

impl Document {
    /// Semantic tokens for the whole document.
    pub fn semantic_tokens(&self) -> Result<SemanticTokens, SyntaxError> {
        self.semantic_tokens_in(0..self.text().len())
    }

    /// Semantic tokens for the lines touching `bytes` (what is on screen, for very large files).
    pub fn semantic_tokens_in(
        &self,
        bytes: std::ops::Range<usize>,
    ) -> Result<SemanticTokens, SyntaxError> {
        let grammar = self.language().grammar()?;
        let query = &grammar.highlights;
        let types: Vec<Option<u32>> = query
            .capture_names()
            .iter()
            .map(|n| token_type(n))
            .collect();
        let text = self.text().as_bytes();
        let range = bytes.start.min(text.len())..bytes.end.min(text.len());

        // Captures as (start, end, type) in the order the query yields them; for one node the
        // later pattern is the more specific one (`(identifier) @variable` comes first).
        let mut captures: Vec<(usize, usize, u8)> = Vec::new();
        let mut cursor = QueryCursor::new();
        cursor.set_byte_range(range.clone());
        let mut matches = cursor.captures(query, self.tree().root_node(), text);
        while let Some((found, index)) = matches.next() {
            let capture = found.captures()[*index];
            if let Some(kind) = types[capture.index as usize] {
                let node = capture.node;
                captures.push((node.start_byte(), node.end_byte(), kind as u8));
            }
        }
        // Outer nodes first, so inner ones paint over them; ties keep query order.
        captures.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));

        let mut paint = vec![UNPAINTED; range.len()];
        for (start, end, kind) in captures {
            let (start, end) = (start.max(range.start), end.min(range.end));
            if start < end {
                paint[start - range.start..end - range.start].fill(kind);
            }
        }
        Ok(self.encode(&paint, range.start))
    }

    fn encode(&self, paint: &[u8], offset: usize) -> SemanticTokens {
        let text = self.text();
        let mut data = Vec::new();
        let (mut previous_line, mut previous_column) = (0u32, 0u32);
        let mut index = 0;
        while index < paint.len() {
            let kind = paint[index];
            let run_start = index;
            while index < paint.len()
                && paint[index] == kind
                && text.as_bytes()[offset + index] != b'\n'
            {
                index += 1;
            }
            if index == run_start {
                index += 1; // A newline: tokens never cross one.
                continue;
            }
            if kind == UNPAINTED {
                continue;
            }
            let start = self.position_of(offset + run_start);
            let end = self.position_of(offset + index);
            let length = end.column - start.column;
            if length == 0 {
                continue;
            }
            let line_delta = start.line - previous_line;
            let column_delta = if line_delta == 0 {
                start.column - previous_column
            } else {
                start.column
            };
            data.extend_from_slice(&[line_delta, column_delta, length, u32::from(kind), 0]);
            previous_line = start.line;
            previous_column = start.column;
        }
        SemanticTokens { data }
    }
}
