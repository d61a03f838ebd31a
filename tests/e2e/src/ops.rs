//! The contract's upstream ops (PROTOCOL.md §3) as JSON, ready for
//! [`Device::publish`](crate::Device::publish), which adds `v`, `id` and
//! `ts`.

use serde_json::{json, Value};

/// `invite`: a new call ringing `to` (`media` is `audio` or `video`).
pub fn invite(to: &[&str], media: &str) -> Value {
    json!({"op": "invite", "to": to, "media": media})
}

/// `invite` with `call`: a joined participant rings more users.
pub fn invite_more(call: &str, to: &[&str]) -> Value {
    json!({"op": "invite", "call": call, "to": to})
}

/// `ringing`: the device tells the inviter it rings.
pub fn ringing(call: &str) -> Value {
    json!({"op": "ringing", "call": call})
}

/// `accept`.
pub fn accept(call: &str) -> Value {
    json!({"op": "accept", "call": call})
}

/// `reject` with `reason` `decline` or `busy`.
pub fn reject(call: &str, reason: &str) -> Value {
    json!({"op": "reject", "call": call, "reason": reason})
}

/// `cancel`: the inviter withdraws every invitation still ringing.
pub fn cancel(call: &str) -> Value {
    json!({"op": "cancel", "call": call})
}

/// `leave`.
pub fn leave(call: &str) -> Value {
    json!({"op": "leave", "call": call})
}

/// `end` (host only).
pub fn end(call: &str) -> Value {
    json!({"op": "end", "call": call})
}

/// `mute` `user`'s `media` (host only).
pub fn mute(call: &str, user: &str, media: &str) -> Value {
    json!({"op": "mute", "call": call, "user": user, "media": media})
}

/// `unmute` `user`'s `media` (host only).
pub fn unmute(call: &str, user: &str, media: &str) -> Value {
    json!({"op": "unmute", "call": call, "user": user, "media": media})
}

/// `remove` `user` from the call (host only).
pub fn remove(call: &str, user: &str) -> Value {
    json!({"op": "remove", "call": call, "user": user})
}

/// `renew`: fresh RTC join parameters.
pub fn renew(call: &str) -> Value {
    json!({"op": "renew", "call": call})
}

/// `sync`: pending invitations and the active call.
pub fn sync() -> Value {
    json!({"op": "sync"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_follow_the_contract() {
        assert_eq!(
            invite(&["bob"], "video"),
            json!({"op": "invite", "to": ["bob"], "media": "video"})
        );
        assert_eq!(
            mute("c-1", "bob", "audio"),
            json!({"op": "mute", "call": "c-1", "user": "bob", "media": "audio"})
        );
        assert_eq!(sync(), json!({"op": "sync"}));
    }
}
