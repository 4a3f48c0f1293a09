//! Who may call what through the gateway: bearer tokens, stricter beyond loopback.

use axum::http::{HeaderMap, StatusCode, header};
use beach_core::config::{ClusterConfig, HostPort};

use super::GatewayError;
use super::error::ApiError;

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Requests to actors and reads of the cluster's state.
    Read,
    /// Changes to the cluster: spawn, stop, flush, categories.
    Write,
}

/// The tokens in force, and whether the gateway listens on loopback only.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    http_token: Option<String>,
    admin_token: Option<String>,
    /// Reads of actors' metadata need the admin token (`metadata_needs_token`).
    pub(crate) metadata_is_write: bool,
}

impl Access {
    /// The rules for a gateway on `addr`: beyond loopback both tokens must be set unless
    /// `insecure: true`.
    pub(crate) fn for_address(
        addr: &HostPort,
        config: &ClusterConfig,
    ) -> Result<Access, GatewayError> {
        let loopback = addr.is_loopback();
        if !loopback && !config.insecure {
            let missing: Vec<&str> = [
                config.http_token.is_none().then_some("http_token"),
                config.admin_token.is_none().then_some("admin_token"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !missing.is_empty() {
                return Err(GatewayError::Unprotected {
                    addr: addr.to_string(),
                    missing: missing.join(" and "),
                    writes: if config.admin_token.is_none() {
                        " and run or stop actors"
                    } else {
                        ""
                    },
                });
            }
        }
        Ok(Access {
            http_token: config.http_token.clone(),
            admin_token: config.admin_token.clone(),
            metadata_is_write: config.metadata_needs_token,
        })
    }

    /// Whether `headers` carry what `need` asks: `http_token` (or `admin_token`) for reads
    /// when it is set, `admin_token` for writes when it is set. No `Authorization` header is
    /// `401`, a wrong token `403`.
    pub(crate) fn check(&self, headers: &HeaderMap, need: Need) -> Result<(), ApiError> {
        let wanted: Vec<&str> = match need {
            Need::Read if self.http_token.is_some() => {
                self.http_token.iter().chain(&self.admin_token).map(String::as_str).collect()
            }
            Need::Read => return Ok(()),
            Need::Write => match &self.admin_token {
                Some(t) => vec![t.as_str()],
                None => return Ok(()),
            },
        };
        let Some(given) = bearer(headers) else {
            return Err(ApiError::denied(
                StatusCode::UNAUTHORIZED,
                "unauthorized: send Authorization: Bearer <token>",
            ));
        };
        if wanted.iter().any(|w| same(w.as_bytes(), given.as_bytes())) {
            Ok(())
        } else if need == Need::Write {
            Err(ApiError::denied(StatusCode::FORBIDDEN, "unprivileged: this needs the admin token"))
        } else {
            Err(ApiError::denied(StatusCode::FORBIDDEN, "unauthorized: wrong token"))
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares two tokens in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> ClusterConfig {
        ClusterConfig::from_yaml_str(yaml, "cluster.yaml", std::path::Path::new(".")).unwrap()
    }

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn beyond_loopback_the_tokens_are_required_unless_insecure() {
        let wide = HostPort { host: "0.0.0.0".into(), port: 8080 };
        let err = Access::for_address(&wide, &config("cluster_name: t\n")).unwrap_err();
        assert!(err.to_string().contains("without http_token and admin_token"), "{err}");
        let err = Access::for_address(&wide, &config("http_token: r\n")).unwrap_err();
        assert!(err.to_string().contains("without admin_token"), "{err}");
        assert!(Access::for_address(&wide, &config("http_token: r\nadmin_token: a\n")).is_ok());
        assert!(Access::for_address(&wide, &config("insecure: true\n")).is_ok());
        let lo = HostPort { host: "127.0.0.1".into(), port: 8080 };
        assert!(Access::for_address(&lo, &config("cluster_name: t\n")).is_ok());
    }

    #[test]
    fn reads_and_writes_check_their_tokens() {
        let lo = HostPort { host: "127.0.0.1".into(), port: 8080 };
        let open = Access::for_address(&lo, &config("cluster_name: t\n")).unwrap();
        assert!(open.check(&headers(None), Need::Read).is_ok());
        assert!(open.check(&headers(None), Need::Write).is_ok());
        let a = Access::for_address(&lo, &config("admin_token: adm\nhttp_token: rd\n")).unwrap();
        assert_eq!(a.check(&headers(None), Need::Read).unwrap_err().status, 401);
        assert!(a.check(&headers(Some("Bearer rd")), Need::Read).is_ok());
        assert!(a.check(&headers(Some("bearer adm")), Need::Read).is_ok());
        assert_eq!(a.check(&headers(Some("Bearer rd")), Need::Write).unwrap_err().status, 403);
        assert_eq!(a.check(&headers(Some("Bearer nope")), Need::Read).unwrap_err().status, 403);
        assert_eq!(a.check(&headers(None), Need::Write).unwrap_err().status, 401);
        assert!(a.check(&headers(Some("Bearer adm")), Need::Write).is_ok());
        assert_eq!(a.check(&headers(Some("Basic adm")), Need::Write).unwrap_err().status, 401);
    }
}
