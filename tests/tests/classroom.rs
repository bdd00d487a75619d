//! The classroom in two real windows: an instructor's app and a learner's app, each with its own
//! data dir, driven as their users would drive them (mouse and keyboard, nothing else).

use std::time::Duration;

use coderoom_tests::{app_binary, RunningApp};
use fantoccini::key::Key;

/// The Enter key (a "\n" in typed text is a character, which a form field does not submit on).
const ENTER: Key = Key::Enter;

const WAIT: Duration = Duration::from_secs(20);

/// The instructor hosts a Python class; the learner joins with the ticket read off the
/// instructor's window. Both are left with the board open.
async fn class_of_two() -> anyhow::Result<(RunningApp, RunningApp)> {
    let binary = app_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let (teacher, learner) =
        tokio::try_join!(RunningApp::launch(&binary), RunningApp::launch(&binary))?;
    teacher.introduce("Grace").await?;
    teacher.fill("#host-title", "Loops").await?;
    teacher.click("#host-start").await?;
    teacher
        .wait_for("#connection[data-state='hosting']")
        .await?;
    teacher.click("#show-code").await?;
    let ticket = teacher.text_of("#ticket-text").await?;
    let code = teacher.text_of("#room-code").await?;
    assert!(
        ticket.starts_with("coderoom"),
        "the ticket shown is {ticket:?}"
    );
    assert_eq!(code.trim().len(), 6, "the code shown is {code:?}");
    teacher.wait_for("img.qr").await?;
    teacher.click("#show-code-view button.primary").await?;

    learner.introduce("Ada").await?;
    learner.fill("#join-ticket", &ticket).await?;
    learner.click("#join-start").await?;
    learner
        .wait_for("#connection[data-state='connected']")
        .await?;
    // The board's starter file opens by itself.
    learner
        .until(
            WAIT,
            "the learner never saw the board's starter",
            || async { Ok(learner.editor_text().await?.contains("def greet(name):")) },
        )
        .await?;
    teacher
        .until(WAIT, "the instructor never saw Ada online", || async {
            Ok(teacher.text_of("#online-count").await? == "1 online")
        })
        .await?;
    Ok((teacher, learner))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typing_shows_in_the_other_window_with_names_on_cursors() -> anyhow::Result<()> {
    let (teacher, learner) = class_of_two().await?;

    // The board is read-only for a learner without the pen, and the window says so.
    learner.wait_for("#read-only-banner").await?;
    learner.type_in_editor("nope").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!learner.editor_text().await?.contains("nope"));

    // The instructor types on the board: the learner sees it.
    teacher.type_in_editor("# from Grace\n").await?;
    learner
        .until(WAIT, "Grace's line never reached Ada", || async {
            Ok(learner.editor_text().await?.contains("# from Grace"))
        })
        .await?;

    // The instructor gives Ada the pen: she may type on the board, and it reaches Grace.
    teacher
        .click("#participants .person[data-name='Ada'] .pen")
        .await?;
    learner.until_page_says("you have the pen", WAIT).await?;
    learner
        .until(WAIT, "the read-only banner stayed", || async {
            Ok(learner
                .script("return !document.querySelector('#read-only-banner')")
                .await?
                .as_bool()
                .unwrap_or(false))
        })
        .await?;
    learner.type_in_editor("# from Ada\n").await?;
    teacher
        .until(WAIT, "Ada's line never reached Grace", || async {
            Ok(teacher.editor_text().await?.contains("# from Ada"))
        })
        .await?;
    // Ada's cursor shows in Grace's editor with her name.
    teacher
        .until(WAIT, "Ada's cursor label never showed", || async {
            let labels = teacher
                .script(
                    "return [...document.querySelectorAll('.remote-cursor-label')].map(l => l.textContent)",
                )
                .await?;
            Ok(labels.to_string().contains("Ada"))
        })
        .await?;

    // Taking the pen back makes the board read-only for her again.
    teacher
        .click("#participants .person[data-name='Ada'] .pen")
        .await?;
    learner.until_page_says("took the pen back", WAIT).await?;
    learner.wait_for("#read-only-banner").await?;

    save_screenshot(&teacher, "instructor").await?;
    save_screenshot(&learner, "learner").await?;

    // Ending the class (asked first) tells Ada, whose app stops reconnecting.
    teacher.click("#room-menu").await?;
    teacher.click("#end-class").await?;
    teacher.click("#end-class-confirm").await?;
    teacher.wait_for("#host-start").await?;
    learner.wait_for("#connection[data-state='gone']").await?;
    learner.until_page_says("ended the class", WAIT).await?;
    teacher.close().await?;
    learner.close().await
}

