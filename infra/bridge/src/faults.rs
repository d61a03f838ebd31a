//! The test-only fault switch behind `POST /_bridge/faults`.
//!
//! It makes the publish API fail chosen messages exactly as it would if the
//! broker were down, so end-to-end tests can exercise the service's retry
//! paths (including a fan-out that fails midway) without killing a broker.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A fault plan: let `after` messages through, then fail `publish_failures`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// How many of the following messages fail with 503; 0 clears the plan.
    pub publish_failures: u32,
    /// How many messages pass before the failures start.
    #[serde(default)]
    pub after: u32,
}

/// What to do with the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDecision {
    /// Publish it normally.
    Pass,
    /// Answer as if the broker were unreachable.
    Fail,
}

/// The remaining plan, consumed one message at a time.
#[derive(Debug, Default)]
pub struct FaultSwitch {
    remaining: Mutex<FaultPlan>,
}

impl FaultSwitch {
    /// Replaces the plan. A plan without failures clears it entirely.
    pub fn set(&self, plan: FaultPlan) {
        let plan = if plan.publish_failures == 0 {
            FaultPlan::default()
        } else {
            plan
        };
        *self.lock() = plan;
    }

    /// What is left of the plan.
    pub fn remaining(&self) -> FaultPlan {
        *self.lock()
    }

    /// Decides the fate of one message and counts it against the plan.
    pub fn next(&self) -> FaultDecision {
        let mut plan = self.lock();
        if plan.publish_failures == 0 {
            FaultDecision::Pass
        } else if plan.after > 0 {
            plan.after -= 1;
            FaultDecision::Pass
        } else {
            plan.publish_failures -= 1;
            FaultDecision::Fail
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultPlan> {
        // The plan is two integers: a panic elsewhere cannot leave it torn.
        self.remaining
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FaultDecision::{Fail, Pass};

    fn decisions(switch: &FaultSwitch, count: usize) -> Vec<FaultDecision> {
        (0..count).map(|_| switch.next()).collect()
    }

    #[test]
    fn passes_after_then_fails_the_given_number() {
        let switch = FaultSwitch::default();
        switch.set(FaultPlan {
            publish_failures: 2,
            after: 1,
        });
        assert_eq!(decisions(&switch, 5), [Pass, Fail, Fail, Pass, Pass]);
        assert_eq!(switch.remaining(), FaultPlan::default());
    }

    #[test]
    fn zero_failures_clears_a_pending_plan() {
        let switch = FaultSwitch::default();
        switch.set(FaultPlan {
            publish_failures: 3,
            after: 0,
        });
        switch.set(FaultPlan {
            publish_failures: 0,
            after: 7,
        });
        assert_eq!(switch.remaining(), FaultPlan::default());
        assert_eq!(decisions(&switch, 2), [Pass, Pass]);
    }

    #[test]
    fn after_defaults_to_zero_in_json() {
        let plan: FaultPlan =
            serde_json::from_str(r#"{"publish_failures": 1}"#).expect("plan parses");
        assert_eq!(
            plan,
            FaultPlan {
                publish_failures: 1,
                after: 0
            }
        );
    }
}
