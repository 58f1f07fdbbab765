//! `ztapi`: the command-line client of the ztapi daemon.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ztapi::cli::run(ztapi::cli::CliArgs::parse())
}
