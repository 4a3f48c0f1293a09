//! Criterion benchmarks of the core's hot paths.
//!
//! Run: `cargo bench --bench core` (add `-- --quick` for a fast pass, or a filter such as
//! `-- directory`). Figures are recorded in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::hint::black_box;

use beach::directory::{Directory, Entry, Partition};
use beach::model::{ActorId, NodeId, Realm};
use beach::placement::{ClusterView, NodeLoad, PlacementRequest, Strategy, place};
use beach::rng::seeded;
use beach::routing::rendezvous;
use beach::value::{Payload, Value};
use beach::wire::{ActorCall, Envelope, FrameCodec};
use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};

fn node(i: usize) -> NodeId {
    format!("10.0.{}.{}:4999#{:x}", i / 250, i % 250 + 1, 1_700_000_000_000_000u64 + i as u64)
        .parse()
        .unwrap()
}

/// A directory holding 100 000 actors in 1 000 categories, spread over 100 owners.
fn big_directory() -> Directory {
    let me = node(0);
    let mut d = Directory::new(me.clone());
    for owner in 1..100 {
        d.node_up(&node(owner));
    }
    let realm = Realm::global();
    let mut partitions: BTreeMap<usize, Partition> = BTreeMap::new();
    for i in 0..100_000usize {
        let owner = i % 100;
        let id = node(owner).actor_id(i as u64);
        let entry =
            Entry::new(realm.clone(), "Pong", [format!("svc/c{:03}/{}", i % 1000, i % 7)]).unwrap();
        if owner == 0 {
            d.insert(id, entry).unwrap();
        } else {
            let p = partitions.entry(owner).or_insert_with(|| Partition::empty(node(owner)));
            p.version += 1;
            p.entries.insert(id, entry);
        }
    }
    for p in partitions.into_values() {
        d.install(p);
    }
    d
}

fn directory(c: &mut Criterion) {
    let d = big_directory();
    let realm = Realm::global();
    c.bench_function("directory/lookup one category of 100k", |b| {
        b.iter(|| black_box(d.lookup(&realm, black_box("svc/c042/"))))
    });
    c.bench_function("directory/lookup prefix of 100 categories", |b| {
        b.iter(|| black_box(d.lookup(&realm, black_box("svc/c04"))))
    });
    c.bench_function("directory/digest of 100 partitions", |b| b.iter(|| black_box(d.digest())));
    let mut fresh = Directory::new(node(999));
    for owner in 0..100 {
        fresh.node_up(&node(owner));
    }
    let answer = d.handle_digest(&fresh.digest());
    c.bench_function("directory/answer a digest (16k actors capped)", |b| {
        b.iter(|| black_box(d.handle_digest(black_box(&fresh.digest()))))
    });
    c.bench_function("directory/install the partitions of an answer", |b| {
        b.iter_batched(
            || (fresh.clone(), answer.partitions.clone()),
            |(mut dir, parts)| {
                for p in parts {
                    dir.install(p);
                }
                black_box(dir)
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

fn request(data: Payload) -> Envelope {
    Envelope::Request(ActorCall {
        id: 42,
        to: node(3).actor_id(17),
        realm: Realm::global(),
        kind: "ping".into(),
        data,
        timeout_ms: 5000,
        ident: None,
        attempt: 0,
    })
}

fn frames(c: &mut Criterion) {
    let codec = FrameCodec::default();
    let small = request(Payload::encode(&Value::map([("time", 1.5)])).unwrap());
    let big = request(Payload::from_cbor(
        Payload::encode(&Value::Bytes(vec![7u8; 64 * 1024])).unwrap().into_bytes(),
    ));
    for (name, env) in [("small request", &small), ("64 KiB request", &big)] {
        c.bench_function(&format!("wire/encode {name}"), |b| {
            let mut buf = BytesMut::with_capacity(80 * 1024);
            b.iter(|| {
                buf.clear();
                codec.encode(black_box(env), &mut buf).unwrap();
            })
        });
        let mut encoded = BytesMut::new();
        codec.encode(env, &mut encoded).unwrap();
        c.bench_function(&format!("wire/decode {name}"), |b| {
            b.iter(|| {
                let mut buf = encoded.clone();
                black_box(codec.decode(&mut buf).unwrap())
            })
        });
    }
}

fn routing(c: &mut Criterion) {
    let members: Vec<ActorId> = (0..100).map(|i| node(i % 10).actor_id(i as u64)).collect();
    c.bench_function("routing/rendezvous among 100", |b| {
        let mut k = 0u64;
        b.iter(|| {
            k += 1;
            black_box(rendezvous(&k.to_le_bytes(), &members))
        })
    });
}

fn placement(c: &mut Criterion) {
    let view = ClusterView::new(
        (0..100)
            .map(|i| NodeLoad {
                id: node(i),
                cpu: (i % 7) as f64 / 10.0,
                memory: (i % 5) as f64 / 10.0,
                hint_matches: i % 3,
            })
            .collect(),
    );
    for strategy in Strategy::ALL {
        let hint = match strategy {
            Strategy::HostAffinity => Some(node(57).endpoint().to_string()),
            Strategy::Affinity | Strategy::Repulsion => Some("svc".to_owned()),
            _ => None,
        };
        let req = PlacementRequest::new(strategy, hint.as_deref());
        let mut rng = seeded(1);
        c.bench_function(&format!("placement/{strategy} over 100 nodes"), |b| {
            b.iter(|| black_box(place(&view, &req, &[], &mut rng).unwrap()))
        });
    }
}

criterion_group!(benches, directory, frames, routing, placement);
criterion_main!(benches);
