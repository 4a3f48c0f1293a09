//! `beach`: drive a beach cluster from the command line.

use std::process::ExitCode;

use beach_node::actors::builtin_registry;
use beach_node::cli::{NodeArgs, run_node};
use clap::{Parser, Subcommand};

/// Drive a beach cluster: actors on your own machines, addressed by category.
#[derive(Debug, Parser)]
#[command(name = "beach", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a local 3-node cluster of real node processes on loopback, deploy Ping, Pong and
    /// an isolated Pong, show requests and the directory, then stop everything cleanly.
    Demo(beach_cli::demo::DemoArgs),
    /// Run a node (what `beach-node` does); the demo starts its nodes this way.
    #[command(hide = true)]
    Node(NodeArgs),
}

fn main() -> ExitCode {
    let registry = builtin_registry();
    // An isolated actor's process is this binary in host mode.
    if let Some(code) = beach_node::isolation::host_if_requested(&registry) {
        return code;
    }
    match Cli::parse().command {
        Command::Demo(args) => beach_cli::demo::run(args),
        Command::Node(args) => run_node(args, registry),
    }
}
