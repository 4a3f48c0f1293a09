//! The `beach` commands against a real node process on loopback: exit codes and JSON shapes
//! (the fixed surface scripts rely on).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Node {
    child: Child,
    dir: PathBuf,
    config: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn beach(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beach")).args(args).stdin(Stdio::null()).output().unwrap()
}

/// Runs `beach -c CONFIG --json ARGS` and returns (exit code, stdout JSON or Null, stderr).
fn json(config: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["-c", config.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let out = beach(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), value, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// One node (the `beach` binary in node mode) with an admin token, answering.
fn start_node(name: &str) -> Node {
    start_node_with(name, "", |_| {})
}

/// A node as [`start_node`] makes it, with `extra` configuration lines, after `prepare` has
/// written what they name into the node's folder.
fn start_node_with(name: &str, extra: &str, prepare: impl FnOnce(&Path)) -> Node {
    let dir = std::env::temp_dir().join(format!("beach-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    prepare(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = dir.join("cluster.yaml");
    std::fs::write(
        &config,
        format!("cluster_name: cli\nseed_nodes: [\"127.0.0.1:{port}\"]\nadmin_token: tok\n{extra}"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_beach"))
        .args([
            "node",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("node.log")).unwrap())
        .spawn()
        .unwrap();
    let node = Node { child, dir, config };
    let start = Instant::now();
    while json(&node.config, &["nodes"]).0 != 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "the node did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

#[test]
fn every_command_prints_its_json_shape() {
    let node = start_node("shapes");
    let c = &node.config;

    let (code, v, _) = json(c, &["nodes"]);
    assert_eq!(code, 0);
    let n = &v["nodes"][0];
    for key in ["id", "address", "generation", "state", "actors"] {
        assert!(!n[key].is_null(), "nodes lacks {key}: {v}");
    }

    let (code, v, err) = json(
        c,
        &["spawn", "Pong", "pongers", "--count", "2", "--param", "_key=secret", "--param", "n=3"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["actors"].as_array().unwrap().len(), 2);
    let id = v["actors"][0]["id"].as_str().unwrap().to_owned();
    assert!(v["actors"][0]["node"].is_string());

    let (code, v, _) = json(
        c,
        &[
            "spawn",
            "Echo",
            "e",
            "--strategy",
            "repulsion",
            "--hint",
            "e",
            "--count",
            "2",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(v["placement"].as_array().unwrap().len(), 2);
    assert!(v["placement"][0]["reason"].as_str().unwrap().starts_with("repulsion"));

    let (code, v, _) = json(c, &["dir"]);
    assert_eq!(code, 0);
    assert_eq!(v["realm"], "global");
    assert_eq!(v["categories"]["pongers"].as_array().unwrap().len(), 2);
    assert!(json(c, &["dir", "x"]).1["categories"].as_object().unwrap().is_empty());

    let (code, v, _) = json(c, &["request", "pongers", "ping", "{\"time\": 1}"]);
    assert_eq!(code, 0);
    assert_eq!(v["ok"], true);
    assert!(v["data"]["time"].as_f64().unwrap() > 1.7e9);
    let (code, v, err) = json(c, &["request", "pongers", "nope"]);
    assert_eq!(code, 1, "a cluster error exits 1");
    assert_eq!(
        (v["ok"].as_bool(), v["error"].as_str()),
        (Some(false), Some("request type not supported by actor"))
    );
    assert_eq!(err.trim(), "error: request type not supported by actor");
    let (code, v, _) = json(c, &["request", "pongers", "ping", "--all"]);
    assert_eq!(code, 0);
    assert_eq!(v["replies"].as_array().unwrap().len(), 2);
    let (code, v, err) = json(c, &["request", "--id", &id, "ping"]);
    assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{err}");
    let (code, _, err) = json(c, &["request", "--id", "pongers", "ping"]);
    assert_eq!(code, 2, "not an actor id: {err}");
    let (code, _, err) = json(c, &["request", "--id", &id, "ping", "--all"]);
    assert_eq!(code, 2, "--id and --all conflict: {err}");

    assert_eq!(json(c, &["shoot", "pongers", "ping"]).1, serde_json::json!({ "ok": true }));
    assert_eq!(json(c, &["broadcast", "pongers", "ping"]).1, serde_json::json!({ "sent": 2 }));
    assert_eq!(json(c, &["available", "pong"]).1, serde_json::json!({ "count": 2 }));

    let (code, _, err) = json(c, &["spawn", "Whoami", "svc/a/1"]);
    assert_eq!(code, 1, "an unknown type is the cluster's answer");
    assert!(err.contains("unknown actor type \"Whoami\""), "{err}");
    json(c, &["spawn", "MultiPing", "svc/a/1"]);
    json(c, &["spawn", "MultiPing", "svc/b/1"]);
    let (code, v, _) = json(c, &["group", "svc/", "oob"]);
    assert_eq!(code, 0);
    let replies = v["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["category"], "svc/a/");
    assert_eq!(replies[0]["data"]["cmdresult"], 42);

    let (_, v, _) = json(c, &["health"]);
    for key in ["address", "cpu", "memory"] {
        assert!(!v["nodes"][0][key].is_null(), "health lacks {key}: {v}");
    }
    let (_, v, _) = json(c, &["load"]);
    let loaded = v["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["received"].as_u64() > Some(0))
        .unwrap()
        .clone();
    for key in ["id", "in_flight", "received", "errors", "p50_ms", "p99_ms"] {
        assert!(!loaded[key].is_null(), "load lacks {key}: {loaded}");
    }
    let (_, v, _) = json(c, &["metadata"]);
    let actor = v["nodes"][0]["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap()
        .clone();
    for key in ["id", "type", "realm", "categories", "params", "isolated", "owner", "drainable"] {
        assert!(actor.get(key).is_some(), "metadata lacks {key}: {actor}");
    }
    assert_eq!(actor["drainable"], false);
    let (code, v, err) = json(c, &["spawn", "Pong", "drained", "--drainable"]);
    assert_eq!(code, 0, "{err}");
    let drained = v["actors"][0]["id"].as_str().unwrap().to_owned();
    let (_, v, _) = json(c, &["metadata"]);
    let all = v["nodes"][0]["actors"].as_array().unwrap();
    assert_eq!(all.iter().find(|a| a["id"] == drained.as_str()).unwrap()["drainable"], true);
    json(c, &["stop", "--id", &drained]);
    assert_eq!(actor["params"]["_key"], "<PRIVATE>");
    assert_eq!(actor["params"]["n"], 3);

    assert_eq!(json(c, &["categorize", &id, "extra"]).1, serde_json::json!({ "ok": true }));
    assert_eq!(json(c, &["available", "extra"]).1["count"], 1);
    assert_eq!(json(c, &["uncategorize", &id, "extra"]).1, serde_json::json!({ "ok": true }));
    assert_eq!(json(c, &["available", "extra"]).1["count"], 0);

    let (code, v, _) = json(c, &["stop", "--id", &id]);
    assert_eq!(code, 0);
    assert_eq!(v["stopped"], serde_json::json!([id]));
    let (code, v, _) = json(c, &["stop", "--category", "svc/"]);
    assert_eq!((code, v["stopped"].as_array().unwrap().len()), (0, 2));

    let (code, _, err) = json(c, &["flush"]);
    assert_eq!(code, 2, "flush without --yes refuses");
    assert!(err.contains("--yes"), "{err}");
    let (code, v, _) = json(c, &["flush", "--yes"]);
    assert_eq!((code, v["stopped"].as_u64()), (0, Some(1)));
}

#[test]
fn errors_say_what_to_do_with_the_right_exit_code() {
    let node = start_node("errors");
    let c = &node.config;
    // Usage: bad strategy, bad data, no actors named.
    let (code, _, err) = json(c, &["spawn", "Pong", "p", "--strategy", "closest"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown strategy \"closest\""), "{err}");
    let (code, _, err) = json(c, &["request", "p", "ping", "{not json"]);
    assert_eq!(code, 2);
    assert!(err.contains("DATA is not JSON"), "{err}");
    assert_eq!(json(c, &["stop"]).0, 2);
    // Cluster answers: wrong token, timeout, empty category.
    let out = beach(&["-c", c.to_str().unwrap(), "--admin-token", "wrong", "spawn", "Pong", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "error: unprivileged");
    json(c, &["spawn", "Sleeper", "slow"]);
    let (code, v, _) = json(c, &["--timeout", "500ms", "request", "slow", "sleep"]);
    assert_eq!((code, v["error"].as_str()), (1, Some("timeout")));
    // Any retry count is a setting, not a crash: the timeout stays final without
    // --retry-timeouts, and a success is a success.
    let max = u32::MAX.to_string();
    let (code, v, _) =
        json(c, &["--timeout", "500ms", "request", "slow", "sleep", "--retries", &max]);
    assert_eq!((code, v["error"].as_str()), (1, Some("timeout")));
    json(c, &["spawn", "Pong", "p"]);
    let (code, _, err) = json(c, &["request", "p", "ping", "--retries", &max, "--retry-timeouts"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = json(c, &["request", "nobody", "ping"]);
    assert_eq!(code, 1);
    assert!(err.contains("no actor in category \"nobody\""), "{err}");
    // Connection: nobody listening.
    let out = beach(&["-s", "127.0.0.1:1", "nodes"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: cannot reach any seed (127.0.0.1:1)")
            && err.contains("is beach-node running?"),
        "{err}"
    );
    // Config: missing file.
    let out = beach(&["-c", "/nonexistent.yaml", "nodes"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn gen_key_writes_a_private_secret_and_never_overwrites() {
    let dir = std::env::temp_dir().join(format!("beach-cli-genkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret.key");
    let _ = std::fs::remove_file(&file);
    let out = beach(&["--json", "gen-key", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["file"], file.to_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let out = beach(&["gen-key", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "the existing key is untouched");
    // The client key: derived from the secret, marked as what it is, private too.
    let client = dir.join("client.key");
    let out = beach(&[
        "--json",
        "gen-key",
        "--client",
        "--from",
        file.to_str().unwrap(),
        client.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "client");
    let key = std::fs::read(&client).unwrap();
    assert!(key.starts_with(b"beach client key") && key.len() == 48);
    let out = beach(&[
        "gen-key",
        "--client",
        "--from",
        client.to_str().unwrap(),
        dir.join("x").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already a client key"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_key_reaches_an_encrypted_node_and_can_never_run_one() {
    let node = start_node_with("client-key", "secret_file: secret.key\n", |dir| {
        let out = beach(&["gen-key", dir.join("secret.key").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0));
    });
    let client_key = node.dir.join("client.key");
    let secret = node.dir.join("secret.key");
    let out = beach(&[
        "gen-key",
        "--client",
        "--from",
        secret.to_str().unwrap(),
        client_key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    // A client's configuration names only the client key.
    let text = std::fs::read_to_string(&node.config).unwrap();
    let client_config = node.dir.join("client.yaml");
    std::fs::write(
        &client_config,
        text.replace("secret_file: secret.key", "secret_file: client.key"),
    )
    .unwrap();
    let (code, v, err) = json(&client_config, &["nodes"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 1);
    // A node given the client key refuses to start, saying why.
    let out = Command::new(env!("CARGO_BIN_EXE_beach"))
        .args(["node", "--config", client_config.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this is a client key; a node needs the cluster secret"), "{err}");
    // Without any key the encrypted node refuses the client, and says why.
    let plain = node.dir.join("plain.yaml");
    std::fs::write(&plain, text.replace("secret_file: secret.key", "")).unwrap();
    let (code, _, err) = json(&plain, &["nodes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("requires its secret"), "{err}");
}

#[test]
fn help_documents_every_command_and_flag() {
    let out = beach(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "nodes",
        "dir",
        "spawn",
        "stop",
        "flush",
        "request",
        "shoot",
        "broadcast",
        "group",
        "available",
        "health",
        "load",
        "metadata",
        "categorize",
        "uncategorize",
        "gen-key",
        "demo",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
    for flag in ["--config", "--seed", "--realm", "--admin-token", "--json", "--timeout"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let out = beach(&["help", "spawn"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--strategy",
        "--hint",
        "--param",
        "--params",
        "--resource",
        "--isolated",
        "--ident",
        "--trust",
        "--concurrency",
        "--owner",
        "--count",
        "--dry-run",
    ] {
        assert!(help.contains(flag), "help spawn lacks {flag}");
    }
}

#[test]
fn the_shell_runs_piped_commands_and_goes_on_after_errors() {
    let node = start_node("shell");
    let history = node.dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_beach"))
        .args(["-c", node.config.to_str().unwrap()])
        .env("XDG_DATA_HOME", &history)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = "help\n\
        add_actor Pong pongers --count 2\n\
        get_dir\n\
        request pongers nope\n\
        no-such-command\n\
        realm other\n\
        --json available pong\n\
        realm global\n\
        --json available pong\n\
        help request\n";
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    drop(child.stdin.take()); // Ctrl-D
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("py-beach names work too"), "{stdout}");
    assert!(!stdout.contains("  demo"), "demo is not offered in the shell");
    assert!(stdout.contains("pongers"), "{stdout}");
    assert!(stderr.contains("error: request type not supported by actor"), "{stderr}");
    assert!(stderr.contains("no-such-command"), "{stderr}");
    // In realm `other` nothing matches; back in `global` both do.
    assert!(stdout.contains("{\"count\":0}") && stdout.contains("{\"count\":2}"), "{stdout}");
    assert!(stdout.contains("--retries"), "help request shows its flags: {stdout}");
    let saved = std::fs::read_to_string(history.join("beach/history")).unwrap();
    assert!(saved.contains("add_actor Pong pongers --count 2"), "{saved}");
}

#[test]
fn bench_measures_both_targets_and_reports_ratios() {
    let out = beach(&[
        "--json",
        "bench",
        "--target",
        "all",
        "--requests",
        "200",
        "--inflight",
        "8",
        "--fanout",
        "4",
        "--actors",
        "100",
        "--python-actors",
        "20",
        "--rounds",
        "3",
        "--clients",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Three alternating rounds, each with its ratio; the median lies within their spread.
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    let ratios: Vec<f64> = rounds.iter().map(|r| r["p50_vs_raw"].as_f64().unwrap()).collect();
    let median = v["p50_vs_raw_median"].as_f64().unwrap();
    assert!(ratios.contains(&median), "{v}");
    assert!(v["p50_vs_raw_min"].as_f64().unwrap() <= median);
    assert!(median <= v["p50_vs_raw_max"].as_f64().unwrap());
    // And each round's pipelined rate, with their median.
    let rates: Vec<f64> = rounds.iter().map(|r| r["tcp_per_second"].as_f64().unwrap()).collect();
    assert!(rates.contains(&v["tcp_per_second_median"].as_f64().unwrap()), "{v}");
    assert!(rounds.iter().all(|r| r["raw_per_second"].as_f64().unwrap() > 0.0), "{v}");
    // Two client processes at once, and their sum.
    let clients = &v["clients"];
    assert_eq!(clients["processes"], 2);
    let each: Vec<f64> =
        clients["per_client"].as_array().unwrap().iter().map(|r| r.as_f64().unwrap()).collect();
    assert!(each.iter().all(|&r| r > 0.0), "{clients}");
    let sum = clients["throughput_per_s"].as_f64().unwrap();
    assert!((sum - each.iter().sum::<f64>()).abs() < 1e-6, "{clients}");
    let results = v["results"].as_array().unwrap();
    let targets: Vec<&str> = results.iter().map(|r| r["target"].as_str().unwrap()).collect();
    // Python is measured where python3 has cbor2, as CI's set-up installs.
    assert_eq!(
        targets,
        [
            "local",
            "local fan-out x4",
            "python async def",
            "python plain fn",
            "http gateway",
            "http: native tcp",
            "raw-tcp",
            "tcp",
            "tcp fan-out x4"
        ]
    );
    assert_eq!(v["python"]["idle_actors"], 20);
    // The gateway against the native client, in three alternating rounds too.
    let http = v["http_rounds"].as_array().unwrap();
    assert_eq!(http.len(), 3, "{v}");
    let http_ratios: Vec<f64> = http.iter().map(|r| r["p50_vs_native"].as_f64().unwrap()).collect();
    let http_median = v["http_p50_vs_native"].as_f64().unwrap();
    assert!(http_ratios.contains(&http_median) && http_median > 0.0, "{v}");
    assert!(v["http_p50_vs_native_min"].as_f64().unwrap() <= http_median);
    assert!(http.iter().all(|r| r["http_throughput_per_s"].as_f64().unwrap() > 0.0), "{v}");
    assert!(v["python"]["spawn_seconds"].as_f64().unwrap() > 0.0);
    for r in results {
        assert!(
            r["p50_us"].as_f64().unwrap() > 0.0 && r["throughput_per_s"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        // Only one TCP request at a time compares with the raw echo.
        let compared = r["target"] == "tcp" || r["target"] == "raw-tcp";
        assert_eq!(r["p50_vs_raw"].is_f64(), compared, "{r}");
    }
    assert!(v["local"]["spawn_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["local"]["idle_actors"], 100);
    assert_eq!(
        beach(&["bench", "--requests", "5"]).status.code(),
        Some(2),
        "too few requests is a usage error"
    );
    assert_eq!(beach(&["bench", "--rounds", "0"]).status.code(), Some(2), "no rounds");
}

#[test]
fn bench_measures_a_running_cluster_and_cleans_up() {
    let node = start_node("bench");
    let c = &node.config;
    let (code, v, err) =
        json(c, &["bench", "--target", "tcp", "--requests", "200", "--fanout", "2"]);
    assert_eq!(code, 0, "{err}");
    let targets: Vec<&str> =
        v["results"].as_array().unwrap().iter().map(|r| r["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["tcp", "tcp fan-out x2"]);
    // Its Echo actors were spawned with the configuration's admin token, and stopped after.
    let (code, v, _) = json(c, &["dir", "bench/"]);
    assert_eq!(code, 0);
    assert_eq!(v["categories"].as_object().map_or(0, |m| m.len()), 0, "{v}");
    // Without the token (the same cluster, reached by --seed), spawning is refused and the
    // bench says why.
    let yaml = std::fs::read_to_string(c).unwrap();
    let tokenless = node.dir.join("tokenless.yaml");
    std::fs::write(&tokenless, yaml.replace("admin_token: tok\n", "")).unwrap();
    let seed = yaml.split('"').nth(1).unwrap().to_owned();
    let out = beach(&[
        "-c",
        tokenless.to_str().unwrap(),
        "--seed",
        &seed,
        "bench",
        "--target",
        "tcp",
        "--requests",
        "200",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unprivileged"), "{stderr}");
}
