//! iroh transport (filled in next).
