//! y-sync messages for one document. Untrusted bytes are screened (`coderoom_protocol::screen`)
//! and checked against the document they are for before yrs decodes them: counts that fit the
//! bytes, only content Coderoom makes, and nothing that refers to or deletes what the document
//! does not have (which yrs would keep as "pending" and later fail on). The hub and the peer
//! both go through here.

use std::collections::BTreeMap;

use coderoom_protocol::screen::{self, SyncPayload, UpdateShape};
use yrs::block::ClientID;
use yrs::sync::{Message as YMessage, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::RoomError;

/// A y-sync message whose envelope (and, for step 1, state vector) passed the screen.
pub(crate) enum SyncIn<'a> {
    Step1(StateVector),
    /// A step 2 or an update: raw bytes still to be screened against a document.
    Update(&'a [u8]),
}

fn refused(error: screen::ScreenError) -> RoomError {
    RoomError::BadUpdate(error.to_string())
}

/// Reads a y-sync message of at most `limit` bytes.
pub(crate) fn decode(payload: &[u8], limit: usize) -> Result<SyncIn<'_>, RoomError> {
    if payload.len() > limit + 16 {
        return Err(RoomError::BadUpdate(format!(
            "{} bytes is over the {limit}-byte limit",
            payload.len()
        )));
    }
    match screen::sync_message(payload).map_err(refused)? {
        SyncPayload::Step1(vector) => Ok(SyncIn::Step1(StateVector::from_iter(
            vector
                .into_iter()
                .map(|(client, clock)| (ClientID::new(client), clock)),
        ))),
        SyncPayload::Step2(update) | SyncPayload::Update(update) => Ok(SyncIn::Update(update)),
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

/// The largest update or whole-document state read back from this machine's own history, or
/// sent by the hub (in pieces); what a peer writes is held to `MAX_UPDATE`.
pub const MAX_LOCAL_STATE: usize = 64 << 20;

/// Screens `bytes` (at most `limit`) as an update for `doc`: well formed, only Coderoom's
/// content, and complete against what `doc` has (no gap in a client's clocks, no reference to
/// or deletion of an item `doc` lacks and the update does not bring).
pub(crate) fn screen_for(doc: &Doc, bytes: &[u8], limit: usize) -> Result<UpdateShape, RoomError> {
    if bytes.len() > limit {
        return Err(RoomError::BadUpdate(format!(
            "{} bytes is over the {limit}-byte limit",
            bytes.len()
        )));
    }
    let shape = screen::update(bytes).map_err(refused)?;
    let known = doc.transact().state_vector();
    // What the document will have once the update is in, client by client.
    let mut have: BTreeMap<u64, u32> = BTreeMap::new();
    for added in &shape.added {
        let next = have
            .entry(added.client)
            .or_insert_with(|| known.get(&ClientID::new(added.client)));
        if added.start > *next {
            return Err(RoomError::Incomplete(format!(
                "it continues client {}'s edits from {} but the document has them up to {}",
                added.client, added.start, next
            )));
        }
        *next = (*next).max(added.end);
    }
    let has = |client: u64, clock: u32| {
        clock
            < have
                .get(&client)
                .copied()
                .unwrap_or_else(|| known.get(&ClientID::new(client)))
    };
    if let Some((client, clock)) = shape
        .refers_to
        .iter()
        .find(|(client, clock)| !has(*client, *clock))
    {
        return Err(RoomError::Incomplete(format!(
            "it refers to an edit ({client}, {clock}) the document does not have"
        )));
    }
    if let Some((client, _, end)) = shape
        .deletes
        .iter()
        .find(|(client, _, end)| !has(*client, end - 1))
    {
        return Err(RoomError::Incomplete(format!(
            "it deletes edits of client {client} up to {end} the document does not have"
        )));
    }
    Ok(shape)
}

/// Applies an update that passed [`screen_for`] against the same document.
pub(crate) fn apply_screened(doc: &Doc, bytes: &[u8]) -> Result<(), RoomError> {
    let update =
        Update::decode_v1(bytes).map_err(|error| RoomError::BadUpdate(error.to_string()))?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|error| RoomError::BadUpdate(error.to_string()))
}

/// Screens and applies an update or state from the hub or from this machine's own history:
/// trusted to be large, not to be well made.
pub fn apply_local(doc: &Doc, bytes: &[u8]) -> Result<(), RoomError> {
    screen_for(doc, bytes, MAX_LOCAL_STATE)?;
    apply_screened(doc, bytes)
}

/// Decodes an update or state read back from this machine's history (screened on its own: what
/// it depends on is checked when it is applied).
pub fn decode_local(bytes: &[u8]) -> Result<Update, RoomError> {
    if bytes.len() > MAX_LOCAL_STATE {
        return Err(RoomError::BadUpdate(format!(
            "{} bytes is over the {MAX_LOCAL_STATE}-byte limit",
            bytes.len()
        )));
    }
    screen::update(bytes).map_err(refused)?;
    Update::decode_v1(bytes).map_err(|error| RoomError::BadUpdate(error.to_string()))
}

/// The ranges deleted in a document, per client, sorted and merged: what a refused update is
/// checked against without copying the document.
#[derive(Debug, Default, Clone)]
pub(crate) struct Deleted(BTreeMap<u64, Vec<(u32, u32)>>);

impl Deleted {
    pub(crate) fn of(doc: &Doc) -> Self {
        let delete_set = doc.transact().snapshot().delete_set;
        // The delete set's encoding is an update's tail: screened by the same code.
        let mut bytes = vec![0u8];
        bytes.extend(delete_set.encode_v1());
        let mut deleted: BTreeMap<u64, Vec<(u32, u32)>> = BTreeMap::new();
        if let Ok(shape) = screen::update(&bytes) {
            for (client, start, end) in shape.deletes {
                deleted.entry(client).or_default().push((start, end));
            }
        }
        for ranges in deleted.values_mut() {
            ranges.sort_unstable();
            let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
            for &(start, end) in ranges.iter() {
                match merged.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => merged.push((start, end)),
                }
            }
            *ranges = merged;
        }
        Self(deleted)
    }

    fn covers(&self, client: u64, start: u32, end: u32) -> bool {
        let Some(ranges) = self.0.get(&client) else {
            return false;
        };
        let at = ranges.partition_point(|(_, range_end)| *range_end <= start);
        ranges
            .get(at)
            .is_some_and(|&(range_start, range_end)| range_start <= start && end <= range_end)
    }
}

/// Whether an update of this shape would change a document whose state vector is `known` and
/// whose deletions are `deleted`: it adds an edit the document lacks or deletes one it has not.
pub(crate) fn would_change(shape: &UpdateShape, known: &StateVector, deleted: &Deleted) -> bool {
    shape
        .added
        .iter()
        .any(|added| added.end > known.get(&ClientID::new(added.client)))
        || shape
            .deletes
            .iter()
            .any(|&(client, start, end)| !deleted.covers(client, start, end))
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
