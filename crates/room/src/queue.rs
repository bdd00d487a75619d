//! Per-peer outgoing queues (filled in next).
