//! What a command comes to: its [`Output`] or its [`Failure`], with the exit code. A leaf: every
//! command produces these, and printing them is `output.rs`'s business.

use beach_core::client::ClientError;
use serde_json::{Value as Json, json};

/// A command's result: JSON for `--json`, text for people.
#[derive(Debug)]
pub struct Output {
    /// What `--json` prints.
    pub json: Json,
    /// What is printed otherwise.
    pub human: String,
}

/// A failed command: exit code 1 when the cluster answered with an error (or timed out), 2 for
/// usage, configuration and connection errors. `json` is printed on stdout with `--json` when
/// the failure has a JSON form (a failed request).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// One line saying what is wrong and what to do.
    pub message: String,
    /// The JSON form of the failure, if it has one.
    pub json: Option<Json>,
}

impl Failure {
    /// A usage, configuration or connection error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into(), json: None }
    }

    /// An error the cluster answered (exit code 1).
    pub fn cluster(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into(), json: None }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NoSeed { .. } | ClientError::Invalid(_) => Failure::usage(e.to_string()),
            ClientError::Protocol(m) => Failure::cluster(format!("unexpected answer: {m}")),
            // What was done is part of the answer: scripts get it in the JSON as well.
            ClientError::Partial { ref done, ref errors } => {
                let mut f = Failure::cluster(e.to_string());
                let ids: Vec<String> = done.iter().map(ToString::to_string).collect();
                f.json = Some(json!({ "ok": false, "done": ids, "errors": errors }));
                f
            }
            // The cluster's own answer, and whatever a newer beach-core adds.
            e => Failure::cluster(e.to_string()),
        }
    }
}
