//! File and folder names in a room's documents: what a file tree may create or rename to.

use crate::ClassError;

/// Longest path kept in a document.
pub const MAX_PATH: usize = 200;

/// Checks a path of the file tree (`src/main.py`): parts separated by `/`, none empty, `.` or
/// `..`, no `\`, no control characters, at most [`MAX_PATH`] characters. Says what is wrong in
/// a sentence for the person typing it.
pub fn check_file_path(path: &str) -> Result<(), ClassError> {
    let refuse = |why: &str| {
        Err(ClassError::Refused(format!(
            "{path:?} cannot be a file name: {why}"
        )))
    };
    if path.trim().is_empty() {
        return refuse("it is empty");
    }
    if path.chars().count() > MAX_PATH {
        return Err(ClassError::Refused(format!(
            "a file name is at most {MAX_PATH} characters"
        )));
    }
    if path.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    if path.contains('\\') {
        return refuse("use / between folders, not \\");
    }
    for part in path.split('/') {
        match part {
            "" => return refuse("a folder or file name between the / is empty"),
            "." | ".." => return refuse("`.` and `..` are not names"),
            _ if part.trim() != part => return refuse("a name cannot start or end with a space"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks one name typed into the file tree (a file or folder inside the selected folder):
/// like [`check_file_path`], and without `/`.
pub fn check_name(name: &str) -> Result<(), ClassError> {
    if name.contains('/') {
        return Err(ClassError::Refused(format!(
            "{name:?} cannot be a name: `/` separates folders; make the folder first"
        )));
    }
    check_file_path(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_with_a_reason() {
        for good in [
            "main.py",
            "src/app.js",
            "Program.cs",
            "a b.txt",
            "données.py",
        ] {
            assert!(check_file_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            " ",
            "../x",
            "a/../b",
            "a//b",
            "/abs",
            "a\\b",
            "x\ny",
            "tab\there",
            " lead",
        ] {
            let error = check_file_path(bad).expect_err(bad).to_string();
            assert!(error.contains("cannot be a file name"), "{bad:?}: {error}");
        }
        assert!(check_file_path(&"x".repeat(MAX_PATH + 1)).is_err());
        assert!(check_name("a/b")
            .expect_err("slash")
            .to_string()
            .contains("separates folders"));
    }
}
