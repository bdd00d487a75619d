//! Where Coderoom keeps its files.
//!
//! Every file the app writes lives under one data dir, so that tests and two instances on one
//! machine never share state. The dir comes from the platform's conventions (`directories`) unless
//! `CODEROOM_DATA_DIR` names another one.

use std::path::{Path, PathBuf};

/// The environment variable that overrides the platform data dir.
pub const DATA_DIR_ENV: &str = "CODEROOM_DATA_DIR";

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("no home directory is known for this user, so there is no place for Coderoom's data; set {DATA_DIR_ENV} to a writable directory")]
    NoHome,
    #[error("{DATA_DIR_ENV} is set but empty; set it to a directory path or unset it")]
    EmptyOverride,
    #[error("cannot create Coderoom's data directory {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The root of everything Coderoom writes for one install (or one test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves the data dir from `CODEROOM_DATA_DIR` or the platform convention, and creates it.
    pub fn resolve() -> Result<Self, PathsError> {
        Self::resolve_from(std::env::var_os(DATA_DIR_ENV).map(PathBuf::from))
    }

    /// Like [`DataDir::resolve`], with the override passed in rather than read from the
    /// environment (tests run in parallel threads and must not touch process-wide state).
    pub fn resolve_from(override_dir: Option<PathBuf>) -> Result<Self, PathsError> {
        let root = match override_dir {
            Some(dir) if dir.as_os_str().is_empty() => return Err(PathsError::EmptyOverride),
            Some(dir) => dir,
            None => directories::ProjectDirs::from("org", "Coderoom", "coderoom")
                .ok_or(PathsError::NoHome)?
                .data_dir()
                .to_path_buf(),
        };
        Self::at(root)
    }

    /// Uses `root` as the data dir, creating it when missing.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self, PathsError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| PathsError::Create {
            path: root.clone(),
            source,
        })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The web view's own storage (WebKit caches, local storage), kept with the rest.
    pub fn webview_dir(&self) -> PathBuf {
        self.root.join("webview")
    }

    /// The persistent secret key that makes this install the same peer across restarts.
    pub fn identity_key(&self) -> PathBuf {
        self.root.join("identity.key")
    }

    /// The SQLite file with the history of every session.
    pub fn history_db(&self) -> PathBuf {
        self.root.join("history.sqlite3")
    }

    /// Fresh work dirs for running learners' programs are made under this.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_is_used_and_created() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let wanted = tmp.path().join("nested").join("data");
        let dir = DataDir::resolve_from(Some(wanted.clone())).expect("resolve");
        assert_eq!(dir.root(), wanted);
        assert!(wanted.is_dir());
        assert!(dir.history_db().starts_with(&wanted));
        assert!(dir.webview_dir().starts_with(&wanted));
        assert!(dir.identity_key().starts_with(&wanted));
        assert!(dir.runs_dir().starts_with(&wanted));
    }

    #[test]
    fn empty_override_is_a_clear_error() {
        let err = DataDir::resolve_from(Some(PathBuf::new())).unwrap_err();
        assert!(err.to_string().contains(DATA_DIR_ENV), "{err}");
    }

    #[test]
    fn uncreatable_dir_is_a_clear_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"not a dir").expect("write");
        let err = DataDir::at(file.join("data")).unwrap_err();
        assert!(matches!(err, PathsError::Create { .. }), "{err}");
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
