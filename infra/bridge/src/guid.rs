//! EMQX-style message GUIDs: 32 upper-case hex digits.

use std::fmt;

use crate::clock;

/// A 128-bit message identifier printed as 32 upper-case hex digits, like
/// the `id` EMQX puts in webhook events and publish API answers.
///
/// The first 64 bits are the creation time in microseconds, so identifiers
/// sort roughly by time as EMQX's do; the last 64 bits are random.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(u128);

impl Guid {
    /// A new identifier for a message seen now.
    pub fn generate() -> Self {
        Self::from_parts(clock::unix_micros(), rand::random())
    }

    /// Builds an identifier from its time and random halves.
    pub fn from_parts(micros: u64, random: u64) -> Self {
        Self((u128::from(micros) << 64) | u128::from(random))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032X}", self.0)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_32_upper_hex_digits_time_first() {
        let guid = Guid::from_parts(0x0006_054D_C3E9_40F8, 0xF445_0000_38A6_0002);
        assert_eq!(guid.to_string(), "0006054DC3E940F8F445000038A60002");
    }

    #[test]
    fn small_values_are_zero_padded() {
        assert_eq!(
            Guid::from_parts(0, 1).to_string(),
            "00000000000000000000000000000001"
        );
    }

    #[test]
    fn generated_ids_differ_and_are_well_formed() {
        let a = Guid::generate().to_string();
        let b = Guid::generate().to_string();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        }
    }
}
