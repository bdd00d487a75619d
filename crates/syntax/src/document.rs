//! One open document: its text, a line index, and a parse tree kept up to date from edits.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tree_sitter::{InputEdit, Parser, Point, Tree};

use crate::{Language, Position, Span, SyntaxError};

/// Parsing stops after this long; a 5 MB file takes well under it.
const PARSE_BUDGET: Duration = Duration::from_secs(5);

/// A change as Monaco reports it: the range replaced (zero-based, UTF-16 columns) and the new
/// text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextEdit {
    pub start: Position,
    pub end: Position,
    pub text: String,
}

pub struct Document {
    language: Language,
    text: String,
    /// Byte offset where each line starts; the first is 0.
    line_starts: Vec<usize>,
    parser: Parser,
    tree: Tree,
}

impl Document {
    pub fn new(language: Language, text: impl Into<String>) -> Result<Self, SyntaxError> {
        let grammar = language.grammar()?;
        let mut parser = Parser::new();
        parser
            .set_language(&grammar.language)
            .map_err(|error| SyntaxError::Grammar {
                language: language.name(),
                reason: error.to_string(),
            })?;
        let text = text.into();
        let tree = parse(&mut parser, &text, None)?;
        Ok(Self {
            language,
            line_starts: line_starts(&text),
            text,
            parser,
            tree,
        })
    }

    pub fn language(&self) -> Language {
        self.language
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Applies Monaco's changes in the order given (each relative to the text the previous one
    /// left), editing the tree for each, then reparses once, reusing the unchanged parts.
    pub fn apply_edits(&mut self, edits: &[TextEdit]) -> Result<(), SyntaxError> {
        for edit in edits {
            let start = self.byte_of(edit.start)?;
            let end = self.byte_of(edit.end)?.max(start);
            self.replace_bytes(start, end, &edit.text);
        }
        self.tree = parse(&mut self.parser, &self.text, Some(&self.tree))?;
        Ok(())
    }

    /// Replaces `start..end` (byte offsets on character boundaries) and edits the tree; the
    /// caller reparses.
    fn replace_bytes(&mut self, start: usize, end: usize, new_text: &str) {
        let start_point = self.point_of(start);
        let old_end_point = self.point_of(end);
        self.text.replace_range(start..end, new_text);

        let first_line = start_point.row;
        let last_line = old_end_point.row;
        let delta = new_text.len() as isize - (end - start) as isize;
        let inserted = new_text
            .match_indices('\n')
            .map(|(index, _)| start + index + 1);
        let tail: Vec<usize> = self.line_starts[last_line + 1..]
            .iter()
            .map(|&offset| offset.wrapping_add_signed(delta))
            .collect();
        self.line_starts.truncate(first_line + 1);
        self.line_starts.extend(inserted);
        self.line_starts.extend(tail);

        let new_end = start + new_text.len();
        let new_end_point = self.point_of(new_end);
        self.tree.edit(&InputEdit {
            start_byte: start,
            old_end_byte: end,
            new_end_byte: new_end,
            start_position: start_point,
            old_end_position: old_end_point,
            new_end_position: new_end_point,
        });
    }

    /// The byte offset of a Monaco position.
    pub fn byte_of(&self, position: Position) -> Result<usize, SyntaxError> {
        let line = position.line as usize;
        let out_of_range = || SyntaxError::EditOutOfRange {
            line: position.line,
            column: position.column,
            lines: self.line_starts.len(),
        };
        let start = *self.line_starts.get(line).ok_or_else(out_of_range)?;
        let end = self.line_end(line);
        let line_text = &self.text[start..end];
        let wanted = position.column as usize;
        if line_text.is_ascii() {
            return if wanted <= line_text.len() {
                Ok(start + wanted)
            } else {
                Err(out_of_range())
            };
        }
        let mut units = 0;
        for (index, character) in line_text.char_indices() {
            if units >= wanted {
                return Ok(start + index);
            }
            units += character.len_utf16();
        }
        if units >= wanted {
            Ok(end)
        } else {
            Err(out_of_range())
        }
    }

    /// End of a line's text, before its newline.
    fn line_end(&self, line: usize) -> usize {
        match self.line_starts.get(line + 1) {
            Some(&next) => next - 1,
            None => self.text.len(),
        }
    }

    fn point_of(&self, byte: usize) -> Point {
        let row = self.line_starts.partition_point(|&start| start <= byte) - 1;
        Point::new(row, byte - self.line_starts[row])
    }

    /// The Monaco position of a byte offset (on a character boundary or clamped to one).
    pub fn position_of(&self, byte: usize) -> Position {
        let byte = byte.min(self.text.len());
        let row = self.line_starts.partition_point(|&start| start <= byte) - 1;
        let start = self.line_starts[row];
        let mut boundary = byte;
        while !self.text.is_char_boundary(boundary) {
            boundary -= 1;
        }
        let prefix = &self.text[start..boundary];
        let column = if prefix.is_ascii() {
            prefix.len()
        } else {
            prefix.encode_utf16().count()
        };
        Position {
            line: row as u32,
            column: column as u32,
        }
    }

    pub fn span_of(&self, bytes: std::ops::Range<usize>) -> Span {
        Span {
            start: self.position_of(bytes.start),
            end: self.position_of(bytes.end),
        }
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(index, _)| index + 1))
        .collect()
}

fn parse(parser: &mut Parser, text: &str, old: Option<&Tree>) -> Result<Tree, SyntaxError> {
    let started = Instant::now();
    let bytes = text.as_bytes();
    let mut read = |offset: usize, _: Point| bytes.get(offset..).unwrap_or_default();
    let mut check_time = |_: &tree_sitter::ParseState| {
        if started.elapsed() > PARSE_BUDGET {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let options = tree_sitter::ParseOptions::new().progress_callback(&mut check_time);
    let tree = parser.parse_with_options(&mut read, old, Some(options));
    tree.ok_or_else(|| {
        // An abandoned parse would otherwise be resumed by the next call.
        parser.reset();
        SyntaxError::ParseTimedOut(PARSE_BUDGET.as_millis() as u64)
    })
}
