//! `beach-node`: runs one node of a beach cluster with the built-in actors.

use std::path::PathBuf;
use std::process::ExitCode;

use beach_core::config::{ClusterConfig, LogFormat};
use beach_node::actors::builtin_registry;
use beach_node::daemon::{self, Overrides};
use clap::Parser;

/// Runs a beach node: hosts actors, serves requests, and joins the cluster its configuration
/// names. Stop it with SIGTERM or Ctrl-C: actors drain, peers are told, exit code 0.
#[derive(Debug, Parser)]
#[command(name = "beach-node", version)]
struct Args {
    /// The cluster configuration (YAML); the same file on every node.
    #[arg(short, long, env = "BEACH_CONFIG", value_name = "FILE")]
    config: PathBuf,
    /// Listen on this address (host:port or host), instead of `listen` in the configuration.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The address peers should dial (host:port or host), instead of `advertise`.
    #[arg(long, value_name = "ADDR")]
    advertise: Option<String>,
    /// Log level: trace, debug, info, warn or error, instead of `log.level`.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log one JSON object per line, instead of `log.format`.
    #[arg(long)]
    log_json: bool,
}

fn main() -> ExitCode {
    let registry = builtin_registry();
    // An isolated actor's process is this binary in host mode.
    if let Some(code) = beach_node::isolation::host_if_requested(&registry) {
        return code;
    }
    let args = Args::parse();
    let config = match ClusterConfig::from_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("beach-node: {e}");
            return ExitCode::from(2);
        }
    };
    let level = args.log_level.clone().unwrap_or_else(|| config.log.level.clone());
    let filter = match tracing_subscriber::EnvFilter::try_new(&level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("beach-node: --log-level {level:?}: {e}");
            return ExitCode::from(2);
        }
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.log_json || config.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("beach-node: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let overrides = Overrides { listen: args.listen, advertise: args.advertise };
    match runtime.block_on(daemon::run(config, overrides, registry)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("beach-node: {e}");
            ExitCode::from(2)
        }
    }
}
