//! The YAML shape of `cluster.yaml` and its validation into [`ClusterConfig`].
//!
//! Parsing has two steps so that every error names its key: serde checks the shape (unknown
//! keys, wrong types), then each value is checked here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ClusterConfig, ConfigError, HostPort, LogConfig, LogFormat, RealmConfig};
use crate::model::{ActorType, Realm};

/// A scalar written either as a string or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Number(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    cluster_name: Option<String>,
    seed_nodes: Option<Vec<String>>,
    listen: Option<String>,
    advertise: Option<String>,
    port: Option<u16>,
    code_directory: Option<String>,
    state_dir: Option<String>,
    python: Option<String>,
    actor_init_timeout: Option<Scalar>,
    realms: Option<BTreeMap<String, Option<RawRealm>>>,
    secret_file: Option<String>,
    secret_files: Option<Vec<String>>,
    admin_token: Option<String>,
    insecure: Option<bool>,
    metadata_needs_token: Option<bool>,
    high_mem_watermark: Option<f64>,
    http: Option<String>,
    http_token: Option<String>,
    sync_interval: Option<Scalar>,
    probe_interval: Option<Scalar>,
    suspect_timeout: Option<Scalar>,
    link_idle: Option<Scalar>,
    request_timeout_default: Option<Scalar>,
    max_frame_size: Option<Scalar>,
    tcp_spin: Option<Scalar>,
    actor_queue_limit: Option<u64>,
    log: Option<RawLog>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealm {
    actors: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
    format: Option<String>,
}

const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

