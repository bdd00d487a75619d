//! `check FILE...` and `symbols FILE`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use coderoom_syntax::{Document, Language, Symbol};

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// python, javascript or csharp (default: from each file's extension).
    #[arg(long)]
    language: Option<String>,
}

#[derive(clap::Args)]
pub struct SymbolsArgs {
    file: PathBuf,
    #[arg(long)]
    language: Option<String>,
    /// Print the outline as JSON.
    #[arg(long)]
    json: bool,
}

fn open(path: &Path, language: Option<&str>) -> anyhow::Result<Document> {
    let language = match language {
        Some(name) => Language::from_name(name)?,
        None => Language::from_path(&path.display().to_string()).with_context(|| {
            format!(
                "cannot tell the language of {}: pass --language",
                path.display()
            )
        })?,
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?;
    Ok(Document::new(language, text)?)
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut errors = 0;
    for path in &args.files {
        let document = open(path, args.language.as_deref())?;
        for diagnostic in document.diagnostics() {
            errors += 1;
            // Lines and columns from 1, as editors and compilers print them.
            println!(
                "{}:{}:{}: {}",
                path.display(),
                diagnostic.span.start.line + 1,
                diagnostic.span.start.column + 1,
                diagnostic.message
            );
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn symbols(args: SymbolsArgs) -> anyhow::Result<ExitCode> {
    let document = open(&args.file, args.language.as_deref())?;
    let outline = document.outline();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outline)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut stack: Vec<(&Symbol, usize)> = outline.iter().rev().map(|s| (s, 0)).collect();
    while let Some((symbol, depth)) = stack.pop() {
        println!(
            "{}{} {} (line {})",
            "  ".repeat(depth),
            serde_json::to_value(symbol.kind)?
                .as_str()
                .unwrap_or("symbol"),
            symbol.name,
            symbol.name_span.start.line + 1
        );
        stack.extend(symbol.children.iter().rev().map(|child| (child, depth + 1)));
    }
    Ok(ExitCode::SUCCESS)
}
