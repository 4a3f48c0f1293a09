//! py-beach's behaviours on a simulated 3-node cluster: spawning with every strategy, look-ups,
//! trust, private parameters, concurrency limits, timeouts, retries, broadcast, gathers,
//! categories, flush and stop.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use beach::client::{Beach, ClientError};
use beach::config::ClusterConfig;
use beach::model::{ActorId, NodeId};
use beach::placement::{Strategy, tally};
use beach::value::Value;

use beach::ErrorCode;
use beach_node::actors::{SLEEP, Time, msg};
use beach_transport_mem::{SimBuilder, SimCluster};
use common::{Count, Down, Id, Incr, Who, converge, registry};

const SETTLE: Duration = Duration::from_secs(10);

/// Three converged nodes and a client; `scenario` gets both.
fn three_nodes<F, Fut>(seed: u64, config: ClusterConfig, scenario: F)
where
    F: FnOnce(SimCluster, Beach) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    SimBuilder::new(seed).registry(registry()).config(config).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        scenario(sim, client).await;
    });
}

/// A client of node 0 named `name` that holds no admin token.
async fn without_token(sim: &SimCluster, name: &str) -> Beach {
    beach::client::ClientBuilder::new()
        .seed(sim.endpoint(0).to_string())
        .name(name)
        .rng_seed(1)
        .transport(sim.network().transport(name))
        .runtime(sim.runtime())
        .connect()
        .await
        .unwrap()
}

fn nodes_of(ids: &[ActorId]) -> BTreeMap<NodeId, usize> {
    tally(&ids.iter().map(|i| i.node().clone()).collect::<Vec<_>>())
}

#[test]
fn spawn_with_each_strategy_lands_where_it_should() {
    three_nodes(11, ClusterConfig::default(), |sim, client| async move {
        let ids: Vec<NodeId> = (0..3).map(|i| sim.live(i).id().clone()).collect();

        // random: only live nodes, and more than one of them over a batch.
        let spec = client.actor("Whoami", ["random"]).count(30);
        let placed = nodes_of(&client.add_actor(spec).await.unwrap());
        assert!(placed.len() > 1 && placed.keys().all(|n| ids.contains(n)), "{placed:?}");

        // resource: the least loaded node.
        sim.live(0).set_load(0.9, 0.8);
        sim.live(1).set_load(0.1, 0.1);
        sim.live(2).set_load(0.5, 0.5);
        let spec = client.actor("Whoami", ["resource"]).strategy(Strategy::Resource, None);
        let got = client.add_actor(spec).await.unwrap();
        assert_eq!(got[0].node(), &ids[1]);

        // host_affinity: the node the hint names, by host; an unknown node is an error.
        let host = sim.endpoint(2).as_str().split(':').next().unwrap().to_owned();
        let spec =
            client.actor("Whoami", ["pingers"]).strategy(Strategy::HostAffinity, Some(&host));
        let pinger = client.add_actor(spec).await.unwrap();
        assert_eq!(pinger[0].node(), &ids[2]);
        let spec = client.actor("Whoami", ["x"]).strategy(Strategy::HostAffinity, Some("10.9.9.9"));
        let err = client.add_actor(spec).await.unwrap_err();
        assert!(err.to_string().contains("no live node matches"), "{err}");

        // affinity: next to the hint category.
        let spec = client
            .actor("Whoami", ["pongers"])
            .strategy(Strategy::Affinity, Some("pingers"))
            .count(4);
        for id in client.add_actor(spec).await.unwrap() {
            assert_eq!(id.node(), &ids[2]);
        }

        // repulsion: a burst spreads evenly, 3/3/3.
        let spec = client
            .actor("Whoami", ["spread"])
            .strategy(Strategy::Repulsion, Some("spread"))
            .count(9);
        let spread = nodes_of(&client.add_actor(spec).await.unwrap());
        assert_eq!(spread.values().copied().collect::<Vec<_>>(), vec![3, 3, 3]);

        // roundrobin: one per node per turn, and the turn goes on across calls.
        let spec = client.actor("Whoami", ["rr"]).strategy(Strategy::Roundrobin, None).count(2);
        let first = client.add_actor(spec.clone()).await.unwrap();
        let second = client.add_actor(spec.clone().count(4)).await.unwrap();
        let all: Vec<ActorId> = first.into_iter().chain(second).collect();
        assert_eq!(nodes_of(&all).values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);

        // Unknown strategies and missing hints are clear errors before anything is spawned.
        let spec = client.actor("Whoami", ["x"]).strategy(Strategy::Repulsion, None);
        let err = client.add_actor(spec).await.unwrap_err();
        assert!(err.to_string().contains("needs a hint"), "{err}");
    });
}

