//! A folder opened from disk as the board's first files: its text files, within limits, with
//! what was left out said.

use std::path::Path;

use crate::names::check_file_path;
use crate::ClassError;

/// Files taken from a folder at most.
pub const MAX_FILES: usize = 200;
/// A file larger than this is left out (a board is for code, not data).
pub const MAX_FILE_BYTES: u64 = 512 * 1024;
/// Folders never taken: build output and tools' own.
const SKIPPED_DIRS: [&str; 6] = [
    "node_modules",
    "target",
    "bin",
    "obj",
    "__pycache__",
    "dist",
];

/// A folder's text files (relative path, text), and a sentence for each thing left out.
pub type FolderFiles = (Vec<(String, String)>, Vec<String>);

/// The folder's files (relative path, text), and a sentence for each thing left out.
pub fn read_folder(root: &Path) -> Result<FolderFiles, ClassError> {
    if !root.is_dir() {
        return Err(ClassError::Refused(format!(
            "{} is not a folder on this laptop",
            root.display()
        )));
    }
    let mut files = Vec::new();
    let mut left_out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|error| {
            ClassError::File(format!("{} could not be read: {error}", dir.display()))
        })?;
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    pending.push(path);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if check_file_path(&relative).is_err() {
                left_out.push(format!("{relative}: not a name a class can use"));
                continue;
            }
            if files.len() >= MAX_FILES {
                left_out.push(format!("{relative}: over {MAX_FILES} files"));
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if size > MAX_FILE_BYTES {
                left_out.push(format!(
                    "{relative}: larger than {} KB",
                    MAX_FILE_BYTES / 1024
                ));
                continue;
            }
            match std::fs::read(&path).map(String::from_utf8) {
                Ok(Ok(text)) if !text.contains('\0') => files.push((relative, text)),
                Ok(_) => left_out.push(format!("{relative}: not a text file")),
                Err(error) => left_out.push(format!("{relative}: {error}")),
            }
        }
    }
    files.sort();
    Ok((files, left_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_come_and_the_rest_is_said() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::create_dir_all(root.join("node_modules/x")).expect("mkdir");
        std::fs::write(root.join("main.py"), "print(1)\n").expect("write");
        std::fs::write(root.join("src/util.py"), "x = 1\n").expect("write");
        std::fs::write(root.join("node_modules/x/i.js"), "x").expect("write");
        std::fs::write(root.join(".hidden"), "x").expect("write");
        std::fs::write(root.join("logo.png"), [0x89, b'P', 0, 0xff]).expect("write");
        std::fs::write(
            root.join("big.txt"),
            vec![b'a'; MAX_FILE_BYTES as usize + 1],
        )
        .expect("write");
        let (files, left_out) = read_folder(root).expect("read");
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["main.py", "src/util.py"]);
        assert_eq!(left_out.len(), 2, "{left_out:?}");
        assert!(read_folder(&root.join("main.py")).is_err());
    }
}
