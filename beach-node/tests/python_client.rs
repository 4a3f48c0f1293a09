//! The Python client (`beach.beach_api.Beach`, py-beach's API over the HTTP gateway) against a
//! 3-node cluster of real `beach-node` processes: py-beach's `start.py` sample (Ping by
//! `resource`, Pong by `affinity` toward `pingers`, then `ping`), then the rest of its API
//! (python/tests/start_sample.py). Needs `python3` with `cbor2` and PyYAML, as the README's
//! set-up says.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Cluster, eventually};

/// py-beach's README Ping and Pong, unchanged.
const PING: &str = "from beach.actor import Actor\nimport time\n\nclass Ping ( Actor ):\n\n    def init( self, parameters ):\n        self.zPong = self.getActorHandle( category = 'myactors/pongers' )\n        self.schedule( 5, self.pinger )\n\n    def pinger( self ):\n        print( \"Sending ping\" )\n        data = self.zPong.request( 'ping', data = { 'time' : time.time() }, timeout = 10 )\n        print( \"Received pong: %s\" % str( data ) )\n\n    def deinit( self ):\n        print( \"Called deinit of actor.\" )\n";
const PONG: &str = "from beach.actor import Actor\nimport time\n\nclass Pong ( Actor ):\n\n    def init( self, parameters ):\n        print( \"Called init of actor.\" )\n        self.handle( 'ping', self.ponger )\n\n    def ponger( self, msg ):\n        print( \"Received ping: %s\" % str( msg ) )\n        return { 'time' : time.time() }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_beachs_start_sample_and_the_client_api_through_the_gateways() {
    let extra = "admin_token: client-test\ncode_directory: ./code\n";
    let (cluster, urls) = Cluster::start_http("py-client", 3, extra);
    let code = cluster.scratch.0.join("code").join("global");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("Ping.py"), PING).unwrap();
    std::fs::write(code.join("Pong.py"), PONG).unwrap();
    cluster.wait_joined(Duration::from_secs(20)).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for u in &urls {
        let ready = eventually(Duration::from_secs(20), || async {
            http.get(format!("{u}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "{u} never became ready");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let out = Command::new("python3")
        .arg(root.join("python/tests/start_sample.py"))
        .arg(&cluster.config_path)
        .env("PYTHONPATH", root.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("BEACH_GATEWAY", urls.join(","))
        .output()
        .expect("python3 runs (install Python 3.11 with cbor2 and pyyaml)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("start_sample: ok"), "{text}");
}
