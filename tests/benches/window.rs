//! The app's speed as people feel it, in real windows under Xvfb (release build of the app):
//! keystroke in one window to the text on another window's screen, with 1 and with 30 headless
//! learners typing; click on Join to a 10,000-line board on screen; the instructor's memory.
//! Beside them, yrs's own doc-to-doc time in the same run.
//!
//! ```sh
//! cargo build --release -p coderoom-app -p coderoom-cli
//! CODEROOM_APP_BIN=$CARGO_TARGET_DIR/release/coderoom xvfb-run -a \
//!     cargo bench -p coderoom-tests --bench window
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coderoom_tests::{app_binary, cli_binary, CliLearners, RunningApp};
use fantoccini::Locator;

/// Records, in the window it runs in, when each key went down (wall clock, ms) and when the
/// editor's lines next changed. Monaco writes its lines in an animation frame, and the frame is
/// painted right after its callbacks, so the change is the frame that shows the key (a further
/// `requestAnimationFrame` would wait a whole frame more). Installed once; each run starts the
/// lists afresh.
const INSTRUMENT: &str = "
    window.__keys = []; window.__renders = [];
    performance.clearMarks();
    if (!window.__instrumented) {
        window.__instrumented = true;
        const now = () => performance.timeOrigin + performance.now();
        document.addEventListener('keydown', () => window.__keys.push(now()), true);
        const lines = document.querySelector('.monaco-editor .view-lines');
        new MutationObserver(() => window.__renders.push(now()))
            .observe(lines, { subtree: true, childList: true, characterData: true });
    }
    return true;";