#[test]
fn dry_run_explains_without_spawning() {
    three_nodes(12, ClusterConfig::default(), |_sim, client| async move {
        let spec = client.actor("Whoami", ["d"]).strategy(Strategy::Repulsion, Some("d")).count(3);
        let plan = client.place(spec).await.unwrap();
        assert_eq!(plan.len(), 3);
        assert!(
            plan.iter().all(|(_, why)| why.starts_with("repulsion: fewest actors")),
            "{plan:?}"
        );
        assert_eq!(tally(&plan.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()).len(), 3);
        assert!(client.directory("d").await.unwrap().is_empty());
    });
}

#[test]
fn spawn_waits_for_init_and_reports_its_failure() {
    three_nodes(13, ClusterConfig::default(), |sim, client| async move {
        let start = sim.elapsed();
        client.add_actor(client.actor("SlowInit", ["slow"])).await.unwrap();
        assert!(
            sim.elapsed() - start >= Duration::from_secs(2),
            "spawn returned before init finished"
        );

        let err = client.add_actor(client.actor("Failing", ["f"])).await.unwrap_err();
        assert_eq!(err, ClientError::Cluster("boom: parameter `db` is missing".to_owned()));
        let err = client.add_actor(client.actor("PanicInit", ["f"])).await.unwrap_err();
        assert!(err.to_string().contains("init panicked: init exploded"), "{err}");
        assert!(client.directory("f").await.unwrap().is_empty(), "a failed actor never shows");

        let err = client.add_actor(client.actor("Nope", ["f"])).await.unwrap_err();
        assert!(err.to_string().contains("unknown actor type \"Nope\""), "{err}");
        let err = client.add_actor(client.actor("Relay", ["f"])).await.unwrap_err();
        assert!(err.to_string().contains("resource `backend` is required"), "{err}");
    });
}

#[test]
fn a_handle_made_right_after_a_spawn_finds_the_actor_and_empty_categories_fail_at_once() {
    three_nodes(14, ClusterConfig::default(), |sim, client| async move {
        for round in 0..5 {
            let cat = format!("fresh/{round}");
            client.add_actor(client.actor("Pong", [cat.as_str()])).await.unwrap();
            let pong: Time = client.handle(&cat).ask(msg::Ping).await.unwrap();
            assert!(pong.time > 0.0);
        }
        let start = sim.elapsed();
        let err = client.handle("nobody").request("ping", &()).await.unwrap_err();
        assert_eq!(err.to_string(), "no actor in category \"nobody\"");
        assert!(
            sim.elapsed() - start < Duration::from_millis(50),
            "failed after {:?}",
            sim.elapsed() - start
        );
    });
}

#[test]
fn prefix_and_group_look_ups() {
    three_nodes(15, ClusterConfig::default(), |_sim, client| async move {
        for cat in ["pongers", "pingers", "svc/a/1", "svc/a/2", "svc/b/1", "svc/c"] {
            client.add_actor(client.actor("Whoami", [cat])).await.unwrap();
        }
        assert_eq!(client.handle("p").num_available(), 2);
        assert_eq!(client.handle("p/").num_available(), 0);
        assert_eq!(client.handle("svc/a").num_available(), 2);
        let dir = client.directory("svc/").await.unwrap();
        assert_eq!(dir.len(), 4);

        let group = client.group("svc/");
        assert_eq!(group.subcategories(), ["svc/a/", "svc/b/", "svc/c"]);
        let replies = group.request("who", &()).await.unwrap();
        assert_eq!(replies.len(), 3);
        for (sub, reply) in replies {
            let id: Id = reply.unwrap().decode().unwrap();
            let cats = client.directory(&sub).await.unwrap();
            assert!(cats.values().flatten().any(|a| a.to_string() == id.id), "{sub}: {id:?}");
        }
        // Realms do not cross.
        let other = client.with_realm("other".parse().unwrap());
        assert_eq!(other.handle("p").num_available(), 0);
    });
}

