//! Deployments on a simulated cluster: the cluster keeps the declared replicas running through
//! crashes, restarts, partitions, scaling and rollouts, and leaves actors spawned by hand alone.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use beach::deploy::{Change, DeployFile, DeploymentSpec};
use beach::model::{ActorId, NodeId, Realm};
use beach::placement::Strategy;
use beach_transport_mem::{SimBuilder, SimCluster};
use common::{Who, converge, registry};

const SETTLE: Duration = Duration::from_secs(10);

fn spec(name: &str, yaml_fields: &str) -> DeploymentSpec {
    let text = format!("deployments:\n  - name: {name}\n{yaml_fields}");
    DeployFile::parse(&text).unwrap().deployments.remove(0)
}

fn whoami(replicas: u32) -> DeploymentSpec {
    spec(
        "who",
        &format!(
            "    type: Whoami\n    categories: [svc/who/1]\n    replicas: {replicas}\n    strategy: repulsion\n    hint: svc/who\n"
        ),
    )
}

/// The actors in `category` as node `i` sees them.
fn actors(sim: &SimCluster, i: usize, category: &str) -> Vec<ActorId> {
    sim.live(i).directory().lookup(&Realm::global(), category)
}

/// Actors per node in `category`, as node `i` sees them.
fn per_node(sim: &SimCluster, i: usize, category: &str) -> BTreeMap<NodeId, usize> {
    let mut m = BTreeMap::new();
    for a in actors(sim, i, category) {
        *m.entry(a.node().clone()).or_default() += 1;
    }
    m
}

/// Whether every running node sees exactly `n` actors in `category`.
fn all_see(sim: &SimCluster, category: &str, n: usize) -> bool {
    sim.running().iter().all(|&i| actors(sim, i, category).len() == n)
}

#[test]
fn a_deployment_reaches_its_count_spread_and_comes_back_after_its_reconciler_crashes() {
    SimBuilder::new(41).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(4).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let changes = client.deploy_apply(vec![whoami(6)], false).await.unwrap();
        assert_eq!(changes, vec![("who".to_owned(), Change::Created)]);
        let took = sim.run_until(SETTLE, |s| all_see(s, "svc/who", 6)).await;
        assert!(took.is_some(), "6 replicas never ran (seed {})", sim.seed());
        // Repulsion spreads them: no node holds more than two of six on four nodes.
        assert!(
            per_node(&sim, 0, "svc/who").values().all(|&n| n <= 2),
            "{:?}",
            per_node(&sim, 0, "svc/who")
        );
        let status = client.deploy_status(&["who"]).await.unwrap();
        assert!(status[0].complete && status[0].running == 6, "{status:?}");
        assert_eq!(status[0].conditions, ["available"]);
        // Applying the same again changes nothing.
        let again = client.deploy_apply(vec![whoami(6)], false).await.unwrap();
        assert_eq!(again[0].1, Change::Unchanged);

        // Crash the node that acts for the deployment, and one more.
        let alive: Vec<NodeId> = sim.running().iter().map(|&i| sim.live(i).id().clone()).collect();
        let acting = beach::deploy::reconciler("who", &alive).unwrap().clone();
        let victim = sim.running().into_iter().find(|&i| sim.live(i).id() == &acting).unwrap();
        let other = sim.running().into_iter().find(|&i| i != victim && i != 0).unwrap();
        let dead = [acting.clone(), sim.live(other).id().clone()];
        sim.crash(victim);
        sim.crash(other);
        let back = sim
            .run_until(Duration::from_secs(30), |s| {
                all_see(s, "svc/who", 6)
                    && s.running()
                        .iter()
                        .all(|&i| actors(s, i, "svc/who").iter().all(|a| !dead.contains(a.node())))
            })
            .await;
        eprintln!("6 replicas again {back:?} after two crashes");
        assert!(back.is_some(), "replicas not replaced (seed {})", sim.seed());
        // Those starts were restarts (counted for the metrics); the first six were not.
        let restarts: u64 = sim.running().iter().map(|&i| sim.live(i).counters().restarts).sum();
        assert!((1..=6).contains(&restarts), "{restarts} restarts");

        // The crashed nodes come back: nothing is duplicated or moved.
        let before = actors(&sim, 0, "svc/who");
        sim.restart(victim).await;
        sim.restart(other).await;
        converge(&sim, Duration::from_secs(30)).await;
        sim.sleep(Duration::from_secs(5)).await;
        assert_eq!(actors(&sim, 0, "svc/who"), before, "replicas moved or doubled after a restart");
    });
}

