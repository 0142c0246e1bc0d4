//! The admission policy's tests: friends, strangers and their quotas,
//! the strangers' hourly window, a private node.

use std::cell::Cell;

use super::*;

fn owner(n: u8) -> [u8; 32] {
    [n; 32]
}

/// Friend 100; at most two strangers, three new ones an hour; strangers
/// keep 100 bytes, anyone at most 300.
fn policy() -> Policy {
    Policy {
        friends: [owner(100)].into(),
        strangers: true,
        strangers_max: 2,
        strangers_per_hour: 3,
        stranger_quota: 100,
        customer_quota: Some(300),
    }
}

const T: u64 = 1_000_000;

/// The verdict on `who` (holding `held` for us) writing `growth` bytes
/// (`None`: asking for space) into 10 000 donated bytes used as `usage`.
fn judge_with(
    p: &Policy,
    who: u8,
    held: u64,
    usage: &[(u8, u64)],
    growth: Option<u64>,
    admissions: &Admissions,
    now: u64,
) -> Verdict {
    let usage: HashMap<[u8; 32], u64> = usage.iter().map(|(o, b)| (owner(*o), *b)).collect();
    let room = Room {
        donated: 10_000,
        usage: &usage,
        growth,
    };
    p.judge(&owner(who), &|| held, room, admissions, now)
}

fn space(p: &Policy, who: u8, held: u64, usage: &[(u8, u64)]) -> Verdict {
    judge_with(p, who, held, usage, None, &Admissions::default(), T)
}

fn room(room: u64, new: bool) -> Verdict {
    Verdict::Admitted { room, new }
}

fn refused_for(v: &Verdict, setting: &str) -> bool {
    matches!(v, Verdict::Refused(why) if why.contains(setting))
}

#[test]
fn strangers_get_the_stranger_quota_and_more_for_what_they_hold_for_us_friends_the_customer_quota()
{
    let p = policy();
    assert_eq!(space(&p, 1, 0, &[]), room(100, true));
    assert_eq!(space(&p, 1, 150, &[]), room(250, true), "reciprocity");
    assert_eq!(
        space(&p, 1, 5000, &[]),
        room(300, true),
        "never past customer_quota"
    );
    assert_eq!(space(&p, 1, 150, &[(1, 120)]), room(130, false));
    assert_eq!(space(&p, 100, 0, &[]), room(300, false));
    let no_quota = Policy {
        customer_quota: None,
        ..policy()
    };
    assert_eq!(space(&no_quota, 100, 0, &[(100, 400)]), room(9600, false));
    assert_eq!(no_quota.allowance(&owner(100), 0, 10_000), 10_000);
    assert_eq!(p.allowance(&owner(1), 50, 10_000), 150);
}

#[test]
fn past_strangers_max_a_newcomer_is_refused_and_one_that_holds_nothing_stops_counting() {
    let p = policy();
    let full = [(1, 50), (2, 50), (100, 300)];
    assert!(refused_for(&space(&p, 3, 0, &full), "strangers_max"));
    // Those already here go on, and friends are not counted.
    assert_eq!(space(&p, 1, 0, &full), room(50, false));
    assert_eq!(space(&p, 3, 0, &[(1, 50), (100, 300)]), room(100, true));
    // Stranger 2's shards are gone: its place is free.
    assert_eq!(space(&p, 3, 0, &[(1, 50), (2, 0)]), room(100, true));
}

#[test]
fn only_so_many_new_strangers_an_hour_and_a_restart_keeps_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admissions");
    let p = Policy {
        strangers_max: 100,
        ..policy()
    };
    let mut admissions = Admissions::open(&file).unwrap();
    for o in 1..=3 {
        let v = judge_with(&p, o, 0, &[], Some(10), &admissions, T + u64::from(o));
        assert_eq!(v, room(100, true), "stranger {o}");
        admissions.record(&owner(o), T + u64::from(o)).unwrap();
    }
    for admissions in [admissions, Admissions::open(&file).unwrap()] {
        let fourth = judge_with(&p, 4, 0, &[], Some(10), &admissions, T + 10);
        assert!(refused_for(&fourth, "strangers_per_hour"), "{fourth:?}");
        // One admitted within the hour that holds nothing any more comes
        // back without taking a new place.
        let back = judge_with(&p, 2, 0, &[], Some(10), &admissions, T + 10);
        assert_eq!(back, room(100, false));
        // An hour after the first, a place is free again.
        let later = judge_with(&p, 4, 0, &[], Some(10), &admissions, T + 1 + HOUR);
        assert_eq!(later, room(100, true));
    }
}

#[test]
fn a_stranger_holding_our_shards_is_admitted_whatever_the_counts() {
    let p = Policy {
        strangers_per_hour: 0,
        ..policy()
    };
    let full = [(1, 50), (2, 50)];
    assert!(refused_for(&space(&p, 3, 0, &full), "strangers_max"));
    assert_eq!(space(&p, 3, 10, &full), room(110, false));
    assert!(refused_for(&space(&p, 3, 0, &[]), "strangers_per_hour"));
    assert_eq!(space(&p, 3, 10, &[]), room(110, false));
}

#[test]
fn a_private_node_refuses_every_stranger_and_keeps_what_they_stored() {
    let p = Policy {
        strangers: false,
        ..policy()
    };
    for held in [0, 1000] {
        assert!(refused_for(&space(&p, 1, held, &[]), "strangers = false"));
        assert!(refused_for(
            &space(&p, 1, held, &[(1, 50)]),
            "strangers = false"
        ));
    }
    assert_eq!(p.allowance(&owner(1), 1000, 10_000), 0);
    assert_eq!(space(&p, 100, 0, &[(1, 50)]), room(300, false));
}

#[test]
fn the_space_promised_to_friends_is_kept_from_strangers() {
    let p = Policy {
        friends: [owner(100), owner(101)].into(),
        stranger_quota: 10_000,
        customer_quota: Some(3000),
        strangers_max: 100,
        ..policy()
    };
    // 10 000 donated, 2000 used by friend 100 and 1000 by stranger 1:
    // 7000 free, of which friends may still claim 1000 + 3000.
    let usage = [(100, 2000), (1, 1000)];
    assert_eq!(space(&p, 1, 0, &usage), room(2000, false));
    assert_eq!(space(&p, 2, 0, &usage), room(3000, true));
    assert_eq!(space(&p, 101, 0, &usage), room(3000, false));
    // Without a customer quota each friend is promised the whole space.
    let p = Policy {
        customer_quota: None,
        ..p
    };
    assert_eq!(space(&p, 2, 0, &usage), room(0, true));
}

#[test]
fn what_a_stranger_holds_for_us_is_looked_up_only_past_its_quota() {
    let p = policy();
    let asked = Cell::new(0);
    let usage: HashMap<[u8; 32], u64> = [(owner(1), 40)].into();
    let judge = |growth| {
        let room = Room {
            donated: 10_000,
            usage: &usage,
            growth,
        };
        let held = || {
            asked.set(asked.get() + 1);
            200
        };
        p.judge(&owner(1), &held, room, &Admissions::default(), T)
    };
    assert_eq!(judge(Some(60)), room(60, false));
    assert_eq!(asked.get(), 0);
    assert_eq!(judge(Some(61)), room(260, false));
    assert_eq!(asked.get(), 1);
    assert_eq!(judge(None), room(260, false));
    assert_eq!(asked.get(), 2);
}
