//! A node binary of your own: the built-in actors plus `Greeter`, with the same command line
//! as `beach-node`.
//!
//! Run it with a configuration (an empty file is a valid single-node configuration):
//!
//! ```sh
//! touch /tmp/cluster.yaml
//! cargo run --example custom_node -- --config /tmp/cluster.yaml --listen 127.0.0.1:5000
//! ```
//!
//! You will see `node started node=127.0.0.1:5000#...` on stderr; it serves until Ctrl-C, then
//! drains and exits 0. Clients can now spawn `Greeter` actors on it
//! (`client.actor("Greeter", ["greeters"])`) and ask them `hello` with `{"name": ...}`.

use std::process::ExitCode;

use async_trait::async_trait;
use beach::actor::{Actor, Context, InitError, Request, Response};
use beach_node::cli::{NodeArgs, run_node};
use serde::Deserialize;

/// Answers `hello` with a greeting, using its `greeting` parameter.
struct Greeter {
    greeting: String,
}

#[derive(Deserialize)]
struct Hello {
    name: String,
}

#[async_trait]
impl Actor for Greeter {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        let greeting = match ctx.param::<String>("greeting") {
            Some(Ok(g)) => g,
            Some(Err(e)) => return Err(InitError::new(format!("parameter `greeting`: {e}"))),
            None => "hello".to_owned(),
        };
        Ok(Greeter { greeting })
    }

    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        match request.kind() {
            "hello" => match request.data::<Hello>() {
                Ok(h) => Response::ok(&format!("{}, {}", self.greeting, h.name)),
                Err(e) => Response::error(format!("bad hello: {e}")),
            },
            _ => Response::unsupported(),
        }
    }
}

fn main() -> ExitCode {
    let registry = beach_node::actors::builtin_registry().with::<Greeter>("Greeter");
    // An isolated actor's process is this binary in host mode.
    if let Some(code) = beach_node::isolation::host_if_requested(&registry) {
        return code;
    }
    run_node(NodeArgs::parse_command_line(), registry)
}
