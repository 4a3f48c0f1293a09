//! `beach sim`: a scenario file in, a table, a JSON document and an HTML page out; bad files
//! refused with a line that names what is wrong (exit code 2).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn beach(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beach")).args(args).stdin(Stdio::null()).output().unwrap()
}

/// A fresh folder under Cargo's test folder.
fn folder(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SMALL: &str = "name: cli check
duration: 4s
nodes: {count: 3, cores: 2}
workload: {actors: 6, spawn_batch: 6, rate: 100}
events: [{at: 2s, slow: {node: 1, factor: 5, for: 1s}}]
compare: {placement: [repulsion, roundrobin], routing: [random, affinity]}
";

#[test]
fn a_scenario_gives_a_table_json_and_an_html_report() {
    let dir = folder("sim-cli");
    let scenario = dir.join("small.yaml");
    std::fs::write(&scenario, SMALL).unwrap();
    let report = dir.join("report.html");
    let out =
        beach(&["sim", scenario.to_str().unwrap(), "--json", "--report", report.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[4/4] roundrobin / affinity"), "progress on stderr: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["scenario"], "cli check");
    let names: Vec<&str> =
        doc["variants"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "repulsion / random",
            "repulsion / affinity",
            "roundrobin / random",
            "roundrobin / affinity"
        ]
    );
    assert_eq!(doc["variants"][0]["spread"]["actors_per_node"], serde_json::json!([2, 2, 2]));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("<svg"), "{html:.200}");

    // The table, and the same figures from the same seed; another seed differs.
    let table = beach(&["sim", scenario.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("p99 ms") && text.contains("roundrobin / affinity"), "{text}");
    let again = beach(&["sim", scenario.to_str().unwrap(), "--json"]);
    assert_eq!(again.stdout, out.stdout, "same seed, same report");
    let other = beach(&["sim", scenario.to_str().unwrap(), "--json", "--sim-seed", "7"]);
    let other: Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(other["seed"], 7);
    assert_ne!(other["variants"], doc["variants"]);
}

#[test]
fn bad_scenarios_are_refused_with_what_is_wrong() {
    let dir = folder("sim-cli-bad");
    let cases = [
        ("compare: {placement: [nearest]}", "nearest"),
        ("compare: {}\nevents: [{at: 1s, crash: 9}]", "no node 9"),
        ("compare: {}\nnodes: {count: 3, colour: red}", "colour"),
        ("nodes: [", "line 1"),
    ];
    for (i, (yaml, says)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let out = beach(&["sim", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("bad"), "{yaml}: {stderr}");
    }
    let out = beach(&["sim", dir.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the scenario"));
}

#[test]
fn the_shipped_scenarios_and_the_readmes_check_out() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        beach_transport_mem::lab::Scenario::parse(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(names, ["balanced.yaml", "churn.yaml", "slow_node.yaml"]);
    // And the one the README shows.
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let lab = &readme[readme.find("## The strategy lab").expect("the README's lab section")..];
    let yaml = lab.split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    beach_transport_mem::lab::Scenario::parse(yaml).unwrap_or_else(|e| panic!("README: {e}"));
}
