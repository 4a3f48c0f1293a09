//! The code directory on real `beach-node` processes: Python actors (and an executable in
//! another language) deployed by writing files, with no restart. Needs `python3` with `cbor2`
//! (`pip install cbor2`), as the README says.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use beach_core::ErrorCode;
use beach_core::actor::Origin;
use beach_core::client::Beach;
use beach_core::placement::Strategy;
use beach_core::value::Value;
use common::{Cluster, NodeProc, Scratch, connect, eventually, free_ports, gone_from_directories};

const JOIN: Duration = Duration::from_secs(20);

/// Fails the test with the fix when the machine lacks what Python actors need.
fn require_python() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import cbor2"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "these tests need python3 with cbor2: run `pip install cbor2` (the README's set-up)"
    );
}

/// Writes a program into the code directory as a deploy tool should: elsewhere, then renamed.
fn deploy(code: &Path, realm: &str, name: &str, text: &str) {
    let dir = code.join(realm);
    fs::create_dir_all(&dir).unwrap();
    let partial = dir.join(format!(".{name}.partial"));
    fs::write(&partial, text).unwrap();
    fs::rename(&partial, dir.join(name)).unwrap();
}

const PONG: &str = r#"from beach.actor import Actor
import os, time

class Pong(Actor):
    def init(self, parameters):
        self.greeting = parameters.get("greeting", "hi")
        self.handle("ping", self.ponger)
        self.handle("fail", lambda msg: (False, "nope", {"why": "asked to"}))
        self.handle("raise", self.raiser)
        self.handle("pid", lambda msg: {"pid": os.getpid()})
        self.handle("ok", lambda msg: (True,))
        self.handle("count", self.count)

    def ponger(self, msg):
        print("Received ping: %s" % str(msg))
        return {"time": time.time(), "greeting": self.greeting, "ident": msg.ident}

    def raiser(self, msg):
        return 1 / 0

    def count(self, msg):
        return self.zInc("pings")
"#;

/// Calls pongers with a sync handle, an async handler, a group and the fan-outs.
const RELAY: &str = r#"from beach.actor import Actor

class Relay(Actor):
    def init(self, parameters, resources):
        self.pongers = self.getActorHandle(resources["backend"])
        self.group = self.getActorHandleGroup("grp")
        self.handle("sync", self.sync)
        self.handle("async", self.aio)
        self.handle("all", self.all)
        self.handle("group", self.grp)
        self.handle("available", lambda msg: self.pongers.getNumAvailable())
        self.handle("missing", self.missing)

    def sync(self, msg):
        r = self.pongers.request("ping", msg.data, timeout=5)
        return (True, {"ok": r.isSuccess, "data": r.data})

    async def aio(self, msg):
        r = await self.pongers.arequest("ping", msg.data, timeout=5)
        return {"ok": r.isSuccess, "greeting": r.data["greeting"]}

    def all(self, msg):
        return [r.data["greeting"] for r in self.pongers.requestFromAll("ping", {}).waitForResults(5)]

    def grp(self, msg):
        return {sub: r.isSuccess for sub, r in self.group.request("ping", {}).items()}

    def missing(self, msg):
        r = self.getActorHandle("nobody/here").request("ping", {}, timeout=1)
        return {"success": r.isSuccess, "error": r.error, "last": self.getLastError()}
"#;

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

async fn ask(client: &Beach, category: &str, kind: &str, data: &Value) -> Value {
    let reply = client.handle(category).timeout(Duration::from_secs(10)).request(kind, data).await;
    reply.unwrap_or_else(|e| panic!("{category} {kind}: {e}")).to_value().unwrap()
}

