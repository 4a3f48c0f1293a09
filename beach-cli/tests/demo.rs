//! The quickstart's main job: `beach demo` runs a real cluster, does real work and stops it.

use std::process::Command;

#[test]
fn the_demo_runs_a_cluster_and_stops_it_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_beach"))
        .args(["demo", "--duration", "4s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("all 3 nodes know each other"), "{stdout}");
    assert!(stdout.contains("(isolated, its own process)"), "{stdout}");
    // The README's set-up installs cbor2, so the demo's Python Pong joins in.
    assert!(stdout.contains("PyPong       in pongers  (Python"), "{stdout}");
    // A deployment spread by repulsion, one node killed mid-run, no request lost, the
    // replicas back on the survivors.
    assert!(stdout.contains("all 6 running after"), "{stdout}");
    assert_eq!(stdout.matches(" 2 replicas").count(), 3, "two per node: {stdout}");
    assert!(stdout.contains("with SIGKILL"), "{stdout}");
    assert!(stdout.contains("all 6 replicas running again on the survivors"), "{stdout}");
    assert!(stdout.contains("0 requests failed while a node died"), "{stdout}");
    // The same request through node 0's HTTP gateway.
    assert!(stdout.contains("dashboard and HTTP API of node 0: http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("-> 200 OK {\"data\":{\"time\":"), "{stdout}");
    assert_eq!(stdout.matches("stopped cleanly").count(), 2, "{stdout}");
    assert!(stdout.contains("killed earlier with SIGKILL"), "{stdout}");
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");
}

#[test]
fn demo_arguments_are_checked() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_beach")).args(["demo", "--nodes", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_beach"))
        .args(["demo", "--duration", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration"));
}
