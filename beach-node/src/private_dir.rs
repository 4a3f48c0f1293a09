//! Private folders of a node's own: actor sockets, code snapshots, the Python SDK it ships.

use std::path::PathBuf;

/// A new private folder `<prefix>-<pid>-<random>` in the temporary folder: an unguessable
/// name, mode 0700, made by this call (so owned by this user and by nobody else). Folders of
/// this prefix that nodes no longer running left behind (after a `kill -9`) are removed first.
pub(crate) fn make(prefix: &str) -> std::io::Result<PathBuf> {
    let tmp = std::env::temp_dir();
    remove_stale_dirs(&tmp, prefix);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        random.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let dir = tmp.join(name);
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    // `create`, not `create_all`: it fails if anything is already there.
    builder.create(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&dir)?;
        if !meta.is_dir() || meta.permissions().mode() & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{} is not a private folder",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// Removes `<prefix>-PID-*` folders of this user whose node process is gone.
fn remove_stale_dirs(tmp: &std::path::Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)?.strip_prefix('-'))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ours = entry.metadata().is_ok_and(|m| m.uid() == own_uid());
            let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
            if ours && !alive && pid != std::process::id() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// This process's user id, as the files it makes are owned.
#[cfg(unix)]
fn own_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}
