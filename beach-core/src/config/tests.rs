use super::raw::parse_size;
use super::*;

fn parse(yaml: &str) -> Result<ClusterConfig, ConfigError> {
    ClusterConfig::from_yaml_str(yaml, "cluster.yaml", Path::new("/etc/beach"))
}

fn invalid_key(yaml: &str) -> String {
    match parse(yaml) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid-value error for {yaml:?}, got {other:?}"),
    }
}

#[test]
fn every_key_parses() {
    let c = parse(
        r#"
cluster_name: lab
seed_nodes: [node1, "node2:5000", "[::1]:6000", "::2"]
listen: 0.0.0.0
advertise: 10.0.0.5
port: 5999
code_directory: code
realms:
  global:
  prod:
    actors: [Ping, Pong]
secret_file: /abs/secret.key
admin_token: s3cret
http: 127.0.0.1:8080
http_token: reader
sync_interval: 500ms
probe_interval: 2s
suspect_timeout: 1m 30s
request_timeout_default: 10s
max_frame_size: 64KiB
actor_queue_limit: 50
log:
  level: DEBUG
  format: json
"#,
    )
    .unwrap();
    assert_eq!(c.cluster_name, "lab");
    let seeds: Vec<String> = c.seed_nodes.iter().map(ToString::to_string).collect();
    assert_eq!(seeds, ["node1:5999", "node2:5000", "[::1]:6000", "[::2]:5999"]);
    assert_eq!(c.listen.to_string(), "0.0.0.0:5999");
    assert_eq!(c.advertise.as_ref().unwrap().to_string(), "10.0.0.5:5999");
    assert_eq!(c.code_directory.clone().unwrap(), Path::new("/etc/beach/code"));
    assert_eq!(c.secret_file.clone().unwrap(), Path::new("/abs/secret.key"));
    assert_eq!(c.admin_token.as_deref(), Some("s3cret"));
    assert_eq!(c.http.as_ref().unwrap().to_string(), "127.0.0.1:8080");
    assert_eq!(c.http_token.as_deref(), Some("reader"));
    assert_eq!(c.sync_interval, Duration::from_millis(500));
    assert_eq!(c.probe_interval, Duration::from_secs(2));
    assert_eq!(c.suspect_timeout, Duration::from_secs(90));
    assert_eq!(c.request_timeout_default, Duration::from_secs(10));
    assert_eq!(c.max_frame_size, 64 * 1024);
    assert_eq!(c.actor_queue_limit, 50);
    assert_eq!(c.log, LogConfig { level: "debug".into(), format: LogFormat::Json });
    let prod = Realm::new("prod").unwrap();
    let ping = ActorType::new("Ping").unwrap();
    let echo = ActorType::new("Echo").unwrap();
    assert!(c.realms[&Realm::global()].actors.is_none());
    assert!(c.realms[&prod].actors.as_ref().unwrap().contains(&ping));
    assert!(c.allows(&prod, &ping) && !c.allows(&prod, &echo));
    assert!(c.allows(&Realm::global(), &echo));
    assert!(!c.allows(&Realm::new("nope").unwrap(), &echo), "only listed realms exist");
}

#[test]
fn an_empty_file_is_the_default() {
    assert_eq!(parse("").unwrap(), ClusterConfig::default());
    assert_eq!(parse("# nothing\n\n").unwrap(), ClusterConfig::default());
    assert!(ClusterConfig::default().allows(&Realm::global(), &ActorType::new("X").unwrap()));
}

#[test]
fn unknown_keys_and_wrong_types_name_the_key_and_file() {
    let err = parse("sync_intervall: 1s\n").unwrap_err().to_string();
    assert!(err.starts_with("cluster.yaml: ") && err.contains("sync_intervall"), "{err}");
    let err = parse("log:\n  colour: true\n").unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    let err = parse("port: many\n").unwrap_err().to_string();
    assert!(err.contains("port"), "{err}");
    let err = parse("seed_nodes: node1\n").unwrap_err().to_string();
    assert!(err.contains("seed_nodes"), "{err}");
}

