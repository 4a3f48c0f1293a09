//! The node's `state_dir`: what must outlive the process. Today the deployments, in
//! `<state_dir>/deployments-<host>_<port>.cbor` (one file per node address, so nodes sharing a
//! configuration and a folder keep theirs apart), written whole and atomically after every
//! change, read at start.

use std::path::{Path, PathBuf};

use beach_core::deploy::{DeployStore, DeploySync};

/// A node's deployments kept in a file of its `state_dir`.
#[derive(Debug)]
pub struct FileDeployStore {
    path: PathBuf,
}

impl FileDeployStore {
    /// The store of the node at `address` (`host:port`) in `dir`, made (mode 0700) if missing.
    pub fn open(dir: &Path, address: &str) -> Result<Self, String> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| format!("state_dir {}: cannot create it: {e}", dir.display()))?;
        let name: String = address
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
            .collect();
        Ok(Self { path: dir.join(format!("deployments-{name}.cbor")) })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl DeployStore for FileDeployStore {
    fn load(&self) -> Result<Option<DeploySync>, String> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        ciborium::from_reader(bytes.as_slice()).map(Some).map_err(|e| {
            format!(
                "{} is not a deployments file ({e}); move it away to start without the deployments it held",
                self.path.display()
            )
        })
    }

    fn save(&self, sync: &DeploySync) -> Result<(), String> {
        let mut bytes = Vec::new();
        ciborium::into_writer(sync, &mut bytes)
            .map_err(|e| format!("cannot encode the deployments: {e}"))?;
        let tmp = self.path.with_extension("cbor.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beach_core::deploy::{DeployFile, Deployments};

    #[test]
    fn what_is_saved_loads_back_and_a_bad_file_is_named() {
        let dir = std::env::temp_dir().join(format!("beach-state-test-{}", std::process::id()));
        let store = FileDeployStore::open(&dir, "127.0.0.1:4999").unwrap();
        assert_eq!(store.load().unwrap(), None);
        let mut set = Deployments::new();
        let spec = DeployFile::parse(
            "deployments:\n  - {name: a, type: Pong, categories: [x], replicas: 2}\n",
        )
        .unwrap()
        .deployments
        .remove(0);
        set.apply(spec, &"127.0.0.1:4999#1".parse().unwrap(), None);
        store.save(&set.sync()).unwrap();
        assert_eq!(store.load().unwrap(), Some(set.sync()));
        std::fs::write(store.path(), b"not cbor").unwrap();
        let err = store.load().unwrap_err();
        assert!(
            err.contains("deployments-127.0.0.1_4999.cbor") && err.contains("move it away"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
