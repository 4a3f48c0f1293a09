//! The `beach-node` command line, as a library so that any binary can run a node: `beach-node`
//! itself, `beach node` (which the demo starts), or your own binary with your own actors.

use std::path::PathBuf;
use std::process::ExitCode;

use beach_core::actor::Registry;
use beach_core::config::LogFormat;
use clap::{Args, Parser};

use crate::daemon::{self, Overrides};

/// Runs a beach node: hosts actors, serves requests, and joins the cluster its configuration
/// names. Stop it with SIGTERM or Ctrl-C: actors drain, peers are told, exit code 0.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// The cluster configuration (YAML); the same file on every node.
    #[arg(short, long, env = "BEACH_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// Listen on this address (host:port or host), instead of `listen` in the configuration.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The address peers should dial (host:port or host), instead of `advertise`.
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<String>,
    /// Serve the HTTP gateway (API, metrics, dashboard) on this address (host:port), instead
    /// of `http` in the configuration.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Keep the deployments in this folder, so they survive a restart of the whole cluster,
    /// instead of `state_dir` in the configuration.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Log level: trace, debug, info, warn or error, instead of `log.level`.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log one JSON object per line, instead of `log.format`.
    #[arg(long)]
    pub log_json: bool,
    /// Runtime worker threads (default: one per core). On a machine shared with busy clients,
    /// fewer threads mean fewer wake-ups between them (see BENCHMARKS.md).
    #[arg(long, env = "BEACH_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

/// Runs a beach node: hosts actors, serves requests, and joins the cluster its configuration
/// names. Stop it with SIGTERM or Ctrl-C: actors drain, peers are told, exit code 0.
// (The command line of a node binary: `NodeArgs` and `--version`; clap shows the text above.)
#[derive(Debug, Parser)]
#[command(version)]
struct NodeCommandLine {
    #[command(flatten)]
    node: NodeArgs,
}

impl NodeArgs {
    /// Parses this process's command line (exiting with usage help and code 2 when it is
    /// wrong), as `beach-node` does.
    pub fn parse_command_line() -> Self {
        NodeCommandLine::parse().node
    }
}

/// Runs a node as `args` say with the actor types of `registry`, until SIGTERM or SIGINT.
/// Configuration errors are one line on stderr and exit code 2. Call
/// [`crate::isolation::host_if_requested`] before this, first thing in `main`.
pub fn run_node(args: NodeArgs, registry: Registry) -> ExitCode {
    let config = match crate::files::load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("beach-node: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = config;
    if let Some(level) = &args.log_level {
        config.log.level = level.clone();
    }
    if args.log_json {
        config.log.format = LogFormat::Json;
    }
    // The same settings reach isolated actors' processes, whose lines join this log.
    if let Err(e) = crate::logging::install(&config.log) {
        eprintln!("beach-node: {e}");
        if e.starts_with("log level") {
            return ExitCode::from(2);
        }
    }
    if config.admin_token.is_some() {
        crate::files::warn_if_readable_by_others(
            &args.config,
            "the configuration (it holds admin_token)",
        );
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        runtime.worker_threads(usize::from(n));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("beach-node: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(workers = runtime.metrics().num_workers(), "runtime started");
    let overrides = Overrides {
        listen: args.listen,
        advertise: args.advertise,
        http: args.http,
        state_dir: args.state_dir,
    };
    match runtime.block_on(daemon::run(config, overrides, registry)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("beach-node: {e}");
            ExitCode::from(2)
        }
    }
}
