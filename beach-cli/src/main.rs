//! `beach`: drive a beach cluster from the command line, or interactively.

use std::process::ExitCode;

use beach_cli::args::{Cli, Command};
use beach_cli::cmd;
use beach_cli::outcome::Failure;
use beach_cli::output::report;
use beach_node::actors::builtin_registry;
use beach_node::cli::run_node;
use clap::Parser;

fn main() -> ExitCode {
    let registry = builtin_registry();
    // An isolated actor's process is this binary in host mode.
    if let Some(code) = beach_node::isolation::host_if_requested(&registry) {
        return code;
    }
    let cli = Cli::parse();
    let json = cli.global.json;
    let result = match cli.command {
        None => return ExitCode::from(beach_cli::shell::run(cli.global)),
        Some(Command::Demo(args)) => return beach_cli::demo::run(args),
        #[cfg(feature = "lab")]
        Some(Command::Sim(args)) => beach_cli::sim::run(&args),
        Some(Command::Node(args)) => return run_node(args, registry),
        Some(Command::BenchEcho) => {
            return match beach_cli::bench::echo_server() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("beach bench-echo: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Some(c @ Command::GenKey { .. }) => cmd::gen_key_command(&c, &cli.global),
        Some(Command::Bench(args)) => {
            let global = cli.global.clone();
            beach_cli::bench::run_as_task(args.threads, async move {
                beach_cli::bench::run(&args, &global).await
            })
        }
        Some(Command::BenchClient(args)) => {
            let global = cli.global.clone();
            beach_cli::bench::run_as_task(args.threads, async move {
                beach_cli::bench::bench_client(&args, &global).await
            })
        }
        Some(command) => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(async {
                let client = cmd::connect(&cli.global).await?;
                let out = cmd::run(&client, command, &cli.global).await;
                client.close();
                out
            }),
            Err(e) => Err(Failure::usage(format!("cannot start the runtime: {e}"))),
        },
    };
    ExitCode::from(report(result, json))
}
