//! Untrusted document bytes checked before yrs sees them: the y-sync envelope, state vectors and
//! updates (lib0 v1 encoding, as `yrs` 0.28 and `yjs` write them) are walked without allocating
//! anything a claimed count asks for. Every count must fit in the bytes that remain; only the
//! content kinds Coderoom makes are let through (text, the `files` map, deletions; no
//! sub-documents, XML, embeds, formats, JSON or weak links); and what each update adds, refers
//! to and deletes is returned, so the caller can check it against its document's state without
//! applying anything (see `coderoom-room`'s `sync`).
//!
//! The hub screens what peers send, and peers screen what the hub sends, with the same code.

/// Why bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreenError {
    #[error("the document data is cut short")]
    Truncated,
    #[error("the document data has {0} bytes left over")]
    TrailingBytes(usize),
    #[error("a number in the document data is too large")]
    Overflow,
    #[error("the document data claims {claimed} entries in {remaining} bytes")]
    CountTooLarge { claimed: u64, remaining: usize },
    #[error("the document data holds {0}, which Coderoom never makes")]
    Refused(&'static str),
    #[error("the document data is not well formed ({0})")]
    Malformed(&'static str),
}

/// A y-sync message, envelope checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPayload<'a> {
    /// Step 1: the sender's state vector, screened.
    Step1(StateVector),
    /// Step 2: an update (raw bytes, to be screened with [`update`]).
    Step2(&'a [u8]),
    Update(&'a [u8]),
}

/// A state vector: the next clock of each client.
pub type StateVector = Vec<(u64, u32)>;

/// One block range an update adds: `client`, and clocks `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    pub client: u64,
    pub start: u32,
    pub end: u32,
}

/// What an update holds, as far as its effect on a document goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateShape {
    /// Blocks with content, per client in order (skips left out: they add nothing).
    pub added: Vec<Added>,
    /// Items its blocks refer to (origins, right origins, parents): `(client, clock)`.
    pub refers_to: Vec<(u64, u32)>,
    /// Ranges it deletes: `(client, start, end)`.
    pub deletes: Vec<(u64, u32, u32)>,
    /// Root types it names (Coderoom uses one, `files`).
    pub roots: Vec<String>,
}

impl UpdateShape {
    /// Whether the update adds no block and deletes nothing: nothing a document could take.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.deletes.is_empty()
    }
}

/// The one root type Coderoom documents have.
pub const ROOT: &str = "files";

const MESSAGE_SYNC: u64 = 0;
const SYNC_STEP1: u64 = 0;
const SYNC_STEP2: u64 = 1;
const SYNC_UPDATE: u64 = 2;

const BLOCK_GC: u8 = 0;
const BLOCK_SKIP: u8 = 10;
const CONTENT_DELETED: u8 = 1;
const CONTENT_JSON: u8 = 2;
const CONTENT_BINARY: u8 = 3;
const CONTENT_STRING: u8 = 4;
const CONTENT_EMBED: u8 = 5;
const CONTENT_FORMAT: u8 = 6;
const CONTENT_TYPE: u8 = 7;
const CONTENT_ANY: u8 = 8;
const CONTENT_DOC: u8 = 9;
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;
const TYPE_MAP: u8 = 1;
const TYPE_TEXT: u8 = 2;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn u8(&mut self) -> Result<u8, ScreenError> {
        let (&first, rest) = self.bytes.split_first().ok_or(ScreenError::Truncated)?;
        self.bytes = rest;
        Ok(first)
    }

    /// An unsigned LEB128 number of at most `bits` bits.
    fn var(&mut self, bits: u32) -> Result<u64, ScreenError> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            let part = u64::from(byte & 0x7f);
            if shift >= 64 || (shift > 0 && part >> (64 - shift) != 0) {
                return Err(ScreenError::Overflow);
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        if bits < 64 && value >> bits != 0 {
            return Err(ScreenError::Overflow);
        }
        Ok(value)
    }

    /// A client id: yjs's are 53-bit (a JavaScript safe integer), and yrs assumes so.
    fn client(&mut self) -> Result<u64, ScreenError> {
        self.var(53)
    }

    fn var_u32(&mut self) -> Result<u32, ScreenError> {
        self.var(32).map(|value| value as u32)
    }

    /// A count of entries each taking at least `min_bytes`: it must fit in what remains.
    fn count(&mut self, min_bytes: usize) -> Result<usize, ScreenError> {
        let claimed = self.var(32)?;
        let remaining = self.remaining();
        if claimed.saturating_mul(min_bytes as u64) > remaining as u64 {
            return Err(ScreenError::CountTooLarge { claimed, remaining });
        }
        Ok(claimed as usize)
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], ScreenError> {
        if length > self.bytes.len() {
            return Err(ScreenError::Truncated);
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    fn buffer(&mut self) -> Result<&'a [u8], ScreenError> {
        let length = self.count(1)?;
        self.take(length)
    }

    fn string(&mut self) -> Result<&'a str, ScreenError> {
        std::str::from_utf8(self.buffer()?).map_err(|_| ScreenError::Malformed("text not UTF-8"))
    }

    fn end(self) -> Result<(), ScreenError> {
        match self.bytes.len() {
            0 => Ok(()),
            left => Err(ScreenError::TrailingBytes(left)),
        }
    }
}

