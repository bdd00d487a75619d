//! The IO-less heart of a room: the hub's and the peer's state machines, and the yrs helpers
//! they share. No sockets, no clocks, no tasks: events in, actions out.

pub mod hub;
pub mod peer;
pub(crate) mod sync;
