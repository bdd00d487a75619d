fn main() {
    // The window's files are embedded when the app compiles; tauri-build does not watch them,
    // so a new `npm run build` would otherwise leave an app serving a stale index.html whose
    // scripts are missing.
    println!("cargo:rerun-if-changed=../ui/dist");
    tauri_build::build()
}
