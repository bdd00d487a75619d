//! Syntax errors from the tree's ERROR and MISSING nodes, worded for learners.

use tree_sitter::Node;

use crate::{Document, Span};

/// At most this many errors are reported: past the first few, more only hide the first.
const MAX_DIAGNOSTICS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub span: Span,
    pub message: String,
}

impl Document {
    /// Every syntax error, in document order.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut found = Vec::new();
        let root = self.tree().root_node();
        if !root.has_error() {
            return found;
        }
        // Iterative walk: deeply nested input must not exhaust the stack.
        let mut cursor = root.walk();
        loop {
            let node = cursor.node();
            let mut descend = node.has_error();
            if node.is_missing() {
                found.push(self.missing(node));
                descend = false;
            } else if node.is_error() {
                found.push(self.unexpected(node));
                descend = false;
            }
            if found.len() >= MAX_DIAGNOSTICS {
                break;
            }
            if descend && cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    return found;
                }
            }
        }
        found
    }

    fn missing(&self, node: Node) -> Diagnostic {
        let what = if node.is_named() {
            node.kind().replace('_', " ")
        } else {
            format!("'{}'", node.kind())
        };
        // A missing node has no width: mark the character before it, where the learner looks.
        let at = node.start_byte();
        let start = previous_char_boundary(self.text(), at);
        Diagnostic {
            span: self.span_of(start..at.max(start + 1).min(self.text().len())),
            message: format!("missing {what}"),
        }
    }

    fn unexpected(&self, node: Node) -> Diagnostic {
        if let Some(closer) = unclosed_bracket(node) {
            let end = node.end_byte();
            let start = previous_char_boundary(self.text(), end);
            return Diagnostic {
                span: self.span_of(start..end.max(start + 1).min(self.text().len())),
                message: format!("missing '{closer}'"),
            };
        }
        let token = misplaced_token(node);
        if let Some(diagnostic) = self.missing_semicolon_before(token) {
            return diagnostic;
        }
        let text = &self.text()[token.start_byte()..token.end_byte()];
        let message = if token.start_byte() >= self.text().len() {
            "unexpected end of file".to_owned()
        } else if text.trim().is_empty() {
            "syntax error".to_owned()
        } else {
            let shown: String = text.chars().take(24).collect();
            let more = if shown.len() < text.len() { "…" } else { "" };
            format!("unexpected '{shown}{more}'")
        };
        let end = token
            .end_byte()
            .max(token.start_byte() + 1)
            .min(self.text().len());
        Diagnostic {
            span: self.span_of(token.start_byte().min(end)..end),
            message,
        }
    }
}

impl Document {
    /// In C#, a statement on a new line that does not parse usually means the line before it
    /// lacks its `;`: say that, at the end of that line.
    fn missing_semicolon_before(&self, token: Node) -> Option<Diagnostic> {
        if self.language() != crate::Language::CSharp {
            return None;
        }
        let before = self.text()[..token.start_byte()].trim_end();
        if before.is_empty() || !self.text()[before.len()..token.start_byte()].contains('\n') {
            return None;
        }
        if before.ends_with([';', '{', '}', ':', ',', '(', '[']) {
            return None;
        }
        let start = previous_char_boundary(self.text(), before.len());
        Some(Diagnostic {
            span: self.span_of(start..before.len()),
            message: "missing ';'".to_owned(),
        })
    }
}

fn previous_char_boundary(text: &str, at: usize) -> usize {
    let mut index = at.min(text.len()).saturating_sub(1);
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Looks through an error's tokens for a bracket opened and never closed (`print('hi'`), the
/// most common reason a learner's line does not parse; gives the bracket that would close it.
fn unclosed_bracket(error: Node) -> Option<char> {
    const MAX_TOKENS: usize = 4096;
    let mut open = Vec::new();
    let mut cursor = error.walk();
    let mut seen = 0;
    loop {
        let node = cursor.node();
        if node.child_count() == 0 {
            seen += 1;
            match node.kind() {
                "(" => open.push(')'),
                "[" => open.push(']'),
                "{" => open.push('}'),
                ")" | "]" | "}" => {
                    open.pop();
                }
                _ => {}
            }
            if seen > MAX_TOKENS {
                return None;
            }
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.node() == error {
                return open.pop();
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return open.pop();
            }
        }
    }
}

/// The token the parser could not place: inside the error, past the complete constructs it
/// kept (`x = 1` before a stray `else`), the first leaf of what is left.
fn misplaced_token(error: Node) -> Node {
    let mut node = error;
    loop {
        let mut cursor = node.walk();
        let next = node
            .children(&mut cursor)
            .find(|child| !(child.is_named() && !child.is_error() && !child.has_error()));
        match next {
            Some(child) if child.child_count() > 0 => node = child,
            Some(child) => return child,
            None => {
                let mut leaf = node;
                while let Some(child) = leaf.child(0) {
                    leaf = child;
                }
                return leaf;
            }
        }
    }
}
