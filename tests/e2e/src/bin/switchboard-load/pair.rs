//! One caller and one callee, each with several devices, placing calls one
//! after the other (a user is in one call at a time), and writing down
//! every downstream message each cycle should produce.
//!
//! A cycle: a caller device invites the callee (`call.created` to it, a
//! `call.invitation` to every callee device); the first callee device says
//! it is `ringing` (`call.ringing` to the inviting device); then either the
//! caller cancels (`call.cancelled` to every callee device, `call.ended` to
//! the inviting device) or a random callee device accepts (`call.accepted`
//! to both joined devices, `call.answered_elsewhere` to the callee's other
//! devices) and one side leaves (`call.participant_left` and `call.ended`
//! to the other). Each step waits for its messages before the next, so the
//! outcome is determined and every expected message is known.

use std::thread::{self, JoinHandle};
use std::time::Instant;

use serde_json::Value;
use switchboard_e2e::{message, ops, Device, HarnessError, Received, Result, TestBed};

use crate::latency::Samples;
use crate::ledger::Expected;
use crate::rng::Rng;
use crate::shared::{Counters, Shared};
use crate::webhook::Delivered;

/// Which device of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Caller(usize),
    Callee(usize),
}

/// A pair and what it has done so far.
pub struct Pair {
    callee: String,
    callers: Vec<Device>,
    callees: Vec<Device>,
    rng: Rng,
    cycles: usize,
    expected: Expected,
    latency: Samples,
    direct: Vec<JoinHandle<Delivered>>,
    delivered: Vec<Delivered>,
}

/// What a pair hands back when the run is over.
pub struct PairOutcome {
    /// Every device of the pair, with what it received.
    pub devices: Vec<Device>,
    /// What they should have received.
    pub expected: Expected,
    /// Publish → first invitation, per call.
    pub latency: Samples,
    /// How the direct webhook deliveries ended.
    pub delivered: Vec<Delivered>,
}

impl Pair {
    /// Registers and connects the devices of pair `index`.
    pub fn connect(
        bed: &TestBed,
        index: usize,
        caller_devices: usize,
        callee_devices: usize,
        seed: u64,
    ) -> Result<Self> {
        let caller = format!("load-caller-{index}");
        let callee = format!("load-callee-{index}");
        let callers = (0..caller_devices)
            .map(|d| bed.device(&caller, &format!("lc{index}-d{d}")))
            .collect::<Result<Vec<_>>>()?;
        let callees = (0..callee_devices)
            .map(|d| bed.device(&callee, &format!("lr{index}-d{d}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            callee,
            callers,
            callees,
            rng: Rng::new(seed, index as u64),
            cycles: 0,
            expected: Expected::default(),
            latency: Samples::default(),
            direct: Vec::new(),
            delivered: Vec::new(),
        })
    }

    /// Runs cycles until the shared counter says every invite is placed,
    /// then waits for its direct webhook deliveries to end.
    pub fn run(mut self, shared: &Shared<'_>) -> Result<PairOutcome> {
        while shared.next_cycle()?.is_some() {
            self.cycle(shared)?;
            self.collect_direct(false);
        }
        self.collect_direct(true);
        let mut devices = self.callers;
        devices.append(&mut self.callees);
        Ok(PairOutcome {
            devices,
            expected: self.expected,
            latency: self.latency,
            delivered: self.delivered,
        })
    }

    fn cycle(&mut self, shared: &Shared<'_>) -> Result<()> {
        let host = Who::Caller(self.cycles % self.callers.len());
        self.cycles += 1;
        let Some(call) = self.invite(host, shared)? else {
            return Ok(());
        };

        let ringing = self.send(Who::Callee(0), ops::ringing(&call), shared)?;
        self.expect(host, "call.ringing", &call, &ringing, shared)?;

        if self.rng.chance(0.5) {
            let cancel = self.send(host, ops::cancel(&call), shared)?;
            for d in 0..self.callees.len() {
                self.expect(Who::Callee(d), "call.cancelled", &call, &cancel, shared)?;
            }
            self.expect(host, "call.ended", &call, &cancel, shared)?;
            Counters::bump(&shared.counters.cancelled);
            return Ok(());
        }

        let accepter = self.rng.below(self.callees.len());
        let accept = self.send(Who::Callee(accepter), ops::accept(&call), shared)?;
        self.expect(host, "call.accepted", &call, &accept, shared)?;
        self.expect(
            Who::Callee(accepter),
            "call.accepted",
            &call,
            &accept,
            shared,
        )?;
        for d in (0..self.callees.len()).filter(|&d| d != accepter) {
            let event = "call.answered_elsewhere";
            self.expect(Who::Callee(d), event, &call, &accept, shared)?;
        }

        let (leaver, other) = if self.rng.chance(0.5) {
            (Who::Callee(accepter), host)
        } else {
            (host, Who::Callee(accepter))
        };
        let leave = self.send(leaver, ops::leave(&call), shared)?;
        self.expect(other, "call.participant_left", &call, &leave, shared)?;
        self.expect(other, "call.ended", &call, &leave, shared)?;
        Counters::bump(&shared.counters.answered);
        Ok(())
    }

    /// Sends the invite and waits for its messages; returns the call ID,
    /// or `None` when neither the invitation nor `call.created` came.
    fn invite(&mut self, host: Who, shared: &Shared<'_>) -> Result<Option<String>> {
        let started = Instant::now();
        let op = ops::invite(&[self.callee.as_str()], "audio");
        let invite = self.send(host, op, shared)?;
        let replying = |event: &'static str| {
            let invite = invite.clone();
            move |m: &Received| m.event() == event && m.in_reply_to() == Some(invite.as_str())
        };

        // The first callee device measures publish → invitation.
        let first = self.wait(
            Who::Callee(0),
            "call.invitation",
            replying("call.invitation"),
            shared,
        )?;
        if first.is_some() {
            self.latency.push(started.elapsed());
        }
        let created = self.wait(host, "call.created", replying("call.created"), shared)?;
        let call = match first.or(created).map(|m| m.call_id()).transpose()? {
            Some(call) => call,
            None => {
                self.expected
                    .lost_without_call(1 + self.callees.len() as u64);
                return Ok(None);
            }
        };
        // A late call.created was waited for once; the final count says
        // whether it came at all.
        let host_client = self.device(host).client_id().to_owned();
        self.expected.add(&host_client, "call.created", &call);
        for d in 0..self.callees.len() {
            let client = self.callees[d].client_id().to_owned();
            self.expected.add(&client, "call.invitation", &call);
        }
        for d in 1..self.callees.len() {
            self.wait(
                Who::Callee(d),
                "call.invitation",
                replying("call.invitation"),
                shared,
            )?;
        }
        Ok(Some(call))
    }

