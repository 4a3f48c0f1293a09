//! The command line **(fixed surface)**: global options and one subcommand per operation.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Drive a beach cluster: actors on your own machines, addressed by category. Without a
/// command, opens an interactive shell (`help` lists its commands).
#[derive(Debug, Parser)]
#[command(name = "beach", version)]
pub struct Cli {
    /// Where and how to connect.
    #[command(flatten)]
    pub global: Global,
    /// What to do; without a command, an interactive shell opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The cluster configuration: seeds, secret and admin token come from it.
    #[arg(short, long, global = true, env = "BEACH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A node to connect to, instead of the configuration's seeds (repeatable).
    #[arg(short, long = "seed", global = true, value_name = "HOST:PORT")]
    pub seeds: Vec<String>,
    /// The realm to work in.
    #[arg(short, long, global = true, default_value = "global")]
    pub realm: String,
    /// The admin token, instead of the configuration's.
    #[arg(
        long,
        global = true,
        env = "BEACH_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// How long to wait for the cluster (e.g. `5s`); requests default to the configuration's
    /// `request_timeout_default`.
    #[arg(long, global = true, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
}

/// The operations.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the nodes of the cluster.
    Nodes,
    /// Show the realm's directory, optionally only categories starting with CATEGORY.
    Dir {
        /// Only categories starting with this.
        category: Option<String>,
    },
    /// Add actors.
    Spawn(SpawnArgs),
    /// Stop actors by id and/or category prefix.
    Stop {
        /// An actor id (repeatable).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// Stop every actor in a category starting with this (repeatable).
        #[arg(long = "category", value_name = "PREFIX")]
        categories: Vec<String>,
        /// Wait this long before stopping (e.g. `5s`).
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        delay: Option<Duration>,
    },
    /// Stop every actor in every realm (refuses without --yes).
    Flush {
        /// Yes, really stop everything.
        #[arg(long)]
        yes: bool,
    },
    /// Send one request to a category and print the reply.
    Request(RequestArgs),
    /// Send a request that expects no reply (fire and forget).
    Shoot {
        /// The category.
        category: String,
        /// The request type.
        kind: String,
        /// The request data, as JSON.
        data: Option<String>,
        /// The ident the request carries.
        #[arg(long)]
        ident: Option<String>,
    },
    /// Send a message to every actor of a category, without replies.
    Broadcast {
        /// The category.
        category: String,
        /// The request type.
        kind: String,
        /// The request data, as JSON.
        data: Option<String>,
    },
    /// Send one request to each sub-category one level below ROOT.
    Group {
        /// The root category (`svc/` reaches `svc/a/` and `svc/b/`).
        root: String,
        /// The request type.
        kind: String,
        /// The request data, as JSON.
        data: Option<String>,
        /// The ident the requests carry.
        #[arg(long)]
        ident: Option<String>,
    },
    /// Deployments: actors the cluster keeps running (apply, diff, list, status, delete,
    /// restart).
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// Drain a node for maintenance: nothing new is placed on it, and its deployment replicas
    /// start elsewhere, then stop.
    Drain {
        /// The node: its address (host:port) or id, as `beach nodes` lists them.
        node: String,
    },
    /// Put a drained node back in service.
    Undrain {
        /// The node: its address (host:port) or id.
        node: String,
    },
    /// How many actors a category has.
    Available {
        /// The category.
        category: String,
    },
    /// The actor types the nodes offer, per realm: where each comes from (builtin, compiled,
    /// code_directory), its sha256 for a code directory's program, and the nodes that offer it.
    Types {
        /// Only this realm (default: every realm).
        realm: Option<String>,
    },
    /// CPU and memory use of every node.
    Health,
    /// Load and statistics of every actor.
    Load,
    /// Metadata of every actor per node (private parameters masked).
    Metadata,
    /// Add a category to a live actor.
    Categorize {
        /// The actor id.
        id: String,
        /// The category to add.
        category: String,
    },
    /// Remove a category from a live actor.
    Uncategorize {
        /// The actor id.
        id: String,
        /// The category to remove.
        category: String,
    },
    /// Write a new 32-byte cluster secret to FILE (mode 0600; never overwrites). With
    /// --client, write the cluster's client key instead: it lets a program connect as a client
    /// and can never make a node.
    GenKey {
        /// The file to create.
        file: PathBuf,
        /// Write the client key derived from the cluster secret (of --from, else of the
        /// configuration's secret_file).
        #[arg(long)]
        client: bool,
        /// The cluster secret to derive the client key from.
        #[arg(long, requires = "client", value_name = "SECRET_FILE")]
        from: Option<PathBuf>,
    },
    /// Start a local cluster of real node processes on loopback, spawn Ping, Pong and an
    /// isolated Pong, deploy Pong replicas spread over the nodes, send requests while one node
    /// is killed with SIGKILL and its replicas come back elsewhere, then stop the rest cleanly.
    Demo(DemoArgs),
    /// Compare spawn strategies and routing modes on a simulated cluster, in virtual time:
    /// the scenario file (YAML; examples in examples/scenarios/) names the nodes, the
    /// workload, the events and what to compare. Prints a table (or --json), and with
    /// --report a self-contained HTML page with charts.
    #[cfg(feature = "lab")]
    Sim(SimArgs),
    /// Measure request latency and throughput over TCP beside a raw tokio echo baseline
    /// (against a node process started here, or the cluster of --config or --seed), and on one
    /// node in this process.
    Bench(BenchArgs),
    /// Run a node (what `beach-node` does); the demo starts its nodes this way.
    #[command(hide = true)]
    Node(beach_node::cli::NodeArgs),
    /// Serve the raw echo baseline of `beach bench` until stdin closes.
    #[command(hide = true)]
    BenchEcho,
    /// One of the client processes of `beach bench --clients`: pipelined requests to a
    /// category of Echo actors; prints `{"per_second": ...}`.
    #[command(hide = true)]
    BenchClient(BenchClientArgs),
}

