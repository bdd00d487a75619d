//! Join tickets: `coderoom` followed by base32 of the hub's address, the room id and the secret.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{JoinSecret, ProtocolError, RoomId};

const PREFIX: &str = "coderoom";
const TICKET_VERSION: u8 = 1;

/// Everything a learner needs to join: where the hub is (id + LAN addresses, no relay needed),
/// which room, and the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub hub: iroh_base::EndpointAddr,
    pub room: RoomId,
    pub secret: JoinSecret,
}

#[derive(Serialize, Deserialize)]
struct Encoded {
    version: u8,
    ticket: Ticket,
}

impl std::fmt::Display for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = postcard::to_stdvec(&Encoded {
            version: TICKET_VERSION,
            ticket: self.clone(),
        })
        .map_err(|_| std::fmt::Error)?;
        write!(
            f,
            "{PREFIX}{}",
            data_encoding::BASE32_NOPAD
                .encode(&bytes)
                .to_ascii_lowercase()
        )
    }
}

impl FromStr for Ticket {
    type Err = ProtocolError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ProtocolError::BadTicket(reason.to_owned());
        let text = text.trim();
        let body = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("a ticket starts with \"coderoom\""))?;
        if body.is_empty() {
            return Err(bad("the ticket is empty after \"coderoom\""));
        }
        let bytes = data_encoding::BASE32_NOPAD
            .decode(body.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                bad("it has characters that cannot be in a ticket, or it was cut short")
            })?;
        if bytes.first() != Some(&TICKET_VERSION) {
            return Err(bad("it was made by another version of Coderoom"));
        }
        let encoded: Encoded = postcard::from_bytes(&bytes)
            .map_err(|_| bad("it was cut short or changed (copy the whole ticket)"))?;
        Ok(encoded.ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        let key = iroh_base::SecretKey::from_bytes(&[9; 32]);
        let hub = iroh_base::EndpointAddr::new(key.public())
            .with_ip_addr("192.168.1.20:4433".parse().expect("addr"))
            .with_ip_addr("[fe80::1]:4433".parse().expect("addr"));
        Ticket {
            hub,
            room: RoomId([1; 16]),
            secret: JoinSecret([2; 32]),
        }
    }

    #[test]
    fn round_trip() {
        let text = ticket().to_string();
        assert!(text.starts_with("coderoom"));
        assert!(
            text.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{text}"
        );
        assert_eq!(text.parse::<Ticket>().expect("parse"), ticket());
        assert_eq!(
            format!("  {text}\n").parse::<Ticket>().expect("trimmed"),
            ticket()
        );
    }

    #[test]
    fn broken_tickets_say_why() {
        let text = ticket().to_string();
        let error = |input: &str| input.parse::<Ticket>().expect_err("refused").to_string();
        assert!(error("").contains("starts with"));
        assert!(error("hello").contains("starts with"));
        assert!(error("coderoom").contains("empty"));
        assert!(
            error(&text[..text.len() / 2]).contains("cut short"),
            "{}",
            error(&text[..text.len() / 2])
        );
        assert!(error(&format!("{text}!")).contains("characters"));
        let mut stale = text.clone().into_bytes();
        stale[8] = b'z'; // The first base32 character holds the version byte's top bits.
        assert!(error(std::str::from_utf8(&stale).expect("ascii")).contains("another version"));
    }
}
