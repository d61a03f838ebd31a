//! switchboard-spin (skeleton).
