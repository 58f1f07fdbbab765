//! `ztapid`: the ztapi daemon.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ztapi::daemon::main(ztapi::config::DaemonArgs::parse())
}
