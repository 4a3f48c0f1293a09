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

use beach::prelude::*;
use beach_node::cli::{NodeArgs, run_node};
use serde::{Deserialize, Serialize};

/// Answers `hello` with a greeting, using its `greeting` parameter.
struct Greeter {
    greeting: String,
}

/// `hello` with `{"name": ...}`: answered with a greeting.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    name: String,
}

impl Message for Hello {
    const KIND: &'static str = "hello";
    type Reply = String;
}

#[async_trait]
impl Actor for Greeter {
    async fn init(ctx: &Context) -> Result<Self, InitError> {
        Ok(Greeter { greeting: ctx.param_or("greeting", "hello".to_owned())? })
    }

    async fn handle(&self, _ctx: &Context, request: Request) -> Response {
        match request.message::<Hello>() {
            Ok(h) => Hello::reply(&format!("{}, {}", self.greeting, h.name)),
            Err(answer) => answer,
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
