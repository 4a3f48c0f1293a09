//! Finding a code directory's programs: `<dir>/<realm>/<Type>.py` (Python) and
//! `<dir>/<realm>/<Type>` with the run bit (any language), each identified by the sha256 of its
//! content.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use beach_core::model::{ActorType, Realm};
use sha2::{Digest, Sha256};

/// How a program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A Python file, run by the Python SDK's host with the configured interpreter.
    Python,
    /// An executable that speaks the actor protocol itself.
    Executable,
}

/// A program found in the code directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    pub(crate) sha256: String,
}

/// A program's content read whole and unchanged while read.
#[derive(Debug)]
pub(crate) struct Content {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sha256: String,
}

/// The code directory's folder, with the hashes of the files already read (by path, size and
/// modification time, so a file is hashed again only when it changed).
#[derive(Debug)]
pub(crate) struct Folder {
    root: PathBuf,
    hashes: Mutex<HashMap<PathBuf, (u64, SystemTime, String)>>,
}

/// Whether a file name can name a type: not hidden, not an editor's or a copy's temporary.
fn plain_name(name: &str) -> bool {
    !name.starts_with('.')
        && !name.ends_with('~')
        && ![".tmp", ".swp", ".part", ".partial", ".new", ".bak"].iter().any(|s| name.ends_with(s))
}

#[cfg(unix)]
fn runnable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn runnable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Folder {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root, hashes: Mutex::default() }
    }

    /// The folder of `realm`'s programs.
    pub(crate) fn realm_dir(&self, realm: &Realm) -> PathBuf {
        self.root.join(realm.as_str())
    }

    /// The realms with a folder here.
    pub(crate) fn realms(&self) -> Vec<Realm> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut realms: Vec<Realm> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| plain_name(n))
            .filter_map(|n| Realm::new(n).ok())
            .collect();
        realms.sort();
        realms
    }

    /// The programs of `realm`, by type name; a `<Type>.py` wins over an executable `<Type>`.
    pub(crate) fn list(&self, realm: &Realm) -> Vec<(ActorType, Found)> {
        let Ok(entries) = std::fs::read_dir(self.realm_dir(realm)) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".py").map_or(Some(n.clone()), |t| Some(t.to_owned())))
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| ActorType::new(&n).ok())
            .filter_map(|t| self.find(realm, &t).map(|f| (t, f)))
            .collect()
    }

    /// The program of `actor_type` in `realm`, if there is one.
    pub(crate) fn find(&self, realm: &Realm, actor_type: &ActorType) -> Option<Found> {
        let name = actor_type.as_str();
        if !plain_name(name) || !plain_name(realm.as_str()) {
            return None;
        }
        let dir = self.realm_dir(realm);
        let python = dir.join(format!("{name}.py"));
        if let Some(sha256) = self.hash(&python, |m| m.is_file()) {
            return Some(Found { path: python, kind: Kind::Python, sha256 });
        }
        let exe = dir.join(name);
        let sha256 = self.hash(&exe, runnable)?;
        Some(Found { path: exe, kind: Kind::Executable, sha256 })
    }

    /// The sha256 of the file at `path` if `fits` its metadata, from the cache when its size
    /// and modification time did not change.
    fn hash(&self, path: &Path, fits: impl Fn(&std::fs::Metadata) -> bool) -> Option<String> {
        let meta = std::fs::metadata(path).ok().filter(|m| fits(m))?;
        let mtime = meta.modified().ok()?;
        if let Some((len, t, h)) = self.hashes.lock().expect("hash cache").get(path)
            && *len == meta.len()
            && *t == mtime
        {
            return Some(h.clone());
        }
        let bytes = std::fs::read(path).ok()?;
        let sha = sha256_hex(&bytes);
        self.hashes
            .lock()
            .expect("hash cache")
            .insert(path.to_owned(), (bytes.len() as u64, mtime, sha.clone()));
        Some(sha)
    }
}

