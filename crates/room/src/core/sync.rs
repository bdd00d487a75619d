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

pub(crate) fn full_state(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

pub(crate) fn decode_update(bytes: &[u8]) -> Result<Update, RoomError> {
    if bytes.len() > MAX_UPDATE {
        return Err(RoomError::BadUpdate(format!(
            "{} bytes is over the update limit",
            bytes.len()
        )));
    }
    Update::decode_v1(bytes).map_err(|error| RoomError::BadUpdate(error.to_string()))
}

pub(crate) fn apply(doc: &Doc, bytes: &[u8]) -> Result<(), RoomError> {
    let update = decode_update(bytes)?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|error| RoomError::BadUpdate(error.to_string()))
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
