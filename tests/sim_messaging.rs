//! Messaging beyond one request, as py-beach had it: answers from every member streamed as
//! they arrive, shoots with a failure callback and a failure count, group shoots.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use beach::ErrorCode;
use beach::actor::RequestError;
use beach::config::ClusterConfig;
use beach_transport_mem::SimBuilder;
use common::{Who, converge, registry};
use futures::StreamExt;

/// Three nodes, converged, and a client.
fn cluster<F, Fut>(seed: u64, scenario: F)
where
    F: FnOnce(beach_transport_mem::SimCluster, beach::client::Beach) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    SimBuilder::new(seed).registry(registry()).config(ClusterConfig::default()).run(
        |mut sim| async move {
            sim.add_nodes(3).await;
            converge(&sim, Duration::from_secs(10)).await;
            let client = sim.client().await;
            scenario(sim, client).await;
        },
    );
}

#[test]
fn request_from_all_streams_answers_as_they_arrive_and_collects_them_in_member_order() {
    cluster(71, |_sim, client| async move {
        // `Worker` answers after a second, `Whoami` at once: both in `mix`.
        let slow = client.add_actor(client.actor("Worker", ["mix/slow"])).await.unwrap();
        let fast = client.add_actor(client.actor("Whoami", ["mix/fast"])).await.unwrap();
        let h = client.handle("mix").timeout(Duration::from_secs(5));
        let mut replies = h.request_from_all("go", &()).unwrap();
        assert_eq!(replies.asked(), 2);
        let first = replies.next().await.unwrap();
        assert_eq!(first.0, fast[0], "the fast answer comes first");
        let second = replies.next().await.unwrap();
        assert_eq!(second.0, slow[0]);
        assert!(replies.next().await.is_none());

        let all = h.request_from_all("go", &()).unwrap().collect_all().await;
        assert_eq!(all.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), h.members());
        assert!(all.iter().all(|(_, r)| r.is_ok()), "{all:?}");
    });
}

#[test]
fn a_shoot_with_a_failure_callback_reports_and_counts_what_failed() {
    cluster(72, |sim, client| async move {
        client.add_actor(client.actor("Panicky", ["p"])).await.unwrap();
        let failures: Arc<Mutex<Vec<RequestError>>> = Arc::default();
        let seen = failures.clone();
        let h = client.handle("p").on_failure(move |e| seen.lock().unwrap().push(e));
        h.shoot("panic", &()).unwrap();
        h.shoot("fine", &()).unwrap();
        sim.sleep(Duration::from_secs(1)).await;
        let failures = failures.lock().unwrap().clone();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].is(ErrorCode::Exception), "{failures:?}");
        assert_eq!(h.shoot_failures(), 1);

        // Without a callback a shoot is one-way: nothing comes back to count, but a shoot
        // that cannot go anywhere fails at once and counts.
        let none = client.handle("nobody");
        assert!(none.shoot("x", &()).unwrap_err().is(ErrorCode::NoActors));
        assert_eq!(none.shoot_failures(), 1);
    });
}

#[test]
fn a_group_shoots_one_actor_of_each_subcategory_and_reports_pending_requests() {
    cluster(73, |sim, client| async move {
        for sub in ["shards/a", "shards/b", "shards/c"] {
            client.add_actor(client.actor("Counter", [sub]).count(2)).await.unwrap();
        }
        let group = client.group("shards/");
        assert_eq!(group.shoot("incr", &()).unwrap(), 3);
        sim.sleep(Duration::from_millis(200)).await;
        let counted = client.handle("shards/").request_from_all("count", &()).unwrap();
        let total: u64 = counted
            .collect_all()
            .await
            .into_iter()
            .map(|(_, r)| r.unwrap().decode::<u64>().unwrap())
            .sum();
        assert_eq!(total, 3, "one increment per sub-category");
        assert_eq!(group.pending().len(), 6);
        assert!(group.pending().values().all(|&n| n == 0));
    });
}

