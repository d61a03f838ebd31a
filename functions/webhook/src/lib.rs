//! The webhook component (skeleton).
