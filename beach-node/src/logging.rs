//! Logging to stderr, for a node and for its isolated actors' processes alike (a child's
//! stderr is its node's, so their lines land in the same log, in the same format).

use beach_core::config::{LogConfig, LogFormat};

/// Installs the process's log subscriber: `log.level` (a tracing filter such as `info` or
/// `beach_core=debug`), text (coloured on a terminal) or one JSON object per line. An
/// invalid level is an error naming it; a subscriber already installed is one too.
pub fn install(log: &LogConfig) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level)
        .map_err(|e| format!("log level {:?}: {e}", log.level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => {
            builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init()
        }
    };
    installed.map_err(|e| format!("cannot set up logging: {e}"))
}
