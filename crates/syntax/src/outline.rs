//! The outline (classes, functions, methods, …) and the names a file defines, for completion.

use std::collections::BTreeMap;

use tree_sitter::Node;

use crate::{Document, Language, Span};

/// Symbols nest at most this deep; deeper ones are listed under the deepest kept one.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolKind {
    Namespace,
    Class,
    Struct,
    Interface,
    Enum,
    Function,
    Method,
    Constructor,
    Property,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// The whole definition.
    pub span: Span,
    /// Its name, where go-to-symbol puts the cursor.
    pub name_span: Span,
    pub children: Vec<Symbol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompletionKind {
    Class,
    Function,
    Method,
    Property,
    Variable,
    Module,
    Keyword,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
}

fn symbol_kind(language: Language, node: Node, inside_class: bool) -> Option<SymbolKind> {
    use SymbolKind::*;
    Some(match (language, node.kind()) {
        (Language::Python, "class_definition") => Class,
        (Language::Python, "function_definition") if inside_class => Method,
        (Language::Python, "function_definition") => Function,
        (Language::JavaScript, "class_declaration" | "class") => Class,
        (Language::JavaScript, "function_declaration" | "generator_function_declaration") => {
            Function
        }
        (Language::JavaScript, "method_definition") => Method,
        (Language::JavaScript, "variable_declarator")
            if node.child_by_field_name("value").is_some_and(|value| {
                matches!(
                    value.kind(),
                    "arrow_function" | "function_expression" | "function"
                )
            }) =>
        {
            Function
        }
        (Language::CSharp, "namespace_declaration" | "file_scoped_namespace_declaration") => {
            Namespace
        }
        (Language::CSharp, "class_declaration" | "record_declaration") => Class,
        (Language::CSharp, "struct_declaration") => Struct,
        (Language::CSharp, "interface_declaration") => Interface,
        (Language::CSharp, "enum_declaration") => Enum,
        (Language::CSharp, "method_declaration") => Method,
        (Language::CSharp, "local_function_statement") => Function,
        (Language::CSharp, "constructor_declaration") => Constructor,
        (Language::CSharp, "property_declaration") => Property,
        _ => return None,
    })
}

impl Document {
    /// The document's classes, functions and methods, nested as written.
    pub fn outline(&self) -> Vec<Symbol> {
        // Found in document order with the index of their parent, then nested at the end.
        let mut flat: Vec<(Option<usize>, Symbol)> = Vec::new();
        // Open symbols: (index in flat, end byte, is a class).
        let mut open: Vec<(usize, usize, bool)> = Vec::new();
        let mut cursor = self.tree().root_node().walk();
        loop {
            let node = cursor.node();
            while open
                .last()
                .is_some_and(|&(_, end, _)| end <= node.start_byte())
            {
                open.pop();
            }
            let inside_class = open.last().is_some_and(|&(_, _, class)| class);
            if let Some(kind) = symbol_kind(self.language(), node, inside_class) {
                if let Some(name) = node.child_by_field_name("name") {
                    let symbol = Symbol {
                        name: self.text()[name.byte_range()].to_owned(),
                        kind,
                        span: self.span_of(node.byte_range()),
                        name_span: self.span_of(name.byte_range()),
                        children: Vec::new(),
                    };
                    flat.push((open.last().map(|&(index, _, _)| index), symbol));
                    let is_class = matches!(
                        kind,
                        SymbolKind::Class | SymbolKind::Struct | SymbolKind::Interface
                    );
                    if open.len() < MAX_DEPTH {
                        open.push((flat.len() - 1, node.end_byte(), is_class));
                    }
                }
            }
            if !holds_no_symbols(node.kind()) && cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    return nest(flat);
                }
            }
        }
    }

    /// Names this document defines (classes, functions, variables, parameters, imports), for
    /// completion; sorted, each once.
    pub fn defined_names(&self) -> Vec<Completion> {
        let mut names: BTreeMap<String, CompletionKind> = BTreeMap::new();
        let mut add = |node: Node, kind: CompletionKind| {
            if let Some(text) = self.text().get(node.byte_range()) {
                if !text.is_empty() && text.len() <= 128 {
                    names.entry(text.to_owned()).or_insert(kind);
                }
            }
        };
        let mut cursor = self.tree().root_node().walk();
        loop {
            let node = cursor.node();
            for (identifier, kind) in definitions(self.language(), node) {
                add(identifier, kind);
            }
            if cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    return names
                        .into_iter()
                        .map(|(label, kind)| Completion { label, kind })
                        .collect();
                }
            }
        }
    }
}

