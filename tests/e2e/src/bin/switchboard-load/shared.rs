//! What the pairs share while they run: the cycle counter (which also
//! schedules broker faults), the bridge's fault switch, the direct webhook
//! client, and the run's counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use switchboard_e2e::{BridgeControl, Result};

use crate::cli::Options;
use crate::rng::Rng;
use crate::webhook::Webhook;

/// How often progress is printed, in calls.
const PROGRESS_EVERY: usize = 250;

/// Counters of what the run did (not of what the service did).
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages published over MQTT, redeliveries included.
    pub mqtt_publishes: AtomicU64,
    /// Messages published a second time over MQTT.
    pub redelivered_mqtt: AtomicU64,
    /// Messages also posted straight to the webhook, concurrently.
    pub redelivered_webhook: AtomicU64,
    /// Fault plans set on the bridge.
    pub faults: AtomicU64,
    /// Expected messages that had not arrived within the wait (they may
    /// still arrive before the final count).
    pub late: AtomicU64,
    /// Cycles that ended with a cancel.
    pub cancelled: AtomicU64,
    /// Cycles that were answered (accept, then leave).
    pub answered: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The value of `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// State shared by every pair.
#[derive(Debug)]
pub struct Shared<'a> {
    /// The run's options.
    pub options: &'a Options,
    /// The bridge's fault switch.
    pub bridge: BridgeControl,
    /// Direct webhook deliveries.
    pub webhook: Webhook,
    /// What the run did.
    pub counters: Counters,
    next_cycle: AtomicUsize,
    stopped: AtomicBool,
    fault_rng: Mutex<Rng>,
}

impl<'a> Shared<'a> {
    /// Shared state for a run of `options`.
    pub fn new(options: &'a Options, bridge: BridgeControl, webhook: Webhook) -> Self {
        Self {
            options,
            bridge,
            webhook,
            counters: Counters::default(),
            next_cycle: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            fault_rng: Mutex::new(Rng::new(options.seed, u64::MAX)),
        }
    }

    /// Takes the next cycle number, or `None` when every invite is placed
    /// (or the run stopped). Every `fault_every`th cycle first makes the
    /// broker API fail 1 to 3 of the next publishes, after letting 0 to 3
    /// through, whichever pair's they are.
    pub fn next_cycle(&self) -> Result<Option<usize>> {
        if self.stopped.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let cycle = self.next_cycle.fetch_add(1, Ordering::Relaxed);
        if cycle >= self.options.invites {
            return Ok(None);
        }
        if cycle > 0 && cycle % PROGRESS_EVERY == 0 {
            eprintln!("switchboard-load: {cycle} calls placed");
        }
        let every = self.options.fault_every;
        if every > 0 && cycle % every == every - 1 {
            let (failures, after) = {
                let mut rng = self
                    .fault_rng
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (1 + rng.below(3), rng.below(4))
            };
            // At most 3 each: the casts cannot truncate.
            self.bridge.fail_publishes(failures as u32, after as u32)?;
            Counters::bump(&self.counters.faults);
        }
        Ok(Some(cycle))
    }

    /// Stops handing out cycles (a pair failed).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}
