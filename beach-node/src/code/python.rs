//! The Python SDK this node ships: written into the node's private folder at start and put on
//! its Python actors' path, so nodes need only `cbor2` installed, never the SDK.

use std::path::Path;

/// The SDK's files, by their path inside the package folder `beach/`.
const FILES: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../python/beach/__init__.py")),
    ("actor.py", include_str!("../../../python/beach/actor.py")),
    ("host.py", include_str!("../../../python/beach/host.py")),
    ("protocol.py", include_str!("../../../python/beach/protocol.py")),
];

/// Writes the SDK into `dir` (which goes on `PYTHONPATH`) as the package `beach`.
pub(super) fn install(dir: &Path) -> std::io::Result<()> {
    let package = dir.join("beach");
    std::fs::create_dir_all(&package)?;
    for (name, text) in FILES {
        std::fs::write(package.join(name), text)?;
    }
    Ok(())
}
