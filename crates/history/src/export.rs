//! Exporting a session (or one learner's workspace) as a folder of files or a zip.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Component, Path};

use coderoom_protocol::DocId;

use crate::store::{History, SessionId};
use crate::HistoryError;

/// A file path from a document as a safe relative path, in `/`-separated parts (`None` for
/// `..`, absolute paths, backslashes, drive letters, control characters and the like: a
/// document's paths come from peers, and a zip is opened on other systems too).
fn safe_relative(path: &str) -> Option<String> {
    let plain = !path.is_empty()
        && !path
            .chars()
            .any(|c| c == '\\' || c == ':' || c.is_control())
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    Some(parts.join("/"))
}

/// Writes `files` under `folder`, skipping (and naming) any path that would leave it or that
/// clashes with another (`a` beside `a/b`). Returns the paths skipped.
pub fn write_files(
    folder: &Path,
    files: &BTreeMap<String, String>,
) -> Result<Vec<String>, HistoryError> {
    std::fs::create_dir_all(folder).map_err(|source| HistoryError::Io {
        path: folder.to_owned(),
        source,
    })?;
    let mut skipped = Vec::new();
    let mut written = BTreeSet::new();
    for (path, text) in files {
        let Some(relative) = safe_relative(path).filter(|r| written.insert(r.clone())) else {
            skipped.push(path.clone());
            continue;
        };
        let target = folder.join(&relative);
        let made = match target.parent() {
            Some(parent) => std::fs::create_dir_all(parent),
            None => Ok(()),
        }
        .and_then(|()| std::fs::write(&target, text));
        if made.is_err() {
            skipped.push(path.clone());
        }
    }
    Ok(skipped)
}

/// Folder names for a session's documents: `board`, and `workspace-NAME` per learner (with
/// the start of their id when two share a name).
fn folder_names(
    history: &History,
    session: SessionId,
    docs: &[DocId],
) -> Result<BTreeMap<DocId, String>, HistoryError> {
    let people = history.participants(session)?;
    let name_of = |owner| {
        people
            .iter()
            .find(|p| p.peer == owner)
            .map(|p| p.name.clone())
    };
    let mut taken = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for doc in docs {
        let name = match doc {
            DocId::Board => "board".to_owned(),
            DocId::Workspace(owner) => {
                let cleaned: String = name_of(*owner)
                    .unwrap_or_default()
                    .chars()
                    .map(|c| if c.is_alphanumeric() { c } else { '-' })
                    .collect();
                let plain = format!("workspace-{}", cleaned.trim_matches('-'));
                if cleaned.trim_matches('-').is_empty() || taken.contains(&plain) {
                    // The whole id: unlike a name, it cannot clash.
                    let id: String = owner.0.iter().map(|b| format!("{b:02x}")).collect();
                    format!("workspace-{id}")
                } else {
                    plain
                }
            }
        };
        taken.insert(name.clone());
        out.insert(*doc, name);
    }
    Ok(out)
}

/// A folder name and the files to write in it.
type Folder = (String, BTreeMap<String, String>);

/// The documents to export, with their folder names and files (the latest state).
fn contents(
    history: &History,
    session: SessionId,
    only: Option<DocId>,
) -> Result<Vec<Folder>, HistoryError> {
    let docs: Vec<DocId> = history
        .documents(session)?
        .into_iter()
        .filter(|d| only.is_none_or(|o| o == *d))
        .collect();
    let names = folder_names(history, session, &docs)?;
    let mut out = Vec::new();
    for doc in docs {
        let state = history.state_at(session, doc, None)?;
        out.push((
            names
                .get(&doc)
                .cloned()
                .unwrap_or_else(|| "document".into()),
            coderoom_room::files::read_all(&state),
        ));
    }
    Ok(out)
}

/// Writes a session's documents (or only `only`) as folders under `dir`. Returns the paths
/// skipped as unsafe.
pub fn export_folder(
    history: &History,
    session: SessionId,
    only: Option<DocId>,
    dir: &Path,
) -> Result<Vec<String>, HistoryError> {
    history.session(session)?;
    let mut skipped = Vec::new();
    for (folder, files) in contents(history, session, only)? {
        skipped.extend(write_files(&dir.join(folder), &files)?);
    }
    Ok(skipped)
}

/// Writes the same as [`export_folder`] into one zip file.
pub fn export_zip(
    history: &History,
    session: SessionId,
    only: Option<DocId>,
    zip_path: &Path,
) -> Result<Vec<String>, HistoryError> {
    history.session(session)?;
    let zip_error = |detail: String| HistoryError::Zip {
        path: zip_path.to_owned(),
        detail,
    };
    let contents = contents(history, session, only)?;
    if let Some(parent) = zip_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| HistoryError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    let file = std::fs::File::create(zip_path).map_err(|source| HistoryError::Io {
        path: zip_path.to_owned(),
        source,
    })?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut skipped = Vec::new();
    let mut written = BTreeSet::new();
    for (folder, files) in contents {
        for (path, text) in files {
            let name = safe_relative(&path).map(|relative| format!("{folder}/{relative}"));
            // A name written already, or a file where a folder of the same name is (`a` beside
            // `a/b`), would make an archive some tools refuse: skipped, and named.
            let clashes = |name: &str| {
                written.contains(name)
                    || written.iter().any(|w: &String| {
                        w.starts_with(&format!("{name}/")) || name.starts_with(&format!("{w}/"))
                    })
            };
            let Some(name) = name.filter(|n| !clashes(n)) else {
                skipped.push(path);
                continue;
            };
            written.insert(name.clone());
            zip.start_file(name, options)
                .map_err(|e| zip_error(e.to_string()))?;
            zip.write_all(text.as_bytes())
                .map_err(|e| zip_error(e.to_string()))?;
        }
    }
    zip.finish().map_err(|e| zip_error(e.to_string()))?;
    Ok(skipped)
}