/// Checks a y-sync message's envelope (a sync message: step 1, step 2 or update) and screens a
/// step 1's state vector.
pub fn sync_message(payload: &[u8]) -> Result<SyncPayload<'_>, ScreenError> {
    let mut reader = Reader { bytes: payload };
    if reader.var(64)? != MESSAGE_SYNC {
        return Err(ScreenError::Malformed("not a sync message"));
    }
    let kind = reader.var(64)?;
    let body = reader.buffer()?;
    reader.end()?;
    match kind {
        SYNC_STEP1 => Ok(SyncPayload::Step1(state_vector(body)?)),
        SYNC_STEP2 => Ok(SyncPayload::Step2(body)),
        SYNC_UPDATE => Ok(SyncPayload::Update(body)),
        _ => Err(ScreenError::Malformed("an unknown sync message")),
    }
}

/// Checks a y-protocols awareness message (presence): its envelope, and entries (client, clock,
/// state text) that fit the bytes. Returns how many entries it holds.
pub fn awareness(payload: &[u8]) -> Result<usize, ScreenError> {
    const MESSAGE_AWARENESS: u64 = 1;
    let mut reader = Reader { bytes: payload };
    if reader.var(64)? != MESSAGE_AWARENESS {
        return Err(ScreenError::Malformed("not an awareness message"));
    }
    let body = reader.buffer()?;
    reader.end()?;
    let mut reader = Reader { bytes: body };
    let entries = reader.count(3)?;
    for _ in 0..entries {
        reader.client()?;
        reader.var_u32()?;
        reader.string()?;
    }
    reader.end()?;
    Ok(entries)
}

/// Screens an encoded state vector.
pub fn state_vector(bytes: &[u8]) -> Result<StateVector, ScreenError> {
    let mut reader = Reader { bytes };
    let entries = reader.count(2)?;
    let mut vector = Vec::with_capacity(entries);
    for _ in 0..entries {
        vector.push((reader.client()?, reader.var_u32()?));
    }
    reader.end()?;
    Ok(vector)
}

fn id(reader: &mut Reader<'_>) -> Result<(u64, u32), ScreenError> {
    Ok((reader.client()?, reader.var_u32()?))
}

/// Screens an encoded update and says what it adds, refers to and deletes.
pub fn update(bytes: &[u8]) -> Result<UpdateShape, ScreenError> {
    let mut reader = Reader { bytes };
    let mut shape = UpdateShape::default();
    // Each client's blocks need at least a count, a client, a clock: three bytes.
    let clients = reader.count(3)?;
    // yrs keeps only the last list of a client that appears twice, so what the shape says the
    // update adds would not be what yrs applies (yrs and yjs write each client once).
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..clients {
        let blocks = reader.count(1)?;
        let client = reader.client()?;
        if !seen.insert(client) {
            return Err(ScreenError::Malformed("a client's edits listed twice"));
        }
        let mut clock = reader.var_u32()?;
        for _ in 0..blocks {
            let info = reader.u8()?;
            let length = match info {
                BLOCK_SKIP | BLOCK_GC => {
                    let length = reader.var_u32()?;
                    if length == 0 {
                        return Err(ScreenError::Malformed("an empty block"));
                    }
                    if info == BLOCK_SKIP {
                        clock = clock.checked_add(length).ok_or(ScreenError::Overflow)?;
                        continue;
                    }
                    length
                }
                _ => item(&mut reader, info, &mut shape)?,
            };
            // yrs drops an item of length 0 without moving the clock.
            if length == 0 {
                continue;
            }
            let end = clock.checked_add(length).ok_or(ScreenError::Overflow)?;
            match shape.added.last_mut() {
                Some(last) if last.client == client && last.end == clock => last.end = end,
                _ => shape.added.push(Added {
                    client,
                    start: clock,
                    end,
                }),
            }
            clock = end;
        }
    }
    let deleting = reader.count(2)?;
    for _ in 0..deleting {
        let client = reader.client()?;
        let ranges = reader.count(2)?;
        for _ in 0..ranges {
            let start = reader.var_u32()?;
            let length = reader.var_u32()?;
            let end = start.checked_add(length).ok_or(ScreenError::Overflow)?;
            if length > 0 {
                shape.deletes.push((client, start, end));
            }
        }
    }
    reader.end()?;
    Ok(shape)
}

