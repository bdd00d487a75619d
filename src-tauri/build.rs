use std::hash::{Hash, Hasher};
use std::path::Path;

/// A stamp of the window's built files (names, sizes, times). The app embeds them when it
/// compiles, and tauri-build does not watch them: given to rustc as an environment variable,
/// the stamp makes a new `npm run build` recompile the app instead of leaving it serving a
/// stale index.html whose scripts are missing.
fn stamp(dir: &Path, hasher: &mut std::collections::hash_map::DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        path.hash(hasher);
        if let Ok(metadata) = entry.metadata() {
            metadata.len().hash(hasher);
            if let Ok(modified) = metadata.modified() {
                modified.hash(hasher);
            }
            if metadata.is_dir() {
                stamp(&path, hasher);
            }
        }
    }
}

fn main() {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    stamp(Path::new("../ui/dist"), &mut hasher);
    println!("cargo:rerun-if-changed=../ui/dist");
    println!("cargo:rustc-env=CODEROOM_UI_STAMP={:x}", hasher.finish());
    tauri_build::build()
}
