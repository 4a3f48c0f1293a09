//! The `beach` command-line client: one command per cluster operation, with `--json` output
//! for scripts and exit codes that say what went wrong (0 success, 1 the cluster answered with
//! an error or timed out, 2 usage, configuration or connection error), and `beach demo`.

pub mod args;
pub mod bench;
mod bench_http;
mod bench_local;
mod bench_measure;
mod bench_python;
pub mod cmd;
pub mod demo;
mod local_cluster;
pub mod outcome;
pub mod output;
pub mod shell;
#[cfg(feature = "lab")]
pub mod sim;