#[test]
fn scaling_down_trims_to_the_count_and_deleting_stops_them_but_not_actors_spawned_by_hand() {
    SimBuilder::new(42).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let hand =
            client.add_actor(client.actor("Whoami", ["svc/who/hand"]).count(2)).await.unwrap();
        client.deploy_apply(vec![whoami(5)], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who/1", 5)).await.is_some());
        let restarts: u64 = sim.running().iter().map(|&i| sim.live(i).counters().restarts).sum();
        assert_eq!(restarts, 0, "creating a deployment restarts nothing");
        let changes = client.deploy_apply(vec![whoami(2)], false).await.unwrap();
        assert_eq!(changes[0].1, Change::Scaled);
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who/1", 2)).await.is_some());
        // Two of three nodes hold one each: the fullest nodes were trimmed.
        assert!(per_node(&sim, 0, "svc/who/1").values().all(|&n| n == 1));
        client.deploy_delete("who").await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who/1", 0)).await.is_some());
        sim.sleep(Duration::from_secs(3)).await;
        assert_eq!(
            actors(&sim, 0, "svc/who/hand"),
            hand,
            "a deployment touched actors spawned by hand"
        );
        let err = client.deploy_delete("who").await.unwrap_err();
        assert!(err.to_string().contains("no deployment who"), "{err}");
    });
}

#[test]
fn a_changed_spec_rolls_over_and_the_category_never_goes_empty() {
    SimBuilder::new(43).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        client.deploy_apply(vec![whoami(3)], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 3)).await.is_some());
        let old = actors(&sim, 0, "svc/who");
        let mut changed = whoami(3);
        changed.params.insert("v".into(), beach::value::Value::Integer(2));
        let changes = client.deploy_apply(vec![changed], false).await.unwrap();
        assert_eq!(changes[0].1, Change::Rolled);
        // Requests flow throughout the rollout, and never see fewer than 3 or more than 4.
        let mut asked = 0;
        for _ in 0..200 {
            client.handle("svc/who").ask(Who).await.expect("a request during the rollout");
            asked += 1;
            let n = actors(&sim, 0, "svc/who").len();
            assert!((3..=4).contains(&n), "{n} replicas during the rollout");
            sim.sleep(Duration::from_millis(50)).await;
            let now = actors(&sim, 0, "svc/who");
            if now.len() == 3 && now.iter().all(|a| !old.contains(a)) {
                break;
            }
        }
        let now = actors(&sim, 0, "svc/who");
        assert!(now.iter().all(|a| !old.contains(a)), "not rolled over after {asked} requests");
        let status = client.deploy_status(&[]).await.unwrap();
        assert!(
            status[0].complete && status[0].updated == 3 && status[0].version == 2,
            "{status:?}"
        );
    });
}

#[test]
fn after_a_partition_heals_duplicates_are_stopped() {
    SimBuilder::new(44).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(4).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        client.deploy_apply(vec![whoami(4)], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 4)).await.is_some());
        sim.partition(&[0, 1], &[2, 3]);
        // Each side keeps serving with the full count.
        let split = sim
            .run_until(Duration::from_secs(30), |s| {
                actors(s, 0, "svc/who").len() == 4
                    && actors(s, 2, "svc/who").len() == 4
                    && s.live(0).member_count() == 1
            })
            .await;
        assert!(split.is_some(), "the sides did not each restore 4 (seed {})", sim.seed());
        sim.heal();
        converge(&sim, Duration::from_secs(30)).await;
        let back = sim.run_until(Duration::from_secs(15), |s| all_see(s, "svc/who", 4)).await;
        assert!(back.is_some(), "{} replicas after the heal", actors(&sim, 0, "svc/who").len());
        sim.sleep(Duration::from_secs(5)).await;
        assert!(all_see(&sim, "svc/who", 4));
    });
}

#[test]
fn an_init_that_fails_is_retried_with_backoff_and_shows_in_status() {
    SimBuilder::new(45).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let failing = spec("bad", "    type: Failing\n    categories: [bad]\n    replicas: 2\n");
        client.deploy_apply(vec![failing], false).await.unwrap();
        sim.sleep(Duration::from_secs(3)).await;
        let status = client.deploy_status(&["bad"]).await.unwrap();
        let error = status[0].last_error.clone().expect("the init error shows");
        assert!(error.contains("boom"), "{error}");
        assert!(!status[0].complete && status[0].running == 0);
        assert_eq!(status[0].conditions, ["progressing", "failing"]);
        // Over two minutes the tries back off (1, 2, 4, ... 60 s apart): a handful of tries
        // of two replicas each, never one per sync period.
        let failures = |s: &SimCluster| -> u64 {
            s.running().iter().map(|&i| s.live(i).counters().spawn_failures).sum()
        };
        let before = failures(&sim);
        assert!(before > 0);
        sim.sleep(Duration::from_secs(120)).await;
        let tries = failures(&sim) - before;
        assert!((2..=16).contains(&tries), "{tries} failed starts in two minutes");
    });
}

