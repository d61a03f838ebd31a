//! The health component (skeleton).
