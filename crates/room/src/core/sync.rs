//! y-sync messages for one document, decoded with caps before yrs sees them.

use coderoom_protocol::MAX_UPDATE;
use yrs::sync::{Message as YMessage, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::RoomError;

pub(crate) fn decode(payload: &[u8]) -> Result<SyncMessage, RoomError> {
    if payload.len() > MAX_UPDATE + 16 {
        return Err(RoomError::BadUpdate(format!(
            "{} bytes is over the update limit",
            payload.len()
        )));
    }
    match YMessage::decode_v1(payload) {
        Ok(YMessage::Sync(message)) => Ok(message),
        Ok(other) => Err(RoomError::BadUpdate(format!(
            "not a sync message: {other:?}"
        ))),
        Err(error) => Err(RoomError::BadUpdate(error.to_string())),
    }
}

pub(crate) fn step1(doc: &Doc) -> Vec<u8> {
    YMessage::Sync(SyncMessage::SyncStep1(doc.transact().state_vector())).encode_v1()
}

pub(crate) fn step2(doc: &Doc, their_state: &StateVector) -> Vec<u8> {
    YMessage::Sync(SyncMessage::SyncStep2(
        doc.transact().encode_state_as_update_v1(their_state),
    ))
    .encode_v1()
}

pub(crate) fn update_message(update: Vec<u8>) -> Vec<u8> {
    YMessage::Sync(SyncMessage::Update(update)).encode_v1()
}

/// A document's whole state, as one update.
pub fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

/// The largest update or whole-document state read back from this machine's own history; what
/// a peer sends is held to `MAX_UPDATE`.
pub const MAX_LOCAL_STATE: usize = 64 << 20;

fn decode_within(bytes: &[u8], limit: usize) -> Result<Update, RoomError> {
    if bytes.len() > limit {
        return Err(RoomError::BadUpdate(format!(
            "{} bytes is over the {limit}-byte limit",
            bytes.len()
        )));
    }
    Update::decode_v1(bytes).map_err(|error| RoomError::BadUpdate(error.to_string()))
}

/// Decodes an update or state read back from this machine's history.
pub fn decode_local(bytes: &[u8]) -> Result<Update, RoomError> {
    decode_within(bytes, MAX_LOCAL_STATE)
}

fn apply_decoded(doc: &Doc, update: Update) -> Result<(), RoomError> {
    doc.transact_mut()
        .apply_update(update)
        .map_err(|error| RoomError::BadUpdate(error.to_string()))
}

/// Applies an update from a peer.
pub(crate) fn apply(doc: &Doc, bytes: &[u8]) -> Result<(), RoomError> {
    apply_decoded(doc, decode_within(bytes, MAX_UPDATE)?)
}

/// Applies an update or state read back from this machine's history.
pub fn apply_local(doc: &Doc, bytes: &[u8]) -> Result<(), RoomError> {
    apply_decoded(doc, decode_local(bytes)?)
}

/// Whether applying `bytes` would change `doc` at all (tried on a copy): a step 2 from a peer
/// that has nothing new is not a write.
pub(crate) fn would_change(doc: &Doc, bytes: &[u8]) -> Result<bool, RoomError> {
    let before = full_state(doc);
    let copy = crate::files::new_doc(1);
    apply(&copy, &before)?;
    apply(&copy, bytes)?;
    Ok(full_state(&copy) != before)
}

/// Runs `edit` on `doc` and returns the update it made (inserts and deletions), if any.
pub fn capture_edit(doc: &Doc, edit: impl FnOnce(&Doc)) -> Option<Vec<u8>> {
    let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&captured);
    let observing = doc
        .observe_update_v1("coderoom-capture", move |_, event| {
            if let Ok(mut updates) = sink.lock() {
                updates.push(event.update.clone());
            }
        })
        .is_ok();
    edit(doc);
    if observing {
        let _ = doc.unobserve_update_v1("coderoom-capture");
    }
    let updates = std::mem::take(&mut *captured.lock().ok()?);
    match updates.len() {
        0 => None,
        1 => updates.into_iter().next(),
        _ => yrs::merge_updates_v1(updates).ok(),
    }
}