#[test]
fn builtin_actors_answer_as_py_beach_did() {
    three_nodes(16, ClusterConfig::default(), |_sim, client| async move {
        for (t, c) in [("MultiPing", "multi"), ("Echo", "echo"), ("Pong", "pongers")] {
            client.add_actor(client.actor(t, [c])).await.unwrap();
        }
        let r = client.handle("multi").ask(msg::Oob).await.unwrap();
        assert_eq!(r.cmdresult, 42);
        let _: Time = client.handle("multi").ask(msg::Ping).await.unwrap();
        let data = Value::map([("a", Value::from(1)), ("b", Value::Bytes(vec![1, 2]))]);
        let echoed: Value =
            client.handle("echo").request("anything", &data).await.unwrap().decode().unwrap();
        assert_eq!(echoed, data);
        let err = client.handle("pongers").request("nope", &()).await.unwrap_err();
        assert!(err.is(ErrorCode::Unsupported), "{err}");
        assert_eq!(err.to_string(), "request type not supported by actor");
    });
}

#[test]
fn a_handler_panic_is_an_exception_and_the_actor_keeps_serving() {
    three_nodes(17, ClusterConfig::default(), |_sim, client| async move {
        client.add_actor(client.actor("Panicky", ["p"])).await.unwrap();
        let h = client.handle("p");
        let err = h.request("panic", &()).await.unwrap_err();
        assert!(err.is(ErrorCode::Exception), "{err:?}");
        let beach::actor::RequestError::Remote { data: Some(data), .. } = err else {
            panic!("no data")
        };
        assert_eq!(data.decode::<String>().unwrap(), "handler exploded");
        assert_eq!(h.request("fine", &()).await.unwrap().decode::<String>().unwrap(), "ok");
        let load = client.load_info().await.unwrap();
        let stats = load.iter().find(|l| l.received == 2).expect("stats of the panicky actor");
        assert_eq!(stats.errors.get("exception"), Some(&1));
    });
}

#[test]
fn trust_refuses_unknown_idents() {
    three_nodes(18, ClusterConfig::default(), |_sim, client| async move {
        let spec = client.actor("Pong", ["guarded"]).trust(["alice"]);
        client.add_actor(spec).await.unwrap();
        let err = client.handle("guarded").request("ping", &()).await.unwrap_err();
        assert!(err.is(ErrorCode::Unauthorized), "{err}");
        let err = client.handle("guarded").ident("mallory").request("ping", &()).await.unwrap_err();
        assert!(err.is(ErrorCode::Unauthorized), "{err}");
        let _: Time = client.handle("guarded").ident("alice").ask(msg::Ping).await.unwrap();
    });
}

#[test]
fn private_parameters_are_masked_in_metadata_only() {
    three_nodes(19, ClusterConfig::default(), |_sim, client| async move {
        let spec = client
            .actor("Secretive", ["s"])
            .param("_secret", "hunter2")
            .param("visible", &7)
            .owner("ops");
        let id = client.add_actor(spec).await.unwrap().remove(0);
        assert_eq!(
            client.handle("s").request("secret", &()).await.unwrap().decode::<String>().unwrap(),
            "hunter2"
        );
        let meta = client.node_metadata().await.unwrap();
        let actor = meta.iter().flat_map(|n| &n.actors).find(|a| a.id == id).expect("listed");
        assert_eq!(actor.params["_secret"], Value::from("<PRIVATE>"));
        assert_eq!(actor.params["visible"], Value::from(7));
        assert_eq!(actor.owner.as_deref(), Some("ops"));
        assert_eq!(actor.actor_type.as_str(), "Secretive");
    });
}

#[test]
fn a_concurrency_limit_queues_then_answers_queue_full() {
    let config = ClusterConfig { actor_queue_limit: 2, ..ClusterConfig::default() };
    three_nodes(20, config, |sim, client| async move {
        client.add_actor(client.actor("Sleeper", ["sleepy"]).concurrency(1)).await.unwrap();
        let h = client.handle("sleepy").timeout(Duration::from_secs(60));
        let start = sim.elapsed();
        let results = futures::future::join_all((0..4).map(|_| h.request("sleep", &()))).await;
        let full =
            results.iter().filter(|r| matches!(r, Err(e) if e.is(ErrorCode::QueueFull))).count();
        assert_eq!(full, 1, "{results:?}");
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
        // One at a time: the three that were served took three sleeps.
        assert!(sim.elapsed() - start >= SLEEP * 3);
    });
}

