//! The builders say which setting is wrong, before any connection is tried.

use std::path::PathBuf;

use beach::client::{ClientBuilder, ClientError};
use beach::config::ClusterConfig;
use beach::node::{NodeBuilder, NodeError};
use beach::prelude::*;

fn invalid(e: ClientError) -> String {
    match e {
        ClientError::Invalid(m) => m,
        other => panic!("not an invalid setting: {other:?}"),
    }
}

fn node_invalid(e: NodeError) -> String {
    match e {
        NodeError::Invalid(m) => m,
        other => panic!("not an invalid setting: {other:?}"),
    }
}

#[tokio::test]
async fn a_client_builder_names_the_setting_that_is_wrong() {
    let err = invalid(ClientBuilder::new().seed("127.0.0.1:1").connect().await.unwrap_err());
    assert!(err.starts_with("no transport") && err.contains("Beach::builder()"), "{err}");
    let err = invalid(Beach::builder().connect().await.unwrap_err());
    assert!(err.starts_with("no seed"), "{err}");
    let err = invalid(Beach::builder().seed("a b:1").connect().await.unwrap_err());
    assert!(err.starts_with("seed \"a b:1\""), "{err}");
    let err = invalid(Beach::builder().seed("127.0.0.1:1").realm("").connect().await.unwrap_err());
    assert!(err.starts_with("realm \"\""), "{err}");
    let keyed = ClusterConfig {
        secret_file: Some(PathBuf::from("/nonexistent/secret.key")),
        ..ClusterConfig::default()
    };
    let err = Beach::builder().seed("127.0.0.1:1").config(&keyed).connect().await.unwrap_err();
    let err = invalid(err);
    assert!(err.contains("secret_file") && err.contains("client_key"), "{err}");
}

#[tokio::test]
async fn a_node_builder_names_the_setting_that_is_wrong() {
    let err = node_invalid(NodeBuilder::new().listen("127.0.0.1:0").start().await.unwrap_err());
    assert!(err.starts_with("no transport") && err.contains("Node::builder()"), "{err}");
    let err = node_invalid(Node::builder().listen("no port here").start().await.unwrap_err());
    assert!(err.starts_with("listen \"no port here\""), "{err}");
    let err = Node::builder().listen("127.0.0.1:0").generation(0).start().await.unwrap_err();
    assert_eq!(node_invalid(err), "generation must not be 0");
    let keyed = ClusterConfig {
        secret_file: Some(PathBuf::from("/nonexistent/secret.key")),
        ..ClusterConfig::default()
    };
    let err = Node::builder().config(&keyed).listen("127.0.0.1:0").start().await.unwrap_err();
    assert!(node_invalid(err).contains("secrets"));
}
