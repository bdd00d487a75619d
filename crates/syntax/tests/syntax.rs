//! Highlighting, errors, outline and completion on small real programs; incremental parsing
//! checked against fresh parses; broken input handled.

use coderoom_syntax::{
    CompletionKind, Document, Documents, Language, Position, SymbolKind, SyntaxError, TextEdit,
};

fn tokens(language: Language, text: &str) -> Vec<(u32, u32, String, &'static str)> {
    let document = Document::new(language, text).expect("document");
    let lines: Vec<&str> = text.lines().collect();
    document
        .semantic_tokens()
        .expect("tokens")
        .decode()
        .into_iter()
        .map(|(line, column, length, kind)| {
            let line_text: Vec<u16> = lines[line as usize].encode_utf16().collect();
            let word =
                String::from_utf16_lossy(&line_text[column as usize..(column + length) as usize]);
            (line, column, word, kind)
        })
        .collect()
}

fn has(tokens: &[(u32, u32, String, &'static str)], word: &str, kind: &str) -> bool {
    tokens.iter().any(|(_, _, w, k)| w == word && *k == kind)
}

#[test]
fn python_highlights() {
    let text = "import math\n\ndef área(radius):\n    \"\"\"Area.\"\"\"\n    return math.pi * radius ** 2  # square\n\nprint(área(2), None)\n";
    let t = tokens(Language::Python, text);
    for (word, kind) in [
        ("import", "keyword"),
        ("def", "keyword"),
        ("área", "function"),
        ("\"\"\"Area.\"\"\"", "string"),
        ("return", "keyword"),
        ("pi", "property"),
        ("2", "number"),
        ("# square", "comment"),
        ("print", "function"),
        ("None", "constant"),
    ] {
        assert!(has(&t, word, kind), "{word} as {kind} in {t:?}");
    }
}

#[test]
fn javascript_highlights() {
    let text = "// greet\nclass Greeter {\n  hello(name) {\n    return `hi ${name}`;\n  }\n}\nconst n = 42;\nconsole.log(new Greeter().hello('x'), n);\n";
    let t = tokens(Language::JavaScript, text);
    for (word, kind) in [
        ("// greet", "comment"),
        ("class", "keyword"),
        ("Greeter", "type"),
        ("hello", "method"),
        ("return", "keyword"),
        ("42", "number"),
        ("'x'", "string"),
        ("log", "method"),
    ] {
        assert!(has(&t, word, kind), "{word} as {kind} in {t:?}");
    }
}

#[test]
fn csharp_highlights() {
    let text = "using System;\n\nclass Program {\n    static void Main() {\n        var s = \"hi\"; // say it\n        Console.WriteLine(s + 1);\n    }\n}\n";
    let t = tokens(Language::CSharp, text);
    for (word, kind) in [
        ("using", "keyword"),
        ("class", "keyword"),
        ("Program", "type"),
        ("static", "keyword"),
        ("Main", "function"),
        ("\"hi\"", "string"),
        ("// say it", "comment"),
        ("1", "number"),
    ] {
        assert!(has(&t, word, kind), "{word} as {kind} in {t:?}");
    }
}

#[test]
fn tokens_never_cross_lines() {
    let text = "s = \"\"\"one\ntwo\nthree\"\"\"\n";
    let t = tokens(Language::Python, text);
    let strings: Vec<_> = t.iter().filter(|(_, _, _, k)| *k == "string").collect();
    assert_eq!(strings.len(), 3, "{t:?}");
    assert_eq!(strings[1].2, "two");
}

fn messages(language: Language, text: &str) -> Vec<(u32, u32, String)> {
    Document::new(language, text)
        .expect("document")
        .diagnostics()
        .into_iter()
        .map(|d| (d.span.start.line, d.span.start.column, d.message))
        .collect()
}

#[test]
fn syntax_errors_are_readable_and_placed() {
    assert_eq!(
        messages(Language::Python, "print('hi'\n"),
        vec![(0, 9, "missing ')'".to_owned())]
    );
    let unexpected = messages(Language::Python, "x = 1\nelse:\n    pass\n");
    assert!(
        unexpected
            .iter()
            .any(|(line, column, m)| *line == 1 && *column == 0 && m == "unexpected 'else'"),
        "{unexpected:?}"
    );
    let else_if = messages(Language::Python, "if x:\n    y = 1\nelse if y:\n    pass\n");
    assert!(
        else_if
            .iter()
            .any(|(line, _, m)| *line == 2 && m.starts_with("unexpected '")),
        "{else_if:?}"
    );
    let csharp = messages(
        Language::CSharp,
        "int x = 5\nSystem.Console.WriteLine(x);\n",
    );
    assert!(
        csharp
            .iter()
            .any(|(line, _, m)| *line == 0 && m == "missing ';'"),
        "{csharp:?}"
    );
    let javascript = messages(Language::JavaScript, "function f( {\n  return 1;\n}\n");
    assert!(!javascript.is_empty());
    assert!(messages(
        Language::JavaScript,
        "const ok = [1, 2].map((x) => x * 2);\n"
    )
    .is_empty());
}

#[test]
fn errors_follow_typing() {
    let mut documents = Documents::new();
    let analysis = documents
        .open("a", "python", "print('hi')\n")
        .expect("open");
    assert!(analysis.diagnostics.is_empty());
    let at = |line, column| Position { line, column };
    let broken = documents
        .edit(
            "a",
            &[TextEdit {
                start: at(0, 10),
                end: at(0, 11),
                text: String::new(),
            }],
        )
        .expect("edit");
    assert_eq!(broken.diagnostics.len(), 1, "{broken:?}");
    assert_eq!(broken.diagnostics[0].message, "missing ')'");
    let fixed = documents
        .edit(
            "a",
            &[TextEdit {
                start: at(0, 10),
                end: at(0, 10),
                text: ")".into(),
            }],
        )
        .expect("edit");
    assert!(fixed.diagnostics.is_empty());
}

#[test]
fn outlines() {
    let python = Document::new(
        Language::Python,
        "class Shape:\n    def area(self):\n        return 0\n\n    def grow(self):\n        def helper():\n            pass\n\ndef main():\n    pass\n",
    )
    .expect("doc")
    .outline();
    assert_eq!(python.len(), 2);
    assert_eq!(
        (python[0].name.as_str(), python[0].kind),
        ("Shape", SymbolKind::Class)
    );
    let methods: Vec<_> = python[0]
        .children
        .iter()
        .map(|s| (s.name.as_str(), s.kind))
        .collect();
    assert_eq!(
        methods,
        [("area", SymbolKind::Method), ("grow", SymbolKind::Method)]
    );
    assert_eq!(python[0].children[1].children[0].name, "helper");
    assert_eq!(python[0].children[1].children[0].kind, SymbolKind::Function);
    assert_eq!(
        (python[1].name.as_str(), python[1].name_span.start),
        ("main", Position { line: 8, column: 4 })
    );

    let javascript = Document::new(
        Language::JavaScript,
        "function a() {}\nclass B {\n  c() {}\n}\nconst d = () => 1;\nconst e = 5;\n",
    )
    .expect("doc")
    .outline();
    let names: Vec<_> = javascript
        .iter()
        .map(|s| (s.name.as_str(), s.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("a", SymbolKind::Function),
            ("B", SymbolKind::Class),
            ("d", SymbolKind::Function)
        ]
    );
    assert_eq!(javascript[1].children[0].name, "c");

    let csharp = Document::new(
        Language::CSharp,
        "namespace Shop {\n  class Cart {\n    public int Count { get; set; }\n    public Cart() {}\n    void Add(int n) {}\n  }\n  interface IPay {}\n}\n",
    )
    .expect("doc")
    .outline();
    assert_eq!(
        (csharp[0].name.as_str(), csharp[0].kind),
        ("Shop", SymbolKind::Namespace)
    );
    let cart = &csharp[0].children[0];
    let members: Vec<_> = cart
        .children
        .iter()
        .map(|s| (s.name.as_str(), s.kind))
        .collect();
    assert_eq!(
        members,
        [
            ("Count", SymbolKind::Property),
            ("Cart", SymbolKind::Constructor),
            ("Add", SymbolKind::Method)
        ]
    );
    assert_eq!(csharp[0].children[1].kind, SymbolKind::Interface);
}

#[test]
fn completion_offers_names_from_every_open_file() {
    let mut documents = Documents::new();
    documents
        .open("main", "python", "from helpers import shout\nimport math as m\n\ntotal_score = 0\nfor item in []:\n    pass\n")
        .expect("open");
    documents
        .open(
            "helpers",
            "python",
            "def shout(text, times=2):\n    return text.upper()\n\nclass Loud:\n    pass\n",
        )
        .expect("open");
    documents
        .open("other", "csharp", "class NotPython {}\n")
        .expect("open");
    let completions = documents.completions("main").expect("completions");
    let find = |label: &str| {
        completions
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.kind)
    };
    assert_eq!(find("total_score"), Some(CompletionKind::Variable));
    assert_eq!(find("item"), Some(CompletionKind::Variable));
    assert!(find("shout").is_some());
    assert_eq!(find("Loud"), Some(CompletionKind::Class));
    assert_eq!(find("times"), Some(CompletionKind::Variable));
    assert_eq!(find("m"), Some(CompletionKind::Module));
    assert_eq!(find("while"), Some(CompletionKind::Keyword));
    assert_eq!(find("NotPython"), None);

    let mut csharp = Documents::new();
    csharp
        .open(
            "p",
            "csharp",
            "class Account {\n  public decimal Balance { get; set; }\n  void Deposit(decimal amount) { var fee = 1; foreach (var coin in new int[0]) {} }\n}\n",
        )
        .expect("open");
    let completions = csharp.completions("p").expect("completions");
    let labels: Vec<_> = completions.iter().map(|c| c.label.as_str()).collect();
    for name in [
        "Account", "Balance", "Deposit", "amount", "fee", "coin", "foreach",
    ] {
        assert!(labels.contains(&name), "{name} missing from {labels:?}");
    }
}

/// A tiny deterministic generator, so a failing session can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below.max(1)
    }
}

