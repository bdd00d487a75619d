//! tree-sitter in the real window: semantic colours, live syntax errors as markers, the outline
//! panel and completion of names defined in the file.

use std::time::Duration;

use coderoom_tests::{app_binary, RunningApp};
use fantoccini::Locator;

/// The colour the editor gives the token whose text is exactly `word`, on the line holding
/// `line_text`.
const COLOUR_OF: &str = "
    const [lineText, word] = arguments;
    for (const line of document.querySelectorAll('.monaco-editor .view-lines .view-line')) {
        if (!line.textContent.replace(/\\u00a0/g, ' ').includes(lineText)) continue;
        for (const span of line.querySelectorAll('span > span')) {
            if (span.textContent === word) return getComputedStyle(span).color;
        }
    }
    return null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_features_work_in_the_window() -> anyhow::Result<()> {
    let app = RunningApp::launch(&app_binary(env!("CARGO_TARGET_TMPDIR"))?).await?;
    // A class of one: the board starts with the Python starter.
    app.introduce("Grace").await?;
    app.click("#host-start").await?;
    app.wait_for(".monaco-editor .view-lines .view-line")
        .await?;
    let expected_version = format!("Coderoom v{}", env!("CARGO_PKG_VERSION"));
    app.until(
        Duration::from_secs(10),
        "the status bar never showed the version",
        || async { Ok(app.text_of("#app-version").await? == expected_version) },
    )
    .await?;

    // The outline lists the starter's function, and clicking it moves the cursor there.
    let greet = app.wait_for("#outline-list .symbol-function").await?;
    assert_eq!(greet.text().await?, "greet");
    greet.click().await?;
    let at_greet = app
        .eventually(Duration::from_secs(5), || async {
            Ok(app
                .client
                .find(Locator::Id("cursor-position"))
                .await?
                .text()
                .await?
                == "Ln 2, Col 5")
        })
        .await?;
    assert!(
        at_greet,
        "clicking the outline did not move the cursor to greet"
    );

    // Semantic tokens colour the function's name (Monaco's own Python colouring leaves it plain).
    let function_colours = ["rgb(121, 94, 38)", "rgb(220, 220, 170)"];
    let coloured = app
        .eventually(Duration::from_secs(10), || async {
            let colour = app
                .client
                .execute(COLOUR_OF, vec!["def greet".into(), "greet".into()])
                .await?;
            Ok(colour
                .as_str()
                .is_some_and(|c| function_colours.contains(&c)))
        })
        .await?;
    assert!(
        coloured,
        "greet never got the function colour from semantic tokens"
    );

    // A syntax error appears as a marker while typing, and goes when it is fixed. (Monaco
    // closes brackets and quotes as they are typed, so the error is a dangling operator.)
    app.wait_for(".monaco-editor .view-lines")
        .await?
        .click()
        .await?;
    let input = app.wait_for(".monaco-editor textarea").await?;
    input
        .send_keys(&format!(
            "{}{}total = 1 +",
            fantoccini::key::Key::End,
            fantoccini::key::Key::Enter
        ))
        .await?;
    app.wait_for(".monaco-editor .squiggly-error").await?;
    let counted = app
        .eventually(Duration::from_secs(10), || async {
            let text = app
                .client
                .find(Locator::Id("error-count"))
                .await?
                .text()
                .await?;
            Ok(text.ends_with("syntax error") || text.ends_with("syntax errors"))
        })
        .await?;
    assert!(counted, "the status bar never counted the error");
    input.send_keys(" 2").await?;
    let fixed = app
        .eventually(Duration::from_secs(10), || async {
            Ok(app
                .client
                .find(Locator::Id("error-count"))
                .await?
                .text()
                .await?
                == "No syntax errors")
        })
        .await?;
    assert!(fixed, "the error did not clear once fixed");

    // Completion offers names defined in the file.
    use fantoccini::key::Key;
    // Escape first: Enter would otherwise accept whatever the suggest widget shows for `2`.
    input.send_keys(&Key::Escape.to_string()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    input
        .send_keys(&format!("{}{}gre", Key::End, Key::Enter))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    input
        .send_keys(&format!("{}{}{}", Key::Control, " ", Key::Null))
        .await?;
    let offered = app
        .eventually(Duration::from_secs(10), || async {
            let rows = app
                .client
                .find_all(Locator::Css(".suggest-widget .monaco-list-row"))
                .await?;
            for row in rows {
                if row.text().await?.contains("greet") {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await?;
    if !offered {
        let shot = app.client.screenshot().await?;
        std::fs::write(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("completion.png"),
            shot,
        )?;
        let widget = app.client.execute("const w = document.querySelector('.suggest-widget'); return w ? w.outerHTML.slice(0, 3000) : 'none';", vec![]).await?;
        panic!(
            "completion never offered greet; widget: {widget}; text: {}",
            app.editor_text().await?
        );
    }

    app.close().await
}
