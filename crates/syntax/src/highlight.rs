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

/// Ranges at least this large are highlighted by two threads.
const PARALLEL_FROM: usize = 64 * 1024;

/// Paints `paint` (the bytes from `offset`) with the token type of the innermost capture.
fn paint_range(
    query: &tree_sitter::Query,
    root: tree_sitter::Node,
    text: &[u8],
    types: &[Option<u32>],
    offset: usize,
    paint: &mut [u8],
) {
    let end = offset + paint.len();
    // Captures as (start, end, type) in the order the query yields them; for one node the
    // later pattern is the more specific one (`(identifier) @variable` comes first).
    let mut captures: Vec<(usize, usize, u8)> = Vec::new();
    let mut cursor = QueryCursor::new();
    cursor.set_byte_range(offset..end);
    let mut matches = cursor.captures(query, root, text);
    while let Some((found, index)) = matches.next() {
        let capture = found.captures()[*index];
        if let Some(kind) = types[capture.index as usize] {
            let node = capture.node;
            captures.push((node.start_byte(), node.end_byte(), kind as u8));
        }
    }
    // Outer nodes first, so inner ones paint over them; ties keep query order. The query
    // yields them nearly in this order already, which the stable sort handles in one pass.
    let outer_first =
        |a: &(usize, usize, u8), b: &(usize, usize, u8)| a.0.cmp(&b.0).then(b.1.cmp(&a.1));
    if !captures.is_sorted_by(|a, b| outer_first(a, b).is_le()) {
        captures.sort_by(outer_first);
    }
    for (start, stop, kind) in captures {
        let (start, stop) = (start.max(offset), stop.min(end));
        if start < stop {
            paint[start - offset..stop - offset].fill(kind);
        }
    }
}

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
        let types: Vec<Option<u32>> = grammar
            .highlights
            .capture_names()
            .iter()
            .map(|n| token_type(n))
            .collect();
        let text = self.text().as_bytes();
        let range = bytes.start.min(text.len())..bytes.end.min(text.len());
        let mut paint = vec![UNPAINTED; range.len()];
        let root = self.tree().root_node();
        if range.len() < PARALLEL_FROM {
            paint_range(
                &grammar.highlights,
                root,
                text,
                &types,
                range.start,
                &mut paint,
            );
        } else {
            // Two halves on two threads: the query over a large file is most of the cost.
            let middle = range.len() / 2;
            let (first, second) = paint.split_at_mut(middle);
            let query = &grammar.highlights;
            let types = &types;
            std::thread::scope(|scope| {
                scope.spawn(move || paint_range(query, root, text, types, range.start, first));
                paint_range(query, root, text, types, range.start + middle, second);
            });
        }
        Ok(self.encode(&paint, range.start))
    }

    /// One pass over the painted bytes, counting lines and UTF-16 columns as it goes.
    fn encode(&self, paint: &[u8], offset: usize) -> SemanticTokens {
        let bytes = &self.text().as_bytes()[offset..offset + paint.len()];
        let start = self.position_of(offset);
        let (mut line, mut column) = (start.line, start.column);
        let mut data = Vec::new();
        let (mut previous_line, mut previous_column) = (0u32, 0u32);
        // The token being built: (line, start column, type).
        let mut current: Option<(u32, u32, u8)> = None;
        let mut flush = |current: &mut Option<(u32, u32, u8)>, end_column: u32| {
            if let Some((token_line, token_column, kind)) = current.take() {
                if end_column > token_column {
                    let line_delta = token_line - previous_line;
                    let column_delta = if line_delta == 0 {
                        token_column - previous_column
                    } else {
                        token_column
                    };
                    data.extend_from_slice(&[
                        line_delta,
                        column_delta,
                        end_column - token_column,
                        u32::from(kind),
                        0,
                    ]);
                    previous_line = token_line;
                    previous_column = token_column;
                }
            }
        };
        for (&byte, &kind) in bytes.iter().zip(paint) {
            if byte == b'\n' {
                flush(&mut current, column);
                line += 1;
                column = 0;
                continue;
            }
            // UTF-8 continuation bytes add nothing; a 4-byte character is two UTF-16 units.
            let width = match byte {
                0x80..=0xBF => 0,
                0xF0..=0xFF => 2,
                _ => 1,
            };
            if width > 0 {
                match current {
                    Some((_, _, open)) if open == kind => {}
                    _ => {
                        flush(&mut current, column);
                        if kind != UNPAINTED {
                            current = Some((line, column, kind));
                        }
                    }
                }
            }
            column += width;
        }
        flush(&mut current, column);
        SemanticTokens { data }
    }
}
