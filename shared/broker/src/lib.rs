//! switchboard-broker (skeleton).