fn position_at(text: &str, char_index: usize) -> Position {
    let (mut line, mut column) = (0, 0);
    for character in text.chars().take(char_index) {
        if character == '\n' {
            line += 1;
            column = 0;
        } else {
            column += character.len_utf16() as u32;
        }
    }
    Position { line, column }
}

#[test]
fn typing_session_matches_a_fresh_parse() {
    let sources = [
        (
            Language::Python,
            "def f(x):\n    return x * 2\n\nprint(f(3))\n",
        ),
        (
            Language::JavaScript,
            "function f(x) {\n  return x * 2;\n}\nconsole.log(f(3));\n",
        ),
        (
            Language::CSharp,
            "using System;\nclass P { static void Main() { Console.WriteLine(1); } }\n",
        ),
    ];
    let pieces = [
        "(", ")", "\n", "    ", "x", "é", "🙂", "if ", "{", "}", "\"", "'", ":", ";", "return ",
        "# c", "// c", "1",
    ];
    for seed in 0..8u64 {
        for (language, start) in sources {
            let mut rng = Lcg(seed * 31 + language as u64);
            let mut document = Document::new(language, start).expect("document");
            let mut mirror: Vec<char> = start.chars().collect();
            for step in 0..200 {
                let text: String = mirror.iter().collect();
                let at = rng.next(mirror.len() + 1);
                let remove = if rng.next(3) == 0 {
                    rng.next(4).min(mirror.len() - at)
                } else {
                    0
                };
                let insert = if remove > 0 && rng.next(2) == 0 {
                    ""
                } else {
                    pieces[rng.next(pieces.len())]
                };
                let edit = TextEdit {
                    start: position_at(&text, at),
                    end: position_at(&text, at + remove),
                    text: insert.to_owned(),
                };
                document
                    .apply_edits(std::slice::from_ref(&edit))
                    .expect("edit");
                mirror.splice(at..at + remove, insert.chars());
                let expected: String = mirror.iter().collect();
                assert_eq!(document.text(), expected, "seed {seed} step {step}");
                let fresh = Document::new(language, expected.clone()).expect("fresh");
                assert_eq!(
                    document.tree().root_node().to_sexp(),
                    fresh.tree().root_node().to_sexp(),
                    "seed {seed} step {step} {language:?}: {expected:?}"
                );
                assert_eq!(document.diagnostics(), fresh.diagnostics());
            }
        }
    }
}

