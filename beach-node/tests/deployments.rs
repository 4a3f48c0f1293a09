//! Deployments on real `beach-node` processes: a node killed with SIGKILL has its replicas
//! replaced on the survivors; a restarted node duplicates nothing; a changed spec rolls over
//! while requests go on succeeding; a code directory's `deployments.yaml` owns what it
//! declares; with `state_dir` the deployments outlive a restart of the whole cluster.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use beach_core::client::Beach;
use beach_core::deploy::{DeployFile, DeploymentSpec};
use beach_core::model::ActorId;
use beach_core::value::Payload;
use common::{Cluster, NodeProc, connect, eventually, try_connect};

const JOIN: Duration = Duration::from_secs(20);

fn pongers(replicas: u32, greeting: &str) -> DeploymentSpec {
    let text = format!(
        "deployments:\n  - name: pongers\n    type: Pong\n    categories: [svc/pongers/1.0]\n    replicas: {replicas}\n    strategy: repulsion\n    hint: svc/pongers\n    params: {{greeting: {greeting}}}\n"
    );
    DeployFile::parse(&text).unwrap().deployments.remove(0)
}

/// The actors in `category` as `client` sees them.
async fn actors(client: &Beach, category: &str) -> Vec<ActorId> {
    let dir = client.directory(category).await.unwrap_or_default();
    let set: BTreeSet<ActorId> = dir.into_values().flatten().collect();
    set.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_come_back_after_sigkill_stay_single_after_a_restart_and_roll_over_under_load() {
    let mut cluster = Cluster::start("deploy-kill", 3, "");
    cluster.wait_joined(JOIN).await;
    let first = cluster.client_of(0).await;
    first.deploy_apply(vec![pongers(6, "one")], false).await.unwrap();
    let complete = eventually(Duration::from_secs(20), || async {
        first.deploy_status(&["pongers"]).await.is_ok_and(|s| s[0].complete)
    })
    .await;
    assert!(complete, "6 replicas never ran");
    first.close();

    // Kill -9 the node the spec went through.
    let dead = cluster.nodes[0].endpoint();
    cluster.nodes[0].kill9();
    let survivor = connect(&cluster.config, vec![cluster.nodes[1].endpoint()]).await;
    let start = Instant::now();
    let back = eventually(Duration::from_secs(10), || async {
        let ids = actors(&survivor, "svc/pongers").await;
        ids.len() == 6 && ids.iter().all(|a| a.node().endpoint() != &dead)
    })
    .await;
    assert!(back, "6 replicas did not run on the survivors within 10 s");
    eprintln!("6 replicas on the survivors {:?} after kill -9", start.elapsed());

    // Restart it: nothing is duplicated or moved.
    let port = cluster.nodes[0].port;
    cluster.nodes[0] =
        NodeProc::start(&cluster.config_path, port, cluster.scratch.0.join("node0-again.log"));
    cluster.wait_joined(JOIN).await;
    let before = actors(&survivor, "svc/pongers").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(actors(&survivor, "svc/pongers").await, before, "replicas moved or doubled");

    // A changed spec rolls over; requests succeed throughout.
    let old = actors(&survivor, "svc/pongers").await;
    survivor.deploy_apply(vec![pongers(6, "two")], false).await.unwrap();
    let handle = survivor.handle("svc/pongers").timeout(Duration::from_secs(5)).retries(2);
    let mut asked = 0;
    let rolled = Instant::now();
    loop {
        let reply = handle.request("ping", &Payload::null()).await;
        reply.unwrap_or_else(|e| panic!("a request failed during the rollout: {e}"));
        asked += 1;
        let done = survivor.deploy_status(&["pongers"]).await.is_ok_and(|s| s[0].complete);
        let now = actors(&survivor, "svc/pongers").await;
        if done && now.iter().all(|a| !old.contains(a)) {
            break;
        }
        assert!(rolled.elapsed() < Duration::from_secs(60), "no rollover after {asked} requests");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("rolled over in {:?}, {asked} requests, none failed", rolled.elapsed());
    assert_eq!(actors(&survivor, "svc/pongers").await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_directory_file_owns_its_deployments() {
    let cluster = Cluster::start("deploy-file", 2, "code_directory: ./code\n");
    let dir = cluster.scratch.0.join("code").join("global");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("deployments.yaml");
    fs::write(
        &file,
        "deployments:\n  - {name: echoes, type: Echo, categories: [svc/echoes], replicas: 3}\n",
    )
    .unwrap();
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(1).await;
    let ran = eventually(Duration::from_secs(30), || async {
        actors(&client, "svc/echoes").await.len() == 3
    })
    .await;
    assert!(ran, "the file's deployment never ran");
    let status = client.deploy_status(&["echoes"]).await.unwrap();
    assert_eq!(status[0].file.as_deref(), Some("global/deployments.yaml"));
    // An apply of the same name from outside is refused, saying why.
    let spec = DeployFile::parse(
        "deployments:\n  - {name: echoes, type: Echo, categories: [svc/echoes], replicas: 1}\n",
    )
    .unwrap()
    .deployments;
    let err = client.deploy_apply(spec, false).await.unwrap_err().to_string();
    assert!(err.contains("owned by the code directory's global/deployments.yaml"), "{err}");
    // Removing the entry deletes the deployment.
    fs::write(&file, "deployments: []\n").unwrap();
    let gone = eventually(Duration::from_secs(30), || async {
        actors(&client, "svc/echoes").await.is_empty()
    })
    .await;
    assert!(gone, "removing the entry did not delete the deployment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_state_dir_deployments_outlive_a_restart_of_the_whole_cluster() {
    let mut cluster = Cluster::start("deploy-state", 2, "state_dir: ./state\n");
    cluster.wait_joined(JOIN).await;
    let client = cluster.client_of(0).await;
    client.deploy_apply(vec![pongers(2, "kept")], false).await.unwrap();
    assert!(
        eventually(Duration::from_secs(20), || async {
            actors(&client, "svc/pongers").await.len() == 2
        })
        .await
    );
    client.close();
    for i in 0..2 {
        cluster.nodes[i].kill9();
    }
    for i in 0..2 {
        let port = cluster.nodes[i].port;
        let log = cluster.scratch.0.join(format!("node{i}-again.log"));
        cluster.nodes[i] = NodeProc::start(&cluster.config_path, port, log);
    }
    cluster.wait_joined(JOIN).await;
    let client = try_connect(&cluster.config, vec![cluster.nodes[1].endpoint()]).await.unwrap();
    let back = eventually(Duration::from_secs(20), || async {
        actors(&client, "svc/pongers").await.len() == 2
    })
    .await;
    assert!(back, "the deployment did not come back; log:\n{}", cluster.nodes[1].log_text());
}
