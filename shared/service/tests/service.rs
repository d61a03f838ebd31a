//! Native tests of `switchboard-service`, all through the public entry
//! point `switchboard_service::handle`, exactly as the Spin components call
//! it, over the in-process platform of `support`.
//!
//! One test binary (linking is the slow part of a test build); the
//! scenarios are grouped by concern in `scenarios/`.

mod scenarios;
mod support;
