//! Key files: `beach gen-key`, which needs no cluster.

use std::io::Write;

use beach_core::auth::KeyFile;
use serde_json::json;

use crate::args::Global;
use crate::outcome::{Failure, Output};

/// `beach gen-key [--client [--from SECRET]] FILE`, as parsed into `command`.
pub fn gen_key_command(command: &crate::args::Command, g: &Global) -> Result<Output, Failure> {
    let crate::args::Command::GenKey { file, client, from } = command else {
        return Err(Failure::usage("not gen-key"));
    };
    if !client {
        return gen_key(file, None);
    }
    let source = match (from, &g.config) {
        (Some(f), _) => f.clone(),
        (None, Some(path)) => beach_node::files::load_config(path)
            .map_err(|e| Failure::usage(e.to_string()))?
            .secret_file
            .ok_or_else(|| {
                Failure::usage(format!("{} names no secret_file to derive from", path.display()))
            })?,
        (None, None) => {
            return Err(Failure::usage(
                "--client needs the cluster secret: --from SECRET_FILE, or --config naming secret_file",
            ));
        }
    };
    gen_key(file, Some(&source))
}

/// Writes a new cluster secret (32 random bytes) to `file`; with `from`, the client key of
/// the cluster whose secret `from` holds. Mode 0600, never over an existing file.
pub fn gen_key(file: &std::path::Path, from: Option<&std::path::Path>) -> Result<Output, Failure> {
    let (bytes, what, hint) = match from {
        None => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)
                .map_err(|e| Failure::usage(format!("no randomness from the system: {e}")))?;
            (secret.to_vec(), "a new cluster secret", "name it in cluster.yaml as secret_file")
        }
        Some(source) => {
            let read = std::fs::read(source)
                .map_err(|e| Failure::usage(format!("{}: {e}", source.display())))?;
            match KeyFile::parse(&read)
                .map_err(|e| Failure::usage(format!("{}: {e}", source.display())))?
            {
                KeyFile::Secret(s) => (
                    s.client_key().to_file_bytes(),
                    "the cluster's client key",
                    "hand it to clients as their secret_file: it cannot make a node",
                ),
                KeyFile::Client(_) => {
                    return Err(Failure::usage(format!(
                        "{} is already a client key; --client needs the cluster secret",
                        source.display()
                    )));
                }
            }
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::usage(format!(
            "{} exists; not overwriting it (pick another name or remove it)",
            file.display()
        )),
        _ => Failure::usage(format!("{}: {e}", file.display())),
    })?;
    f.write_all(&bytes).map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let shown = file.display().to_string();
    Ok(Output {
        json: json!({ "file": shown, "kind": if from.is_some() { "client" } else { "secret" } }),
        human: format!("wrote {what} to {shown}; {hint}\n"),
    })
}