/// How long a file must stay the same to be taken as written whole, when it changed lately.
const SETTLE: Duration = Duration::from_millis(100);
/// A file changed this lately may still be being written.
const RECENT: Duration = Duration::from_secs(2);
/// How long to wait for a file being written to settle before the spawn fails.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// The content of the file at `path`, read whole while it did not change: a file modified in
/// the last [`RECENT`] must read the same twice [`SETTLE`] apart, so a spawn never runs a file
/// caught mid-write (write elsewhere and rename into place to make a deploy atomic).
pub(crate) async fn read_settled(path: &Path) -> Result<Content, String> {
    let started = std::time::Instant::now();
    let describe = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    loop {
        let before = tokio::fs::metadata(path).await.map_err(describe)?;
        let bytes = tokio::fs::read(path).await.map_err(describe)?;
        let after = tokio::fs::metadata(path).await.map_err(describe)?;
        let same = |a: &std::fs::Metadata, b: &std::fs::Metadata| {
            a.len() == b.len() && a.modified().ok() == b.modified().ok()
        };
        let recent = after
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < RECENT);
        let settled = if !same(&before, &after) || bytes.len() as u64 != after.len() {
            false
        } else if recent {
            tokio::time::sleep(SETTLE).await;
            let again = tokio::fs::read(path).await.map_err(describe)?;
            again == bytes
        } else {
            true
        };
        if settled {
            let sha256 = sha256_hex(&bytes);
            return Ok(Content { bytes, sha256 });
        }
        if started.elapsed() > SETTLE_LIMIT {
            return Err(format!(
                "{} kept changing for {SETTLE_LIMIT:?}: is it still being written? (write it elsewhere and rename it into place)",
                path.display()
            ));
        }
        tokio::time::sleep(SETTLE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempdir::Dir, Folder) {
        let dir = tempdir::Dir::new();
        std::fs::create_dir_all(dir.path().join("global")).unwrap();
        let folder = Folder::new(dir.path().to_owned());
        (dir, folder)
    }

    mod tempdir {
        /// A folder removed on drop.
        pub(crate) struct Dir(std::path::PathBuf);
        impl Dir {
            pub(crate) fn new() -> Self {
                let mut random = [0u8; 8];
                getrandom::fill(&mut random).unwrap();
                let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
                let path = std::env::temp_dir().join(format!("beach-scan-test-{name}"));
                std::fs::create_dir(&path).unwrap();
                Self(path)
            }
            pub(crate) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn python_files_and_executables_are_types_and_temporaries_are_not() {
        let (dir, folder) = folder();
        let realm = Realm::global();
        let g = dir.path().join("global");
        std::fs::write(g.join("Pong.py"), "class Pong: pass\n").unwrap();
        std::fs::write(g.join("Tool"), "#!/bin/sh\n").unwrap();
        std::fs::write(g.join("Data"), "not runnable").unwrap();
        std::fs::write(g.join(".Hidden.py"), "").unwrap();
        std::fs::write(g.join("Pong.py~"), "").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(g.join("Tool"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let listed: Vec<(String, Kind)> =
            folder.list(&realm).into_iter().map(|(t, f)| (t.to_string(), f.kind)).collect();
        assert_eq!(
            listed,
            vec![("Pong".to_owned(), Kind::Python), ("Tool".to_owned(), Kind::Executable)]
        );
        let pong = folder.find(&realm, &ActorType::new("Pong").unwrap()).unwrap();
        assert_eq!(pong.sha256, sha256_hex(b"class Pong: pass\n"));
        assert_eq!(folder.realms(), vec![realm.clone()]);
        assert!(folder.find(&realm, &ActorType::new("Data").unwrap()).is_none());
        assert!(
            folder.find(&Realm::new("other").unwrap(), &ActorType::new("Pong").unwrap()).is_none()
        );
    }

    #[test]
    fn a_changed_file_gets_its_new_hash() {
        let (dir, folder) = folder();
        let realm = Realm::global();
        let path = dir.path().join("global/Pong.py");
        let pong = ActorType::new("Pong").unwrap();
        std::fs::write(&path, "v1").unwrap();
        let first = folder.find(&realm, &pong).unwrap().sha256;
        std::fs::write(&path, "version 2").unwrap();
        let second = folder.find(&realm, &pong).unwrap().sha256;
        assert_ne!(first, second);
        assert_eq!(second, sha256_hex(b"version 2"));
    }

    #[tokio::test]
    async fn a_settled_read_waits_out_a_writer() {
        let (dir, _folder) = folder();
        let path = dir.path().join("global/Slow.py");
        std::fs::write(&path, "part one\n").unwrap();
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                for i in 0..3 {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                    writeln!(f, "part {i}").unwrap();
                }
            })
        };
        let content = read_settled(&path).await.unwrap();
        writer.await.unwrap();
        assert_eq!(content.bytes, std::fs::read(&path).unwrap(), "read before the writer was done");
    }
}
