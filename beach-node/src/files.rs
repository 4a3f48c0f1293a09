//! The files a node or a tool reads: the cluster configuration and the key files it names.
//! All file I/O of beach lives here (and in the CLI); `beach-core` parses what is read.

use std::path::Path;

use beach_core::auth::{KeyFile, Secret};
use beach_core::client::ClientBuilder;
use beach_core::config::{
    ClusterConfig, ConfigError, invalid_secret_file, key_file_from_bytes, secret_from_bytes,
};
use beach_transport_tcp::TcpTransport;

/// Reads and validates a configuration file; relative paths in it (the key files, the code
/// directory) resolve against its folder.
pub fn load_config(path: &Path) -> Result<ClusterConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Read { file: file.clone(), message: e.to_string() })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    ClusterConfig::from_yaml_str(&text, &file, base)
}

/// Reads the key file named by `secret_file`, for a client: `Ok(None)` when none is
/// configured, an error naming the key when the file cannot be read or holds neither a
/// cluster secret nor a client key.
pub fn read_key_file(config: &ClusterConfig) -> Result<Option<KeyFile>, ConfigError> {
    let Some(path) = &config.secret_file else { return Ok(None) };
    key_file_from_bytes(path, &read(path)?).map(Some)
}

/// Reads a node's cluster secrets, the one it offers first: `secret_file` (or every file of
/// `secret_files`). Empty when none is configured; an error naming the key when a file is not
/// a cluster secret (a client key cannot make a node).
pub fn read_secrets(config: &ClusterConfig) -> Result<Vec<Secret>, ConfigError> {
    let paths = config.secret_file.iter().chain(&config.accepted_secret_files);
    paths.map(|path| secret_from_bytes(path, &read(path)?)).collect()
}

/// A client builder for the cluster `config` describes: its settings and seeds, its key file
/// read, over TCP. Add seeds, a realm or a token, then connect.
pub fn client_for(config: &ClusterConfig) -> Result<ClientBuilder, ConfigError> {
    let builder = ClientBuilder::new().config(config).transport_with(TcpTransport::make);
    Ok(match read_key_file(config)? {
        Some(key) => builder.client_key(key.client_key()),
        None => builder,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid_secret_file(path, format!("cannot read: {e}")))
}

/// Warns when a file holding a secret (the cluster secret, or a configuration with the admin
/// token) can be read by other users.
#[cfg(unix)]
pub(crate) fn warn_if_readable_by_others(path: &std::path::Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "{what} is readable by group or others: chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
pub(crate) fn warn_if_readable_by_others(_path: &std::path::Path, _what: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_resolve_paths_against_their_folder_and_report_read_errors() {
        let dir = std::env::temp_dir().join(format!("beach-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cluster.yaml");
        std::fs::write(&file, "secret_file: secret.key\n").unwrap();
        let c = load_config(&file).unwrap();
        assert_eq!(c.secret_file.as_deref(), Some(dir.join("secret.key").as_path()));

        // Missing secret file, wrong size, right size.
        let err = read_secrets(&c).unwrap_err().to_string();
        assert!(err.contains("secret_file") && err.contains("cannot read"), "{err}");
        std::fs::write(dir.join("secret.key"), [7u8; 31]).unwrap();
        let err = read_secrets(&c).unwrap_err().to_string();
        assert!(err.contains("exactly 32 bytes, the file has 31"), "{err}");
        std::fs::write(dir.join("secret.key"), [7u8; 32]).unwrap();
        assert_eq!(read_secrets(&c).unwrap(), vec![Secret::new([7u8; 32])]);
        // Rotation: several secrets, the first offered.
        std::fs::write(dir.join("old.key"), [8u8; 32]).unwrap();
        std::fs::write(&file, "secret_files: [secret.key, old.key]\n").unwrap();
        let rotating = load_config(&file).unwrap();
        let both = vec![Secret::new([7u8; 32]), Secret::new([8u8; 32])];
        assert_eq!(read_secrets(&rotating).unwrap(), both);
        std::fs::write(&file, "secret_file: a\nsecret_files: [b]\n").unwrap();
        let err = load_config(&file).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        std::fs::write(&file, "secret_files: []\n").unwrap();
        let err = load_config(&file).unwrap_err().to_string();
        assert!(err.contains("at least one"), "{err}");
        // A client key file serves clients, never a node.
        let key = Secret::new([7u8; 32]).client_key();
        std::fs::write(dir.join("secret.key"), key.to_file_bytes()).unwrap();
        let err = read_secrets(&c).unwrap_err().to_string();
        assert!(err.contains("this is a client key; a node needs the cluster secret"), "{err}");
        assert_eq!(read_key_file(&c).unwrap().unwrap().client_key(), key);
        assert_eq!(read_secrets(&ClusterConfig::default()).unwrap(), Vec::new());

        let missing = dir.join("absent.yaml");
        let err = load_config(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("absent.yaml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
