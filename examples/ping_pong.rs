//! The py-beach seed, on a simulated cluster: `Ping` asks `pongers` for `ping` every 5 seconds,
//! `Pong` answers with the time.
//!
//! Run it with:
//!
//! ```sh
//! cargo run --example ping_pong
//! ```
//!
//! You will see three simulated nodes join, one `Pong` and one `Ping` spawn (Ping placed by the
//! `resource` strategy, Pong next to it by `affinity` toward `pingers`), then a `pong` line
//! with the round trip every 5 virtual seconds for 30 virtual seconds, and finally the
//! directory and each actor's counters. The whole minute of cluster life takes well under a
//! second: time is virtual.

use std::time::Duration;

use beach::placement::Strategy;
use beach_node::actors::builtin_registry;
use beach_transport_mem::SimBuilder;

fn main() {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_target(false).without_time().with_ansi(colour).init();
    SimBuilder::new(1).registry(builtin_registry()).run(|mut sim| async move {
        sim.add_nodes(3).await;
        sim.run_until(Duration::from_secs(10), |s| s.converged()).await.expect("the nodes join");
        let client = sim.client().await;

        let ping = client.actor("Ping", ["pingers"]).strategy(Strategy::Resource, None);
        let ping = client.add_actor(ping).await.expect("Ping starts");
        let pong = client.actor("Pong", ["pongers"]).strategy(Strategy::Affinity, Some("pingers"));
        let pong = client.add_actor(pong).await.expect("Pong starts");
        println!("spawned Ping {} and Pong {}", ping[0], pong[0]);

        sim.sleep(Duration::from_secs(30)).await;

        println!("\ndirectory of realm {}:", client.realm());
        for (category, actors) in client.directory("").await.unwrap() {
            println!(
                "  {category:<10} {}",
                actors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        println!("\nper-actor counters:");
        for l in client.load_info().await.unwrap() {
            println!(
                "  {}  received {:>2}  replied {:>2}  p99 {:.1}ms",
                l.id, l.received, l.replied, l.p99_ms
            );
        }
    });
}