    /// Expects one `event` about `call` caused by `cause` on `who`, and
    /// waits for it.
    fn expect(
        &mut self,
        who: Who,
        event: &str,
        call: &str,
        cause: &str,
        shared: &Shared<'_>,
    ) -> Result<()> {
        let client = self.device(who).client_id().to_owned();
        self.expected.add(&client, event, call);
        let (event_name, call_id, cause) = (event.to_owned(), call.to_owned(), cause.to_owned());
        self.wait(
            who,
            event,
            move |m| {
                m.event() == event_name
                    && m.call() == Some(call_id.as_str())
                    && m.in_reply_to() == Some(cause.as_str())
            },
            shared,
        )
        .map(drop)
    }

    /// Waits up to the run's wait for a message matching `matches`; a
    /// message that does not come in time is counted late, not failed.
    fn wait(
        &mut self,
        who: Who,
        wanted: &str,
        matches: impl Fn(&Received) -> bool,
        shared: &Shared<'_>,
    ) -> Result<Option<Received>> {
        let within = shared.options.wait;
        match self.device(who).expect_where(wanted, within, matches) {
            Ok(message) => Ok(Some(message)),
            Err(HarnessError::Missing { .. }) => {
                Counters::bump(&shared.counters.late);
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Publishes `op` from `who` over MQTT; with the run's redelivery
    /// probability delivers it a second time, either published again over
    /// MQTT or posted to the webhook at the same moment from another
    /// thread. Returns the message ID.
    fn send(&mut self, who: Who, op: Value, shared: &Shared<'_>) -> Result<String> {
        let message = message(op);
        let id = message
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let redeliver = self.rng.chance(shared.options.redeliver_probability);
        let concurrently = redeliver && self.rng.chance(0.5);
        let device = self.device(who);
        if concurrently {
            let webhook = shared.webhook.clone();
            let (client, topic) = (device.client_id().to_owned(), device.upstream_topic());
            let copy = message.clone();
            let spawned = thread::Builder::new()
                .name(format!("redeliver {id}"))
                .spawn(move || webhook.deliver(&client, &topic, &copy))
                .map_err(|e| HarnessError::Check(format!("cannot start a thread: {e}")))?;
            self.direct.push(spawned);
            Counters::bump(&shared.counters.redelivered_webhook);
        }
        let device = self.device(who);
        device.publish_message(&message)?;
        Counters::bump(&shared.counters.mqtt_publishes);
        if redeliver && !concurrently {
            device.publish_message(&message)?;
            Counters::bump(&shared.counters.mqtt_publishes);
            Counters::bump(&shared.counters.redelivered_mqtt);
        }
        Ok(id)
    }

    /// Collects the direct deliveries that ended (all of them when `all`).
    fn collect_direct(&mut self, all: bool) {
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.direct)
            .into_iter()
            .partition(|handle| all || handle.is_finished());
        self.direct = running;
        for handle in done {
            let delivered = handle.join().unwrap_or_else(|_| Delivered {
                status: "the delivery thread panicked".to_owned(),
                retries: 0,
            });
            self.delivered.push(delivered);
        }
    }

    fn device(&mut self, who: Who) -> &mut Device {
        match who {
            Who::Caller(d) => &mut self.callers[d],
            Who::Callee(d) => &mut self.callees[d],
        }
    }
}
