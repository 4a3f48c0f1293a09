//! Faults on a simulated cluster: crashes, partitions, restarts, and what routing does about
//! them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use beach::client::NodeState;
use beach::model::{ActorId, Realm};
use beach::placement::Strategy;
use beach_transport_mem::{LinkConfig, SimBuilder};
use common::{Add, Incr, Who, converge, knows_actors_of, registry};

const SETTLE: Duration = Duration::from_secs(10);

#[test]
fn a_crashed_nodes_actors_vanish_from_every_directory_within_10s() {
    for seed in 0..5 {
        SimBuilder::new(100 + seed).registry(registry()).run(|mut sim| async move {
            sim.add_nodes(5).await;
            converge(&sim, SETTLE).await;
            let client = sim.client().await;
            let spec = client.actor("Whoami", ["w"]).strategy(Strategy::Roundrobin, None).count(10);
            client.add_actor(spec).await.unwrap();
            converge(&sim, SETTLE).await;
            let victim = sim.live(3).id().clone();
            assert!(knows_actors_of(&sim, 0, &victim));
            sim.crash(3);
            let took = sim
                .run_until(Duration::from_secs(10), |s| {
                    s.running().iter().all(|&i| !knows_actors_of(s, i, &victim))
                })
                .await;
            assert!(took.is_some(), "the crashed node's actors are still listed after 10s");
            // Routing avoids it: every request succeeds without retries.
            for _ in 0..20 {
                let who = client.handle("w").ask(Who).await.unwrap();
                assert_ne!(who.actor().node(), &victim);
            }
        });
    }
}

#[test]
fn a_partition_heals_and_directories_converge_again() {
    SimBuilder::new(7).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(4).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let spec = client.actor("Whoami", ["before"]).strategy(Strategy::Roundrobin, None).count(4);
        client.add_actor(spec).await.unwrap();
        sim.partition(&[0, 1], &[2, 3]);
        // Each side declares the other down and carries on.
        let split = sim
            .run_until(Duration::from_secs(15), |s| {
                s.live(0).members().len() == 1 && s.live(2).members().len() == 1
            })
            .await;
        assert!(split.is_some(), "the sides never noticed the partition");
        // Changes on one side while cut off.
        let spec = client.actor("Whoami", ["during"]).count(2);
        client.add_actor(spec).await.unwrap();
        sim.heal();
        let healed = converge(&sim, Duration::from_secs(30)).await;
        eprintln!("re-converged {healed:?} after healing");
        for i in 0..4 {
            let dir = sim.live(i).directory();
            assert_eq!(dir.lookup(&Realm::global(), "before").len(), 4, "node {i}");
            assert_eq!(dir.lookup(&Realm::global(), "during").len(), 2, "node {i}");
        }
    });
}

#[test]
fn a_one_way_partition_does_not_split_the_directory_for_good() {
    SimBuilder::new(8).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        sim.partition_one_way(0, 1);
        sim.sleep(Duration::from_secs(10)).await;
        sim.heal();
        converge(&sim, Duration::from_secs(30)).await;
    });
}

#[test]
fn a_restarted_node_is_a_new_member_and_its_old_actors_never_come_back() {
    SimBuilder::new(9).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let host = sim.endpoint(2).as_str().split(':').next().unwrap().to_owned();
        let spec =
            client.actor("Whoami", ["w"]).strategy(Strategy::HostAffinity, Some(&host)).count(3);
        let old: Vec<ActorId> = client.add_actor(spec).await.unwrap();
        converge(&sim, SETTLE).await;
        let old_id = sim.live(2).id().clone();
        sim.restart(2).await;
        let new_id = sim.live(2).id().clone();
        assert_ne!(old_id, new_id);
        assert_eq!(old_id.endpoint(), new_id.endpoint());
        converge(&sim, SETTLE).await;
        for _ in 0..3 {
            sim.sleep(Duration::from_secs(5)).await;
            for i in 0..3 {
                let listed = sim.live(i).directory().lookup(&Realm::global(), "");
                assert!(
                    old.iter().all(|a| !listed.contains(a)),
                    "node {i} lists an old actor: {listed:?}"
                );
                assert!(!knows_actors_of(&sim, i, &old_id));
            }
        }
        assert!(sim.live(0).members().contains(&new_id));
        assert!(!sim.live(0).members().contains(&old_id));
    });
}

