//! Baseline for the keystroke figure: tree-sitter alone (edit + reparse, no Coderoom code) on
//! the same 10,000-line Python file. `cargo bench -p coderoom-syntax --bench python_raw_reparse`

use std::time::Instant;
fn main() {
    let block = "def area_{n}(width, height):\n    \"\"\"Area of a rectangle.\"\"\"\n    total = width * height  # square units\n    if total > 100:\n        print(f\"big {total}\")\n    return total\n\n";
    let mut text: String = (0..1430)
        .map(|n| block.replace("{n}", &n.to_string()))
        .collect();
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the Python grammar loads");
    let mut tree = parser.parse(&text, None).expect("parse");
    let at = text.len() / 2;
    let at = at + text[at..].find("total =").expect("a total line") + 5;
    let mut times = Vec::new();
    for round in 0..400 {
        let started = Instant::now();
        let (old_end, new_end) = if round % 2 == 0 {
            text.insert(at, 'x');
            (at, at + 1)
        } else {
            text.remove(at);
            (at + 1, at)
        };
        let point = |b: usize| {
            let row = text[..b].matches('\n').count();
            tree_sitter::Point::new(row, b - text[..b].rfind('\n').map(|i| i + 1).unwrap_or(0))
        };
        let p0 = point(at);
        tree.edit(&tree_sitter::InputEdit {
            start_byte: at,
            old_end_byte: old_end,
            new_end_byte: new_end,
            start_position: p0,
            old_end_position: tree_sitter::Point::new(p0.row, p0.column + old_end - at),
            new_end_position: tree_sitter::Point::new(p0.row, p0.column + new_end - at),
        });
        let t = Instant::now();
        tree = parser.parse(&text, Some(&tree)).expect("reparse");
        times.push((t.elapsed(), started.elapsed()));
    }
    times.sort();
    println!(
        "raw python reparse p50 {:?} p99 {:?}",
        times[200].0, times[396].0
    );
}
