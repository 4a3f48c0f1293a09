//! An actor program's own calls to the cluster, made by its node with the actor's handles: the
//! same routing, retries, timeouts and ident as a Rust actor's.

use std::time::Duration;

use beach_core::actor::{Context, Handle, RequestError};
use beach_core::routing::Mode;
use beach_core::value::Payload;
use ciborium::Value as Cbor;

use super::host::Answer;
use super::protocol::{Call, outcome};

/// The data of a reply, as CBOR.
fn cbor(p: &Payload) -> Result<Cbor, (String, Cbor)> {
    p.decode::<Cbor>().map_err(|e| (format!("undecodable reply: {e}"), Cbor::Null))
}

/// A failed request as the program sees it: the message and the error's data.
fn failure(e: RequestError) -> (String, Cbor) {
    let data = match &e {
        RequestError::Remote { data: Some(d), .. } => d.decode::<Cbor>().unwrap_or(Cbor::Null),
        _ => Cbor::Null,
    };
    (e.message(), data)
}

fn bad(message: String) -> (String, Cbor) {
    (message, Cbor::Null)
}

/// The handle for `category` with the call's options.
fn handle(
    ctx: &Context,
    category: &str,
    mode: Option<&str>,
    key: Option<&str>,
    timeout_ms: Option<u64>,
    retries: Option<u32>,
    ident: Option<String>,
) -> Result<Handle, (String, Cbor)> {
    let mut h = ctx.handle(category);
    if let Some(mode) = mode {
        h = h.mode(match mode {
            "random" => Mode::Random,
            "local" => Mode::Local,
            "affinity" => Mode::Affinity,
            other => {
                return Err(bad(format!("mode {other:?} is not one of random, local, affinity")));
            }
        });
    }
    if let Some(key) = key {
        h = h.key(key);
    }
    if let Some(ms) = timeout_ms {
        h = h.timeout(Duration::from_millis(ms.max(1)));
    }
    if let Some(n) = retries {
        h = h.retries(n);
    }
    if let Some(ident) = ident {
        h = h.ident(ident);
    }
    Ok(h)
}

/// Runs one call; its data, or its error with data.
pub(super) async fn execute(ctx: &Context, call: Call) -> Answer {
    match call {
        Call::Request { category, kind, data, mode, key, timeout_ms, retries, ident } => {
            let h = handle(
                ctx,
                &category,
                mode.as_deref(),
                key.as_deref(),
                timeout_ms,
                retries,
                ident,
            )?;
            match h.request(&kind, &data).await {
                Ok(reply) => cbor(&reply),
                Err(e) => Err(failure(e)),
            }
        }
        Call::Shoot { category, kind, data, mode, key, ident } => {
            let h = handle(ctx, &category, mode.as_deref(), key.as_deref(), None, None, ident)?;
            h.shoot(&kind, &data).map(|()| Cbor::Null).map_err(failure)
        }
        Call::Broadcast { category, kind, data, ident } => {
            let h = handle(ctx, &category, None, None, None, None, ident)?;
            h.broadcast(&kind, &data).map(|n| Cbor::Integer((n as u64).into())).map_err(failure)
        }
        Call::RequestFromAll { category, kind, data, timeout_ms, ident } => {
            let h = handle(ctx, &category, None, None, timeout_ms, None, ident)?;
            let replies = h.request_from_all(&kind, &data).map_err(failure)?;
            let all = replies
                .collect_all()
                .await
                .into_iter()
                .map(|(_, r)| outcome(r.map_err(failure).and_then(|p| cbor(&p))))
                .collect();
            Ok(Cbor::Array(all))
        }
        Call::GroupRequest { root, kind, data, timeout_ms, retries, ident } => {
            let h = handle(ctx, &root, None, None, timeout_ms, retries, ident)?;
            let group = ctx.group(&root).configure(|_| h);
            let answers = group.request(&kind, &data).await.map_err(failure)?;
            Ok(Cbor::Map(
                answers
                    .into_iter()
                    .map(|(sub, r)| {
                        (Cbor::Text(sub), outcome(r.map_err(failure).and_then(|p| cbor(&p))))
                    })
                    .collect(),
            ))
        }
        Call::GroupShoot { root, kind, data, ident } => {
            let h = handle(ctx, &root, None, None, None, None, ident)?;
            let group = ctx.group(&root).configure(|_| h);
            group.shoot(&kind, &data).map(|n| Cbor::Integer((n as u64).into())).map_err(failure)
        }
        Call::Available { category } => {
            Ok(Cbor::Integer((ctx.handle(&category).num_available() as u64).into()))
        }
    }
}