#[test]
fn affinity_keys_stay_put_and_only_the_lost_actors_keys_move() {
    SimBuilder::new(10).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let spec = client.actor("Whoami", ["aff"]).strategy(Strategy::Roundrobin, None).count(5);
        client.add_actor(spec).await.unwrap();
        let keys: Vec<String> = (0..60).map(|k| format!("user:{k}")).collect();
        let route = |client: beach::client::Beach| {
            let keys = keys.clone();
            async move {
                let mut out = BTreeMap::new();
                for k in &keys {
                    let who = client.handle("aff").key(k).ask(Who).await.unwrap();
                    out.insert(k.clone(), who.actor());
                }
                out
            }
        };
        let first = route(client.clone()).await;
        assert_eq!(first, route(client.clone()).await, "the same keys reach the same actors");
        // Another client, with its own connections and view, maps keys the same way.
        let other = sim.client().await;
        assert_eq!(first, route(other).await);

        let lost = first["user:0"].clone();
        client.stop_actors(std::slice::from_ref(&lost), &[]).await.unwrap();
        converge(&sim, SETTLE).await;
        let after = route(client.clone()).await;
        for k in &keys {
            if first[k] == lost {
                assert_ne!(after[k], lost);
            } else {
                assert_eq!(after[k], first[k], "key {k} moved although its actor stayed");
            }
        }
    });
}

#[test]
fn requests_survive_loss_duplication_and_reordering_with_retries() {
    SimBuilder::new(12).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let spec = client.actor("Counter", ["c"]).strategy(Strategy::Roundrobin, None).count(3);
        client.add_actor(spec).await.unwrap();
        sim.set_default_link(LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(5),
            drop: 0.05,
            duplicate: 0.05,
        });
        // Counting is safe to repeat: lost requests and replies (timeouts) are retried too.
        let h = client.handle("c").timeout(Duration::from_secs(2)).retries(3).retry_timeouts(true);
        let mut ok = 0;
        for _ in 0..100 {
            if h.request("count", &()).await.is_ok() {
                ok += 1;
            }
        }
        // 5% loss each way, three retries: essentially every request gets through.
        assert!(ok >= 97, "{ok} of 100");
        sim.set_default_link(LinkConfig::default());
        converge(&sim, Duration::from_secs(30)).await;
    });
}

#[test]
fn with_loss_a_keys_acknowledged_writes_all_land_on_its_owner() {
    SimBuilder::new(15).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let spec = client.actor("Tally", ["kv"]).strategy(Strategy::Roundrobin, None).count(3);
        client.add_actor(spec).await.unwrap();
        sim.set_default_link(LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(5),
            drop: 0.05,
            duplicate: 0.0,
        });
        // Writes are not safe to repeat: timeouts are not retried (the default), so a lost
        // answer is an error to the caller, never a write on another shard.
        let mut acked: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        let mut failed = 0;
        for i in 0..300 {
            let key = format!("k{}", i % 10);
            let h = client.handle("kv").key(&key).timeout(Duration::from_millis(500));
            match h.ask(Add { key: key.clone() }).await {
                Ok(ack) => acked.entry(key).or_default().push(ack),
                Err(_) => failed += 1,
            }
        }
        assert!(failed > 0, "5% loss each way should cost some writes");
        for (key, acks) in &acked {
            let owners: BTreeSet<&String> = acks.iter().map(|(id, _)| id).collect();
            assert_eq!(owners.len(), 1, "key {key} was written on {owners:?}");
            // The owner saw every acknowledged write, and at most the unacknowledged ones more.
            let last = acks.iter().map(|(_, n)| *n).max().unwrap();
            assert!(last >= acks.len() as u64, "key {key}: {last} < {}", acks.len());
        }
        sim.set_default_link(LinkConfig::default());
    });
}

#[test]
fn a_node_that_shuts_down_leaves_at_once_and_drains_its_actors() {
    SimBuilder::new(13).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let host = sim.endpoint(1).as_str().split(':').next().unwrap().to_owned();
        for t in ["Worker", "Sleeper"] {
            let spec = client.actor(t, [t]).strategy(Strategy::HostAffinity, Some(&host));
            client.add_actor(spec).await.unwrap();
        }
        // Requests in flight when the node is told to stop: one that ends within the drain
        // grace period is answered, one that would take longer is cut off.
        let short = client.handle("Worker").timeout(Duration::from_secs(30));
        let short = tokio::spawn(async move { short.request("work", &()).await });
        let long = client.handle("Sleeper").timeout(Duration::from_secs(30));
        let long = tokio::spawn(async move { long.request("sleep", &()).await });
        sim.sleep(Duration::from_millis(100)).await;
        let leaving = sim.live(1).id().clone();
        sim.shutdown(1).await;
        assert_eq!(short.await.unwrap().unwrap().decode::<String>().unwrap(), "done");
        assert!(
            long.await.unwrap().is_err(),
            "a request longer than the grace period was not cut off"
        );
        // Peers were told: no waiting for suspicion (probe period + suspect timeout = 4s).
        let gone = sim
            .run_until(Duration::from_secs(1), |s| {
                [0, 2].iter().all(|&i| !s.live(i).members().contains(&leaving))
            })
            .await;
        assert!(gone.is_some(), "peers kept the node that left");
    });
}

