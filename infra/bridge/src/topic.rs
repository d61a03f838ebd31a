//! MQTT topic rules the bridge relies on.

/// The longest topic MQTT can carry (a two-byte length prefix).
pub const MAX_TOPIC_BYTES: usize = 65_535;

/// Whether `topic` may be published to: not empty, at most
/// [`MAX_TOPIC_BYTES`], no wildcard and no NUL character (MQTT 3.1.1 §4.7).
pub fn is_valid_publish_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= MAX_TOPIC_BYTES && !topic.contains(['+', '#', '\0'])
}

/// Whether `parent` can prefix a subscription `<parent>/+`: a valid publish
/// topic whose levels are all non-empty.
pub fn is_valid_parent(parent: &str) -> bool {
    is_valid_publish_topic(parent) && parent.split('/').all(|level| !level.is_empty())
}

/// The publisher's client id when `topic` is exactly `<parent>/<one level>`.
///
/// The broker's ACL (`pattern write <parent>/%c`) makes that level the
/// authenticated client id of whoever published.
pub fn publisher_of<'t>(parent: &str, topic: &'t str) -> Option<&'t str> {
    let level = topic.strip_prefix(parent)?.strip_prefix('/')?;
    (!level.is_empty() && !level.contains('/')).then_some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_topics_reject_empty_wildcards_nul_and_oversize() {
        assert!(is_valid_publish_topic("sig-dn/p2p/GID_a@@@d1"));
        assert!(is_valid_publish_topic("/leading/slash"));
        for bad in ["", "a/+/b", "a/#", "a\0b"] {
            assert!(!is_valid_publish_topic(bad), "{bad:?}");
        }
        assert!(is_valid_publish_topic(&"a".repeat(MAX_TOPIC_BYTES)));
        assert!(!is_valid_publish_topic(&"a".repeat(MAX_TOPIC_BYTES + 1)));
    }

    #[test]
    fn parents_need_non_empty_levels() {
        assert!(is_valid_parent("sig-up"));
        assert!(is_valid_parent("tenant/sig-up"));
        for bad in ["", "sig-up/", "/sig-up", "a//b", "sig-up/+"] {
            assert!(!is_valid_parent(bad), "{bad:?}");
        }
    }

    #[test]
    fn publisher_is_the_single_level_below_the_parent() {
        assert_eq!(
            publisher_of("sig-up", "sig-up/GID_a@@@d1"),
            Some("GID_a@@@d1")
        );
        assert_eq!(publisher_of("t/sig-up", "t/sig-up/dev"), Some("dev"));
        for other in [
            "sig-up",
            "sig-up/",
            "sig-up/a/b",
            "sig-upx/a",
            "sig-dn/a",
            "x/sig-up/a",
        ] {
            assert_eq!(publisher_of("sig-up", other), None, "{other:?}");
        }
    }
}
