//! The scenarios, by concern.

mod admin;
mod auth;
mod busy_glare;
mod invite;
mod lifecycle;
mod malformed;
mod properties;
mod secrets;