#[test]
fn an_actor_without_a_concurrency_limit_still_bounds_what_it_admits() {
    let config = ClusterConfig { actor_queue_limit: 10, ..ClusterConfig::default() };
    three_nodes(24, config, |sim, client| async move {
        client.add_actor(client.actor("Sleeper", ["sleepy"])).await.unwrap();
        let h = client.handle("sleepy").retries(0).timeout(SLEEP * 3);
        let calls = (0..15).map(|_| h.request("sleep", &()));
        let results = futures::future::join_all(calls).await;
        let full = results.iter().filter(|r| r.as_ref().is_err_and(|e| e.is(ErrorCode::QueueFull)));
        assert_eq!(full.count(), 5, "{results:?}");
        // One-way messages past the bound are dropped, not queued without end.
        for _ in 0..50 {
            h.shoot("sleep", &()).unwrap();
        }
        sim.sleep(SLEEP * 3).await;
        let load = client.load_info().await.unwrap();
        let queue_full: u64 = load.iter().map(|l| l.queue_full).sum();
        assert!(queue_full >= 5 + 40, "{load:?}");
    });
}

#[test]
fn a_new_client_sees_every_category_however_large_the_directory() {
    three_nodes(25, ClusterConfig::default(), |mut sim, client| async move {
        let host = |i: usize| sim.endpoint(i).as_str().split(':').next().unwrap().to_owned();
        // One node's partition alone is larger than one directory answer may be.
        let bulk = client
            .actor("Pong", ["bulk"])
            .strategy(Strategy::HostAffinity, Some(&host(0)))
            .count(20_000);
        client.add_actor(bulk).await.unwrap();
        let pong =
            client.actor("Pong", ["pongers"]).strategy(Strategy::HostAffinity, Some(&host(1)));
        client.add_actor(pong).await.unwrap();
        converge(&sim, SETTLE).await;
        // A fresh client (as the CLI is for each command), entering through node 0.
        let fresh = sim.client().await;
        assert_eq!(fresh.handle("pongers").num_available(), 1, "a page was missing");
        assert_eq!(fresh.handle("bulk").num_available(), 20_000);
    });
}

#[test]
fn queued_work_whose_deadline_passed_is_dropped_not_served() {
    three_nodes(30, ClusterConfig::default(), |sim, client| async move {
        client.add_actor(client.actor("Sleeper", ["one"]).concurrency(1)).await.unwrap();
        let first = client.handle("one").timeout(Duration::from_secs(60));
        let first = tokio::spawn(async move { first.request("sleep", &()).await });
        sim.sleep(Duration::from_millis(10)).await;
        // Queued behind the first; its caller gives up long before the actor is free.
        let err = client
            .handle("one")
            .timeout(Duration::from_secs(2))
            .request("sleep", &())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "timeout");
        assert!(first.await.unwrap().is_ok());
        sim.sleep(Duration::from_millis(10)).await;
        let load = client.load_info().await.unwrap();
        assert_eq!((load[0].received, load[0].replied, load[0].dropped), (2, 1, 1));
        assert!(load[0].mean_ms >= SLEEP.as_millis() as f64 * 0.8, "{:?}", load[0]);
    });
}

#[test]
fn ping_asks_pongers_every_five_seconds() {
    three_nodes(31, ClusterConfig::default(), |sim, client| async move {
        client.add_actor(client.actor("Pong", ["pongers"])).await.unwrap();
        client.add_actor(client.actor("Ping", ["pingers"])).await.unwrap();
        sim.sleep(Duration::from_secs(31)).await;
        let load = client.load_info().await.unwrap();
        let pong = load.iter().find(|l| l.received > 0).expect("pong was asked");
        // At once, then every 5 seconds: 0, 5, ..., 30.
        assert_eq!((pong.received, pong.replied), (7, 7), "{pong:?}");
        assert!(pong.errors.is_empty());
    });
}

#[test]
fn timeouts_fail_in_time_and_the_late_reply_is_ignored() {
    three_nodes(21, ClusterConfig::default(), |sim, client| async move {
        client.add_actor(client.actor("Sleeper", ["sleepy"])).await.unwrap();
        let start = sim.elapsed();
        let err = client
            .handle("sleepy")
            .timeout(Duration::from_secs(1))
            .request("sleep", &())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "timeout");
        let took = sim.elapsed() - start;
        assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(1100), "{took:?}");
        // The actor is still fine and the late reply did not confuse the next request.
        sim.sleep(SLEEP).await;
        let _: Time = client.handle("sleepy").ask(msg::NoSleep).await.unwrap();
    });
}