#[test]
fn broken_input_is_handled() {
    // Binary junk, as lossy text.
    let mut rng = Lcg(7);
    let junk: Vec<u8> = (0..64 * 1024).map(|_| rng.next(256) as u8).collect();
    let junk = String::from_utf8_lossy(&junk).into_owned();
    for language in Language::ALL {
        let document = Document::new(language, junk.clone()).expect("junk parses");
        assert!(!document.diagnostics().is_empty());
        document.semantic_tokens().expect("tokens");
        document.outline();
    }
    // Deep nesting.
    let deep = format!("x = {}1{}\n", "[".repeat(50_000), "]".repeat(50_000));
    let document = Document::new(Language::Python, deep).expect("deep parses");
    document.diagnostics();
    document.outline();
    document.defined_names();
    let deep_js = format!("{}\n", "function f() {".repeat(5_000));
    let document = Document::new(Language::JavaScript, deep_js).expect("deep js parses");
    assert!(!document.diagnostics().is_empty());
    document.outline();
    // A 5 MB file.
    let big = "def f(a, b):\n    return a + b  # add\n\n".repeat(5 * 1024 * 1024 / 40);
    let mut document = Document::new(Language::Python, big).expect("big parses");
    let lines = document.line_count() as u32;
    document
        .apply_edits(&[TextEdit {
            start: Position {
                line: lines / 2,
                column: 0,
            },
            end: Position {
                line: lines / 2,
                column: 0,
            },
            text: "(".into(),
        }])
        .expect("edit");
    assert!(!document.diagnostics().is_empty());
}

