//! `switchboard-load`: measures Switchboard's exactly-once delivery under
//! load, redelivery, concurrency and broker faults, end to end.
//!
//! It starts its own stack with [`switchboard_e2e::TestBed`] (Mosquitto,
//! the bridge, the runtime serving the built components, Redis or SQLite),
//! registers caller/callee pairs with several MQTT devices each, and runs
//! call cycles on all pairs at once while it redelivers random upstream
//! messages (published again, or posted to the webhook concurrently) and
//! makes the broker API fail now and then through the bridge's fault
//! switch. At the end it compares what every device should have received
//! with what it did, and prints lost, duplicated and unexpected messages,
//! raw duplicates, redeliveries, faults, webhook retries, latency
//! percentiles and throughput (`docs/reliability.md` has measured runs).
//!
//! ```sh
//! cargo run --release -p switchboard-e2e --bin switchboard-load -- --invites 2000 --kv redis
//! ```
//!
//! Exit status: 0 clean, 1 something lost, duplicated or unexpected, 2 the
//! run could not be carried out (bad options, stack or MQTT failure).

mod cli;
mod latency;
mod ledger;
mod pair;
mod report;
mod rng;
mod run;
mod shared;
mod webhook;

use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Run(options)) => options,
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("switchboard-load: {problem}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match run::run(&options) {
        Ok(report) => {
            report.print();
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("switchboard-load: the run failed: {error}");
            ExitCode::from(2)
        }
    }
}
