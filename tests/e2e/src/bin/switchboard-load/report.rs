//! The figures of a run: printed for people, and as one `summary` JSON
//! line for scripts and the CI test.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::cli::Options;
use crate::latency::Samples;
use crate::ledger::Tally;

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run.
    pub options: Options,
    /// Devices connected.
    pub devices: usize,
    /// From the first invite to the end of the last cycle.
    pub elapsed: Duration,
    /// Cycles ended by a cancel.
    pub cancelled: u64,
    /// Cycles answered, then left.
    pub answered: u64,
    /// Upstream messages published over MQTT, redeliveries included.
    pub mqtt_publishes: u64,
    /// Messages published twice over MQTT.
    pub redelivered_mqtt: u64,
    /// Messages also posted straight to the webhook, concurrently.
    pub redelivered_webhook: u64,
    /// Final statuses of the direct webhook deliveries.
    pub direct: BTreeMap<String, u64>,
    /// 503 answers the direct deliveries retried.
    pub direct_retries: u64,
    /// Fault plans set on the bridge.
    pub faults: u64,
    /// Waits that timed out (the message may have come later).
    pub late: u64,
    /// Bridge: upstream messages the webhook answered 2xx.
    pub webhook_delivered: u64,
    /// Bridge: webhook attempts retried (503 or no answer).
    pub webhook_retries: u64,
    /// Bridge: upstream messages refused for good.
    pub webhook_refused: u64,
    /// Bridge: downstream messages the broker accepted.
    pub broker_published: u64,
    /// Bridge: downstream publishes that failed (injected faults).
    pub publish_failures: u64,
    /// Publish → first invitation.
    pub latency: Samples,
    /// Expected against received.
    pub tally: Tally,
    /// Raw duplicates (same ID delivered again) per event.
    pub repeated: BTreeMap<String, u64>,
}

impl Report {
    /// Calls placed to the end of their cycle.
    pub fn cycles(&self) -> u64 {
        self.cancelled + self.answered
    }

    /// True when nothing was lost, duplicated or unexpected, and every
    /// cycle completed.
    pub fn is_clean(&self) -> bool {
        self.tally.is_clean() && self.cycles() == self.options.invites as u64
    }

    /// Prints the report to stdout.
    pub fn print(&self) {
        let o = &self.options;
        let seconds = self.elapsed.as_secs_f64().max(f64::EPSILON);
        let upstream = self.mqtt_publishes + self.redelivered_webhook;
        let t = &self.tally;
        println!(
            "switchboard-load: {} invites on {:?}, {} pairs, {} devices, seed {}",
            o.invites, o.kv, o.pairs, self.devices, o.seed
        );
        println!(
            "cycles completed: {} ({} cancelled, {} answered then left) in {:.1} s",
            self.cycles(),
            self.cancelled,
            self.answered,
            seconds
        );
        println!(
            "throughput: {:.1} calls/s, {:.1} upstream messages/s, {:.1} downstream messages/s",
            self.cycles() as f64 / seconds,
            upstream as f64 / seconds,
            t.received as f64 / seconds
        );
        println!("latency publish -> invitation: {}", self.latency.summary());
        println!(
            "downstream: expected {}, received {} distinct",
            t.expected, t.received
        );
        println!("lost: {}", t.lost);
        println!("duplicated (after the device's ID dedup): {}", t.duplicated);
        println!("unexpected: {}", t.unexpected);
        println!(
            "raw duplicates (same ID twice on the wire): {}",
            t.raw_duplicates
        );
        println!(
            "redeliveries: {} ({} over MQTT, {} concurrently to the webhook: {:?}, {} retries)",
            self.redelivered_mqtt + self.redelivered_webhook,
            self.redelivered_mqtt,
            self.redelivered_webhook,
            self.direct,
            self.direct_retries
        );
        println!(
            "faults injected: {} plans, {} publishes failed",
            self.faults, self.publish_failures
        );
        println!(
            "bridge: {} upstream delivered, {} webhook retries, {} refused, {} downstream published",
            self.webhook_delivered, self.webhook_retries, self.webhook_refused, self.broker_published
        );
        println!("late waits: {}", self.late);
        for example in &t.examples {
            println!("  {example}");
        }
        println!("summary {}", self.summary());
        println!("{}", if self.is_clean() { "PASS" } else { "FAIL" });
    }

    /// The figures as one JSON object.
    pub fn summary(&self) -> serde_json::Value {
        let ms = |p: f64| {
            self.latency
                .percentile(p)
                .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
        };
        let t = &self.tally;
        json!({
            "invites": self.options.invites,
            "kv": format!("{:?}", self.options.kv).to_lowercase(),
            "pairs": self.options.pairs,
            "devices": self.devices,
            "seed": self.options.seed,
            "cycles": self.cycles(),
            "seconds": (self.elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "expected": t.expected,
            "received": t.received,
            "lost": t.lost,
            "duplicated": t.duplicated,
            "unexpected": t.unexpected,
            "raw_duplicates": t.raw_duplicates,
            "raw_duplicates_by_event": self.repeated,
            "redeliveries": self.redelivered_mqtt + self.redelivered_webhook,
            "faults_injected": self.faults,
            "publish_failures": self.publish_failures,
            "webhook_retries": self.webhook_retries,
            "latency_ms": {"p50": ms(50.0), "p95": ms(95.0), "p99": ms(99.0), "max": ms(100.0)},
            "clean": self.is_clean(),
        })
    }
}
