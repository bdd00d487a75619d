//! A document's files: a root map `files` of path → Y.Text.

use std::collections::BTreeMap;

use yrs::{Doc, GetString, Map, MapRef, OffsetKind, Options, Text, TextRef, Transact, WriteTxn};

pub use crate::core::sync::{apply_local, capture_edit, decode_local, full_state};

const FILES: &str = "files";

/// A document as Coderoom makes them: text offsets in UTF-16 units (as Monaco and yjs count),
/// and the files map in place.
pub fn new_doc(client_id: u64) -> Doc {
    let doc = Doc::with_options(Options {
        client_id: yrs::block::ClientID::new(client_id),
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    });
    ensure(&doc);
    doc
}

fn files(doc: &Doc) -> MapRef {
    doc.get_or_insert_map(FILES)
}

/// The text of `path`, created empty when missing.
fn text(doc: &Doc, path: &str) -> TextRef {
    let files = files(doc);
    let mut txn = doc.transact_mut();
    match files.get(&txn, path) {
        Some(yrs::Out::YText(text)) => text,
        _ => files.insert(&mut txn, path, yrs::TextPrelim::new("")),
    }
}

/// Inserts `chunk` at UTF-16 offset `index` of `path` (clamped to its length).
pub fn insert(doc: &Doc, path: &str, index: u32, chunk: &str) {
    let text = text(doc, path);
    let mut txn = doc.transact_mut();
    let index = index.min(text.len(&txn));
    text.insert(&mut txn, index, chunk);
}

/// Removes `length` UTF-16 units at `index` of `path` (clamped).
pub fn remove(doc: &Doc, path: &str, index: u32, length: u32) {
    let text = text(doc, path);
    let mut txn = doc.transact_mut();
    let total = text.len(&txn);
    let index = index.min(total);
    let length = length.min(total - index);
    if length > 0 {
        text.remove_range(&mut txn, index, length);
    }
}

/// Length of `path` in UTF-16 units (0 when missing).
pub fn len(doc: &Doc, path: &str) -> u32 {
    let files = files(doc);
    let txn = doc.transact();
    match files.get(&txn, path) {
        Some(yrs::Out::YText(text)) => text.len(&txn),
        _ => 0,
    }
}

/// Every file and its text.
pub fn read_all(doc: &Doc) -> BTreeMap<String, String> {
    let files = files(doc);
    let txn = doc.transact();
    files
        .iter(&txn)
        .filter_map(|(path, value)| match value {
            yrs::Out::YText(text) => Some((path.to_owned(), text.get_string(&txn))),
            _ => None,
        })
        .collect()
}

/// Makes sure the root map exists in a transaction of its own (so that the first remote update
/// and a local edit agree on it).
pub(crate) fn ensure(doc: &Doc) {
    let mut txn = doc.transact_mut();
    txn.get_or_insert_map(FILES);
}