/// `beach spawn`.
#[derive(Debug, Clone, Args)]
pub struct SpawnArgs {
    /// The registered actor type.
    #[arg(value_name = "TYPE")]
    pub actor_type: String,
    /// The categories the actors join.
    #[arg(required = true, value_name = "CATEGORY")]
    pub categories: Vec<String>,
    /// random, resource, affinity, host_affinity, repulsion or roundrobin.
    #[arg(long, default_value = "random")]
    pub strategy: String,
    /// The strategy's hint: a category, or a node for host_affinity.
    #[arg(long)]
    pub hint: Option<String>,
    /// A parameter KEY=VALUE; VALUE is JSON when it parses, else a string (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// All parameters as one JSON object (`--param` entries are added to it).
    #[arg(long = "params", value_name = "JSON")]
    pub params_json: Option<String>,
    /// A resource NAME=CATEGORY (repeatable).
    #[arg(long = "resource", value_name = "NAME=CATEGORY")]
    pub resources: Vec<String>,
    /// Run each actor in its own process.
    #[arg(long)]
    pub isolated: bool,
    /// The ident the actors' own requests carry.
    #[arg(long)]
    pub ident: Option<String>,
    /// Only callers with this ident are served (repeatable).
    #[arg(long = "trust", value_name = "IDENT")]
    pub trusted: Vec<String>,
    /// Serve at most N requests at once.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<u32>,
    /// The actors' owner, for bookkeeping.
    #[arg(long)]
    pub owner: Option<String>,
    /// How many actors to add.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Call the actors' drain hook when they are stopped, and wait for their requests in
    /// flight (within the grace period).
    #[arg(long)]
    pub drainable: bool,
    /// Log every request the actors receive, and how each ends, on their node.
    #[arg(long)]
    pub trace: bool,
    /// The actors' own log level (trace, debug, info, warn, error), whatever their node's.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Only show where the actors would go, and why.
    #[arg(long)]
    pub dry_run: bool,
}

/// `beach request`.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// The category (any actor whose category starts with it), or with --id one actor's id.
    pub category: String,
    /// The request type.
    pub kind: String,
    /// The request data, as JSON.
    pub data: Option<String>,
    /// Retries of failures where the request was surely not handled (unreachable, wrong dest,
    /// queue full), on another actor or, with --key, on the key's owner; 0 disables retries.
    #[arg(long, default_value_t = beach_core::routing::DEFAULT_RETRIES)]
    pub retries: u32,
    /// Retry timeouts too (and connections lost mid-request): only for requests that are safe
    /// to run twice.
    #[arg(long)]
    pub retry_timeouts: bool,
    /// The affinity key (implies --mode affinity).
    #[arg(long)]
    pub key: Option<String>,
    /// The ident the request carries.
    #[arg(long)]
    pub ident: Option<String>,
    /// random, local or affinity.
    #[arg(long)]
    pub mode: Option<String>,
    /// Send to every actor of the category and print one reply each.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    /// The first argument is an actor's id (as `beach dir` prints it): ask that one actor.
    #[arg(long)]
    pub id: bool,
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// A raw tokio echo over loopback: the baseline.
    RawTcp,
    /// Requests to an Echo actor on a node over TCP.
    Tcp,
    /// raw-tcp and tcp, with the ratios.
    Both,
    /// Actor-to-actor requests on one in-process node, spawn rate and idle memory per actor.
    Local,
    /// Requests to a Python actor of a code directory over TCP (`async def` and plain
    /// handlers), spawning idle Python actors and their memory; needs python3 with cbor2.
    Python,
    /// Requests to an Echo actor through a node's HTTP gateway (`POST /v1/request`, keep-alive
    /// connections) beside the native TCP client of the same run.
    Http,
    /// Everything (python only where python3 with cbor2 is installed).
    All,
}

