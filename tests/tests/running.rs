//! Running code in the window: a learner runs a program that reads input, and both windows see
//! it live; an endless loop is stopped, and both windows say why.

use std::time::Duration;

use coderoom_tests::{app_binary, RunningApp};
use fantoccini::key::Key;

const WAIT: Duration = Duration::from_secs(30);

async fn terminal_text(app: &RunningApp) -> anyhow::Result<String> {
    let text = app
        .script("const rows = document.querySelector('#run-output .xterm-rows'); return rows ? rows.innerText : ''")
        .await?;
    Ok(text.as_str().unwrap_or_default().replace('\u{a0}', " "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learners_run_streams_to_both_windows_and_a_stop_says_why() -> anyhow::Result<()> {
    let binary = app_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let (teacher, learner) =
        tokio::try_join!(RunningApp::launch(&binary), RunningApp::launch(&binary))?;
    let ticket = teacher.host_class("Grace").await?;
    learner.join_class("Ada", &ticket).await?;

    // Ada writes a program that asks for a name, in her workspace, and runs it.
    learner.click("#doc-picker option[value^='ws:']").await?;
    learner.new_file("hello.py").await?;
    learner
        .type_in_editor("name = input('Your name? ')\nprint('Hello', name)\n")
        .await?;
    learner
        .until(WAIT, "the runtime was never named", || async {
            Ok(learner
                .text_of("#run-runtime")
                .await?
                .starts_with("python3"))
        })
        .await?;
    // Grace watches the same file.
    teacher.click("#doc-picker option[value^='ws:']").await?;
    teacher.click("#file-tree [data-path='hello.py']").await?;

    learner.click("#run-button").await?;
    learner
        .until(WAIT, "the program never asked for input", || async {
            Ok(terminal_text(&learner).await?.contains("Your name?"))
        })
        .await?;
    learner
        .fill("#run-input", &format!("Ada{}", Key::Enter))
        .await?;
    for app in [&learner, &teacher] {
        app.until(WAIT, "the program's greeting never showed", || async {
            Ok(terminal_text(app).await?.contains("Hello Ada"))
        })
        .await?;
        app.until(WAIT, "the run's end never showed", || async {
            Ok(app.text_of("#run-outcome").await?.starts_with("exit 0 in"))
        })
        .await?;
        assert_eq!(app.text_of("#run-label").await?, "Ada ran hello.py");
    }

    // An endless loop, stopped: both windows say how it ended.
    learner.click("#new-file").await?;
    learner
        .fill("#file-name-input", &format!("spin.py{}", Key::Enter))
        .await?;
    learner.wait_for(".tab.active[data-file='spin.py']").await?;
    // Monaco indents the line after the colon by itself.
    learner.type_in_editor("while True:\npass").await?;
    teacher.click("#file-tree [data-path='spin.py']").await?;
    learner.click("#run-button").await?;
    learner
        .until(WAIT, "the loop never started", || async {
            Ok(learner.text_of("#run-outcome").await? == "running…")
        })
        .await?;
    learner.click("#run-stop").await?;
    for app in [&learner, &teacher] {
        app.until(WAIT, "the stop was never told", || async {
            Ok(app.text_of("#run-outcome").await?.contains("stopped"))
        })
        .await?;
    }

    // A C# compile error is a line that opens the file, and a marker in the editor.
    learner.new_file("Broken.cs").await?;
    learner
        .type_in_editor("class A { static void Main() { int x = ; } }")
        .await?;
    teacher.click("#file-tree [data-path='Broken.cs']").await?;
    learner.click("#run-button").await?;
    for app in [&learner, &teacher] {
        app.until(WAIT, "the compile error never became a link", || async {
            Ok(app
                .text_of("#run-errors")
                .await?
                .contains("Broken.cs line 1"))
        })
        .await?;
        app.until(WAIT, "the run never said it did not compile", || async {
            Ok(app
                .text_of("#run-outcome")
                .await?
                .starts_with("did not compile"))
        })
        .await?;
    }
    teacher.click("#run-errors .run-error").await?;
    teacher.wait_for(".monaco-editor .squiggly-error").await?;

    // Chat goes both ways, names on each line, and a "line N of FILE" is a link that opens it.
    learner
        .fill(
            "#chat-input",
            &format!("stuck on line 2 of hello.py{}", Key::Enter),
        )
        .await?;
    teacher
        .until(WAIT, "Ada's message never reached Grace", || async {
            Ok(teacher
                .text_of("#chat-lines")
                .await?
                .contains("stuck on line 2 of hello.py"))
        })
        .await?;
    teacher
        .fill("#chat-input", &format!("coming!{}", Key::Enter))
        .await?;
    learner
        .until(WAIT, "Grace's answer never reached Ada", || async {
            let lines = learner.text_of("#chat-lines").await?;
            Ok(lines.contains("Grace") && lines.contains("coming!"))
        })
        .await?;
    // Ada raises her hand: Grace sees it in the list (and the grid) and lowers it when helping.
    learner.click("#raise-hand").await?;
    teacher
        .wait_for("#participants .person[data-name='Ada'] .hand")
        .await?;
    teacher.click("#grid-toggle").await?;
    teacher
        .wait_for("#class-grid .tile[data-name='Ada'] .hand")
        .await?;
    teacher
        .click("#class-grid button:not(.tile-help):not(.tile-show)")
        .await?;
    teacher
        .click("#participants .person[data-name='Ada'] .lower-hand")
        .await?;
    learner
        .until(WAIT, "Ada's hand never came down", || async {
            Ok(learner.text_of("#raise-hand").await?.contains("I'm stuck"))
        })
        .await?;

    // The instructor turns learners' chat off: Ada is told and cannot write; then on again.
    teacher.click("#room-menu").await?;
    teacher.click("#learners-chat").await?;
    learner.wait_for("#chat-off").await?;
    learner.until_page_says("turned the chat off", WAIT).await?;
    teacher.click("#learners-chat").await?;
    learner.wait_for("#chat-input").await?;
    teacher.click("#room-menu").await?;
    teacher.click("#chat-lines button.link").await?;
    teacher
        .wait_for(".tab.active[data-file='hello.py']")
        .await?;
    teacher.close().await?;
    learner.close().await
}
