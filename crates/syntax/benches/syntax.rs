//! One keystroke's reparse and the highlighting of a 10,000-line file, per language, against a
//! full parse and tree-sitter-highlight (which parses from scratch) as baselines.
//!
//! `cargo bench -p coderoom-syntax --bench syntax`

use std::time::{Duration, Instant};

use coderoom_syntax::{Document, Language, Position, TextEdit};
use tree_sitter_highlight::{HighlightConfiguration, HighlightEvent, Highlighter};

fn program(language: Language, lines: usize) -> String {
    let block = match language {
        Language::Python => "def area_{n}(width, height):\n    \"\"\"Area of a rectangle.\"\"\"\n    total = width * height  # square units\n    if total > 100:\n        print(f\"big {total}\")\n    return total\n\n",
        Language::JavaScript => "function area_{n}(width, height) {\n  // square units\n  const total = width * height;\n  if (total > 100) console.log(`big ${total}`);\n  return total;\n}\n\n",
        Language::CSharp => "static class Shapes_{n} {\n    // square units\n    public static int Area(int width, int height) {\n        var total = width * height;\n        if (total > 100) Console.WriteLine($\"big {total}\");\n        return total;\n    }\n}\n",
    };
    let per_block = block.lines().count();
    (0..lines / per_block + 1)
        .map(|n| block.replace("{n}", &n.to_string()))
        .collect::<String>()
        .lines()
        .take(lines)
        .map(|line| format!("{line}\n"))
        .collect()
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at =
        |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99))
}

fn reference_highlighter(language: Language) -> HighlightConfiguration {
    let (grammar, highlights) = match language {
        Language::Python => (
            tree_sitter_python::LANGUAGE,
            tree_sitter_python::HIGHLIGHTS_QUERY,
        ),
        Language::JavaScript => (
            tree_sitter_javascript::LANGUAGE,
            tree_sitter_javascript::HIGHLIGHT_QUERY,
        ),
        Language::CSharp => (
            tree_sitter_c_sharp::LANGUAGE,
            tree_sitter_c_sharp::HIGHLIGHTS_QUERY,
        ),
    };
    let mut config =
        HighlightConfiguration::new(grammar.into(), language.name(), highlights, "", "")
            .expect("highlight config");
    let names: Vec<String> = config.names().iter().map(|n| n.to_string()).collect();
    config.configure(&names);
    config
}

fn main() {
    println!(
        "{:<11} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "",
        "size KiB",
        "full parse",
        "key p50",
        "key p99",
        "key+errors",
        "highlight",
        "ts-highlight"
    );
    for language in Language::ALL {
        let text = program(language, 10_000);
        let rounds = 30;

        let full: Vec<Duration> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let _ = Document::new(language, text.as_str()).expect("parse");
                started.elapsed()
            })
            .collect();

        // Keystrokes in the middle of the file: a character typed, then deleted.
        let mut document = Document::new(language, text.as_str()).expect("parse");
        // Typing at the end of a word (`total` → `totalx`), as a learner does.
        let (line, column) = text
            .lines()
            .enumerate()
            .skip(5_000)
            .find_map(|(index, line)| {
                line.find("total =")
                    .map(|column| (index as u32, column as u32 + 5))
            })
            .expect("a line with total");
        let mut keystrokes = Vec::new();
        let mut with_analysis = Vec::new();
        for round in 0..400 {
            let at = Position { line, column };
            let edit = if round % 2 == 0 {
                TextEdit {
                    start: at,
                    end: at,
                    text: "x".into(),
                }
            } else {
                TextEdit {
                    start: at,
                    end: Position {
                        line,
                        column: column + 1,
                    },
                    text: String::new(),
                }
            };
            let started = Instant::now();
            document.apply_edits(&[edit]).expect("edit");
            keystrokes.push(started.elapsed());
            let _ = document.diagnostics();
            let _ = document.outline();
            with_analysis.push(started.elapsed());
        }

        let highlight: Vec<Duration> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let tokens = document.semantic_tokens().expect("tokens");
                assert!(!tokens.data.is_empty());
                started.elapsed()
            })
            .collect();

        let config = reference_highlighter(language);
        let mut highlighter = Highlighter::new();
        let reference: Vec<Duration> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let events = highlighter
                    .highlight(&config, text.as_bytes(), None, None, |_| None)
                    .expect("highlight");
                let count = events
                    .filter(|e| matches!(e, Ok(HighlightEvent::HighlightStart(_))))
                    .count();
                assert!(count > 0);
                started.elapsed()
            })
            .collect();

        let (full50, _) = percentiles(full);
        let (key50, key99) = percentiles(keystrokes);
        let (analysis50, _) = percentiles(with_analysis);
        let (highlight50, _) = percentiles(highlight);
        let (reference50, _) = percentiles(reference);
        println!(
            "{:<11} {:>8} {:>10.2} {:>10.3} {:>10.3} {:>10.2} {:>10.2} {:>12.2}",
            language.name(),
            text.len() / 1024,
            full50,
            key50,
            key99,
            analysis50,
            highlight50,
            reference50
        );
    }
    println!(
        "(ms; full parse, highlight and ts-highlight are p50 of 30; keystrokes p50/p99 of 400)"
    );
}
