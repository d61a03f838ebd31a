//! EMQX REST publish API → MQTT: what the Switchboard service calls to reach
//! devices, answered only once the broker has acknowledged each message.
//!
//! Mosquitto cannot tell whether a message matched any subscriber, so the
//! EMQX answer 202 `no_matching_subscribers` is never produced: a message
//! the broker accepted is always 200, whether or not anyone receives it.

mod basic_auth;
mod publisher;
mod replies;
mod request;
mod server;

pub use publisher::Publisher;
pub use server::Api;