#[test]
fn no_timeout_and_unbounded_retries_are_ordinary_settings() {
    three_nodes(23, ClusterConfig::default(), |mut sim, client| async move {
        client.add_actor(client.actor("Pong", ["pongers"]).count(2)).await.unwrap();
        let h = client.handle("pongers").retries(u32::MAX).timeout(Duration::MAX);
        let _: Time = h.ask(msg::Ping).await.unwrap();
        let _: Time = h.clone().retry_timeouts(true).ask(msg::Ping).await.unwrap();
        let _: Time = h.clone().key("k").ask(msg::Ping).await.unwrap();
        // A failure that is final stays final however many retries are allowed.
        let err = h.request("no-such-kind", &()).await.unwrap_err();
        assert!(err.is(ErrorCode::Unsupported), "{err}");
        // Every member crashed: the request keeps retrying until the directory empties,
        // then fails as unreachable rather than hanging or overflowing.
        let host = |i: usize| sim.endpoint(i).as_str().split(':').next().unwrap().to_owned();
        let lone = client.actor("Pong", ["lone"]).strategy(Strategy::HostAffinity, Some(&host(1)));
        client.add_actor(lone).await.unwrap();
        sim.crash(1);
        let err = client.handle("lone").retries(u32::MAX).timeout(Duration::MAX);
        let err = err.request("ping", &()).await.unwrap_err();
        assert!(matches!(err, beach::actor::RequestError::Unreachable(_)), "{err:?}");
    });
}

#[test]
fn after_a_crash_retries_go_to_another_member_but_a_key_waits_for_its_owner() {
    three_nodes(22, ClusterConfig::default(), |mut sim, client| async move {
        let on = |i: usize| sim.endpoint(i).as_str().split(':').next().unwrap().to_owned();
        for i in [1, 2] {
            let spec = client.actor("Whoami", ["w"]).strategy(Strategy::HostAffinity, Some(&on(i)));
            client.add_actor(spec).await.unwrap();
        }
        let members = client.handle("w").members();
        // A key that maps to the actor on node 1, the one about to crash.
        let doomed = sim.live(1).id().clone();
        let key = (0..100u32)
            .map(|k| k.to_string())
            .find(|k| beach::routing::rendezvous(k.as_bytes(), &members).unwrap().node() == &doomed)
            .unwrap();
        let keyed = client.handle("w").key(&key).retries(2).timeout(Duration::from_secs(5));
        let before = keyed.ask(Who).await.unwrap();
        assert_eq!(before.actor().node(), &doomed);
        sim.crash(1);
        // Straight away, before membership noticed: a request for any member whose first
        // attempt finds the crashed node unreachable is retried on the other one.
        let any = client.handle("w").retries(1).timeout(Duration::from_secs(5));
        for _ in 0..10 {
            let who = any.ask(Who).await.unwrap();
            assert_eq!(who.actor().node(), sim.live(2).id());
        }
        // The key's owner is still in the directory: its request waits for it rather than
        // writing on another member, and fails (unreachable), at once without retries.
        let err = keyed.ask(Who).await.unwrap_err();
        assert!(err.is(beach::ErrorCode::Unreachable), "{err:?}");
        let start = sim.elapsed();
        let err = keyed.retries(0).ask(Who).await.unwrap_err();
        assert!(err.is(beach::ErrorCode::Unreachable), "{err:?}");
        assert!(sim.elapsed() - start < Duration::from_secs(1));
        // Once the crash is noticed and the owner leaves the directory, the key moves.
        let moved = sim
            .run_until(Duration::from_secs(30), |_| {
                !client.handle("w").members().iter().any(|m| m.node() == &doomed)
            })
            .await;
        assert!(moved.is_some(), "the crashed node's actor never left the directory");
        let after = keyed.ask(Who).await.unwrap();
        assert_eq!(after.actor().node(), sim.live(2).id());
    });
}

