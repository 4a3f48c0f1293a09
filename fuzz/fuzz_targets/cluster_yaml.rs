//! `cluster.yaml` as an operator might write it (or not): a config or an error naming the
//! key, never a panic.
#![no_main]

use std::path::Path;

use beach_core::config::ClusterConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClusterConfig::from_yaml_str(text, "fuzz.yaml", Path::new("/etc/beach"));
    }
});