#[test]
fn an_isolated_actor_reaches_every_node_through_its_own_holding_no_key() {
    let secret = beach::auth::Secret::new([3; 32]);
    SimBuilder::new(74).registry(registry()).secret(secret).run(|mut sim| async move {
        sim.add_nodes(3).await;
        converge(&sim, Duration::from_secs(10)).await;
        let client = sim.client().await;
        let whos =
            client.actor("Whoami", ["w"]).strategy(beach::placement::Strategy::Roundrobin, None);
        client.add_actor(whos.count(3)).await.unwrap();
        let relay = client
            .actor("Relay", ["relay"])
            .resource("backend", "w")
            .on_node(sim.live(0).id().clone())
            .isolated(true);
        client.add_actor(relay).await.unwrap();
        let mut by_node: std::collections::BTreeMap<String, usize> = Default::default();
        for _ in 0..60 {
            let id: common::Id = client.handle("relay").ask(common::Who).await.unwrap();
            *by_node.entry(id.actor().node().to_string()).or_default() += 1;
        }
        // Its calls went through node 0, which relayed them; random picks stay spread.
        assert_eq!(by_node.len(), 3, "{by_node:?}");
        assert!(by_node.values().all(|&n| n >= 8), "{by_node:?}");
    });
}

/// Hears what a node routed: (category, kind, answered).
#[derive(Default)]
struct Heard(Mutex<Vec<(String, String, bool)>>);

impl beach::actor::RouteObserver for Heard {
    fn routed(&self, r: &beach::actor::Routed<'_>) {
        self.0.lock().unwrap().push((r.category.to_owned(), r.kind.to_owned(), r.outcome.is_ok()));
    }
}

#[test]
fn a_node_tells_its_observer_of_each_request_its_actors_route() {
    cluster(75, |sim, client| async move {
        let heard = Arc::new(Heard::default());
        assert!(sim.live(0).observe_routes(heard.clone()));
        assert!(!sim.live(0).observe_routes(Arc::new(Heard::default())), "one observer a node");
        let backend = client.actor("Whoami", ["w"]).on_node(sim.live(1).id().clone());
        client.add_actor(backend).await.unwrap();
        let relay = client
            .actor("Relay", ["relay"])
            .resource("backend", "w")
            .on_node(sim.live(0).id().clone());
        client.add_actor(relay).await.unwrap();
        for _ in 0..3 {
            let _: common::Id = client.handle("relay").ask(common::Who).await.unwrap();
        }
        // The client's own requests were routed by the client, not by node 0: only the relay's
        // calls to `w` are node 0's.
        let seen = heard.0.lock().unwrap().clone();
        assert_eq!(seen, vec![("w".to_owned(), "who".to_owned(), true); 3]);
        // A request with nowhere to go is heard too, failed; and one to an actor id names no
        // category.
        let h = sim.live(0).handle(&beach::model::Realm::global(), "nobody");
        assert!(h.request("who", &()).await.is_err());
        let whoami = client.handle("w").members()[0].clone();
        let direct = sim.live(0).handle(&beach::model::Realm::global(), "w").to_actor(whoami);
        let _: common::Id = direct.ask(common::Who).await.unwrap();
        let seen = heard.0.lock().unwrap().clone();
        assert_eq!(seen[3], ("nobody".to_owned(), "who".to_owned(), false));
        assert_eq!(seen[4], (String::new(), "who".to_owned(), true));
    });
}

#[test]
fn a_look_up_at_a_slow_entry_node_ends_by_the_requests_deadline() {
    // A client that knows no actor of a category asks its entry node; that look-up spends
    // the request's own time, not a fixed two seconds (found by the deployment campaign).
    SimBuilder::new(9).registry(registry()).run(|mut sim| async move {
        sim.add_nodes(2).await;
        converge(&sim, Duration::from_secs(10)).await;
        let client = sim.client().await;
        sim.set_default_link(beach_transport_mem::LinkConfig {
            latency: Duration::from_secs(10),
            ..Default::default()
        });
        let start = tokio::time::Instant::now();
        let outcome =
            client.handle("nobody/yet").timeout(Duration::from_millis(500)).ask(Who).await;
        let took = start.elapsed();
        assert!(outcome.is_err());
        assert!(took <= Duration::from_millis(520), "the request ended after {took:?}");
    });
}