fn code_cluster(name: &str, n: usize, extra: &str) -> (Cluster, PathBuf) {
    require_python();
    let cluster = Cluster::start(name, n, &format!("code_directory: ./code\n{extra}"));
    let code = cluster.scratch.0.join("code");
    fs::create_dir_all(code.join("global")).unwrap();
    (cluster, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_actors_serve_call_other_actors_and_print_to_the_node_log() {
    let (cluster, code) = code_cluster("code-serve", 2, "");
    deploy(&code, "global", "Pong.py", PONG);
    deploy(&code, "global", "Relay.py", RELAY);
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;

    // Pong.py replaces the stock node's demo Pong; both nodes offer it.
    let types = client.types(Some("global")).await.unwrap();
    let pong = types.iter().find(|t| t.actor_type.as_str() == "Pong").unwrap();
    assert_eq!(pong.origin, Origin::CodeDirectory);
    assert_eq!(pong.nodes.len(), 2);
    assert_eq!(pong.sha256.as_ref().unwrap().len(), 64);
    let echo = types.iter().find(|t| t.actor_type.as_str() == "Echo").unwrap();
    assert_eq!((echo.origin, echo.sha256.as_deref()), (Origin::Builtin, None));

    let spec = client
        .actor("Pong", ["svc/pongers/1", "grp/a"])
        .param("greeting", "hello")
        .ident("tester")
        .strategy(Strategy::Roundrobin, None)
        .count(2);
    let pongs = client.add_actor(spec).await.unwrap();
    let reply = ask(&client, "svc/pongers", "ping", &Value::map([("n", 1)])).await;
    assert_eq!(text(&reply, "greeting"), "hello");
    assert!(reply.get("time").and_then(Value::as_f64).unwrap() > 1.7e9);

    // py-beach's return conventions, exceptions and unknown kinds.
    let h = client.handle("svc/pongers");
    let err = h.request("fail", &()).await.unwrap_err();
    assert_eq!(err.message(), "nope");
    let beach_core::actor::RequestError::Remote { data: Some(data), .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(text(&data.to_value().unwrap(), "why"), "asked to");
    let err = h.request("raise", &()).await.unwrap_err();
    assert!(err.is(ErrorCode::Exception), "{err}");
    let beach_core::actor::RequestError::Remote { data: Some(tb), .. } = &err else {
        panic!("{err:?}")
    };
    assert!(format!("{:?}", tb.to_value().unwrap()).contains("ZeroDivisionError"));
    let err = h.request("nothing", &()).await.unwrap_err();
    assert!(err.is(ErrorCode::Unsupported), "{err}");
    assert!(h.request("ok", &()).await.unwrap().is_null());

    // The actor's own calls: sync and async handlers, fan-out, groups, availability, errors.
    let relay = client.actor("Relay", ["relay"]).resource("backend", "svc/pongers");
    client.add_actor(relay).await.unwrap();
    let got = ask(&client, "relay", "sync", &Value::map([("x", 1)])).await;
    assert_eq!(got.get("ok").and_then(Value::as_bool), Some(true));
    let got = ask(&client, "relay", "async", &Value::Null).await;
    assert_eq!(text(&got, "greeting"), "hello");
    let got = ask(&client, "relay", "all", &Value::Null).await;
    assert_eq!(got, Value::Array(vec![Value::from("hello"), Value::from("hello")]));
    let got = ask(&client, "relay", "group", &Value::Null).await;
    assert_eq!(got.get("grp/a").and_then(Value::as_bool), Some(true), "{got:?}");
    let got = ask(&client, "relay", "available", &Value::Null).await;
    assert_eq!(got.as_i64(), Some(2));
    let got = ask(&client, "relay", "missing", &Value::Null).await;
    assert_eq!(got.get("success").and_then(Value::as_bool), Some(false));
    assert!(text(&got, "error").contains("no actor"), "{got:?}");
    assert_eq!(text(&got, "last"), text(&got, "error"));

    // zInc shows in the load, and printed lines reach the node log tagged with the actor id.
    let one = pongs[0].clone();
    for _ in 0..3 {
        client.handle("svc/pongers").to_actor(one.clone()).request("count", &()).await.unwrap();
    }
    let load = client.load_info().await.unwrap();
    let counted = load.iter().find(|l| l.id == one).unwrap();
    assert_eq!(counted.custom.get("pings"), Some(&3.0));
    // A line printed while serving a request names the actor and the request's id.
    let tagged = format!("[{one} req=");
    let logged = eventually(Duration::from_secs(5), || async {
        cluster.nodes.iter().any(|n| {
            n.log_text().lines().any(|l| l.contains(&tagged) && l.contains("] Received ping:"))
        })
    })
    .await;
    assert!(logged, "no line {tagged:?} in the node logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_a_new_version_and_running_actors_keep_theirs() {
    let (cluster, code) = code_cluster("code-versions", 1, "");
    let version = |v: u32| {
        format!(
            "from beach.actor import Actor\nimport os\n\nclass V(Actor):\n    def init(self, parameters):\n        self.handle('v', lambda msg: {{'v': {v}, 'pid': os.getpid()}})\n"
        )
    };
    deploy(&code, "global", "V.py", &version(1));
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;
    let first = client.add_actor(client.actor("V", ["v1"])).await.unwrap();
    let sha1 = client.types(Some("global")).await.unwrap();
    // Twenty more of the same version share its process.
    client.add_actor(client.actor("V", ["v1"]).count(20)).await.unwrap();
    let isolated =
        client.add_actor(client.actor("V", ["iso"]).isolated(true).count(2)).await.unwrap();

    deploy(&code, "global", "V.py", &version(2));
    client.add_actor(client.actor("V", ["v2"])).await.unwrap();
    let sha2 = client.types(Some("global")).await.unwrap();
    let sha = |t: &[beach_core::client::TypeInfo]| {
        t.iter().find(|t| t.actor_type.as_str() == "V").unwrap().sha256.clone().unwrap()
    };
    assert_ne!(sha(&sha1), sha(&sha2));

    let old = ask(&client, "v1", "v", &Value::Null).await;
    let new = ask(&client, "v2", "v", &Value::Null).await;
    assert_eq!(old.get("v").and_then(Value::as_i64), Some(1), "the running actor changed code");
    assert_eq!(new.get("v").and_then(Value::as_i64), Some(2));
    assert_ne!(old.get("pid"), new.get("pid"), "two versions share a process");
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..40 {
        pids.insert(ask(&client, "v1", "v", &Value::Null).await.get("pid").and_then(Value::as_i64));
    }
    assert_eq!(pids.len(), 1, "the 21 actors of one version run in one process: {pids:?}");
    let iso: Vec<_> = {
        let mut v = Vec::new();
        for id in &isolated {
            let r = client.handle("iso").to_actor(id.clone()).request("v", &()).await.unwrap();
            v.push(r.to_value().unwrap().get("pid").and_then(Value::as_i64));
        }
        v
    };
    assert_ne!(iso[0], iso[1], "isolated actors share a process");
    assert!(!pids.contains(&iso[0]), "an isolated actor runs in the shared process");
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_only_picks_nodes_that_offer_the_type() {
    require_python();
    let scratch = Scratch::new("code-placement");
    let ports = free_ports(2);
    let seeds = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect::<Vec<_>>().join(", ");
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let dir = scratch.0.join(format!("code{i}"));
        fs::create_dir_all(dir.join("global")).unwrap();
        let yaml = format!(
            "cluster_name: test\nseed_nodes: [{seeds}]\nprobe_interval: 500ms\nsync_interval: 500ms\ncode_directory: ./code{i}\n"
        );
        let path = scratch.0.join(format!("node{i}.yaml"));
        fs::write(&path, yaml).unwrap();
        nodes.push(NodeProc::start(&path, *port, scratch.0.join(format!("node{i}.log"))));
    }
    // Only node 0 has the file: a rollout that reached one node.
    deploy(
        &scratch.0.join("code0"),
        "global",
        "Only.py",
        PONG.replace("class Pong", "class Only").as_str(),
    );
    let config = beach_node::files::load_config(&scratch.0.join("node1.yaml")).unwrap();
    let client = connect(&config, vec![nodes[1].endpoint()]).await;
    assert!(eventually(JOIN, || async { client.node_count().await.unwrap_or(0) == 2 }).await);

    let spec = client.actor("Only", ["only"]).strategy(Strategy::Random, None).count(6);
    let placed = client.place(spec.clone()).await.unwrap();
    assert!(placed.iter().all(|(n, _)| n.endpoint() == &nodes[0].endpoint()), "{placed:?}");
    assert!(placed[0].1.contains("1 of 2 nodes offer Only"), "{placed:?}");
    let ids = client.add_actor(spec).await.unwrap();
    assert!(ids.iter().all(|id| id.node().endpoint() == &nodes[0].endpoint()));

    let err = client.add_actor(client.actor("Nowhere", ["x"])).await.unwrap_err().to_string();
    assert!(err.contains("none of the 2 live nodes offers it"), "{err}");
    let types = client.types(None).await.unwrap();
    let only = types.iter().find(|t| t.actor_type.as_str() == "Only").unwrap();
    assert_eq!(only.nodes.len(), 1);
}

const FRAGILE: &str = r#"from beach.actor import Actor
import os, time

class Fragile(Actor):
    def init(self, parameters):
        if parameters.get("raise"):
            raise ValueError("no database at %s" % parameters["raise"])
        if parameters.get("hang"):
            time.sleep(120)
        self.handle("slow", lambda msg: time.sleep(60))
        self.handle("die", lambda msg: os._exit(3))
        self.handle("ping", lambda msg: "pong")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_actor_programs_fail_their_spawns_and_requests_but_never_the_node() {
    let (cluster, code) =
        code_cluster("code-fail", 1, "actor_init_timeout: 1s\nmax_frame_size: 64KiB\n");
    deploy(&code, "global", "Fragile.py", FRAGILE);
    deploy(&code, "global", "Broken.py", "from beach.actor import Actor\nclass Broken(Actor:\n");
    deploy(&code, "global", "Exits.py", "import os\nos._exit(7)\n");
    deploy(&code, "global", "NoClass.py", "x = 1\n");
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;

    let err = client
        .add_actor(client.actor("Fragile", ["f"]).param("raise", "db:5432"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ValueError: no database at db:5432"), "{err}");
    assert!(err.contains("Traceback"), "the spawn's error has no traceback: {err}");
    let started = Instant::now();
    let err = client.add_actor(client.actor("Fragile", ["f"]).param("hang", &true)).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("did not finish within 1s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(8));
    let err = client.add_actor(client.actor("Broken", ["b"])).await.unwrap_err().to_string();
    assert!(err.contains("SyntaxError"), "{err}");
    let err = client.add_actor(client.actor("Exits", ["e"])).await.unwrap_err().to_string();
    assert!(err.contains("exit"), "{err}");
    let err = client.add_actor(client.actor("NoClass", ["n"])).await.unwrap_err().to_string();
    assert!(err.contains("defines no class NoClass(Actor)"), "{err}");
    // Parameters that fit the spawn but not the init frame (a few bytes larger) fail it at
    // once, not on the init timeout: the first size refused must be refused for that.
    let mut refused = None;
    for size in (64 * 1024 - 600..64 * 1024).step_by(10) {
        let big = "p".repeat(size);
        if let Err(e) = client.add_actor(client.actor("Fragile", ["big"]).param("big", &big)).await
        {
            refused = Some((size, e.to_string()));
            break;
        }
    }
    let (size, err) = refused.expect("no parameters were too large");
    assert!(err.contains("parameters too large"), "{size} bytes: {err}");

    // A process that dies: its requests in flight fail at once, its actor leaves the
    // directory, and the next spawn starts a new process.
    let ids = client.add_actor(client.actor("Fragile", ["f"])).await.unwrap();
    let slow = {
        let h = client.handle("f").timeout(Duration::from_secs(60)).retries(0);
        tokio::spawn(async move {
            let t = Instant::now();
            (h.request("slow", &()).await, t.elapsed())
        })
    };
    let h = client.handle("f");
    assert!(
        eventually(Duration::from_secs(5), || async {
            client.load_info().await.unwrap().iter().any(|l| l.in_flight > 0)
        })
        .await
    );
    let _ = h.shoot("die", &());
    let (result, took) = slow.await.unwrap();
    assert!(result.unwrap_err().is(ErrorCode::WrongDest));
    assert!(took < Duration::from_secs(10), "the request waited for its timeout: {took:?}");
    assert!(
        gone_from_directories(&cluster.config, &cluster.nodes, &ids, Duration::from_secs(3)).await
    );
    client.add_actor(client.actor("Fragile", ["f2"])).await.unwrap();
    assert_eq!(ask(&client, "f2", "ping", &Value::Null).await, Value::from("pong"));
    // The node serves on.
    client.add_actor(client.actor("Echo", ["echo"])).await.unwrap();
    assert_eq!(ask(&client, "echo", "x", &Value::from(5)).await, Value::from(5));
}

/// Says ready, then ignores everything: its socket, SIGTERM.
const STUBBORN: &str = r#"#!/usr/bin/env python3
import os, signal, socket, time
from beach import protocol
signal.signal(signal.SIGTERM, signal.SIG_IGN)
conn = protocol.Connection(socket.socket(fileno=int(os.environ["BEACH_ACTOR_FD"])))
conn.send({"t": "hello", "version": 1})
conn.recv()
init = conn.recv()
conn.send({"t": "ready", "actor": init["actor"]})
while True:
    time.sleep(1)
"#;

/// The children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let list = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(list.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_with_sigkill_leaves_no_actor_process_behind() {
    let (mut cluster, code) = code_cluster("code-orphans", 1, "");
    deploy(&code, "global", "Pong.py", PONG);
    // A program that ignores its socket closing and SIGTERM: only the parent-death signal
    // ends it.
    deploy(&code, "global", "Stubborn", STUBBORN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(code.join("global/Stubborn"), fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;
    client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
    client.add_actor(client.actor("Pong", ["q"]).isolated(true)).await.unwrap();
    client.add_actor(client.actor("Stubborn", ["s"])).await.unwrap();
    let kids = children(cluster.nodes[0].child.id());
    assert_eq!(kids.len(), 3, "shared, isolated and stubborn processes: {kids:?}");
    cluster.nodes[0].kill9();
    let alive = || kids.iter().filter(|k| Path::new(&format!("/proc/{k}")).exists()).count();
    let start = Instant::now();
    while alive() > 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(alive(), 0, "actor processes outlived their node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executable_in_another_language_is_an_actor_too() {
    let (cluster, code) = code_cluster("code-exe", 1, "");
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/js");
    let node_js = std::process::Command::new("node").arg("--version").output();
    assert!(node_js.is_ok_and(|o| o.status.success()), "this test needs node (JavaScript)");
    let program = format!(
        "#!/usr/bin/env node\nconst {{ serve }} = require({:?});\nserve({{ init: (a) => {{ a.handle('upper', (m) => String(m.data).toUpperCase()); }} }});\n",
        sdk.join("beach-actor.js").canonicalize().unwrap()
    );
    deploy(&code, "global", "Upper", &program);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(code.join("global/Upper"), fs::Permissions::from_mode(0o755)).unwrap();
    }
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;
    client.add_actor(client.actor("Upper", ["up"])).await.unwrap();
    assert_eq!(ask(&client, "up", "upper", &Value::from("shout")).await, Value::from("SHOUT"));
}

/// A program that breaks the protocol as its parameter says, after a proper start.
const HOSTILE: &str = r#"#!/usr/bin/env python3
import os, socket, struct, sys, time
from beach import protocol
how = os.environ["BEACH_ACTOR_TYPE"]
sock = socket.socket(fileno=int(os.environ["BEACH_ACTOR_FD"]))
conn = protocol.Connection(sock)
if how == "OldVersion":
    conn.send({"t": "hello", "version": 99})
    print(conn.recv())
    sys.exit(0)
if how == "Garbage":
    sock.sendall(b"\x00\x00\x00\x03\xff\xff\xff")
    time.sleep(30)
conn.send({"t": "hello", "version": 1})
conn.recv()
init = conn.recv()
conn.send({"t": "ready", "actor": init["actor"]})
while True:
    frame = conn.recv()
    if frame is None:
        break
    if frame["t"] == "request":
        # An answer to a request nobody sent, then one that is not a frame at all.
        conn.send({"t": "answer", "rid": 424242, "ok": True, "data": None})
        sock.sendall(struct.pack(">I", 0x7fffffff))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_that_break_the_protocol_are_refused_or_stopped_and_the_node_serves_on() {
    let (cluster, code) = code_cluster("code-hostile", 1, "");
    for name in ["OldVersion", "Garbage", "Oversize"] {
        deploy(&code, "global", name, HOSTILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(code.join("global").join(name), fs::Permissions::from_mode(0o755))
                .unwrap();
        }
    }
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;
    let err = client.add_actor(client.actor("OldVersion", ["x"])).await.unwrap_err().to_string();
    assert!(
        err.contains("actor protocol version 99 is not supported (this node speaks 1)"),
        "{err}"
    );
    let err = client.add_actor(client.actor("Garbage", ["x"])).await.unwrap_err().to_string();
    assert!(err.contains("first frame is not a hello"), "{err}");
    let ids = client.add_actor(client.actor("Oversize", ["o"])).await.unwrap();
    let err = client.handle("o").retries(0).request("any", &()).await.unwrap_err();
    assert!(err.is(ErrorCode::WrongDest), "{err}");
    assert!(
        gone_from_directories(&cluster.config, &cluster.nodes, &ids, Duration::from_secs(3)).await
    );
    let log = cluster.nodes[0].log_text();
    assert!(log.contains("exceeds the maximum"), "the protocol error is not logged:\n{log}");
    client.add_actor(client.actor("Echo", ["echo"])).await.unwrap();
    assert_eq!(ask(&client, "echo", "x", &Value::from(1)).await, Value::from(1));
}