/// One item's header and content; returns its length in clock units (UTF-16 for text).
fn item(reader: &mut Reader<'_>, info: u8, shape: &mut UpdateShape) -> Result<u32, ScreenError> {
    if info & HAS_ORIGIN != 0 {
        shape.refers_to.push(id(reader)?);
    }
    if info & HAS_RIGHT_ORIGIN != 0 {
        shape.refers_to.push(id(reader)?);
    }
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        if reader.var(32)? == 1 {
            let root = reader.string()?;
            if root != ROOT {
                return Err(ScreenError::Refused("a root type other than `files`"));
            }
            if !shape.roots.iter().any(|known| known == root) {
                shape.roots.push(root.to_owned());
            }
        } else {
            shape.refers_to.push(id(reader)?);
        }
        if info & HAS_PARENT_SUB != 0 {
            reader.string()?;
        }
    }
    match info & 0b1111 {
        CONTENT_DELETED => reader.var_u32(),
        CONTENT_STRING => {
            let text = reader.string()?;
            u32::try_from(text.encode_utf16().count()).map_err(|_| ScreenError::Overflow)
        }
        CONTENT_TYPE => match reader.u8()? {
            TYPE_MAP | TYPE_TEXT => Ok(1),
            _ => Err(ScreenError::Refused("a shared type other than text or map")),
        },
        CONTENT_DOC => Err(ScreenError::Refused("a sub-document")),
        CONTENT_JSON => Err(ScreenError::Refused("JSON content")),
        CONTENT_BINARY => Err(ScreenError::Refused("binary content")),
        CONTENT_EMBED => Err(ScreenError::Refused("an embed")),
        CONTENT_FORMAT => Err(ScreenError::Refused("text formatting")),
        CONTENT_ANY => Err(ScreenError::Refused("plain values")),
        _ => Err(ScreenError::Malformed("an unknown content kind")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn claimed_counts_must_fit_the_bytes() {
        // A state vector claiming 4 billion entries in 5 bytes.
        let mut bomb = Vec::new();
        var(u32::MAX as u64, &mut bomb);
        assert!(matches!(
            state_vector(&bomb),
            Err(ScreenError::CountTooLarge { .. })
        ));
        assert!(matches!(
            update(&bomb),
            Err(ScreenError::CountTooLarge { .. })
        ));
        // One client claiming a huge block count.
        let mut blocks = vec![1];
        var(u32::MAX as u64, &mut blocks);
        blocks.extend([1, 0]);
        assert!(matches!(
            update(&blocks),
            Err(ScreenError::CountTooLarge { .. })
        ));
        // A varint that never ends, and one past 64 bits.
        assert_eq!(state_vector(&[0xff; 3]), Err(ScreenError::Truncated));
        assert_eq!(state_vector(&[0xff; 11]), Err(ScreenError::Overflow));
        // A client id past 53 bits (found by the `screen` fuzz target: yrs asserts on it).
        let crash = [0x01, 0xc8, 0xc8, 0xc8, 0xc8, 0xc8, 0xee, 0xc8, 0x60, 0x00];
        assert_eq!(update(&crash), Err(ScreenError::Overflow));
    }

    #[test]
    fn sub_documents_and_foreign_roots_are_refused() {
        // One client, one block: info = Doc content with a root parent `files`.
        let mut doc = vec![1, 1, 7, 0, CONTENT_DOC, 1];
        doc.push(5);
        doc.extend(b"files");
        doc.extend([0, 0]);
        assert_eq!(update(&doc), Err(ScreenError::Refused("a sub-document")));
        let mut other = vec![1, 1, 7, 0, CONTENT_STRING, 1, 5];
        other.extend(b"notes");
        other.extend([1, b'x', 0]);
        assert!(matches!(update(&other), Err(ScreenError::Refused(_))));
    }

    #[test]
    fn awareness_is_an_awareness_message_of_entries_that_fit() {
        assert_eq!(awareness(&[1, 1, 0]), Ok(0));
        assert_eq!(awareness(&[1, 5, 1, 7, 1, 1, b'x']), Ok(1));
        // A sync step 1 in the awareness slot (found by the `peer_core` fuzz target: yrs
        // decoded it and reserved a state vector of 2 GB).
        let mut step1 = vec![0, 0, 5];
        var(u64::from(u32::MAX), &mut step1);
        assert!(awareness(&step1).is_err());
        let mut forged = vec![1, 5];
        var(u64::from(u32::MAX), &mut forged);
        assert!(awareness(&forged).is_err());
    }

    #[test]
    fn an_empty_update_is_empty() {
        let shape = update(&[0, 0]).expect("empty");
        assert!(shape.is_empty());
        assert_eq!(update(&[0, 0, 0]), Err(ScreenError::TrailingBytes(1)));
        assert!(sync_message(&[0, 9, 0]).is_err());
        assert!(sync_message(&[1, 0, 0]).is_err());
        assert_eq!(
            sync_message(&[0, 0, 1, 0]),
            Ok(SyncPayload::Step1(Vec::new()))
        );
    }

    /// Found by the `screen` fuzz target (session 6): client 1 listed three times (a skip from
    /// clock 1, a GC at 0, a GC from 1). yrs keeps only the last list, so the screen's idea
    /// of what the update adds was not yrs's.
    #[test]
    fn a_client_listed_twice_is_refused() {
        let crash = [
            0x03, 0x01, 0x01, 0x01, 0x0a, 0x01, 0x01, 0x01, 0x00, 0x00, 0x01, 0x01, 0x01, 0x01,
            0x00, 0xe5, 0x08, 0x00,
        ];
        assert_eq!(
            update(&crash),
            Err(ScreenError::Malformed("a client's edits listed twice"))
        );
    }
}
