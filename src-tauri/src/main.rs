//! The Coderoom desktop app: opens the window and hands the web view's requests to the crates.
//! No logic lives here; each command parses its input, calls a crate and maps the error.

mod class;
mod syntax;

use anyhow::Context;
use coderoom_paths::DataDir;
use tauri::{Manager, WebviewUrl, WebviewWindowBuilder};

#[derive(serde::Serialize)]
struct AppInfo {
    version: String,
    data_dir: String,
}

#[tauri::command]
fn app_info(app: tauri::AppHandle, data_dir: tauri::State<'_, DataDir>) -> AppInfo {
    AppInfo {
        version: app.package_info().version.to_string(),
        data_dir: data_dir.root().display().to_string(),
    }
}

/// WebKitGTK's GPU compositing costs ~100 MB in the web process (more with software GL) and is
/// the usual cause of blank windows on some laptop GPUs; a DOM editor does not need it. Anyone who
/// wants it back sets `WEBKIT_DISABLE_COMPOSITING_MODE=0`.
fn prefer_light_rendering() {
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // Safe: called first thing in main, before any thread exists to read the environment.
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
}

/// Closes the app (after the window asked about unsent edits and the person said yes).
#[tauri::command]
fn quit(app: tauri::AppHandle) {
    app.exit(0);
}

fn main() -> anyhow::Result<()> {
    prefer_light_rendering();
    let data_dir = DataDir::resolve().context("cannot open Coderoom's data directory")?;
    let webview_dir = data_dir.webview_dir();
    tauri::Builder::default()
        .manage(data_dir)
        .manage(syntax::OpenDocuments::default())
        .manage(class::CurrentClass::default())
        .invoke_handler(tauri::generate_handler![
            app_info,
            quit,
            class::profile_get,
            class::profile_save,
            class::profile_colours,
            class::recent_sessions,
            class::check_file_path,
            class::host_class,
            class::join_class,
            class::nearby_rooms,
            class::join_nearby,
            class::doc_state,
            class::doc_update,
            class::set_presence,
            class::class_act,
            class::class_say,
            class::leave_class,
            class::run_runtime,
            class::run_start,
            class::run_stop,
            class::run_input,
            class::raise_hand,
            syntax::syntax_open,
            syntax::syntax_edit,
            syntax::syntax_close,
            syntax::syntax_tokens,
            syntax::syntax_completions,
        ])
        .on_window_event(|window, event| {
            // Closing with edits the instructor's laptop has not had: the window asks first.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                let current = window.state::<class::CurrentClass>();
                let unsent = tauri::async_runtime::block_on(current.unsent_edits());
                if let Some(channel) = unsent {
                    api.prevent_close();
                    let question = serde_json::json!({
                        "kind": "close_requested",
                        "message": class::UNSENT_QUESTION,
                    });
                    let _ =
                        channel.send(tauri::ipc::InvokeResponseBody::Json(question.to_string()));
                }
            }
        })
        .setup(move |app| {
            // Built here rather than in tauri.conf.json so the web view's storage goes in our
            // data dir: two instances (or a test) with different data dirs share nothing.
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                .title("Coderoom")
                .inner_size(1200.0, 780.0)
                .min_inner_size(640.0, 400.0)
                .data_directory(webview_dir.clone())
                .build()?;
            Ok(())
        })
        .run(tauri::generate_context!())
        .context("the Coderoom window failed")
}
