//! What every device should have received, and the comparison with what
//! it did receive.
//!
//! A message is identified by (device, event, call): in these cycles each
//! device gets at most one message of each event per call. Received
//! messages are counted after the device's own deduplication on `id`, so
//! "duplicated" means the service produced a second, differently
//! identified copy of one effect; the same ID delivered twice is a raw
//! duplicate, which the contract allows and devices absorb.

use std::collections::BTreeMap;

/// (client ID, event, call).
pub type Key = (String, String, String);

/// How many examples of each kind of discrepancy are kept for the report.
const EXAMPLES: usize = 10;

/// The downstream messages a run should produce.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expected {
    counts: BTreeMap<Key, u64>,
    /// Messages of cycles whose call ID was never learned (neither
    /// `call.created` nor an invitation arrived): lost, and not keyable.
    unattributed: u64,
}

impl Expected {
    /// Expects one `event` about `call` on `client`.
    pub fn add(&mut self, client: &str, event: &str, call: &str) {
        *self
            .counts
            .entry((client.to_owned(), event.to_owned(), call.to_owned()))
            .or_insert(0) += 1;
    }

    /// Records `count` expected messages of a call that never showed up.
    pub fn lost_without_call(&mut self, count: u64) {
        self.unattributed += count;
    }

    /// Adds another worker's expectations.
    pub fn merge(&mut self, other: Expected) {
        for (key, count) in other.counts {
            *self.counts.entry(key).or_insert(0) += count;
        }
        self.unattributed += other.unattributed;
    }

    /// Every expected message.
    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.unattributed
    }
}

/// Expected against received.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Messages expected.
    pub expected: u64,
    /// Distinct messages received (after deduplication on `id`).
    pub received: u64,
    /// Expected messages that never arrived.
    pub lost: u64,
    /// Extra distinct messages for an expected (device, event, call).
    pub duplicated: u64,
    /// Distinct messages nobody expected (errors, stray events).
    pub unexpected: u64,
    /// Deliveries that repeated an ID already received.
    pub raw_duplicates: u64,
    /// A few discrepancies, for the report.
    pub examples: Vec<String>,
}

impl Tally {
    /// True when every expected message arrived once and nothing else did.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.unexpected == 0
    }
}

/// Compares `expected` with the distinct messages `received` (one key per
/// distinct message ID) and the raw duplicate count.
pub fn compare(
    expected: &Expected,
    received: impl IntoIterator<Item = Key>,
    raw_duplicates: u64,
) -> Tally {
    let mut got: BTreeMap<Key, u64> = BTreeMap::new();
    for key in received {
        *got.entry(key).or_insert(0) += 1;
    }
    let mut tally = Tally {
        expected: expected.total(),
        received: got.values().sum(),
        lost: expected.unattributed,
        raw_duplicates,
        ..Tally::default()
    };
    if expected.unattributed > 0 {
        tally.examples.push(format!(
            "{} messages of calls whose ID never arrived",
            expected.unattributed
        ));
    }
    for (key, &want) in &expected.counts {
        let have = got.get(key).copied().unwrap_or(0);
        if have < want {
            tally.lost += want - have;
            note(&mut tally.examples, "lost", key, want, have);
        } else if have > want {
            tally.duplicated += have - want;
            note(&mut tally.examples, "duplicated", key, want, have);
        }
    }
    for (key, &have) in &got {
        if !expected.counts.contains_key(key) {
            tally.unexpected += have;
            note(&mut tally.examples, "unexpected", key, 0, have);
        }
    }
    tally
}

fn note(examples: &mut Vec<String>, kind: &str, key: &Key, want: u64, have: u64) {
    if examples.len() < EXAMPLES {
        let (client, event, call) = key;
        examples.push(format!(
            "{kind}: {client} {event} call={call}: expected {want}, received {have}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(client: &str, event: &str, call: &str) -> Key {
        (client.to_owned(), event.to_owned(), call.to_owned())
    }

    #[test]
    fn an_exact_match_is_clean() {
        let mut expected = Expected::default();
        expected.add("a", "call.created", "c-1");
        expected.add("b", "call.invitation", "c-1");
        let tally = compare(
            &expected,
            [
                key("a", "call.created", "c-1"),
                key("b", "call.invitation", "c-1"),
            ],
            3,
        );
        assert!(tally.is_clean(), "{tally:?}");
        assert_eq!((tally.expected, tally.received), (2, 2));
        assert_eq!(tally.raw_duplicates, 3);
    }

    #[test]
    fn counts_lost_duplicated_and_unexpected_apart() {
        let mut expected = Expected::default();
        expected.add("a", "call.created", "c-1");
        expected.add("b", "call.invitation", "c-1");
        let mut other = Expected::default();
        other.lost_without_call(4);
        expected.merge(other);
        let tally = compare(
            &expected,
            [
                key("a", "call.created", "c-1"),
                key("a", "call.created", "c-1"),
                key("b", "error", ""),
            ],
            0,
        );
        assert_eq!(tally.expected, 6);
        assert_eq!(tally.lost, 1 + 4);
        assert_eq!(tally.duplicated, 1);
        assert_eq!(tally.unexpected, 1);
        assert!(!tally.is_clean());
        assert_eq!(tally.examples.len(), 4);
    }
}
