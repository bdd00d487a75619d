//! Presence: who is in the room and where they are (name, colour, role, open file, cursor,
//! selection, whom they follow), carried as y-protocols awareness updates so the web view's
//! `y-protocols/awareness` reads the same bytes.

use std::collections::HashMap;
use std::sync::Arc;

use coderoom_protocol::{DocId, PeerId, Role};
use yrs::block::ClientID;
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::sync::Message as YMessage;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

use crate::RoomError;

/// Awareness updates larger than this are refused.
pub const MAX_PRESENCE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Presence {
    pub peer: PeerId,
    pub name: String,
    pub colour: String,
    pub role: Role,
    /// The document and file open in the editor.
    pub doc: Option<DocId>,
    pub file: Option<String>,
    /// Cursor and selection as UTF-16 offsets in the file.
    pub cursor: Option<u32>,
    pub selection: Option<(u32, u32)>,
    pub following: Option<PeerId>,
}

/// One client's state from an awareness update: `None` when it left.
pub type PresenceChange = (u64, Option<Presence>);

/// The wire payload for `state` of awareness client `client` at `clock`.
pub fn encode(client: u64, clock: u32, state: Option<&Presence>) -> Vec<u8> {
    let json: Arc<str> = match state {
        Some(presence) => serde_json::to_string(presence)
            .unwrap_or_else(|_| "null".into())
            .into(),
        None => "null".into(),
    };
    let update = AwarenessUpdate {
        clients: HashMap::from([(ClientID::new(client), AwarenessUpdateEntry { clock, json })]),
    };
    YMessage::Awareness(update).encode_v1()
}

/// Decodes an awareness payload: each client with its clock and parsed presence (a state that
/// is not Coderoom presence JSON counts as none).
pub fn decode(payload: &[u8]) -> Result<Vec<(u64, u32, Option<Presence>)>, RoomError> {
    if payload.len() > MAX_PRESENCE {
        return Err(RoomError::BadUpdate(format!(
            "awareness update of {} bytes",
            payload.len()
        )));
    }
    // Screened before yrs sees it: an awareness message (not, say, a sync step 1 whose state
    // vector yrs would reserve room for), with entries that fit its bytes.
    coderoom_protocol::screen::awareness(payload)
        .map_err(|error| RoomError::BadUpdate(format!("presence: {error}")))?;
    match YMessage::decode_v1(payload) {
        Ok(YMessage::Awareness(update)) => Ok(update
            .clients
            .into_iter()
            .map(|(client, entry)| {
                (
                    client.get(),
                    entry.clock,
                    serde_json::from_str(&entry.json).ok(),
                )
            })
            .collect()),
        Ok(_) => Err(RoomError::BadUpdate("not an awareness message".into())),
        Err(error) => Err(RoomError::BadUpdate(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forged_counts() {
        let presence = Presence {
            peer: PeerId([1; 32]),
            name: "Ada".into(),
            colour: "#e11d48".into(),
            role: Role::Learner,
            doc: Some(DocId::Board),
            file: Some("main.py".into()),
            cursor: Some(12),
            selection: Some((3, 12)),
            following: None,
        };
        let decoded = decode(&encode(7, 3, Some(&presence))).expect("decode");
        assert_eq!(decoded, vec![(7, 3, Some(presence))]);
        assert_eq!(
            decode(&encode(7, 4, None)).expect("decode"),
            vec![(7, 4, None)]
        );
        // Tag 1 (awareness), an 8-byte buffer claiming 2^40 entries.
        let forged = [1u8, 8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0, 0];
        assert!(decode(&forged).is_err());
        assert!(decode(&[0xff; 5]).is_err());
    }
}
