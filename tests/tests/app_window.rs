//! The real app in a real window: Monaco renders the starter file, takes typed text, switches
//! language, and the status bar shows the version that the Rust side reports.

use std::time::Duration;

use coderoom_tests::{app_binary, RunningApp};
use fantoccini::Locator;

const TYPED: &str = "# typed by a real keyboard";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monaco_renders_and_accepts_typed_text() -> anyhow::Result<()> {
    let app = RunningApp::launch(&app_binary(env!("CARGO_TARGET_TMPDIR"))?).await?;

    app.wait_for(".monaco-editor .view-lines .view-line")
        .await?;
    let starter = app.editor_text().await?;
    assert!(
        starter.contains("def greet(name):"),
        "the Python starter file is not shown: {starter:?}"
    );

    let expected_version = format!("Coderoom v{}", env!("CARGO_PKG_VERSION"));
    let version_shown = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app
                .client
                .find(Locator::Id("app-version"))
                .await?
                .text()
                .await?
                == expected_version)
        })
        .await?;
    assert!(
        version_shown,
        "the status bar never showed {expected_version:?}"
    );

    let options = app
        .client
        .find_all(Locator::Css("#language option"))
        .await?;
    let mut labels = Vec::new();
    for option in options {
        labels.push(option.text().await?);
    }
    assert_eq!(labels, ["Python", "JavaScript", "C#"]);

    // Type as a user would: focus the editor's input and press keys.
    app.wait_for(".monaco-editor .view-lines")
        .await?
        .click()
        .await?;
    let input = app.wait_for(".monaco-editor textarea").await?;
    input.send_keys(&format!("\n{TYPED}")).await?;
    let typed = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app.editor_text().await?.lines().any(|line| line == TYPED))
        })
        .await?;
    assert!(
        typed,
        "typed text never appeared: {:?}",
        app.editor_text().await?
    );

    let screenshot = app.client.screenshot().await?;
    let shot_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("coderoom-window.png");
    std::fs::write(&shot_path, &screenshot)?;
    assert!(
        screenshot.starts_with(b"\x89PNG"),
        "the screenshot is not a PNG"
    );
    println!("screenshot saved to {}", shot_path.display());

    // Switching language shows that language's starter, and switching back keeps the edit.
    app.client
        .find(Locator::Css("#language option[value='csharp']"))
        .await?
        .click()
        .await?;
    let csharp_shown = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app.editor_text().await?.contains("class Program"))
        })
        .await?;
    assert!(csharp_shown, "the C# starter never showed");
    app.client
        .find(Locator::Css("#language option[value='python']"))
        .await?
        .click()
        .await?;
    let kept = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app.editor_text().await?.lines().any(|line| line == TYPED))
        })
        .await?;
    assert!(kept, "the Python edit was lost on switching language");

    // The TypeScript worker is bundled and runs offline: a syntax error in JavaScript gets a
    // squiggle, which only the worker computes.
    app.client
        .find(Locator::Css("#language option[value='javascript']"))
        .await?
        .click()
        .await?;
    app.wait_for(".monaco-editor .view-lines")
        .await?
        .click()
        .await?;
    app.wait_for(".monaco-editor textarea")
        .await?
        .send_keys("\nlet = ;")
        .await?;
    app.wait_for(".monaco-editor .squiggly-error").await?;

    app.close().await
}
