//! `switchboard-host`: runs a Spin application's built components like
//! `spin up` does. See the crate documentation of `switchboard_test_host`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_test_host::{App, AppOptions, StateDirArg};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    name = "switchboard-host",
    version,
    about = "A Spin-compatible test host (a subset of `spin up`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the application, like `spin up`.
    Up(UpArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// The application manifest (`spin.toml`).
    #[arg(
        short = 'f',
        long = "from",
        value_name = "MANIFEST",
        default_value = "spin.toml"
    )]
    from: PathBuf,
    /// The address to listen on.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// A runtime configuration file (key-value stores, state directory).
    #[arg(long = "runtime-config-file", value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,
    /// The state directory (default `.spin` next to the manifest; "" for none).
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let Command::Up(args) = Cli::parse().command;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(up(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let options = AppOptions {
        manifest: args.from,
        runtime_config_file: args.runtime_config_file,
        state_dir: StateDirArg::from(args.state_dir),
    };
    let app = App::prepare(&options, &|name| std::env::var(name).ok())?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("Unable to listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    print!("{}", app.startup_message(addr));

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    app.serve(listener, shutdown).await?;
    Ok(())
}