const KEYS: usize = 120;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// For each key, the first render at or after it.
fn latencies(keys: &[f64], renders: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = keys
        .iter()
        .filter_map(|key| renders.iter().find(|r| *r >= key).map(|r| r - key))
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

async fn numbers(app: &RunningApp, name: &str) -> anyhow::Result<Vec<f64>> {
    let value = app.script(&format!("return window.{name}")).await?;
    Ok(value
        .as_array()
        .map(|items| items.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default())
}

/// Types `KEYS` characters in `typist`'s editor, a key every `gap`; returns the key-to-screen
/// latencies in the typist's own window and in `watcher`'s.
async fn type_and_watch(
    typist: &RunningApp,
    watcher: &RunningApp,
    gap: Duration,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    typist.script(INSTRUMENT).await?;
    watcher.script(INSTRUMENT).await?;
    typist.click(".monaco-editor .view-lines").await?;
    let input = typist.wait_for(".monaco-editor textarea").await?;
    for n in 0..KEYS {
        let key = (b'a' + (n % 26) as u8) as char;
        input.send_keys(&key.to_string()).await?;
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let keys = numbers(typist, "__keys").await?;
    let own = latencies(&keys, &numbers(typist, "__renders").await?);
    let other = latencies(&keys, &numbers(watcher, "__renders").await?);
    // Where the time goes: key → edit sent to Rust (typist), → frame in the other web view,
    // → the other editor's lines written.
    let marks = |name: &str| {
        format!(
            "return performance.getEntriesByName('{name}').map(m => performance.timeOrigin + m.startTime)"
        )
    };
    let number_list = |value: serde_json::Value| -> Vec<f64> {
        value
            .as_array()
            .map(|items| items.iter().filter_map(|v| v.as_f64()).collect())
            .unwrap_or_default()
    };
    let sent = number_list(typist.script(&marks("coderoom:edit-sent")).await?);
    let arrived = number_list(watcher.script(&marks("coderoom:frame-arrived")).await?);
    let renders = numbers(watcher, "__renders").await?;
    describe("    key → edit sent to Rust", &latencies(&keys, &sent));
    describe(
        "    edit sent → frame in the other web view",
        &latencies(&sent, &arrived),
    );
    describe(
        "    frame → the other editor's lines",
        &latencies(&arrived, &renders),
    );
    Ok((own, other))
}

fn describe_micros(label: &str, sorted: &[f64]) {
    println!(
        "{label}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} samples)",
        percentile(sorted, 0.5) * 1000.0,
        percentile(sorted, 0.99) * 1000.0,
        sorted.last().copied().unwrap_or(f64::NAN) * 1000.0,
        sorted.len()
    );
}

fn describe(label: &str, sorted: &[f64]) {
    println!(
        "{label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN),
        sorted.len()
    );
}

/// Proportional set size of `pids`, summed (KiB).
fn pss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|text| {
            text.lines()
                .find(|line| line.starts_with("Pss:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .sum()
}

fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|text| {
            text.lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .sum()
}

/// yrs alone: a one-character insert encoded in one document and applied in another.
fn doc_to_doc() -> Vec<f64> {
    use yrs::updates::decoder::Decode;
    use yrs::{GetString, Text, Transact, Update};
    let a = yrs::Doc::with_client_id(1);
    let b = yrs::Doc::with_client_id(2);
    let text_a = a.get_or_insert_text("t");
    let text_b = b.get_or_insert_text("t");
    let mut samples = Vec::new();
    for n in 0..2000u32 {
        let started = Instant::now();
        let update = {
            let mut txn = a.transact_mut();
            text_a.insert(&mut txn, n, "x");
            txn.encode_update_v1()
        };
        let update = Update::decode_v1(&update).expect("decode");
        b.transact_mut().apply_update(update).expect("apply");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    assert_eq!(text_b.get_string(&b.transact()).len(), 2000);
    samples.sort_by(f64::total_cmp);
    samples
}

async fn host(teacher: &RunningApp, folder: Option<&std::path::Path>) -> anyhow::Result<String> {
    teacher.introduce("Grace").await?;
    if let Some(folder) = folder {
        teacher.click("#host-from-folder").await?;
        teacher
            .fill("#host-folder", &folder.display().to_string())
            .await?;
    }
    teacher.click("#host-start").await?;
    teacher
        .wait_for("#connection[data-state='hosting']")
        .await?;
    teacher.click("#show-code").await?;
    let ticket = teacher.text_of("#ticket-text").await?;
    teacher.click("#show-code-view button.primary").await?;
    Ok(ticket)
}

async fn join(learner: &RunningApp, ticket: &str) -> anyhow::Result<()> {
    learner.fill("#join-ticket", ticket).await?;
    learner.click("#join-start").await?;
    learner
        .wait_for("#connection[data-state='connected']")
        .await?;
    Ok(())
}

fn release_or_debug(debug: PathBuf) -> PathBuf {
    let release = debug.parent().and_then(|d| d.parent()).map(|t| {
        t.join("release")
            .join(debug.file_name().unwrap_or_default())
    });
    match release {
        Some(release) if release.is_file() => release,
        _ => debug,
    }
}

async fn run() -> anyhow::Result<()> {
    let binary = app_binary(env!("CARGO_TARGET_TMPDIR"))?;
    let cli = release_or_debug(cli_binary(env!("CARGO_TARGET_TMPDIR"))?);
    println!("app: {}\ncli: {}", binary.display(), cli.display());

    let baseline = doc_to_doc();
    describe_micros(
        "yrs doc-to-doc (encode + decode + apply, one character)",
        &baseline,
    );

    // Idle: the start screen, nothing open.
    let teacher = RunningApp::launch(&binary).await?;
    teacher.wait_for("#profile-name").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pids = teacher.app_processes();
    println!(
        "idle app (start screen): app process RSS {} MiB; all {} processes RSS {} MiB, PSS {} MiB",
        rss_kib(&pids[..1]) / 1024,
        pids.len(),
        rss_kib(&pids) / 1024,
        pss_kib(&pids) / 1024,
    );

    // Keystroke to the other window's screen: instructor types on the board, learner watches.
    let ticket = host(&teacher, None).await?;
    let learner = RunningApp::launch(&binary).await?;
    learner.introduce("Ada").await?;
    join(&learner, &ticket).await?;
    learner.wait_for(".monaco-editor .view-line").await?;
    let (own, other) = type_and_watch(&teacher, &learner, Duration::from_millis(120)).await?;
    describe(
        "1 learner: key in the instructor's window to its own screen",
        &own,
    );
    describe(
        "1 learner: key in the instructor's window to the learner's screen",
        &other,
    );
    let quiet_own_p50 = percentile(&own, 0.5);

    // The same with 30 headless learners typing 4 keys a second into their workspaces.
    let text: String = "print('typing along')\n".repeat(20);
    let learners = CliLearners::join(&cli, &ticket, 30, &text, 4.0, 120)?;
    teacher
        .until(
            Duration::from_secs(60),
            "30 learners never came online",
            || async {
                Ok(teacher
                    .client
                    .find(Locator::Id("online-count"))
                    .await?
                    .text()
                    .await?
                    == "31 online")
            },
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (own, other) = type_and_watch(&teacher, &learner, Duration::from_millis(120)).await?;
    describe(
        "30 learners typing: key in the instructor's window to its own screen",
        &own,
    );
    describe(
        "30 learners typing: key in the instructor's window to the learner's screen",
        &other,
    );
    println!(
        "the instructor's own input latency, 30 typing vs quiet (p50): {:.2}x",
        percentile(&own, 0.5) / quiet_own_p50
    );
    let pids = teacher.app_processes();
    println!(
        "instructor's app with 30 learners typing: PSS {} MiB over {} processes (RSS {} MiB)",
        pss_kib(&pids) / 1024,
        pids.len(),
        rss_kib(&pids) / 1024
    );
    drop(learners);
    learner.close().await?;
    teacher.close().await?;

    // Click on Join to the board on screen, the board a 10,000-line file.
    let lesson = tempfile::tempdir()?;
    let big: String = (0..10_000).map(|n| format!("x_{n} = {n}\n")).collect();
    std::fs::write(lesson.path().join("big.py"), big)?;
    let teacher = RunningApp::launch(&binary).await?;
    let ticket = host(&teacher, Some(lesson.path())).await?;
    let learner = RunningApp::launch(&binary).await?;
    learner.introduce("Ada").await?;
    let mut joins = Vec::new();
    for round in 0..5 {
        learner.fill("#join-ticket", &ticket).await?;
        learner
            .script(
                "const now = () => performance.timeOrigin + performance.now();
                 window.__shown = null;
                 document.querySelector('#join-start').addEventListener('click', () => {
                     window.__clicked = now();
                     const check = () => {
                         const shown = [...document.querySelectorAll('.monaco-editor .view-line')]
                             .some(l => l.textContent.replace(/\\u00a0/g, ' ').includes('x_0 = 0'));
                         if (shown) window.__shown = now(); else requestAnimationFrame(check);
                     };
                     requestAnimationFrame(check);
                 }, { capture: true, once: true });
                 return true;",
            )
            .await?;
        learner.click("#join-start").await?;
        let shown = learner
            .eventually(Duration::from_secs(20), || async {
                Ok(!learner.script("return window.__shown").await?.is_null())
            })
            .await?;
        if !shown {
            let page = learner.script("return document.body.innerText").await?;
            let teacher_page = teacher.script("return document.body.innerText").await?;
            anyhow::bail!(
                "the board never showed (join {round}); the learner's window shows:\n{}\n\nthe instructor's:\n{}",
                page.as_str().unwrap_or_default(),
                teacher_page.as_str().unwrap_or_default()
            );
        }
        let shown = learner
            .script("return window.__shown - window.__clicked")
            .await?;
        joins.push(shown.as_f64().unwrap_or(f64::NAN));
        learner.click("#leave-class").await?;
        learner.wait_for("#join-ticket").await?;
    }
    joins.sort_by(f64::total_cmp);
    println!(
        "click on Join to a 10,000-line board on screen: median {:.0} ms, worst {:.0} ms ({} joins: {:?})",
        percentile(&joins, 0.5),
        joins.last().copied().unwrap_or(f64::NAN),
        joins.len(),
        joins.iter().map(|j| j.round()).collect::<Vec<_>>()
    );
    learner.close().await?;
    teacher.close().await
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}