pub(super) fn parse(text: &str, file: &str, base: &Path) -> Result<ClusterConfig, ConfigError> {
    // An empty file (or one of only comments) is the default configuration.
    let raw: RawConfig = if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        RawConfig::default()
    } else {
        serde_yaml::from_str(text)
            .map_err(|e| ConfigError::Syntax { file: file.to_owned(), message: e.to_string() })?
    };
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        file: file.to_owned(),
        key: key.to_owned(),
        message,
    };
    let defaults = ClusterConfig::default();

    let cluster_name = match raw.cluster_name {
        Some(n) if n.trim().is_empty() || n.chars().any(char::is_control) => {
            return Err(invalid(
                "cluster_name",
                "must be a non-empty name without control characters".into(),
            ));
        }
        Some(n) => n,
        None => defaults.cluster_name,
    };
    let port = match raw.port {
        Some(0) => return Err(invalid("port", "must be a number from 1 to 65535".into())),
        Some(p) => p,
        None => defaults.port,
    };
    let seed_nodes = raw
        .seed_nodes
        .unwrap_or_default()
        .iter()
        .map(|s| HostPort::parse(s, port).map_err(|m| invalid("seed_nodes", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let listen = match raw.listen {
        Some(l) => HostPort::parse_bind(&l, port).map_err(|m| invalid("listen", m))?,
        None => HostPort { host: "0.0.0.0".to_owned(), port },
    };
    let advertise = raw
        .advertise
        .map(|a| HostPort::parse(&a, listen.port).map_err(|m| invalid("advertise", m)))
        .transpose()?;
    let http = raw
        .http
        .map(|h| {
            if !h.contains(':') {
                return Err(invalid("http", format!("{h:?}: expected host:port")));
            }
            HostPort::parse(&h, 0).map_err(|m| invalid("http", m))
        })
        .transpose()?;

    let path = |key: &str, p: Option<String>| -> Result<_, ConfigError> {
        match p {
            Some(p) if p.trim().is_empty() => Err(invalid(key, "must be a path, not empty".into())),
            Some(p) => Ok(Some(base.join(p))),
            None => Ok(None),
        }
    };
    let code_directory = path("code_directory", raw.code_directory)?;
    let state_dir = path("state_dir", raw.state_dir)?;
    let high_mem_watermark = match raw.high_mem_watermark {
        Some(w) if !(w > 0.0 && w <= 1.0) => {
            return Err(invalid(
                "high_mem_watermark",
                format!(
                    "{w} is not a fraction of memory: write one above 0 and at most 1, like 0.9"
                ),
            ));
        }
        w => w,
    };
    let python = match raw.python {
        Some(p) if p.trim().is_empty() => {
            return Err(invalid("python", "must name an interpreter, not be empty".into()));
        }
        Some(p) => p,
        None => defaults.python.clone(),
    };
    let (secret_file, accepted_secret_files) = match (raw.secret_file, raw.secret_files) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "secret_files",
                "set secret_file or secret_files, not both".into(),
            ));
        }
        (one, None) => (path("secret_file", one)?, Vec::new()),
        (None, Some(list)) => {
            let mut paths = Vec::with_capacity(list.len());
            for (i, p) in list.into_iter().enumerate() {
                paths.extend(path(&format!("secret_files[{i}]"), Some(p))?);
            }
            if paths.is_empty() {
                return Err(invalid("secret_files", "must name at least one file".into()));
            }
            let first = paths.remove(0);
            (Some(first), paths)
        }
    };

    let mut realms = BTreeMap::new();
    for (name, r) in raw.realms.unwrap_or_default() {
        let key = format!("realms.{name}");
        let realm = Realm::new(&name).map_err(|e| invalid(&key, e.to_string()))?;
        let actors = r
            .and_then(|r| r.actors)
            .map(|a| {
                a.iter()
                    .map(|t| {
                        ActorType::new(t)
                            .map_err(|e| invalid(&format!("{key}.actors"), e.to_string()))
                    })
                    .collect::<Result<BTreeSet<_>, _>>()
            })
            .transpose()?;
        realms.insert(realm, RealmConfig { actors });
    }

    let admin_token = match raw.admin_token {
        Some(t) if t.is_empty() => return Err(invalid("admin_token", "must not be empty".into())),
        t => t,
    };
    let http_token = match raw.http_token {
        Some(t) if t.is_empty() => return Err(invalid("http_token", "must not be empty".into())),
        t => t,
    };

    // Every duration is bounded: timers add them to the clock, and an absurd value must be a
    // clear error here, not an overflow deep inside a running node.
    let duration = |key: &str,
                    v: Option<Scalar>,
                    default: Duration,
                    max: Duration|
     -> Result<Duration, ConfigError> {
        let d = match v {
            None => return Ok(default),
            Some(Scalar::Number(n)) => {
                return Err(invalid(
                    key,
                    format!("{n} has no unit: write a duration like \"{n}s\" or \"{n}ms\""),
                ));
            }
            Some(Scalar::Text(t)) => humantime::parse_duration(t.trim()).map_err(|e| {
                invalid(key, format!("{t:?} is not a duration like \"30s\" or \"500ms\" ({e})"))
            })?,
        };
        if d.is_zero() {
            return Err(invalid(key, "must be longer than zero".into()));
        }
        if d > max {
            let max = humantime::format_duration(max);
            return Err(invalid(key, format!("must be at most {max}")));
        }
        Ok(d)
    };
    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let sync_interval = duration("sync_interval", raw.sync_interval, defaults.sync_interval, HOUR)?;
    let probe_interval =
        duration("probe_interval", raw.probe_interval, defaults.probe_interval, HOUR)?;
    let suspect_timeout =
        duration("suspect_timeout", raw.suspect_timeout, defaults.suspect_timeout, HOUR)?;
    let link_idle = duration("link_idle", raw.link_idle, defaults.link_idle, DAY)?;
    let request_timeout_default = duration(
        "request_timeout_default",
        raw.request_timeout_default,
        defaults.request_timeout_default,
        DAY,
    )?;
    let actor_init_timeout =
        duration("actor_init_timeout", raw.actor_init_timeout, defaults.actor_init_timeout, HOUR)?;
    if probe_interval < Duration::from_millis(10) {
        return Err(invalid("probe_interval", "must be at least 10ms".into()));
    }

    let max_frame_size = match raw.max_frame_size {
        None => defaults.max_frame_size,
        Some(s) => {
            let n = match s {
                Scalar::Number(n) => n,
                Scalar::Text(t) => parse_size(&t).map_err(|m| invalid("max_frame_size", m))?,
            };
            if !(1024..=u64::from(u32::MAX)).contains(&n) {
                return Err(invalid(
                    "max_frame_size",
                    format!("{n} bytes: must be from 1KiB to 4GiB-1"),
                ));
            }
            n as usize
        }
    };
    // Zero is allowed (no spin, the default); past a millisecond a spin only burns CPU.
    let tcp_spin = match raw.tcp_spin {
        None => defaults.tcp_spin,
        Some(Scalar::Number(0)) => Duration::ZERO,
        Some(v) => {
            let d = match v {
                Scalar::Number(n) => {
                    return Err(invalid(
                        "tcp_spin",
                        format!("{n} has no unit: write a duration like \"50us\""),
                    ));
                }
                Scalar::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
                    invalid("tcp_spin", format!("{t:?} is not a duration like \"50us\" ({e})"))
                })?,
            };
            if d > Duration::from_millis(1) {
                return Err(invalid("tcp_spin", "must be at most 1ms".into()));
            }
            d
        }
    };
    let actor_queue_limit = match raw.actor_queue_limit {
        Some(0) => return Err(invalid("actor_queue_limit", "must be at least 1".into())),
        Some(n) => {
            usize::try_from(n).map_err(|_| invalid("actor_queue_limit", "too large".into()))?
        }
        None => defaults.actor_queue_limit,
    };

    let log = match raw.log {
        None => LogConfig::default(),
        Some(l) => {
            let level = l.level.unwrap_or_else(|| "info".to_owned()).to_ascii_lowercase();
            if !LOG_LEVELS.contains(&level.as_str()) {
                return Err(invalid(
                    "log.level",
                    format!("{level:?}: expected one of {}", LOG_LEVELS.join(", ")),
                ));
            }
            let format = match l.format.as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(f) => {
                    return Err(invalid("log.format", format!("{f:?}: expected text or json")));
                }
            };
            LogConfig { level, format }
        }
    };

    Ok(ClusterConfig {
        cluster_name,
        seed_nodes,
        listen,
        advertise,
        port,
        code_directory,
        state_dir,
        python,
        actor_init_timeout,
        realms,
        secret_file,
        accepted_secret_files,
        admin_token,
        insecure: raw.insecure.unwrap_or(false),
        metadata_needs_token: raw.metadata_needs_token.unwrap_or(false),
        high_mem_watermark,
        http,
        http_token,
        sync_interval,
        probe_interval,
        suspect_timeout,
        link_idle,
        request_timeout_default,
        max_frame_size,
        tcp_spin,
        actor_queue_limit,
        log,
    })
}

/// Parses `1024`, `64KiB`, `16MiB`, `1GiB`, `100kB`, `2MB` (binary and decimal units).
pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size like 16MiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        u => {
            return Err(format!(
                "{text:?}: unknown unit {u:?} (use B, KiB, MiB, GiB, kB, MB or GB)"
            ));
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("{text:?} is too large"))
}
