//! Identities that can only be built valid: [`ClientId`], [`UserId`],
//! [`MessageId`] and [`CallId`]. Each has a `parse` enforcing the contract's
//! rules (`docs/protocol.md` §1, §3) and (de)serializes as a plain string,
//! so stored records are validated again when read back.

use crate::error::{ErrorCode, Refusal};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest client ID the broker accepts.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Longest user ID.
pub const MAX_USER_ID_LEN: usize = 64;
/// Longest message or call ID.
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// `A-Z a-z 0-9 - _`: the characters of topic levels and ID parts.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn all_word_chars(s: &str) -> bool {
    s.chars().all(is_word_char)
}

/// Shortens untrusted text for an error message, so a 1 MiB ID doesn't
/// come back in the error.
pub(crate) fn preview(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The ID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Refusal;
            fn try_from(s: String) -> Result<Self, Refusal> {
                Self::parse(&s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// One MQTT connection, one device: `<GroupID>@@@<DeviceID>`, at most 64
    /// characters. The GroupID starts with `GID_` or `GID-` and has 7 to 64
    /// characters of `A-Z a-z 0-9 - _`; the DeviceID has 1 or more.
    ClientId
);

impl ClientId {
    /// Parses a client ID, refusing anything that breaks the rules with
    /// [`ErrorCode::InvalidClientId`].
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let refuse = |why: &str| {
            Err(Refusal::new(
                ErrorCode::InvalidClientId,
                format!("client ID {} {why}", preview(s)),
            ))
        };
        if s.len() > MAX_CLIENT_ID_LEN {
            return refuse("is longer than 64 characters");
        }
        let Some((group, device)) = s.split_once("@@@") else {
            return refuse("has no @@@ separator");
        };
        if device.contains("@@@") || device.contains('@') || group.contains('@') {
            return refuse("must contain exactly one @@@");
        }
        if !(group.starts_with("GID_") || group.starts_with("GID-")) {
            return refuse("must start with GID_ or GID-");
        }
        if group.len() < 7 {
            return refuse("has a GroupID shorter than 7 characters");
        }
        if !all_word_chars(group) {
            return refuse("has a GroupID with characters outside A-Z a-z 0-9 - _");
        }
        if device.is_empty() {
            return refuse("has an empty DeviceID");
        }
        if !all_word_chars(device) {
            return refuse("has a DeviceID with characters outside A-Z a-z 0-9 - _");
        }
        Ok(Self(s.to_owned()))
    }

    /// The GroupID part.
    pub fn group(&self) -> &str {
        self.0.split_once("@@@").map_or("", |(g, _)| g)
    }

    /// The DeviceID part.
    pub fn device(&self) -> &str {
        self.0.split_once("@@@").map_or("", |(_, d)| d)
    }
}

string_id!(
    /// An account of the app: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
    UserId
);

impl UserId {
    /// Parses a user ID, refusing with [`ErrorCode::InvalidUserId`].
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        if s.is_empty() || s.len() > MAX_USER_ID_LEN {
            return Err(Refusal::new(
                ErrorCode::InvalidUserId,
                format!("user ID {} must have 1 to 64 characters", preview(s)),
            ));
        }
        if !s.chars().all(|c| is_word_char(c) || c == '.') {
            return Err(Refusal::new(
                ErrorCode::InvalidUserId,
                format!(
                    "user ID {} has characters outside A-Z a-z 0-9 - _ .",
                    preview(s)
                ),
            ));
        }
        if s == "." || s == ".." {
            return Err(Refusal::new(
                ErrorCode::InvalidUserId,
                "user ID may not be a path segment like . or ..",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

fn parse_word_id(s: &str, what: &str, code: ErrorCode) -> Result<String, Refusal> {
    if s.is_empty() || s.len() > MAX_MESSAGE_ID_LEN || !all_word_chars(s) {
        return Err(Refusal::new(
            code,
            format!(
                "{what} {} must have 1 to 64 characters of A-Z a-z 0-9 - _",
                preview(s)
            ),
        ));
    }
    Ok(s.to_owned())
}

string_id!(
    /// The sender's ID of an upstream message: 1 to 64 characters of
    /// `A-Z a-z 0-9 - _`, unique per sender. `(client ID, message ID)` is the
    /// deduplication key.
    MessageId
);

impl MessageId {
    /// Parses a message ID, refusing with [`ErrorCode::InvalidMessage`].
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        parse_word_id(s, "message ID", ErrorCode::InvalidMessage).map(Self)
    }
}

string_id!(
    /// A call, which is also its RTC channel: 1 to 64 characters of
    /// `A-Z a-z 0-9 - _`. Switchboard derives it from the inviting message,
    /// so a redelivered invite names the same call.
    CallId
);

impl CallId {
    /// Parses a call ID, refusing with [`ErrorCode::InvalidMessage`].
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        parse_word_id(s, "call ID", ErrorCode::InvalidMessage).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_accepted() {
        for ok in [
            "GID_abc@@@d",
            "GID-abc@@@device-1_A",
            "GID_1234567890@@@0",
            &format!("GID_abc@@@{}", "x".repeat(54)),
        ] {
            let id = ClientId::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(id.as_str(), ok);
        }
        let id = ClientId::parse("GID_demo@@@phone1").unwrap();
        assert_eq!(id.group(), "GID_demo");
        assert_eq!(id.device(), "phone1");
    }

    #[test]
    fn client_ids_refused() {
        for bad in [
            "",
            "GID_abc",
            "GID_abc@@@",
            "GID_ab@@@dev",
            "gid_abc@@@dev",
            "XID_abc@@@dev",
            "GID_abc@@@dev@@@x",
            "GID_abc@@@@dev",
            "GID_a/c@@@dev",
            "GID_abc@@@de v",
            "GID_abc@@@dev/x",
            "GID_abc@@@dev+",
            "GID_abc@@@dev#",
            "GID_äbc@@@dev",
            "GID_abc@@dev",
            &format!("GID_abc@@@{}", "x".repeat(55)),
        ] {
            let err = ClientId::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClientId, "{bad:?}");
        }
    }

    #[test]
    fn user_ids() {
        for ok in ["a", "alice", "bob.smith", "u-1_2", &"x".repeat(64)] {
            assert!(UserId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "a/b", "a@b", "é", &"x".repeat(65)] {
            assert_eq!(
                UserId::parse(bad).unwrap_err().code,
                ErrorCode::InvalidUserId,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn message_and_call_ids() {
        for ok in ["m", "m-7f3a", "A_b-9", &"x".repeat(64)] {
            assert!(MessageId::parse(ok).is_ok());
            assert!(CallId::parse(ok).is_ok());
        }
        for bad in ["", "a.b", "a b", "../x", &"x".repeat(65)] {
            assert_eq!(
                MessageId::parse(bad).unwrap_err().code,
                ErrorCode::InvalidMessage
            );
            assert!(CallId::parse(bad).is_err());
        }
    }

    #[test]
    fn error_messages_do_not_echo_huge_input() {
        let huge = "x".repeat(100_000);
        let err = UserId::parse(&huge).unwrap_err();
        assert!(err.message.len() < 200, "{}", err.message.len());
    }

    #[test]
    fn deserialization_validates() {
        let ok: ClientId = serde_json::from_str("\"GID_abc@@@d\"").unwrap();
        assert_eq!(ok.device(), "d");
        assert!(serde_json::from_str::<ClientId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<UserId>("\"a/b\"").is_err());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn client_id_parse_never_panics(s in "\\PC{0,80}") {
                let _ = ClientId::parse(&s);
            }

            #[test]
            fn valid_client_ids_round_trip(group in "GID[-_][A-Za-z0-9_-]{3,20}", device in "[A-Za-z0-9_-]{1,30}") {
                let s = format!("{group}@@@{device}");
                let id = ClientId::parse(&s).unwrap();
                prop_assert_eq!(id.group(), group.as_str());
                prop_assert_eq!(id.device(), device.as_str());
            }

            #[test]
            fn parsed_user_ids_obey_the_rules(s in "\\PC{0,70}") {
                if let Ok(id) = UserId::parse(&s) {
                    prop_assert!(id.as_str().len() <= 64);
                    prop_assert!(id.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
                }
            }
        }
    }
}