/// The identifiers a node defines, with what they are.
fn definitions(language: Language, node: Node<'_>) -> Vec<(Node<'_>, CompletionKind)> {
    use CompletionKind::*;
    let name = || node.child_by_field_name("name");
    match (language, node.kind()) {
        (Language::Python, "class_definition") => {
            name().map(|n| vec![(n, Class)]).unwrap_or_default()
        }
        (Language::Python, "function_definition") => {
            name().map(|n| vec![(n, Function)]).unwrap_or_default()
        }
        (Language::Python, "parameters" | "lambda_parameters") => {
            identifiers_in(Some(node), Variable)
        }
        (Language::Python, "default_parameter" | "typed_default_parameter") => {
            identifiers_in(name(), Variable)
        }
        (Language::Python, "typed_parameter") => identifiers_in(node.named_child(0), Variable),
        (Language::Python, "assignment" | "augmented_assignment") => {
            identifiers_in(node.child_by_field_name("left"), Variable)
        }
        (Language::Python, "for_statement" | "for_in_clause") => {
            identifiers_in(node.child_by_field_name("left"), Variable)
        }
        (Language::Python, "as_pattern_target") => identifiers_in(node.named_child(0), Variable),
        (Language::Python, "aliased_import") => {
            identifiers_in(node.child_by_field_name("alias"), Module)
        }
        (Language::Python, "dotted_name")
            if node.parent().is_some_and(|p| {
                p.kind() == "import_statement" || p.kind() == "import_from_statement"
            }) =>
        {
            let last = node.named_child((node.named_child_count() as u32).saturating_sub(1));
            identifiers_in(last, Module)
        }
        (
            Language::CSharp,
            "class_declaration"
            | "struct_declaration"
            | "interface_declaration"
            | "enum_declaration"
            | "record_declaration",
        ) => identifiers_in(name(), Class),
        (Language::CSharp, "method_declaration") => identifiers_in(name(), Method),
        (Language::CSharp, "local_function_statement") => identifiers_in(name(), Function),
        (Language::CSharp, "property_declaration" | "enum_member_declaration") => {
            identifiers_in(name(), Property)
        }
        (Language::CSharp, "variable_declarator") => {
            identifiers_in(name().or_else(|| node.named_child(0)), Variable)
        }
        (Language::CSharp, "parameter") => identifiers_in(name(), Variable),
        (Language::CSharp, "foreach_statement") => {
            identifiers_in(node.child_by_field_name("left"), Variable)
        }
        (
            Language::JavaScript,
            "function_declaration" | "class_declaration" | "method_definition",
        ) => identifiers_in(name(), Function),
        (Language::JavaScript, "variable_declarator") => identifiers_in(name(), Variable),
        _ => Vec::new(),
    }
}

/// Expressions and literals, which the outline walk skips: most of a file's nodes are in them.
fn holds_no_symbols(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "string_literal"
            | "template_string"
            | "interpolated_string_expression"
            | "comment"
            | "call"
            | "call_expression"
            | "invocation_expression"
            | "argument_list"
            | "arguments"
            | "binary_operator"
            | "binary_expression"
            | "comparison_operator"
            | "boolean_operator"
            | "parenthesized_expression"
            | "return_statement"
            | "expression_statement"
            | "assignment_expression"
            | "member_expression"
            | "member_access_expression"
            | "attribute"
            | "identifier"
            | "integer"
            | "number"
            | "integer_literal"
    )
}

/// `target` itself if it is an identifier, else its identifier children (`a, b = …`).
fn identifiers_in(
    target: Option<Node<'_>>,
    kind: CompletionKind,
) -> Vec<(Node<'_>, CompletionKind)> {
    let Some(target) = target else {
        return Vec::new();
    };
    if target.kind() == "identifier" {
        return vec![(target, kind)];
    }
    let mut cursor = target.walk();
    target
        .named_children(&mut cursor)
        .filter(|child| child.kind() == "identifier")
        .map(|child| (child, kind))
        .collect()
}

/// Builds the nested tree from symbols listed with their parent's index.
fn nest(flat: Vec<(Option<usize>, Symbol)>) -> Vec<Symbol> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); flat.len()];
    let mut roots = Vec::new();
    for (index, (parent, _)) in flat.iter().enumerate() {
        match parent {
            Some(parent) => children[*parent].push(index),
            None => roots.push(index),
        }
    }
    let mut symbols: Vec<Option<Symbol>> = flat.into_iter().map(|(_, s)| Some(s)).collect();
    // Children always come after their parent, so filling from the back completes each
    // symbol's children before the symbol itself is taken.
    for index in (0..symbols.len()).rev() {
        let kids: Vec<Symbol> = children[index]
            .iter()
            .filter_map(|&child| symbols[child].take())
            .collect();
        if let Some(symbol) = symbols[index].as_mut() {
            symbol.children = kids;
        }
    }
    roots
        .into_iter()
        .filter_map(|index| symbols[index].take())
        .collect()
}

/// Keywords offered with the defined names.
pub(crate) fn keywords(language: Language) -> &'static [&'static str] {
    match language {
        Language::Python => &[
            "False",
            "None",
            "True",
            "and",
            "as",
            "assert",
            "async",
            "await",
            "break",
            "class",
            "continue",
            "def",
            "del",
            "elif",
            "else",
            "except",
            "finally",
            "for",
            "from",
            "global",
            "if",
            "import",
            "in",
            "is",
            "lambda",
            "nonlocal",
            "not",
            "or",
            "pass",
            "raise",
            "return",
            "try",
            "while",
            "with",
            "yield",
            "print",
            "input",
            "range",
            "len",
            "str",
            "int",
            "float",
            "list",
            "dict",
            "set",
            "tuple",
            "enumerate",
            "open",
        ],
        Language::CSharp => &[
            "abstract",
            "as",
            "base",
            "bool",
            "break",
            "case",
            "catch",
            "char",
            "class",
            "const",
            "continue",
            "decimal",
            "default",
            "do",
            "double",
            "else",
            "enum",
            "false",
            "finally",
            "float",
            "for",
            "foreach",
            "if",
            "in",
            "int",
            "interface",
            "internal",
            "is",
            "long",
            "namespace",
            "new",
            "null",
            "object",
            "out",
            "override",
            "private",
            "protected",
            "public",
            "readonly",
            "ref",
            "return",
            "static",
            "string",
            "struct",
            "switch",
            "this",
            "throw",
            "true",
            "try",
            "using",
            "var",
            "virtual",
            "void",
            "while",
            "Console",
            "WriteLine",
            "ReadLine",
            "List",
            "Dictionary",
        ],
        Language::JavaScript => &[],
    }
}