/// Options of the hidden `beach bench-client`, one process of `beach bench --clients`.
#[derive(Debug, Clone, Args)]
pub struct BenchClientArgs {
    /// The category of Echo actors to ask.
    #[arg(long)]
    pub category: String,
    /// How many requests.
    #[arg(long, default_value_t = 20_000)]
    pub requests: u32,
    /// How many in flight.
    #[arg(long, default_value_t = 64)]
    pub inflight: u32,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 32)]
    pub payload: usize,
    /// Runtime worker threads for this process (1: a single-threaded runtime; 0: one per
    /// core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Options of `beach bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub target: Target,
    /// Requests per measurement.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(100..))]
    pub requests: u32,
    /// Requests in flight for the throughput measurement.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub inflight: u32,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 32)]
    pub payload: usize,
    /// Runtime worker threads for this process (1: a single-threaded runtime; 0: one per
    /// core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Echo actors in the fan-out category: each fan-out round asks them all at once
    /// (`request_from_all`), requests / fanout rounds.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub fanout: u32,
    /// Idle actors spawned for the spawn-rate and memory figures (local target).
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub actors: u32,
    /// Idle Python actors spawned into one host process for the python target's spawn time
    /// and memory figures.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub python_actors: u32,
    /// Start the tcp target's node with a cluster secret, so that every connection is
    /// encrypted and authenticated (Noise): the cost of `secret_file`.
    #[arg(long)]
    pub secret: bool,
    /// Measure raw-tcp and tcp this many times, alternating (raw, beach, raw, beach, ...), and
    /// report the median p50 ratio and the median pipelined rate, each with its spread: one
    /// noisy run cannot decide a verdict. The
    /// http target alternates the native client and the gateway the same way.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
    /// How long the tcp target's node and this client poll a quiet connection before they
    /// sleep (the cluster setting `tcp_spin`; e.g. `50us`); 0: never.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub spin: Duration,
    /// Also run this many client processes at once against the tcp target, each with
    /// --requests pipelined requests and --inflight in flight, and report their aggregate
    /// throughput (0: not measured).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub clients: u32,
}

/// Options of `beach demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many nodes to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub nodes: u16,
    /// How long to show traffic (e.g. `10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Keep the nodes' logs in this folder instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
}

/// `beach sim`.
#[cfg(feature = "lab")]
#[derive(Debug, Args)]
pub struct SimArgs {
    /// The scenario file (YAML).
    pub scenario: PathBuf,
    /// Run from this seed instead of the scenario's; the same seed gives the same report.
    /// (`--seed` names a node, for the commands that talk to a cluster.)
    #[arg(long = "sim-seed", value_name = "N")]
    pub seed: Option<u64>,
    /// Also write the report as a self-contained HTML page (charts, no network needed).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `beach deploy ...`.
#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Apply the deployments of a file (idempotent): prints what changes.
    Apply {
        /// The deployments file (`deployments:` list, see the README).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// Show what applying a file would change, without changing anything.
    Diff {
        /// The deployments file.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
    },
    /// List the deployments.
    List,
    /// Desired, running and updated replicas, version, conditions, last error; with --wait,
    /// exit 0 once every named deployment (all, when none is named) is complete, 1 on timeout.
    Status {
        /// Only these deployments.
        names: Vec<String>,
        /// Wait this long (e.g. `60s`) for them to complete.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        wait: Option<Duration>,
    },
    /// Delete a deployment: its replicas stop.
    Delete {
        /// The deployment.
        name: String,
    },
    /// Replace a deployment's replicas, honouring its rollout limits (after its type's code
    /// changed).
    Restart {
        /// The deployment.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        // Clap checks names and defaults only when a command is built: a clash (two
        // `--seed`s) would panic the first user who typed that command.
        super::Cli::command().debug_assert();
    }
}
