//! Latency samples and their percentiles.

use std::time::Duration;

/// Latency samples of one kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Adds one sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// Adds another worker's samples.
    pub fn merge(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`th percentile (nearest rank, `p` in 0..=100); `None` without
    /// samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
    }

    /// `p50 .. ms, p95 .. ms, p99 .. ms, max .. ms (n=..)`.
    pub fn summary(&self) -> String {
        let ms = |p: f64| {
            self.percentile(p).map_or_else(
                || "-".to_owned(),
                |d| format!("{:.1}", d.as_secs_f64() * 1e3),
            )
        };
        format!(
            "p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (n={})",
            ms(50.0),
            ms(95.0),
            ms(99.0),
            ms(100.0),
            self.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        assert_eq!(samples.percentile(50.0), None);
        for ms in (1..=100).rev() {
            samples.push(Duration::from_millis(ms));
        }
        assert_eq!(samples.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(samples.percentile(95.0), Some(Duration::from_millis(95)));
        assert_eq!(samples.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(samples.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(samples.percentile(0.0), Some(Duration::from_millis(1)));
        assert!(samples.summary().contains("p95 95.0 ms"));
    }
}