#[test]
fn a_slow_link_between_two_nodes_slows_only_what_crosses_it() {
    SimBuilder::new(14).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let on = |i: usize| sim.endpoint(i).as_str().split(':').next().unwrap().to_owned();
        let spec = client.actor("Counter", ["far"]).strategy(Strategy::HostAffinity, Some(&on(1)));
        client.add_actor(spec).await.unwrap();
        let spec = client.actor("Counter", ["near"]).strategy(Strategy::HostAffinity, Some(&on(2)));
        client.add_actor(spec).await.unwrap();
        for (name, backend) in [("via-far", "far"), ("via-near", "near")] {
            let spec = client
                .actor("Relay", [name])
                .strategy(Strategy::HostAffinity, Some(&on(0)))
                .resource("backend", backend);
            client.add_actor(spec).await.unwrap();
        }
        sim.set_link(
            0,
            1,
            LinkConfig { latency: Duration::from_millis(100), ..LinkConfig::default() },
        );
        let timed = |category: &'static str| {
            let client = client.clone();
            let rt = sim.runtime();
            async move {
                let start = rt.now();
                let _ = client.handle(category).ask(Incr).await.unwrap();
                rt.now() - start
            }
        };
        // Node 0 -> node 1 and back crosses the slow link twice; node 0 -> node 2 does not.
        let far = timed("via-far").await;
        let near = timed("via-near").await;
        assert!(far >= Duration::from_millis(200), "{far:?}");
        assert!(near < Duration::from_millis(20), "{near:?}");
    });
}

#[test]
fn nodes_lists_a_suspected_node_as_suspect_before_it_is_down() {
    SimBuilder::new(14).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let quiet = sim.live(2).id().clone();
        // Node 2 hears nobody: its peers' probes go unanswered and they suspect it.
        sim.partition(&[2], &[0, 1]);
        let mut states = Vec::new();
        for _ in 0..200 {
            let nodes = client.nodes().await.unwrap();
            let state = nodes.iter().find(|n| n.id == quiet).map(|n| n.state);
            states.push(state);
            if state == Some(NodeState::Suspect) {
                break;
            }
            sim.sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(*states.last().unwrap(), Some(NodeState::Suspect), "{states:?}");
        sim.heal();
    });
}

#[test]
fn a_spawn_that_fails_on_one_node_returns_the_actors_that_started_and_the_failure() {
    use beach::client::ClientError;
    SimBuilder::new(15).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let doomed = sim.live(2).id().clone();
        // Every node offers the type; its init fails on one of them.
        let spec = client
            .actor("Failing", ["p"])
            .param("fail_on", doomed.endpoint().as_str())
            .strategy(Strategy::Roundrobin, None)
            .count(6);
        match client.add_actor(spec).await {
            Err(ClientError::Partial { done, errors }) => {
                assert_eq!(done.len(), 4, "{done:?}");
                assert!(done.iter().all(|id| id.node() != &doomed));
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert!(errors[0].contains("boom"), "{errors:?}");
            }
            other => panic!("expected a partial spawn, got {other:?}"),
        }
        assert_eq!(client.handle("p").num_available(), 4, "the ones that started stay");
    });
}

#[test]
fn placement_leaves_out_a_node_that_does_not_answer() {
    SimBuilder::new(16).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let gone = sim.live(2).id().clone();
        // Crashed before membership noticed: it cannot say it offers the type, so no actor is
        // placed there and the spawn succeeds on the others.
        sim.crash(2);
        let spec = client.actor("Pong", ["p"]).strategy(Strategy::Roundrobin, None).count(6);
        let ids = client.add_actor(spec).await.unwrap();
        assert_eq!(ids.len(), 6);
        assert!(ids.iter().all(|id| id.node() != &gone), "{ids:?}");
    });
}
