//! Command-line options. Parsed by hand: the crate's dependencies are the
//! harness's, and a handful of numeric flags need no parser library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_dev::stack::KvBackend;

/// `--help` text.
pub const USAGE: &str = "\
switchboard-load: exactly-once delivery under load, redelivery and broker faults

Starts its own stack (Mosquitto, bridge, runtime with the built components),
runs invite -> created -> invitation -> cancel | accept -> leave cycles with
bounded concurrency, redelivers random upstream messages and injects broker
API faults, then compares what every device expected with what it received.
Exits 0 when nothing was lost, duplicated or unexpected, 1 otherwise, 2 when
the run itself could not be carried out.

USAGE:
    switchboard-load [OPTIONS]

OPTIONS:
    --invites <N>                  calls to place [default: 2000]
    --kv <redis|sqlite>            key-value backend [default: redis]
    --redeliver-probability <P>    chance that an upstream message is delivered
                                   a second time, over MQTT or concurrently to
                                   the webhook [default: 0.3]
    --fault-every <N>              make the broker API fail 1-3 publishes every
                                   N calls; 0 never [default: 50]
    --pairs <N>                    caller/callee pairs working at once; a user is
                                   in one call at a time [default: 16]
    --caller-devices <N>           devices per caller [default: 2]
    --callee-devices <N>           devices per callee [default: 3]
    --wait-seconds <N>             how long a device waits for one message
                                   before it counts as late [default: 30]
    --seed <N>                     random seed [default: from the clock]
    -h, --help                     this text
";

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Calls to place.
    pub invites: usize,
    /// The key-value backend of the stack.
    pub kv: KvBackend,
    /// Chance that an upstream message is delivered twice.
    pub redeliver_probability: f64,
    /// Inject a broker fault every this many calls (0: never).
    pub fault_every: usize,
    /// Pairs working at once.
    pub pairs: usize,
    /// Devices per caller.
    pub caller_devices: usize,
    /// Devices per callee.
    pub callee_devices: usize,
    /// How long a device waits for one expected message.
    pub wait: Duration,
    /// The random seed.
    pub seed: u64,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run with these options.
    Run(Options),
    /// Print [`USAGE`].
    Help,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            invites: 2000,
            kv: KvBackend::Redis,
            redeliver_probability: 0.3,
            fault_every: 50,
            pairs: 16,
            caller_devices: 2,
            callee_devices: 3,
            wait: Duration::from_secs(30),
            seed: clock_seed(),
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag, None),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value")),
        };
        match name.as_str() {
            "--invites" => options.invites = count(&name, &value, 1)?,
            "--kv" => options.kv = backend(&value)?,
            "--redeliver-probability" => options.redeliver_probability = probability(&value)?,
            "--fault-every" => options.fault_every = count(&name, &value, 0)?,
            "--pairs" => options.pairs = count(&name, &value, 1)?,
            "--caller-devices" => options.caller_devices = count(&name, &value, 1)?,
            "--callee-devices" => options.callee_devices = count(&name, &value, 1)?,
            "--wait-seconds" => {
                options.wait = Duration::from_secs(count(&name, &value, 1)? as u64);
            }
            "--seed" => {
                options.seed = value
                    .parse()
                    .map_err(|_| format!("--seed must be an integer, not {value:?}"))?;
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    // A user has at most 16 devices (PROTOCOL.md §1).
    if options.caller_devices > 16 || options.callee_devices > 16 {
        return Err("a user has at most 16 devices".to_owned());
    }
    Ok(Command::Run(options))
}

fn count(name: &str, value: &str, min: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!(
            "{name} must be an integer of at least {min}, not {value:?}"
        )),
    }
}

fn backend(value: &str) -> Result<KvBackend, String> {
    match value {
        "redis" => Ok(KvBackend::Redis),
        "sqlite" => Ok(KvBackend::Sqlite),
        _ => Err(format!("--kv must be redis or sqlite, not {value:?}")),
    }
}

fn probability(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "--redeliver-probability must be between 0 and 1, not {value:?}"
        )),
    }
}

/// A seed from the clock's nanoseconds (printed, so a run can be repeated).
fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |elapsed| elapsed.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|a| (*a).to_owned()))? {
            Command::Run(options) => Ok(options),
            Command::Help => Err("help".to_owned()),
        }
    }

    #[test]
    fn reads_every_flag_in_both_forms() {
        let options = run(&[
            "--invites",
            "200",
            "--kv=sqlite",
            "--redeliver-probability",
            "0.5",
            "--fault-every=0",
            "--pairs",
            "4",
            "--caller-devices",
            "1",
            "--callee-devices",
            "2",
            "--wait-seconds",
            "5",
            "--seed",
            "42",
        ])
        .expect("valid");
        assert_eq!(options.invites, 200);
        assert_eq!(options.kv, KvBackend::Sqlite);
        assert_eq!(options.redeliver_probability, 0.5);
        assert_eq!(options.fault_every, 0);
        assert_eq!(options.pairs, 4);
        assert_eq!((options.caller_devices, options.callee_devices), (1, 2));
        assert_eq!(options.wait, Duration::from_secs(5));
        assert_eq!(options.seed, 42);
    }

    #[test]
    fn defaults_match_the_documented_run() {
        let options = run(&[]).expect("valid");
        assert_eq!(options.invites, 2000);
        assert_eq!(options.kv, KvBackend::Redis);
        assert_eq!(options.fault_every, 50);
    }

    #[test]
    fn refuses_what_cannot_run() {
        for bad in [
            &["--invites", "0"][..],
            &["--kv", "mysql"],
            &["--redeliver-probability", "1.5"],
            &["--callee-devices", "17"],
            &["--pairs"],
            &["--frobnicate", "1"],
        ] {
            assert!(run(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse(["--help".to_owned()]).expect("help"), Command::Help);
    }
}
