use proptest::prelude::*;

use super::*;
use crate::model::NodeId;

fn node(i: u32) -> NodeId {
    format!("10.0.0.{i}:4999#1").parse().unwrap()
}

fn spec(replicas: u32) -> DeploymentSpec {
    DeployFile::parse(&format!(
        "deployments:\n  - name: pongers\n    type: Pong\n    categories: [svc/pongers]\n    replicas: {replicas}\n"
    ))
    .unwrap()
    .deployments
    .remove(0)
}

fn replica(n: u32, seq: u64, template: u64) -> Replica {
    Replica { id: node(n).actor_id(seq), template, born_ms: 0 }
}

#[test]
fn a_file_names_the_field_at_fault() {
    let err = DeployFile::parse(
        "deployments:\n  - name: a\n    type: Pong\n    categories: [x]\n    replica: 2\n",
    )
    .unwrap_err();
    assert!(err.contains("unknown field `replica`"), "{err}");
    let err = DeployFile::parse("deployments:\n  - name: a\n    type: Pong\n    categories: [x]\n    replicas: 2\n    per_node: 1\n").unwrap_err();
    assert!(err.contains("not both"), "{err}");
    let err = DeployFile::parse("deployments:\n  - name: a\n    type: Pong\n    categories: [x]\n    replicas: 2\n    strategy: affinity\n").unwrap_err();
    assert!(err.contains("strategy affinity needs a hint"), "{err}");
    let err = DeployFile::parse(
        "deployments:\n  - name: a b\n    type: Pong\n    categories: [x]\n    replicas: 2\n",
    )
    .unwrap_err();
    assert!(err.contains("deployment name \"a b\""), "{err}");
    let err = DeployFile::parse("deployments:\n  - name: a\n    type: Pong\n    categories: [x]\n    replicas: 1\n    rollout: {max_surge: 0}\n").unwrap_err();
    assert!(err.contains("rollout"), "{err}");
    let twice = "deployments:\n  - {name: a, type: Pong, categories: [x], replicas: 1}\n  - {name: a, type: Pong, categories: [y], replicas: 1}\n";
    assert!(DeployFile::parse(twice).unwrap_err().contains("named twice"));
}

#[test]
fn versions_count_changes_and_only_a_template_change_rolls() {
    let mut d = Deployments::new();
    let (c, r) = d.apply(spec(3), &node(1), None);
    assert_eq!((c, r.as_ref().map(|r| (r.version, r.template))), (Change::Created, Some((1, 1))));
    assert_eq!(d.apply(spec(3), &node(1), None), (Change::Unchanged, None));
    let (c, r) = d.apply(spec(5), &node(2), None);
    assert_eq!((c, r.map(|r| (r.version, r.template))), (Change::Scaled, Some((2, 1))));
    let mut changed = spec(5);
    changed.params.insert("a".into(), crate::value::Value::Integer(1));
    let (c, r) = d.apply(changed, &node(1), None);
    assert_eq!((c, r.map(|r| (r.version, r.template))), (Change::Rolled, Some((3, 3))));
    let r = d.restart("pongers", &node(1)).unwrap();
    assert_eq!((r.version, r.template), (4, 4));
    assert!(d.restart("nothing", &node(1)).is_none());
}

#[test]
fn the_later_copy_wins_and_a_tombstone_keeps_a_deletion() {
    let mut a = Deployments::new();
    let (_, created) = a.apply(spec(3), &node(1), None);
    let created = created.unwrap();
    let deleted = a.delete("pongers", &node(1)).unwrap();
    let mut b = Deployments::new();
    assert!(b.merge(deleted.clone()));
    assert!(!b.merge(created), "an older copy does not bring a deleted deployment back");
    assert_eq!(b.live().count(), 0);
    // Two applies of the same version through different nodes: the greater origin wins,
    // wherever the copies meet.
    let mut x = Deployments::new();
    let mut y = Deployments::new();
    let (_, rx) = x.apply(spec(2), &node(1), None);
    let (_, ry) = y.apply(spec(4), &node(2), None);
    x.merge(ry.clone().unwrap());
    y.merge(rx.unwrap());
    assert_eq!(x, y);
    assert_eq!(x.get("pongers").unwrap().origin, node(2));
}

