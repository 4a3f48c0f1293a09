//! The SDKs' own suites, run by `cargo test` (the README's one test command): the Python SDK's
//! unit tests, and the actor protocol's conformance transcripts against every SDK (Python and
//! JavaScript). Needs `python3` with `cbor2` and `node`, as the README's set-up says.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Runs `python3 args` from the workspace root; fails the test with its output unless it
/// succeeds.
fn python(args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(args)
        .current_dir(root())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3.11 and `pip install cbor2`")
        });
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python3 {args:?} failed:\n{text}");
    text
}

#[test]
fn the_python_sdk_unit_tests_pass() {
    let out = python(&["-m", "unittest", "discover", "-s", "python/tests"]);
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn every_sdk_passes_the_protocol_conformance_transcripts() {
    let out = python(&["sdk/conformance/run.py"]);
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("conformance: 24/24 passed"), "{out}");
}
