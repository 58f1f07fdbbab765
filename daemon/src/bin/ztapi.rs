//! `ztapi`: the command-line client of the ztapi daemon.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Exit quietly when the reader of a pipe goes away (`ztapi ... | head`)
    // instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of a signal at start, before
    // any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    ztapi::cli::run(ztapi::cli::CliArgs::parse())
}