#[test]
fn scale_down_trims_the_fullest_node_youngest_first() {
    let nodes = [node(1), node(2), node(3)];
    let replicas = [
        replica(1, 1, 1),
        replica(1, 2, 1),
        replica(1, 3, 1),
        replica(2, 1, 1),
        replica(2, 5, 1),
        replica(3, 1, 1),
    ];
    let plan = reconcile(&spec(3), 1, &replicas, &nodes, 0);
    assert!(plan.start.is_empty());
    assert_eq!(plan.stop, vec![node(1).actor_id(3), node(2).actor_id(5), node(1).actor_id(2)]);
}

#[test]
fn a_rollout_with_the_default_limits_goes_one_at_a_time_and_never_shrinks() {
    let nodes = [node(1), node(2)];
    let mut replicas = vec![replica(1, 1, 1), replica(2, 1, 1), replica(1, 2, 1)];
    let mut seq = 10;
    for _ in 0..10 {
        let plan = reconcile(&spec(3), 2, &replicas, &nodes, 0);
        replicas.retain(|r| !plan.stop.contains(&r.id));
        assert!(replicas.len() >= 3, "{replicas:?}");
        for s in &plan.start {
            assert_eq!(s.count, 1, "one new replica at a time");
            seq += 1;
            replicas.push(replica(1 + (seq % 2) as u32, seq, 2));
        }
        assert!(replicas.len() <= 4);
    }
    assert!(replicas.iter().all(|r| r.template == 2) && replicas.len() == 3);
}

#[test]
fn per_node_fills_each_node_and_leaves_a_node_that_may_not_host() {
    let mut s = spec(1);
    s.replicas = None;
    s.per_node = Some(2);
    let replicas = [replica(1, 1, 1), replica(3, 1, 1)];
    let plan = reconcile(&s, 1, &replicas, &[node(1), node(2)], 0);
    assert_eq!(plan.stop, vec![node(3).actor_id(1)]);
    assert_eq!(
        plan.start,
        vec![Start { node: Some(node(1)), count: 1 }, Start { node: Some(node(2)), count: 2 }]
    );
    assert_eq!(counts(&s, 1, &replicas, &[node(1), node(2)]).desired, 4);
}

#[test]
fn the_reconciler_moves_only_when_it_leaves() {
    let nodes: Vec<NodeId> = (1..=5).map(node).collect();
    let names: Vec<String> = (0..200).map(|i| format!("d{i}")).collect();
    for name in &names {
        let first = reconciler(name, &nodes).unwrap().clone();
        let rest: Vec<NodeId> = nodes.iter().filter(|n| **n != node(5)).cloned().collect();
        let after = reconciler(name, &rest).unwrap();
        if first != node(5) {
            assert_eq!(after, &first, "{name} moved though its reconciler stayed");
        }
    }
    assert!(reconciler("x", &[]).is_none());
}

/// A cluster for the property test: replicas on nodes, started by plans.
fn run(
    s: &DeploymentSpec,
    template: u64,
    replicas: &mut Vec<Replica>,
    nodes: &[NodeId],
    seq: &mut u64,
    pick: &mut impl FnMut(usize) -> usize,
    mut check: impl FnMut(&[Replica]),
) -> usize {
    for step in 0..50 {
        let plan = reconcile(s, template, replicas, nodes, 0);
        if plan.is_empty() {
            return step;
        }
        replicas.retain(|r| !plan.stop.contains(&r.id));
        check(replicas);
        for start in &plan.start {
            for _ in 0..start.count {
                let n = start.node.clone().unwrap_or_else(|| nodes[pick(nodes.len())].clone());
                *seq += 1;
                replicas.push(Replica { id: n.actor_id(*seq), template, born_ms: 0 });
            }
        }
        check(replicas);
    }
    usize::MAX
}

