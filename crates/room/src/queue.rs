//! A peer's outgoing queue. Bounded: when a peer falls behind, the document updates waiting for
//! it are merged into one per document (yrs merges updates), so a slow learner costs memory in
//! proportion to what changed, not to how many keystrokes were made; past a byte limit the peer
//! is cut off, and resyncs when it reconnects.

use std::collections::VecDeque;
use std::sync::Arc;

use coderoom_protocol::{Control, DocId, Message, Notice, RunStep};
use yrs::sync::{Message as YMessage, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

/// Past this many queued messages, updates are merged.
pub const MERGE_FROM: usize = 64;
/// Past this many queued bytes (after merging), the peer is dropped.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// A queued message, with its frame when already encoded (a relay to many peers is encoded
/// once).
#[derive(Debug, Clone)]
pub struct Queued {
    pub message: Message,
    pub frame: Option<Arc<[u8]>>,
}

#[derive(Debug, Default)]
pub struct OutQueue {
    items: VecDeque<Queued>,
    bytes: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TooFarBehind;

/// What a message costs in the queue: about its frame's length (each carries its text or bytes).
fn size(message: &Message) -> usize {
    64 + match message {
        Message::Sync { payload, .. } | Message::Awareness { payload } => payload.len(),
        Message::Resync { state, .. } => state.len(),
        Message::SyncPiece { payload, .. } => payload.len(),
        Message::Chat(line) => line.name.len() + line.text.len(),
        Message::Run(report) => match &report.step {
            RunStep::Started {
                path,
                runtime,
                files_hash,
                ..
            } => path.len() + runtime.len() + files_hash.len(),
            RunStep::Output { text, .. } => text.len(),
            RunStep::Ended { outcome, .. } => outcome.len(),
        },
        Message::Control(Control::Participants(list)) => list
            .iter()
            .map(|p| p.name.len() + p.colour.len() + 48)
            .sum(),
        Message::Welcome { title, docs, .. } => title.len() + docs.len() * 40,
        Message::Notice(Notice::Refused { reason, .. } | Notice::ProtocolViolation(reason)) => {
            reason.len()
        }
        _ => 0,
    }
}

fn as_update(message: &Message) -> Option<(DocId, Vec<u8>)> {
    let Message::Sync { doc, payload } = message else {
        return None;
    };
    match YMessage::decode_v1(payload) {
        Ok(YMessage::Sync(SyncMessage::Update(update))) => Some((*doc, update)),
        _ => None,
    }
}

impl OutQueue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, message: Message) -> Result<(), TooFarBehind> {
        self.push_encoded(message, None)
    }

    /// Like [`OutQueue::push`], with the message's frame already made.
    pub fn push_encoded(
        &mut self,
        message: Message,
        frame: Option<Arc<[u8]>>,
    ) -> Result<(), TooFarBehind> {
        self.bytes += size(&message);
        self.items.push_back(Queued { message, frame });
        if self.items.len() > MERGE_FROM {
            self.merge_updates();
        }
        if self.bytes > MAX_QUEUED_BYTES {
            return Err(TooFarBehind);
        }
        Ok(())
    }

    /// Everything queued, in order.
    pub fn drain(&mut self) -> Vec<Queued> {
        self.bytes = 0;
        self.items.drain(..).collect()
    }

    /// Merges each document's queued updates into its first one. Updates commute, so one
    /// moving earlier past presence or other documents' messages is harmless; none moves past a
    /// message that replaces replicas (welcome, resync), which ends a merging run.
    fn merge_updates(&mut self) {
        // Per document of a run: where its first update is kept, and all its updates.
        type Merging = Vec<(DocId, usize, Vec<Vec<u8>>)>;
        let mut runs: Vec<Merging> = Vec::new();
        let mut first_of: Merging = Vec::new();
        let mut keep = Vec::with_capacity(self.items.len());
        for queued in self.items.drain(..) {
            let message = &queued.message;
            if matches!(
                message,
                Message::Welcome { .. }
                    | Message::Resync { .. }
                    | Message::SyncPiece { .. }
                    | Message::Refused(_)
            ) {
                runs.push(std::mem::take(&mut first_of));
                keep.push(queued);
                continue;
            }
            match as_update(message) {
                Some((doc, update)) => match first_of.iter_mut().find(|(d, _, _)| *d == doc) {
                    Some((_, _, updates)) => updates.push(update),
                    None => {
                        first_of.push((doc, keep.len(), vec![update]));
                        keep.push(queued);
                    }
                },
                None => keep.push(queued),
            }
        }
        runs.push(first_of);
        for (doc, index, updates) in runs.into_iter().flatten() {
            if updates.len() > 1 {
                if let Ok(merged) = yrs::merge_updates_v1(&updates) {
                    keep[index] = Queued {
                        message: Message::Sync {
                            doc,
                            payload: YMessage::Sync(SyncMessage::Update(merged)).encode_v1(),
                        },
                        frame: None,
                    };
                }
            }
        }
        self.items = keep.into();
        self.bytes = self.items.iter().map(|q| size(&q.message)).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files;
    use coderoom_protocol::PeerId;
    use yrs::{ReadTxn, StateVector, Transact};

    fn update_message(doc: DocId, update: Vec<u8>) -> Message {
        Message::Sync {
            doc,
            payload: YMessage::Sync(SyncMessage::Update(update)).encode_v1(),
        }
    }

    #[test]
    fn a_slow_peer_gets_merged_updates_that_build_the_same_document() {
        let source = files::new_doc(1);
        let mut queue = OutQueue::default();
        let workspace = DocId::Workspace(PeerId([5; 32]));
        for i in 0..500u32 {
            let before = source.transact().state_vector();
            files::insert(&source, "main.py", i, "x");
            let update = source.transact().encode_state_as_update_v1(&before);
            queue
                .push(update_message(
                    if i % 2 == 0 { DocId::Board } else { workspace },
                    update,
                ))
                .expect("room");
            if i == 250 {
                queue
                    .push(Message::Awareness { payload: vec![1] })
                    .expect("room");
            }
        }
        assert!(queue.len() <= MERGE_FROM + 2, "{} queued", queue.len());
        let replica = files::new_doc(2);
        for queued in queue.drain() {
            if let Some((_, update)) = as_update(&queued.message) {
                replica
                    .transact_mut()
                    .apply_update(yrs::Update::decode_v1(&update).expect("update"))
                    .expect("apply");
            }
        }
        assert_eq!(files::read_all(&replica), files::read_all(&source));
        assert_eq!(
            replica.transact().state_vector(),
            source.transact().state_vector()
        );
        let _ = StateVector::default();
    }

    #[test]
    fn a_peer_too_far_behind_is_cut_off() {
        let mut queue = OutQueue::default();
        let big = Message::Resync {
            doc: DocId::Board,
            state: vec![0; 1024 * 1024],
        };
        let mut result = Ok(());
        for _ in 0..20 {
            result = result.and(queue.push(big.clone()));
        }
        assert_eq!(result, Err(TooFarBehind));
    }
}
