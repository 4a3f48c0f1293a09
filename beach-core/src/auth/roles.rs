//! The one table that says which envelopes each role may send to which.
//!
//! | envelope | node → node | client → node | node → client |
//! |---|---|---|---|
//! | request, one-way message | yes | yes | no |
//! | reply | yes | no | yes |
//! | admin call | yes | yes | no |
//! | admin reply | yes | no | yes |
//! | membership, digest, partitions, delta | yes | no | no |
//! | view request | no | yes | no |
//! | view | no | no | yes |
//! | handshake (after the handshake) | no | no | no |
//!
//! A client never accepts connections, so nothing goes from client to client. An envelope the
//! table refuses closes the connection it came on.

use serde::{Deserialize, Serialize};

use crate::wire::Envelope;

/// What the other side of a connection proved it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A cluster member: holds the cluster secret (or, without one, says it is a node).
    Node,
    /// An outside program (the CLI, an application, an isolated actor's handles): holds the
    /// client key (or, without a secret, says it is a client).
    Client,
}

impl Role {
    /// The role's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Client => "client",
        }
    }
}

/// Whether a `sender` may send `envelope` to a `receiver` on an established connection.
pub fn may_send(sender: Role, receiver: Role, envelope: &Envelope) -> bool {
    use Role::{Client, Node};
    match envelope {
        Envelope::Request(_) | Envelope::OneWay(_) | Envelope::Admin(_) => receiver == Node,
        Envelope::Reply(_) | Envelope::AdminReply(_) => sender == Node,
        Envelope::Membership(_)
        | Envelope::Digest(_)
        | Envelope::Partitions { .. }
        | Envelope::Delta(_)
        | Envelope::Deployments(_)
        | Envelope::Bye => (sender, receiver) == (Node, Node),
        Envelope::ViewRequest(_) => (sender, receiver) == (Client, Node),
        Envelope::View { .. } => (sender, receiver) == (Node, Client),
        Envelope::Handshake(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AdminCall, AdminOp, AdminReply, Handshake};

    #[test]
    fn the_table_holds() {
        use Role::{Client, Node};
        let admin = Envelope::Admin(AdminCall { id: 1, token: None, op: AdminOp::Health });
        let answer = Envelope::AdminReply(AdminReply { id: 1, result: Err("x".into()) });
        let sync = [
            Envelope::Membership(Default::default()),
            Envelope::Digest(Default::default()),
            Envelope::Partitions { partitions: Vec::new(), digest: None },
            Envelope::Bye,
        ];
        assert!(may_send(Client, Node, &admin) && may_send(Node, Node, &admin));
        assert!(!may_send(Node, Client, &admin), "a client serves no admin calls");
        assert!(may_send(Node, Client, &answer) && !may_send(Client, Node, &answer));
        for e in &sync {
            assert!(may_send(Node, Node, e) && !may_send(Client, Node, e), "{e:?}");
            assert!(!may_send(Node, Client, e), "{e:?}");
        }
        assert!(may_send(Client, Node, &Envelope::ViewRequest(Default::default())));
        assert!(!may_send(Node, Node, &Envelope::ViewRequest(Default::default())));
        let view = Envelope::View { alive: Vec::new(), partitions: Vec::new(), more: false };
        assert!(may_send(Node, Client, &view) && !may_send(Client, Node, &view));
        let late = Envelope::Handshake(Handshake::Refused { reason: String::new() });
        assert!(!may_send(Node, Node, &late) && !may_send(Client, Node, &late));
    }
}