proptest! {
    /// From any state (replicas of any templates, on nodes that may or may not host them),
    /// reconciliation ends with exactly the desired replicas, all updated, in a few steps;
    /// and a rollout from a complete state stays within its limits throughout.
    #[test]
    fn reconciliation_converges_and_a_rollout_keeps_its_limits(
        desired in 0u32..12,
        surge in 0u32..3,
        unavailable in 0u32..3,
        per_node in any::<bool>(),
        start in proptest::collection::vec((0u32..6, 0u64..3), 0..20),
        picks in proptest::collection::vec(0usize..1000, 64),
    ) {
        prop_assume!(surge + unavailable > 0);
        let mut s = spec(desired);
        s.rollout = Rollout { max_surge: surge, max_unavailable: unavailable };
        if per_node {
            s.replicas = None;
            s.per_node = Some(desired % 3);
        }
        let nodes: Vec<NodeId> = (1..=4).map(node).collect();
        let mut seq = 100;
        let mut replicas: Vec<Replica> = start
            .iter()
            .enumerate()
            .map(|(i, (n, t))| replica(*n, i as u64, *t))
            .collect();
        let mut k = 0;
        let mut pick = |len: usize| { k += 1; picks[k % picks.len()] % len };
        let steps = run(&s, 3, &mut replicas, &nodes, &mut seq, &mut pick, |_| {});
        prop_assert!(steps < 50, "no convergence");
        let c = counts(&s, 3, &replicas, &nodes);
        prop_assert!(c.complete(), "{c:?} {replicas:?}");

        // Roll to template 4 and watch the count.
        let want = c.desired;
        let (low, high) = match s.wanted() {
            Replicas::Total(d) => (d.saturating_sub(unavailable), d + surge),
            Replicas::PerNode(d) => (
                (d.saturating_sub(unavailable)) * nodes.len() as u32,
                (d + surge) * nodes.len() as u32,
            ),
        };
        let mut bad = None;
        let steps = run(&s, 4, &mut replicas, &nodes, &mut seq, &mut pick, |r| {
            let n = r.len() as u32;
            if n < low || n > high {
                bad = Some(n);
            }
        });
        prop_assert!(steps < 50);
        prop_assert_eq!(bad, None, "a rollout of {} went out of [{}, {}]", want, low, high);
        prop_assert!(counts(&s, 4, &replicas, &nodes).complete());
    }
}

#[test]
fn with_max_age_old_replicas_are_replaced_one_at_a_time_new_before_old() {
    let mut s = spec(3);
    s.max_age = Some(std::time::Duration::from_secs(3600));
    let nodes = [node(1), node(2), node(3)];
    let hour = 3_600_000;
    let born = |n, seq, at| Replica { id: node(n).actor_id(seq), template: 1, born_ms: at };
    let mut replicas = vec![born(1, 1, 1), born(2, 1, 1), born(3, 1, 1)];
    // Young: nothing to do.
    assert!(reconcile(&s, 1, &replicas, &nodes, hour / 2).is_empty());
    // All three are past their age: one is replaced at a time, the count never below 3.
    let mut now = 2 * hour;
    let mut seq = 10;
    let mut replaced = Vec::new();
    for _ in 0..12 {
        let plan = reconcile(&s, 1, &replicas, &nodes, now);
        assert!(plan.stop.len() <= 1 && plan.start.iter().map(|p| p.count).sum::<u32>() <= 1);
        replicas.retain(|r| !plan.stop.contains(&r.id));
        replaced.extend(plan.stop.clone());
        assert!(replicas.len() >= 3, "{replicas:?}");
        for _ in &plan.start {
            seq += 1;
            replicas.push(born(1, seq, now));
        }
        now += 1000;
    }
    assert_eq!(replaced.len(), 3, "each old replica went once");
    assert!(replicas.iter().all(|r| r.born_ms >= 2 * hour) && replicas.len() == 3);
    // Not while a replica is missing.
    replicas.pop();
    let plan = reconcile(&s, 1, &replicas, &nodes, now + 10 * hour);
    assert!(plan.stop.is_empty() && plan.start[0].count == 1);
}

#[test]
fn max_age_is_written_as_people_write_durations() {
    let f = DeployFile::parse(
        "deployments:\n  - {name: a, type: Pong, categories: [x], replicas: 1, max_age: 12h}\n",
    )
    .unwrap();
    assert_eq!(f.deployments[0].max_age, Some(std::time::Duration::from_secs(12 * 3600)));
    let err = DeployFile::parse(
        "deployments:\n  - {name: a, type: Pong, categories: [x], replicas: 1, max_age: soon}\n",
    )
    .unwrap_err();
    assert!(err.contains("max_age \"soon\""), "{err}");
}
