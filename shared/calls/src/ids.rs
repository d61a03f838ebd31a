//! Deterministic IDs. A call's ID and every downstream message's ID are
//! derived from what caused them, so a redelivered message or a retried
//! fan-out produces the very same IDs and devices can deduplicate.

use sha2::{Digest, Sha256};
use switchboard_protocol::{CallId, ClientId, MessageId};

/// `<prefix>-<24 hex digits of SHA-256 over the parts>`.
pub fn derive_id(prefix: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut id = String::with_capacity(prefix.len() + 25);
    id.push_str(prefix);
    id.push('-');
    for byte in &digest[..12] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// The call an invite creates: the same for every delivery of that invite.
pub fn call_id_for_invite(sender: &ClientId, message: &MessageId) -> CallId {
    let id = derive_id("c", &["invite", sender.as_str(), message.as_str()]);
    // 26 characters of [a-z0-9-]: always a valid call ID.
    CallId::parse(&id).unwrap_or_else(|_| unreachable!("derived call IDs are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = ClientId::parse("GID_demo@@@a").unwrap();
        let m1 = MessageId::parse("m1").unwrap();
        let m2 = MessageId::parse("m2").unwrap();
        assert_eq!(call_id_for_invite(&a, &m1), call_id_for_invite(&a, &m1));
        assert_ne!(call_id_for_invite(&a, &m1), call_id_for_invite(&a, &m2));
        assert_eq!(call_id_for_invite(&a, &m1).as_str().len(), 26);
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(derive_id("e", &["ab", "c"]), derive_id("e", &["a", "bc"]));
    }
}
