//! `tinyssd`: parse the command line, run it, report errors ripgrep-style.
//! Exit codes: 0 success, 2 error (including bad arguments).

#![warn(clippy::expect_used)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run(cli::Cli::parse()) {
        Ok(code) => code,
        Err(error) if cli::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let message = cli::without_source_locations(&format!("{error:#}"));
            eprintln!("tinyssd: {}", cli::terminal_safe(&message));
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
