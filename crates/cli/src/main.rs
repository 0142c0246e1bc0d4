//! The `cairn` binary: `cairn node` runs the daemon; every other subcommand
//! is a client of the local node's HTTP API, which it finds through the
//! data dir (`api.addr` written by the running node, `apisecret`).

mod args;
mod client;
mod commands;
mod daemon;
mod listeners;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cairn: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
