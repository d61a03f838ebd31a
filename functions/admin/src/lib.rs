//! The admin component (skeleton).