#[test]
fn bad_values_name_the_key() {
    assert_eq!(invalid_key("port: 0"), "port");
    assert_eq!(invalid_key("seed_nodes: ['host:0']"), "seed_nodes");
    assert_eq!(invalid_key("seed_nodes: ['host:http']"), "seed_nodes");
    assert_eq!(invalid_key("seed_nodes: ['']"), "seed_nodes");
    assert_eq!(invalid_key("seed_nodes: ['[::1']"), "seed_nodes");
    assert_eq!(invalid_key("listen: 'a b:1'"), "listen");
    assert_eq!(invalid_key("http: localhost"), "http");
    assert_eq!(invalid_key("http_token: ''"), "http_token");
    assert_eq!(invalid_key("sync_interval: 30"), "sync_interval");
    assert_eq!(invalid_key("sync_interval: soon"), "sync_interval");
    assert_eq!(invalid_key("suspect_timeout: 0s"), "suspect_timeout");
    assert_eq!(invalid_key("probe_interval: 1ms"), "probe_interval");
    // Absurd durations are refused here, not an overflow in a running node.
    assert_eq!(invalid_key("suspect_timeout: 500000000years"), "suspect_timeout");
    assert_eq!(invalid_key("sync_interval: 2h"), "sync_interval");
    assert_eq!(invalid_key("request_timeout_default: 2days"), "request_timeout_default");
    assert!(parse("suspect_timeout: 9999years").unwrap_err().to_string().contains("at most 1h"));
    assert_eq!(invalid_key("max_frame_size: 12"), "max_frame_size");
    assert_eq!(invalid_key("max_frame_size: 16 parsecs"), "max_frame_size");
    assert_eq!(invalid_key("max_frame_size: 8GiB"), "max_frame_size");
    assert_eq!(invalid_key("actor_queue_limit: 0"), "actor_queue_limit");
    assert_eq!(invalid_key("log: {level: loud}"), "log.level");
    assert_eq!(invalid_key("log: {format: xml}"), "log.format");
    assert_eq!(invalid_key("realms: {'a/b': }"), "realms.a/b");
    assert_eq!(invalid_key("realms: {r: {actors: ['']}}"), "realms.r.actors");
    assert_eq!(invalid_key("admin_token: ''"), "admin_token");
    assert_eq!(invalid_key("cluster_name: ' '"), "cluster_name");
    assert_eq!(invalid_key("secret_file: ''"), "secret_file");
    let err = parse("sync_interval: 30").unwrap_err().to_string();
    assert_eq!(
        err,
        "cluster.yaml: sync_interval: 30 has no unit: write a duration like \"30s\" or \"30ms\""
    );
}

#[test]
fn sizes_parse_with_units() {
    assert_eq!(parse_size("1024"), Ok(1024));
    assert_eq!(parse_size("16MiB"), Ok(16 << 20));
    assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
    assert!(parse_size("MiB").is_err());
    assert!(parse_size("99999999999999GiB").is_err());
}

#[test]
fn tcp_spin_is_a_short_duration_zero_by_default() {
    let parse = |t: &str| ClusterConfig::from_yaml_str(t, "c.yaml", Path::new("."));
    assert_eq!(parse("{}").unwrap().tcp_spin, Duration::ZERO);
    assert_eq!(parse("tcp_spin: 50us").unwrap().tcp_spin, Duration::from_micros(50));
    assert_eq!(parse("tcp_spin: 0").unwrap().tcp_spin, Duration::ZERO);
    let err = parse("tcp_spin: 5ms").unwrap_err().to_string();
    assert!(err.contains("tcp_spin") && err.contains("at most 1ms"), "{err}");
    let err = parse("tcp_spin: 50").unwrap_err().to_string();
    assert!(err.contains("no unit"), "{err}");
}

#[test]
fn link_idle_is_a_bounded_duration_a_minute_by_default() {
    assert_eq!(parse("{}").unwrap().link_idle, Duration::from_secs(60));
    assert_eq!(parse("link_idle: 5m").unwrap().link_idle, Duration::from_secs(300));
    assert_eq!(invalid_key("link_idle: 0s"), "link_idle");
    assert_eq!(invalid_key("link_idle: 60"), "link_idle");
    assert_eq!(invalid_key("link_idle: 2d"), "link_idle");
}

#[test]
fn state_dir_is_relative_to_the_file_and_the_watermark_a_fraction() {
    let c = parse("state_dir: state\nhigh_mem_watermark: 0.9").unwrap();
    assert_eq!(c.state_dir.unwrap(), Path::new("/etc/beach/state"));
    assert_eq!(c.high_mem_watermark, Some(0.9));
    assert_eq!(parse("{}").unwrap().high_mem_watermark, None);
    assert_eq!(invalid_key("high_mem_watermark: 90"), "high_mem_watermark");
    assert_eq!(invalid_key("high_mem_watermark: 0"), "high_mem_watermark");
    assert_eq!(invalid_key("state_dir: ''"), "state_dir");
}
