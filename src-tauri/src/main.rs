//! The Coderoom desktop app: opens the window and hands the web view's requests to the crates.
//! No logic lives here; each command parses its input, calls a crate and maps the error.

use anyhow::Context;
use coderoom_paths::DataDir;
use tauri::{WebviewUrl, WebviewWindowBuilder};

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

fn main() -> anyhow::Result<()> {
    let data_dir = DataDir::resolve().context("cannot open Coderoom's data directory")?;
    let webview_dir = data_dir.webview_dir();
    tauri::Builder::default()
        .manage(data_dir)
        .invoke_handler(tauri::generate_handler![app_info])
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