#[test]
fn broadcast_reaches_every_member_and_request_from_all_gathers() {
    three_nodes(23, ClusterConfig::default(), |sim, client| async move {
        let spec =
            client.actor("Counter", ["counters"]).strategy(Strategy::Roundrobin, None).count(3);
        let ids = client.add_actor(spec).await.unwrap();
        assert_eq!(nodes_of(&ids).len(), 3, "one counter per node");
        assert_eq!(client.handle("counters").broadcast("incr", &()).unwrap(), 3);
        sim.sleep(Duration::from_millis(100)).await;
        let counts =
            client.handle("counters").request_from_all("count", &()).unwrap().collect_all().await;
        assert_eq!(counts.len(), 3);
        for (id, r) in counts {
            assert_eq!(r.unwrap().decode::<u64>().unwrap(), 1, "{id}");
        }
        // The same, from an actor: a Relay asks its resource.
        let spec = client.actor("Relay", ["relay"]).resource("backend", "counters");
        client.add_actor(spec).await.unwrap();
        let n = client.handle("relay").ask(Incr).await.unwrap();
        assert_eq!(n, 2);
    });
}

#[test]
fn shoot_delivers_and_pending_counts_in_flight_requests() {
    three_nodes(24, ClusterConfig::default(), |sim, client| async move {
        client.add_actor(client.actor("Counter", ["c"])).await.unwrap();
        client.handle("c").shoot("incr", &()).unwrap();
        client.handle("c").shoot("incr", &()).unwrap();
        sim.sleep(Duration::from_millis(100)).await;
        assert_eq!(client.handle("c").ask(Count).await.unwrap(), 2);
        assert!(matches!(
            client.handle("none").shoot("incr", &()),
            Err(beach::actor::RequestError::NoActors { .. })
        ));

        let id = client.add_actor(client.actor("Sleeper", ["z"])).await.unwrap().remove(0);
        let h = client.handle("z").timeout(Duration::from_secs(30));
        let waiting = {
            let h = h.clone();
            tokio::spawn(async move {
                futures::future::join(h.request("sleep", &()), h.request("sleep", &())).await
            })
        };
        sim.sleep(Duration::from_secs(1)).await;
        assert_eq!(h.pending().get(&id), Some(&2));
        let (a, b) = waiting.await.unwrap();
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(h.pending().get(&id), Some(&0));
    });
}

#[test]
fn categories_can_be_added_and_removed_on_a_live_actor() {
    three_nodes(25, ClusterConfig::default(), |sim, client| async move {
        let id = client.add_actor(client.actor("Whoami", ["a"])).await.unwrap().remove(0);
        client.add_to_category(&id, "b").await.unwrap();
        assert_eq!(client.handle("b").members(), vec![id.clone()], "visible to the caller at once");
        client.remove_from_category(&id, "a").await.unwrap();
        assert!(!client.handle("a").is_available());
        converge(&sim, SETTLE).await;
        for i in 0..3 {
            let dir = sim.live(i).directory();
            assert_eq!(dir.lookup(client.realm(), "b"), vec![id.clone()]);
            assert!(dir.lookup(client.realm(), "a").is_empty());
        }
        let ghost: ActorId = format!("999@{}", sim.live(0).id()).parse().unwrap();
        let err = client.add_to_category(&ghost, "b").await.unwrap_err();
        assert!(err.to_string().contains("wrong dest"), "{err}");
    });
}

#[test]
fn stop_by_category_and_flush() {
    three_nodes(26, ClusterConfig::default(), |sim, client| async move {
        for cat in ["x/1", "x/2", "y"] {
            client.add_actor(client.actor("Whoami", [cat]).count(2)).await.unwrap();
        }
        let stopped = client.stop_actors(&[], &["x/"]).await.unwrap();
        assert_eq!(stopped.len(), 4);
        assert!(!client.handle("x").is_available(), "gone for the caller at once");
        assert_eq!(client.handle("y").num_available(), 2);
        let one = client.handle("y").members().remove(0);
        assert_eq!(client.stop_actors(std::slice::from_ref(&one), &[]).await.unwrap(), vec![one]);

        let other = client.with_realm("elsewhere".parse().unwrap());
        other.add_actor(other.actor("Whoami", ["z"])).await.unwrap();
        assert_eq!(client.flush().await.unwrap(), 2, "every realm");
        converge(&sim, SETTLE).await;
        for i in 0..3 {
            assert!(sim.live(i).directory().is_empty(), "node {i} still lists actors");
        }
        let err = client.handle("y").request("who", &()).await.unwrap_err();
        assert!(matches!(err, beach::actor::RequestError::NoActors { .. }));
    });
}

