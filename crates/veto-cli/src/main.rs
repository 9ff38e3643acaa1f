//! `veto`: wiring only. Parse the command line (clap exits 2 on usage errors), run it
//! on a single-threaded runtime, print the report or the error, exit with its code.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use veto_cli::{Cli, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    // One thread is plenty: a few HTTP requests, or one NATS replica loading.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return Exit::Unreachable.into();
        }
    };
    match runtime.block_on(veto_cli::run(cli)) {
        Ok(report) => {
            // A closed pipe (`veto list | head`) is not worth a panic.
            let _ = std::io::stdout().write_all(report.render(json).as_bytes());
            report.exit.into()
        }
        Err(error) => {
            eprintln!("error: {error}");
            error.exit().into()
        }
    }
}
