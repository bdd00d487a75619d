//! Frames: a 4-byte big-endian length, then a postcard-encoded [`Message`].

use crate::{Message, ProtocolError};

/// No frame is larger; the length is checked before its bytes are read or allocated.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// The length prefix's size.
pub const FRAME_HEADER: usize = 4;

/// The checked payload length from a frame header.
pub fn frame_length(header: [u8; FRAME_HEADER]) -> Result<usize, ProtocolError> {
    let length = u32::from_be_bytes(header) as usize;
    if length > MAX_FRAME {
        return Err(ProtocolError::FrameTooLarge(length));
    }
    Ok(length)
}

/// A whole frame (header and payload) for `message`.
pub fn encode(message: &Message) -> Result<Vec<u8>, ProtocolError> {
    let mut frame = vec![0u8; FRAME_HEADER];
    let frame = postcard::to_extend(message, std::mem::take(&mut frame))
        .map_err(|error| ProtocolError::Malformed(error.to_string()))?;
    let length = frame.len() - FRAME_HEADER;
    if length > MAX_FRAME {
        return Err(ProtocolError::FrameTooLarge(length));
    }
    let mut frame = frame;
    frame[..FRAME_HEADER].copy_from_slice(&(length as u32).to_be_bytes());
    Ok(frame)
}

/// A message from a frame's payload (the bytes after the header).
pub fn decode(payload: &[u8]) -> Result<Message, ProtocolError> {
    if payload.len() > MAX_FRAME {
        return Err(ProtocolError::FrameTooLarge(payload.len()));
    }
    postcard::from_bytes(payload).map_err(|error| ProtocolError::Malformed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DocId, PeerId};

    #[test]
    fn round_trip_and_caps() {
        let message = Message::Sync {
            doc: DocId::Workspace(PeerId([7; 32])),
            payload: vec![1, 2, 3],
        };
        let frame = encode(&message).expect("encode");
        let length = frame_length(frame[..4].try_into().expect("header")).expect("length");
        assert_eq!(length, frame.len() - 4);
        assert_eq!(decode(&frame[4..]).expect("decode"), message);
        assert_eq!(
            frame_length([0xff; 4]),
            Err(ProtocolError::FrameTooLarge(u32::MAX as usize))
        );
        assert!(matches!(
            decode(&[0xff, 0xff, 0xff]),
            Err(ProtocolError::Malformed(_))
        ));
        let huge = Message::Sync {
            doc: DocId::Board,
            payload: vec![0; MAX_FRAME + 1],
        };
        assert!(matches!(
            encode(&huge),
            Err(ProtocolError::FrameTooLarge(_))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 1u64;
        for length in 0..2_000usize {
            let bytes: Vec<u8> = (0..length % 97)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 56) as u8
                })
                .collect();
            let _ = decode(&bytes);
        }
    }
}