#[test]
fn an_actor_that_stops_itself_leaves_the_directory() {
    three_nodes(27, ClusterConfig::default(), |sim, client| async move {
        client.add_actor(client.actor("Quitter", ["q"])).await.unwrap();
        client.handle("q").request("quit", &()).await.unwrap();
        let gone = sim
            .run_until(SETTLE, |s| {
                (0..3).all(|i| {
                    s.live(i).directory().lookup(&"global".parse().unwrap(), "q").is_empty()
                })
            })
            .await;
        assert!(gone.is_some());
    });
}

#[test]
fn reading_metadata_can_require_the_token() {
    let config = ClusterConfig {
        admin_token: Some("s3cret".to_owned()),
        metadata_needs_token: true,
        ..ClusterConfig::default()
    };
    SimBuilder::new(29).registry(registry()).config(config).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, SETTLE).await;
        let client = sim.client().await;
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
        assert_eq!(client.node_metadata().await.unwrap().len(), 2, "with the token, every node");
        let reader = without_token(&sim, "reader").await;
        assert_eq!(reader.node_metadata().await.unwrap_err().to_string(), "unprivileged");
        assert_eq!(reader.node_count().await.unwrap(), 2, "other reads stay open");
    });
}

#[test]
fn admin_calls_need_the_token_when_one_is_configured() {
    let config =
        ClusterConfig { admin_token: Some("s3cret".to_owned()), ..ClusterConfig::default() };
    SimBuilder::new(28).registry(registry()).config(config).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, SETTLE).await;
        // The simulated client takes the token from the configuration...
        let client = sim.client().await;
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
        // ...one without it may read but not change anything.
        let intruder = without_token(&sim, "intruder").await;
        let err = intruder.add_actor(intruder.actor("Pong", ["p"])).await.unwrap_err();
        assert_eq!(err.to_string(), "unprivileged");
        assert_eq!(intruder.flush().await.unwrap_err().to_string(), "unprivileged");
        assert_eq!(intruder.node_count().await.unwrap(), 3);
        let _: Time = intruder.handle("p").ask(msg::Ping).await.unwrap();
    });
}

#[test]
fn cluster_views_list_nodes_health_and_load() {
    three_nodes(29, ClusterConfig::default(), |sim, client| async move {
        let nodes = client.nodes().await.unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(client.node_count().await.unwrap(), 3);
        sim.live(2).set_load(0.25, 0.5);
        let health = client.cluster_health().await.unwrap();
        assert_eq!(health.len(), 3);
        let h2 = health.iter().find(|h| h.node == *sim.live(2).id()).unwrap();
        assert_eq!((h2.cpu, h2.memory), (0.25, 0.5));
        client.add_actor(client.actor("Pong", ["p"])).await.unwrap();
        for _ in 0..10 {
            let _: Time = client.handle("p").ask(msg::Ping).await.unwrap();
        }
        let load = client.load_info().await.unwrap();
        assert_eq!(load.len(), 1);
        assert_eq!((load[0].received, load[0].in_flight), (10, 0));
    });
}

#[test]
fn deep_chains_of_local_requests_and_self_messages_do_not_exhaust_the_stack() {
    // 3 000 nested requests are 3 000 in flight on one actor: above the default bound.
    let config = ClusterConfig { actor_queue_limit: 5_000, ..ClusterConfig::default() };
    three_nodes(23, config, |sim, client| async move {
        // One Countdown actor: every request it makes goes to itself, on its own node.
        let spec = client.actor("Countdown", ["countdown"]);
        client.add_actor(spec).await.unwrap();
        let handle = client.handle("countdown").timeout(Duration::from_secs(60));
        let depth = handle.ask(Down(3_000)).await.unwrap();
        assert_eq!(depth, 3_000);
        // A message loop of one-way messages to itself: each is a new message, not a call
        // nested in the one that sent it.
        handle.shoot("shoot", &3_000u64).unwrap();
        sim.sleep(Duration::from_secs(1)).await;
        let load = client.load_info().await.unwrap();
        let received: u64 = load.iter().map(|l| l.received).sum();
        assert!(received >= 3_000 + 3_001, "{received}");
    });
}
