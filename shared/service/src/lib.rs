//! switchboard-service (skeleton).