#[test]
fn a_drained_node_gets_nothing_new_and_its_replicas_start_elsewhere_first() {
    SimBuilder::new(46).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        client.deploy_apply(vec![whoami(3)], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 3)).await.is_some());
        let target = sim.live(2).id().clone();
        assert!(per_node(&sim, 0, "svc/who").contains_key(&target), "repulsion put one on each");
        assert!(client.drain(target.endpoint().as_str(), true).await.unwrap());
        assert!(!client.drain(&target.to_string(), true).await.unwrap(), "already drained");
        // Its replica is replaced before it stops: the count never drops below 3.
        let moved = sim
            .run_until(SETTLE, |s| {
                assert!(
                    actors(s, 0, "svc/who").len() >= 3,
                    "a replica stopped before its replacement ran"
                );
                all_see(s, "svc/who", 3) && !per_node(s, 0, "svc/who").contains_key(&target)
            })
            .await;
        assert!(moved.is_some(), "the drained node's replica did not move");
        let nodes = client.nodes().await.unwrap();
        assert!(nodes.iter().any(|n| n.id == target && n.drained));
        // Nothing new is placed there, by hand either.
        let ids = client.add_actor(client.actor("Whoami", ["hand"]).count(6)).await.unwrap();
        assert!(ids.iter().all(|id| id.node() != &target));
        let err = client.drain("10.9.9.9:1", true).await.unwrap_err();
        assert!(err.to_string().contains("no live node"), "{err}");
        // Undrained, it takes new actors again; running replicas stay where they are.
        assert!(client.drain(target.endpoint().as_str(), false).await.unwrap());
        let before = actors(&sim, 0, "svc/who");
        sim.sleep(Duration::from_secs(3)).await;
        assert_eq!(actors(&sim, 0, "svc/who"), before);
        let later = client.actor("Whoami", ["later"]).strategy(Strategy::Roundrobin, None).count(3);
        let ids = client.add_actor(later).await.unwrap();
        assert!(ids.iter().any(|id| id.node() == &target));
    });
}

#[test]
fn with_a_state_dir_deployments_survive_a_restart_of_the_whole_cluster() {
    for keep in [true, false] {
        SimBuilder::new(47).registry(registry()).keep_state(keep).run(|mut sim| async move {
            sim.add_nodes(3).await;
            converge(&sim, SETTLE).await;
            let client = sim.client().await;
            client.deploy_apply(vec![whoami(4)], false).await.unwrap();
            assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 4)).await.is_some());
            client.close();
            for i in 0..3 {
                sim.crash(i);
            }
            for i in 0..3 {
                sim.restart(i).await;
            }
            converge(&sim, Duration::from_secs(30)).await;
            let back = sim.run_until(SETTLE, |s| all_see(s, "svc/who", 4)).await;
            if keep {
                assert!(back.is_some(), "the deployment did not come back after a whole restart");
            } else {
                assert!(back.is_none() && sim.live(0).deployments().is_empty(), "memory only");
            }
        });
    }
}

#[test]
fn replicas_past_max_age_are_recycled_one_at_a_time_and_never_all_at_once() {
    SimBuilder::new(48).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        let mut aged = whoami(3);
        aged.max_age = Some(Duration::from_secs(60));
        client.deploy_apply(vec![aged], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 3)).await.is_some());
        let first = actors(&sim, 0, "svc/who");
        // Over three minutes every first replica goes, and the category never shrinks.
        let mut seen = BTreeMap::new();
        for _ in 0..1800 {
            let now = actors(&sim, 0, "svc/who");
            assert!(now.len() >= 3, "{} replicas while recycling", now.len());
            for a in &now {
                seen.entry(a.clone()).or_insert(());
            }
            sim.sleep(Duration::from_millis(100)).await;
        }
        let now = actors(&sim, 0, "svc/who");
        assert!(now.iter().all(|a| !first.contains(a)), "a replica outlived max_age: {now:?}");
        assert!(seen.len() >= 6, "{} replicas in all", seen.len());
    });
}

#[test]
fn a_node_above_its_memory_watermark_sheds_replicas_and_gets_no_new_ones() {
    let config = beach::config::ClusterConfig {
        high_mem_watermark: Some(0.8),
        ..beach::config::ClusterConfig::default()
    };
    SimBuilder::new(49).registry(registry()).config(config).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        client.deploy_apply(vec![whoami(6)], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 6)).await.is_some());
        let full = sim.live(1).id().clone();
        assert_eq!(per_node(&sim, 0, "svc/who").get(&full), Some(&2));
        sim.live(1).set_load(0.1, 0.95);
        let shed = sim
            .run_until(Duration::from_secs(30), |s| {
                all_see(s, "svc/who", 6) && !per_node(s, 0, "svc/who").contains_key(&full)
            })
            .await;
        assert!(shed.is_some(), "{:?}", per_node(&sim, 0, "svc/who"));
        // Back below: nothing moves back (no rebalancing), and it takes new replicas again.
        sim.live(1).set_load(0.1, 0.5);
        let mut more = whoami(8);
        more.rollout = beach::deploy::Rollout { max_surge: 2, max_unavailable: 0 };
        client.deploy_apply(vec![more], false).await.unwrap();
        assert!(sim.run_until(SETTLE, |s| all_see(s, "svc/who", 8)).await.is_some());
        assert!(per_node(&sim, 0, "svc/who").contains_key(&full));
    });
}
