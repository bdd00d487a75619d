//! Session history in SQLite (WAL, versioned schema): every accepted yrs update with its
//! document, author and time, participants, periodic snapshots, runs and chat. Sessions are
//! listed, reopened (to host again or to read), replayed at any moment and exported as folders
//! or zips. The hub and each learner keep their own file in their data dir.

mod export;
mod recorder;
mod schema;
mod store;

use std::path::PathBuf;

pub use export::{export_folder, export_zip, write_files};
pub use recorder::{SessionRecorder, SNAPSHOT_EVERY};
pub use store::{
    doc_key, parse_doc_key, ChatRecord, History, NewSession, ParticipantRecord, RunRecord,
    SessionId, SessionInfo, SessionSummary, Side,
};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "{path} is not a Coderoom history database or is damaged ({detail}); it was left as it is"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} was written by a newer Coderoom (history format {found}; this one reads up to \
         {supported}); it was left as it is: update Coderoom to open it"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot open the history at {path}: {detail} (the file was left as it is)")]
    Unusable { path: PathBuf, detail: String },
    #[error("there is no session {0} (see `coderoom-cli sessions list`)")]
    NoSession(i64),
    #[error("session {session}: a stored update of {doc} could not be replayed: {detail}")]
    BadUpdate {
        session: i64,
        doc: String,
        detail: String,
    },
    #[error("history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {detail}")]
    Zip { path: PathBuf, detail: String },
}

/// Milliseconds since the Unix epoch, the unit of every time in the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