#[test]
fn bad_requests_are_clear_errors() {
    let mut documents = Documents::new();
    assert!(matches!(
        documents.open("x", "cobol", ""),
        Err(SyntaxError::UnknownLanguage(_))
    ));
    documents.open("x", "python", "a = 1\n").expect("open");
    let far = Position {
        line: 99,
        column: 0,
    };
    let error = documents
        .edit(
            "x",
            &[TextEdit {
                start: far,
                end: far,
                text: "b".into(),
            }],
        )
        .expect_err("out of range");
    assert!(
        error.to_string().contains("outside the document"),
        "{error}"
    );
    let past_line_end = Position {
        line: 0,
        column: 40,
    };
    assert!(documents
        .edit(
            "x",
            &[TextEdit {
                start: past_line_end,
                end: past_line_end,
                text: "b".into()
            }]
        )
        .is_err());
    assert_eq!(
        documents.get("x").expect("doc").text(),
        "a = 1\n",
        "a refused edit changes nothing"
    );
    assert!(matches!(
        documents.semantic_tokens("nope"),
        Err(SyntaxError::NoDocument(_))
    ));
}

#[test]
fn large_files_highlight_the_same_as_small_ones() {
    // Over the size where two threads share the work: every copy of the block must come out
    // exactly as the block alone does.
    let block = "class Shape:\n    def área(self, r=2):\n        return \"π\" * r  # 🙂 ok\n\n";
    let small = Document::new(Language::Python, block)
        .expect("small")
        .semantic_tokens()
        .expect("tokens")
        .decode();
    let copies = 2_000;
    let big = Document::new(Language::Python, block.repeat(copies))
        .expect("big")
        .semantic_tokens()
        .expect("tokens")
        .decode();
    assert_eq!(big.len(), small.len() * copies);
    let lines = block.lines().count() as u32;
    for (index, token) in big.iter().enumerate() {
        let (line, column, length, kind) = small[index % small.len()];
        let copy = (index / small.len()) as u32;
        assert_eq!(
            *token,
            (line + copy * lines, column, length, kind),
            "token {index}"
        );
    }
}