/// Saves the window as a PNG; with `CODEROOM_UPDATE_SCREENSHOTS=1`, as the README's too.
async fn save_screenshot(app: &RunningApp, who: &str) -> anyhow::Result<()> {
    let png = app.client.screenshot().await?;
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("coderoom-{who}.png"));
    std::fs::write(&path, &png)?;
    println!("screenshot saved to {}", path.display());
    if std::env::var_os("CODEROOM_UPDATE_SCREENSHOTS").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::write(docs.join(format!("screenshot-{who}.png")), &png)?;
    }
    Ok(())
}

/// Picks a document in the file tree's document list.
async fn browse(app: &RunningApp, option: &str) -> anyhow::Result<()> {
    app.click(&format!("#doc-picker option{option}")).await
}

/// Makes a file with the file tree's "+ File" and types `text` in it.
async fn new_file(app: &RunningApp, name: &str, text: &str) -> anyhow::Result<()> {
    app.click("#new-file").await?;
    app.fill("#file-name-input", &format!("{name}{ENTER}"))
        .await?;
    app.wait_for(&format!(".tab.active[data-file='{name}']"))
        .await?;
    app.type_in_editor(text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_lecture_mode_and_removal() -> anyhow::Result<()> {
    let (teacher, learner) = class_of_two().await?;

    // Ada makes a file in her own workspace; a bad name gets a sentence, not a file.
    browse(&learner, "[value^='ws:']").await?;
    learner.click("#new-file").await?;
    learner
        .fill("#file-name-input", &format!("..{ENTER}"))
        .await?;
    learner
        .until_page_says("cannot be a file name", WAIT)
        .await?;
    learner
        .fill("#file-name-input", &format!("a/b.py{ENTER}"))
        .await?;
    learner.until_page_says("cannot hold `/`", WAIT).await?;
    learner
        .fill("#file-name-input", &Key::Escape.to_string())
        .await?;
    new_file(&learner, "mine.py", "print('mine')").await?;

    // The instructor opens Ada's workspace, sees her file, and types in it to help.
    browse(&teacher, "[value^='ws:']").await?;
    teacher.click("#file-tree [data-path='mine.py']").await?;
    teacher
        .until(WAIT, "Ada's file never showed to Grace", || async {
            Ok(teacher.editor_text().await?.contains("print('mine')"))
        })
        .await?;
    teacher.type_in_editor("# hint from Grace ").await?;
    learner
        .until(WAIT, "Grace's help never reached Ada's editor", || async {
            Ok(learner.editor_text().await?.contains("hint from Grace"))
        })
        .await?;

    // Rename and delete in the tree reach the other window.
    learner.click("#file-tree [data-path='mine.py']").await?;
    learner.click("#rename-file").await?;
    learner
        .fill("#file-name-input", &format!("renamed.py{ENTER}"))
        .await?;
    teacher
        .wait_for("#file-tree [data-path='renamed.py']")
        .await?;

    // Lecture mode: Ada's view follows Grace to a new board file, and she cannot wander off.
    teacher.click("#lecture-toggle").await?;
    learner.wait_for("#lecture-banner").await?;
    browse(&teacher, "[value='board']").await?;
    new_file(&teacher, "lesson.py", "x = 1").await?;
    learner
        .wait_for(".tab.active[data-file='lesson.py'][data-doc='board']")
        .await?;
    learner
        .click(".tab[data-file='renamed.py'] .tab-open")
        .await?;
    learner
        .until(WAIT, "Ada wandered off in lecture mode", || async {
            Ok(learner
                .script("return !!document.querySelector(\".tab.active[data-file='lesson.py']\")")
                .await?
                .as_bool()
                .unwrap_or(false))
        })
        .await?;
    teacher.click("#lecture-toggle").await?;
    learner
        .until_page_says("lecture mode is over", WAIT)
        .await?;

    // With approval on, a newcomer waits in the list until the instructor lets them in.
    teacher.click("#room-menu").await?;
    teacher.click("#require-approval").await?;
    teacher.click("#room-menu").await?;
    teacher.click("#show-code").await?;
    let ticket = teacher.text_of("#ticket-text").await?;
    teacher.click("#show-code-view button.primary").await?;
    let cli = coderoom_tests::cli_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let _newcomer = coderoom_tests::CliLearners::join(&cli, &ticket, 1, "x = 1\n", 4.0, 30)?;
    teacher
        .click("#participants .person[data-name='L1'] .approve")
        .await?;
    teacher
        .until(WAIT, "the newcomer was never let in", || async {
            Ok(teacher.text_of("#online-count").await? == "2 online")
        })
        .await?;

    // Removal ends Ada's session with a message, and she stops reconnecting.
    teacher
        .click("#participants .person[data-name='Ada'] .remove")
        .await?;
    learner.wait_for("#connection[data-state='gone']").await?;
    learner.until_page_says("removed you", WAIT).await?;
    teacher.close().await?;
    learner.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_ticket_is_explained() -> anyhow::Result<()> {
    let app = RunningApp::launch(&app_binary(env!("CARGO_TARGET_TMPDIR"))?).await?;
    app.introduce("Ada").await?;
    app.fill("#join-ticket", "coderoomnotreally").await?;
    app.click("#join-start").await?;
    app.until_page_says("not a whole Coderoom ticket", WAIT)
        .await?;

    // A well-made ticket of a class that is no longer running: a reason after 5 s, no hang.
    let cli = coderoom_tests::cli_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let host_dir = tempfile::tempdir()?;
    let host = std::process::Command::new(cli)
        .args([
            "host",
            "--bind",
            "127.0.0.1:0",
            "--for",
            "1",
            "--no-history",
        ])
        .env("CODEROOM_DATA_DIR", host_dir.path())
        .stderr(std::process::Stdio::null())
        .output()?;
    let printed = String::from_utf8_lossy(&host.stdout);
    let ticket = printed
        .lines()
        .find_map(|line| line.strip_prefix("ticket: "))
        .ok_or_else(|| anyhow::anyhow!("the CLI host printed no ticket: {printed}"))?;
    app.fill("#join-ticket", ticket).await?;
    app.click("#join-start").await?;
    app.until_page_says("no answer from the instructor's laptop", WAIT)
        .await?;
    app.wait_for("#connection[data-state='gone']").await?;
    app.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_instructor_crashes_and_comes_back_from_recent_with_the_offline_edits(
) -> anyhow::Result<()> {
    let binary = app_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let (teacher, learner) = class_of_two().await?;
    teacher.click("#show-code").await?;
    let ticket = teacher.text_of("#ticket-text").await?;
    teacher.click("#show-code-view button.primary").await?;

    browse(&learner, "[value^='ws:']").await?;
    new_file(&learner, "offline.py", "a = 1").await?;
    browse(&teacher, "[value^='ws:']").await?;
    teacher
        .wait_for("#file-tree [data-path='offline.py']")
        .await?;

    // The room is locked to newcomers (Ada, already in, may come back).
    teacher.click("#room-menu").await?;
    teacher.click("#lock-room").await?;
    teacher.until_page_says("locked to newcomers", WAIT).await?;

    // The instructor's laptop goes away; Ada keeps typing, and is told what is going on.
    let data_dir = teacher.data_dir();
    teacher.kill();
    learner
        .wait_for("#connection[data-state='reconnecting']")
        .await?;
    learner.type_in_editor(" # typed offline").await?;
    // Leaving now would keep those edits only here: the window asks first.
    learner.click("#leave-class").await?;
    learner.until_page_says("have not reached", WAIT).await?;
    learner.click(".overlay button:not(.danger)").await?;

    // The instructor opens Coderoom again (no name asked) and hosts the session again from
    // Recent: the same ticket, and Ada comes back by herself with her offline edits.
    let teacher = RunningApp::launch_in(&binary, data_dir).await?;
    teacher.click("#recent-list .recent-again").await?;
    teacher
        .wait_for("#connection[data-state='hosting']")
        .await?;
    teacher.click("#show-code").await?;
    assert_eq!(
        teacher.text_of("#ticket-text").await?,
        ticket,
        "the ticket changed"
    );
    teacher.click("#show-code-view button.primary").await?;
    // The room's rules came back with it, and the menu shows them.
    teacher.click("#room-menu").await?;
    teacher
        .until(WAIT, "the lock did not come back", || async {
            Ok(teacher
                .script("return document.querySelector('#lock-room').checked")
                .await?
                .as_bool()
                .unwrap_or(false))
        })
        .await?;
    teacher.click("#room-menu").await?;
    learner
        .wait_for("#connection[data-state='connected']")
        .await?;
    teacher
        .until(WAIT, "Ada never came back online", || async {
            Ok(teacher.text_of("#online-count").await? == "1 online")
        })
        .await?;
    browse(&teacher, "[value^='ws:']").await?;
    teacher.click("#file-tree [data-path='offline.py']").await?;
    teacher
        .until(
            WAIT,
            "Ada's offline edits never reached the instructor",
            || async { Ok(teacher.editor_text().await?.contains("# typed offline")) },
        )
        .await?;
    teacher.close().await?;
    learner.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_instructors_window_keeps_up_with_thirty_learners_typing() -> anyhow::Result<()> {
    let binary = app_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let cli = coderoom_tests::cli_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let teacher = RunningApp::launch(&binary).await?;
    teacher.introduce("Grace").await?;
    teacher.click("#host-start").await?;
    teacher
        .wait_for("#connection[data-state='hosting']")
        .await?;
    teacher.click("#show-code").await?;
    let ticket = teacher.text_of("#ticket-text").await?;
    teacher.click("#show-code-view button.primary").await?;

    let _learners =
        coderoom_tests::CliLearners::join(&cli, &ticket, 30, "print('learner typing')\n", 4.0, 20)?;
    teacher
        .until(
            Duration::from_secs(40),
            "the list never counted 30 learners",
            || async { Ok(teacher.text_of("#online-count").await? == "30 online") },
        )
        .await?;
    // While they type, the instructor's own typing still shows at once, and a learner's
    // workspace opens with what they typed so far.
    teacher.type_in_editor("# still responsive").await?;
    teacher
        .until(WAIT, "the instructor's typing did not show", || async {
            Ok(teacher.editor_text().await?.contains("# still responsive"))
        })
        .await?;
    browse(&teacher, "[value^='ws:']").await?;
    teacher.click("#file-tree [data-path='typed.py']").await?;
    teacher
        .until(WAIT, "a learner's typing never showed", || async {
            Ok(teacher.editor_text().await?.starts_with("print("))
        })
        .await?;

    // The class grid: a tile per learner with their code; one is shown to the class.
    teacher.click("#grid-toggle").await?;
    teacher
        .until(WAIT, "the grid never showed 30 learners with their code", || async {
            let shown = teacher
                .script(
                    "const tiles = [...document.querySelectorAll('#class-grid .tile')];
                     return [tiles.length, tiles.filter(t => t.querySelector('.excerpt').textContent.includes('print(')).length]",
                )
                .await?;
            Ok(shown == serde_json::json!([30, 30]))
        })
        .await?;
    teacher.click("#class-grid .tile .tile-show").await?;
    teacher
        .wait_for(".tab.active[data-doc='board'][data-file='typed.py']")
        .await?;
    teacher.close().await
}
