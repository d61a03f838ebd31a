//! One run: start the stack, connect the pairs, run them in parallel, let
//! the bridge finish, and count what every device received.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_dev::stack::StackOptions;
use switchboard_e2e::{poll_until, Device, HarnessError, Result, TestBed};

use crate::cli::Options;
use crate::latency::Samples;
use crate::ledger::{compare, Expected, Key};
use crate::pair::{Pair, PairOutcome};
use crate::report::Report;
use crate::shared::{Counters, Shared};
use crate::webhook::Webhook;

/// How long the bridge gets to deliver what is still queued or retrying
/// once every cycle is over (a 503 is retried with backoff up to 5 s).
const SETTLE: Duration = Duration::from_secs(120);
/// How long devices keep listening at the end for late or repeated copies.
const DRAIN: Duration = Duration::from_secs(2);

/// Starts a stack and runs `options` against it; on failure prints the
/// services' logs.
pub fn run(options: &Options) -> Result<Report> {
    let bed = TestBed::start(StackOptions::default().kv(options.kv))?;
    measure(&bed, options).inspect_err(|_| eprintln!("{}", bed.diagnostics()))
}

fn measure(bed: &TestBed, options: &Options) -> Result<Report> {
    let stack = bed.stack();
    let webhook = Webhook::new(stack.webhook_url(), stack.webhook_token());
    let shared = Shared::new(options, bed.bridge().clone(), webhook);
    eprintln!(
        "switchboard-load: {} pairs of {}+{} devices on {:?}, seed {}",
        options.pairs, options.caller_devices, options.callee_devices, options.kv, options.seed
    );
    let pairs = (0..options.pairs)
        .map(|i| {
            Pair::connect(
                bed,
                i,
                options.caller_devices,
                options.callee_devices,
                options.seed,
            )
        })
        .collect::<Result<Vec<_>>>()?;

    let started = Instant::now();
    let outcomes = run_pairs(pairs, &shared)?;
    let elapsed = started.elapsed();

    let published = Counters::get(&shared.counters.mqtt_publishes);
    let stats = settle(bed, published)?;
    let mut expected = Expected::default();
    let mut latency = Samples::default();
    let mut direct = BTreeMap::new();
    let mut direct_retries = 0;
    let mut devices = Vec::new();
    for outcome in outcomes {
        expected.merge(outcome.expected);
        latency.merge(outcome.latency);
        for delivered in outcome.delivered {
            *direct.entry(delivered.status).or_insert(0) += 1;
            direct_retries += delivered.retries;
        }
        devices.extend(outcome.devices);
    }
    drain(&mut devices)?;
    let received: Vec<Key> = devices.iter().flat_map(received_keys).collect();
    let raw_duplicates = devices.iter().map(|d| d.duplicates() as u64).sum();
    let tally = compare(&expected, received, raw_duplicates);
    let mut repeated = BTreeMap::new();
    for device in &devices {
        for (event, count) in repeated_deliveries(device) {
            *repeated.entry(event).or_insert(0) += count;
        }
    }

    let counters = &shared.counters;
    let stat = |name: &str| stats.get(name).and_then(Value::as_u64).unwrap_or(0);
    Ok(Report {
        options: options.clone(),
        devices: devices.len(),
        elapsed,
        cancelled: Counters::get(&counters.cancelled),
        answered: Counters::get(&counters.answered),
        mqtt_publishes: published,
        redelivered_mqtt: Counters::get(&counters.redelivered_mqtt),
        redelivered_webhook: Counters::get(&counters.redelivered_webhook),
        direct,
        direct_retries,
        faults: Counters::get(&counters.faults),
        late: Counters::get(&counters.late),
        webhook_delivered: stat("webhook_delivered"),
        webhook_retries: stat("webhook_retries"),
        webhook_refused: stat("webhook_refused"),
        broker_published: stat("published"),
        publish_failures: stat("publish_failures"),
        latency,
        tally,
        repeated,
    })
}

/// Runs every pair on its own thread; the first failure stops the others
/// from starting new cycles.
fn run_pairs(pairs: Vec<Pair>, shared: &Shared<'_>) -> Result<Vec<PairOutcome>> {
    let results: Vec<Result<PairOutcome>> = thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .into_iter()
            .map(|pair| {
                scope.spawn(move || {
                    let result = pair.run(shared);
                    if result.is_err() {
                        shared.stop();
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(HarnessError::Check("a pair panicked".to_owned())))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Waits until the bridge has handed every upstream message published
/// over MQTT to the webhook (2xx or refused), and returns its counters.
fn settle(bed: &TestBed, published: u64) -> Result<Value> {
    poll_until(
        "the bridge to deliver every upstream message",
        SETTLE,
        || {
            let stats = bed.bridge().stats()?;
            let count = |name: &str| stats.get(name).and_then(Value::as_u64).unwrap_or(0);
            let handled = count("webhook_delivered") + count("webhook_refused");
            Ok(if handled >= published {
                Ok(stats)
            } else {
                Err(format!("{handled} of {published} handled"))
            })
        },
    )
}

/// Lets every device receive for [`DRAIN`] (together, not one after the
/// other), so late and repeated copies are counted too.
fn drain(devices: &mut [Device]) -> Result<()> {
    let deadline = Instant::now() + DRAIN;
    for device in devices {
        device.collect(deadline.saturating_duration_since(Instant::now()))?;
    }
    Ok(())
}

/// Per event, how many deliveries repeated an ID the device already had.
fn repeated_deliveries(device: &Device) -> BTreeMap<String, u64> {
    let mut distinct: BTreeMap<&str, usize> = BTreeMap::new();
    for message in device.history() {
        *distinct.entry(message.event()).or_insert(0) += 1;
    }
    distinct
        .into_iter()
        .filter_map(|(event, count)| {
            let extra = device.deliveries_of(event).saturating_sub(count) as u64;
            (extra > 0).then(|| (event.to_owned(), extra))
        })
        .collect()
}

/// One key per distinct message the device received.
fn received_keys(device: &Device) -> Vec<Key> {
    device
        .history()
        .iter()
        .map(|m| {
            (
                device.client_id().to_owned(),
                m.event().to_owned(),
                m.call().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
