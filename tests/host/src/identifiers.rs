//! Validation of the names Spin accepts for variables, components and
//! key-value store labels.

/// Checks a variable name the way Spin's `spin_expressions::Key` does.
///
/// Returns the reason a name is invalid, worded like Spin's messages.
pub fn validate_variable_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if let Some(invalid) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        Some(format!(
            "invalid character {invalid:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a lowercase ASCII letter".to_owned())
    } else if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("must end with a lowercase ASCII letter or digit".to_owned())
    } else if name.contains("__") {
        Some("must not contain multiple consecutive underscores".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(format!("{name:?}: {reason}")),
        None => Ok(()),
    }
}

/// Whether `id` is a kebab-case identifier (`my-component`), as Spin requires
/// for component IDs.
pub fn is_kebab_id(id: &str) -> bool {
    is_separated_id(id, '-')
}

/// Whether `label` is a kebab-case or snake-case identifier, as Spin requires
/// for key-value store labels.
pub fn is_store_label(label: &str) -> bool {
    is_separated_id(label, '-') || is_separated_id(label, '_')
}

/// Lower-case ASCII words of letters and digits, joined by single `separator`s,
/// starting with a letter.
fn is_separated_id(id: &str, separator: char) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.split(separator).all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_spin_rules() {
        for good in ["a", "abc", "a1b2c3", "a_1", "a_1_b_3"] {
            assert_eq!(validate_variable_name(good), Ok(()), "{good}");
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_variable_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn component_ids_are_kebab_case() {
        assert!(is_kebab_id("health"));
        assert!(is_kebab_id("kv-probe2"));
        for bad in ["", "Health", "kv_probe", "-a", "a-", "a--b", "1a"] {
            assert!(!is_kebab_id(bad), "{bad}");
        }
    }

    #[test]
    fn store_labels_are_kebab_or_snake_case() {
        assert!(is_store_label("default"));
        assert!(is_store_label("my-store"));
        assert!(is_store_label("my_store"));
        assert!(!is_store_label("my-odd_store"));
        assert!(!is_store_label("Default"));
    }
}
