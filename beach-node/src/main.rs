//! `beach-node`: runs one node of a beach cluster with the built-in actors.

use std::process::ExitCode;

use beach_node::actors::builtin_registry;
use beach_node::cli::{NodeArgs, run_node};

fn main() -> ExitCode {
    let registry = builtin_registry();
    // An isolated actor's process is this binary in host mode.
    if let Some(code) = beach_node::isolation::host_if_requested(&registry) {
        return code;
    }
    run_node(NodeArgs::parse_command_line(), registry)
}
