//! The contract's client ID (`<GroupID>@@@<DeviceID>`) and user ID rules,
//! checked before connecting or registering so that a typo is reported
//! instead of silently going nowhere.

/// Why a client ID or user ID is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Longer than 64 characters.
    #[error("a client ID has at most 64 characters")]
    TooLong,
    /// Not exactly one `@@@`.
    #[error("a client ID is <GroupID>@@@<DeviceID>, with exactly one @@@")]
    Shape,
    /// A bad group ID.
    #[error("the group ID starts with GID_ or GID- and has 7 to 64 characters of A-Z a-z 0-9 - _")]
    Group,
    /// A bad device ID.
    #[error("the device ID has 1 or more characters of A-Z a-z 0-9 - _")]
    Device,
    /// A bad user ID.
    #[error("a user ID has 1 to 64 characters of A-Z a-z 0-9 - _ .")]
    User,
}

/// The longest client ID.
const MAX_LEN: usize = 64;

/// Checks `id` against the contract's client ID rules.
pub fn validate_client_id(id: &str) -> Result<(), IdError> {
    if id.len() > MAX_LEN {
        return Err(IdError::TooLong);
    }
    let mut parts = id.split("@@@");
    let (Some(group), Some(device), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(IdError::Shape);
    };
    let group_ok = (group.starts_with("GID_") || group.starts_with("GID-"))
        && (7..=64).contains(&group.len())
        && group.bytes().all(is_id_char);
    if !group_ok {
        return Err(IdError::Group);
    }
    if device.is_empty() || !device.bytes().all(is_id_char) {
        return Err(IdError::Device);
    }
    Ok(())
}

/// Checks `id` against the contract's user ID rules.
pub fn validate_user_id(id: &str) -> Result<(), IdError> {
    let valid = (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|c| is_id_char(c) || c == b'.');
    if valid {
        Ok(())
    } else {
        Err(IdError::User)
    }
}

fn is_id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass() {
        assert_eq!(validate_client_id("GID_dev@@@alice-phone"), Ok(()));
        assert_eq!(validate_client_id("GID-abc@@@1"), Ok(()));
    }

    #[test]
    fn each_rule_is_enforced() {
        assert_eq!(validate_client_id("GID_dev"), Err(IdError::Shape));
        assert_eq!(validate_client_id("GID_dev@@@a@@@b"), Err(IdError::Shape));
        assert_eq!(validate_client_id("GID_de@@@a"), Err(IdError::Group));
        assert_eq!(validate_client_id("XID_dev@@@a"), Err(IdError::Group));
        assert_eq!(validate_client_id("GID_dev@@@"), Err(IdError::Device));
        assert_eq!(validate_client_id("GID_dev@@@a/b"), Err(IdError::Device));
        let long = format!("GID_dev@@@{}", "a".repeat(60));
        assert_eq!(validate_client_id(&long), Err(IdError::TooLong));
    }

    #[test]
    fn user_ids_allow_dots_but_nothing_path_like() {
        assert_eq!(validate_user_id("alice.smith-1_x"), Ok(()));
        for bad in ["", "a/b", "a b", "..%2f", &"a".repeat(65)] {
            assert_eq!(validate_user_id(bad), Err(IdError::User), "{bad:?}");
        }
    }
}
