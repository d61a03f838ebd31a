//! MQTT topics under Switchboard's rules (`docs/protocol.md` §2): levels of
//! `A-Z a-z 0-9 - _` separated by `/`, except a client ID level, no
//! wildcards, bounded total length.

use crate::error::{ErrorCode, Refusal};
use crate::ids::{is_word_char, preview, ClientId};
use std::fmt;

/// A topic that follows the rules. Built with [`Topic::parse`] for a parent
/// topic from configuration, or with [`Topic::p2p`] / [`Topic::upstream`]
/// for a device's topics.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Topic(String);

impl Topic {
    /// Parses a topic of plain levels (no client ID level), at most
    /// `max_len` characters.
    pub fn parse(s: &str, max_len: usize) -> Result<Self, Refusal> {
        let bad = |why: &str| {
            Err(Refusal::new(
                ErrorCode::InvalidTopic,
                format!("topic {} {why}", preview(s)),
            ))
        };
        if s.is_empty() {
            return bad("is empty");
        }
        if s.len() > max_len {
            return Err(Refusal::new(
                ErrorCode::TopicTooLong,
                format!("topic {} is longer than {max_len} characters", preview(s)),
            ));
        }
        for level in s.split('/') {
            if level.is_empty() {
                return bad("has an empty level");
            }
            if !level.chars().all(is_word_char) {
                return bad("has a level with characters outside A-Z a-z 0-9 - _");
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// `<parent>/p2p/<client>`: the P2P topic of a device under `parent`.
    pub fn p2p(parent: &Topic, client: &ClientId, max_len: usize) -> Result<Self, Refusal> {
        Self::with_len_check(format!("{}/p2p/{}", parent.0, client), max_len)
    }

    /// `<parent>/<client>`: the only upstream topic a device may publish to.
    pub fn upstream(parent: &Topic, client: &ClientId, max_len: usize) -> Result<Self, Refusal> {
        Self::with_len_check(format!("{}/{}", parent.0, client), max_len)
    }

    fn with_len_check(s: String, max_len: usize) -> Result<Self, Refusal> {
        if s.len() > max_len {
            return Err(Refusal::new(
                ErrorCode::TopicTooLong,
                format!(
                    "topic {} would be {} characters, over the limit of {max_len}",
                    preview(&s),
                    s.len()
                ),
            ));
        }
        Ok(Self(s))
    }

    /// The topic as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// If this topic is `<parent>/<one level>`, that level.
    pub fn child_of<'a>(topic: &'a str, parent: &Topic) -> Option<&'a str> {
        let rest = topic.strip_prefix(parent.as_str())?.strip_prefix('/')?;
        (!rest.is_empty() && !rest.contains('/')).then_some(rest)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    #[test]
    fn parents_accepted_and_refused() {
        for ok in ["sig-up", "a/b/c", "sig_dn", "x"] {
            assert!(Topic::parse(ok, 64).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "a/+", "a/#", "a b", "$SYS", "a/b@c"] {
            assert_eq!(
                Topic::parse(bad, 64).unwrap_err().code,
                ErrorCode::InvalidTopic,
                "{bad:?}"
            );
        }
        assert_eq!(
            Topic::parse(&"a".repeat(65), 64).unwrap_err().code,
            ErrorCode::TopicTooLong
        );
    }

    #[test]
    fn device_topics() {
        let parent = Topic::parse("sig-dn", 64).unwrap();
        let t = Topic::p2p(&parent, &cid("GID_demo@@@phone"), 64).unwrap();
        assert_eq!(t.as_str(), "sig-dn/p2p/GID_demo@@@phone");
        let up = Topic::parse("sig-up", 64).unwrap();
        assert_eq!(
            Topic::upstream(&up, &cid("GID_demo@@@phone"), 64)
                .unwrap()
                .as_str(),
            "sig-up/GID_demo@@@phone"
        );
        let long = cid(&format!("GID_demo@@@{}", "d".repeat(50)));
        assert_eq!(
            Topic::p2p(&parent, &long, 64).unwrap_err().code,
            ErrorCode::TopicTooLong
        );
    }

    #[test]
    fn child_of_parent() {
        let up = Topic::parse("sig-up", 64).unwrap();
        assert_eq!(Topic::child_of("sig-up/GID_a@@@b", &up), Some("GID_a@@@b"));
        assert_eq!(Topic::child_of("sig-up/a/b", &up), None);
        assert_eq!(Topic::child_of("sig-upx/a", &up), None);
        assert_eq!(Topic::child_of("sig-up/", &up), None);
        assert_eq!(Topic::child_of("other/a", &up), None);
    }
}
