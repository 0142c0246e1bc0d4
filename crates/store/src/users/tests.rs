//! Gateway users' tests: homes and ownership, storage quotas, traffic and
//! purchases under races, logins that differ only in case.

use super::*;
use crate::catalog::{NewFile, OnConflict};
use crate::ledger::{MINT, Unit};
use cairn_core::BlobId;

fn user(cat: &Catalog, login: &str, storage: Option<u64>, traffic: Option<u64>) -> User {
    cat.create_user(&NewUser {
        login,
        key_hash: &[7; 32],
        email: "",
        storage_limit: storage,
        traffic_limit: traffic,
        password_hash: None,
    })
    .unwrap()
}

fn add(cat: &Catalog, parent: &str, name: &str, content: &[u8]) -> Result<crate::catalog::Added> {
    cat.add_file(
        NewFile {
            parent: Some(parent),
            name,
            blob: BlobId::of(content),
            size: content.len() as u64,
            manifest: b"m",
            content_type: "text/plain",
            on_conflict: OnConflict::Fail,
            md5: None,
            reset_prefix: None,
            finishes: None,
        },
        || Ok(()),
        |_| {},
    )
}

#[test]
fn a_user_owns_what_is_under_their_home_and_nothing_moves_between_owners() {
    let cat = Catalog::open_in_memory().unwrap();
    let ann = user(&cat, "ann", None, None);
    let bob = user(&cat, "bob", None, None);
    assert!(matches!(
        cat.create_user(&NewUser {
            login: "ann",
            key_hash: &[1],
            email: "",
            storage_limit: None,
            traffic_limit: None,
            password_hash: None,
        }),
        Err(StoreError::NameTaken { .. })
    ));
    let home = cat.entry(&ann.home).unwrap();
    assert_eq!(home.owner.as_deref(), Some(ann.account.as_str()));
    let sub = cat.create_folder(Some(&ann.home), "films").unwrap();
    assert_eq!(sub.owner.as_deref(), Some(ann.account.as_str()));
    let file = add(&cat, &sub.id, "a.txt", b"hello").unwrap().entry;
    assert_eq!(file.owner.as_deref(), Some(ann.account.as_str()));
    assert_eq!(cat.storage_used(&ann.account).unwrap(), 5);
    assert_eq!(cat.storage_used(&bob.account).unwrap(), 0);
    assert!(matches!(
        cat.move_to(&file.id, Some(&bob.home)),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        cat.move_to(&file.id, None),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        cat.move_to(&file.id, Some(&ann.home))
            .unwrap()
            .parent
            .as_deref(),
        Some(ann.home.as_str())
    );
    let root_file = cat
        .add_file(
            NewFile {
                parent: None,
                name: "op.txt",
                blob: BlobId::of(b"op"),
                size: 2,
                manifest: b"m",
                content_type: "text/plain",
                on_conflict: OnConflict::Fail,
                md5: None,
                reset_prefix: None,
                finishes: None,
            },
            || Ok(()),
            |_| {},
        )
        .unwrap()
        .entry;
    assert_eq!(root_file.owner, None);
    assert_eq!(cat.users().unwrap().len(), 2);
    assert_eq!(
        cat.user_by_login("bob").unwrap().unwrap().account,
        bob.account
    );
    assert_eq!(
        cat.user_by_account(&ann.account).unwrap().unwrap().login,
        "ann"
    );
}

#[test]
fn the_storage_quota_refuses_a_file_whole() {
    let cat = Catalog::open_in_memory().unwrap();
    let ann = user(&cat, "ann", Some(10), None);
    add(&cat, &ann.home, "a", b"123456").unwrap();
    let refused = add(&cat, &ann.home, "b", b"abcdef");
    assert!(
        matches!(
            refused,
            Err(StoreError::OverLimit {
                what: "storage",
                limit: 10,
                used: 6,
                wanted: 6
            })
        ),
        "{refused:?}"
    );
    assert!(
        cat.list(Some(&ann.home), Default::default())
            .unwrap()
            .entries
            .iter()
            .all(|e| e.name != "b")
    );
    assert_eq!(cat.storage_used(&ann.account).unwrap(), 6);
    add(&cat, &ann.home, "c", b"1234").unwrap();
    let raised = cat.set_user_limits("ann", Some(None), None).unwrap();
    assert_eq!(raised.storage_limit, None);
    add(&cat, &ann.home, "b", b"abcdef").unwrap();
}

#[test]
fn parallel_traffic_never_passes_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let cat = Catalog::open(&path).unwrap();
    let ann = user(&cat, "ann", None, Some(1000));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (path, account) = (path.clone(), ann.account.clone());
            std::thread::spawn(move || {
                let cat = Catalog::open(&path).unwrap();
                let mut ok = 0u64;
                for _ in 0..30 {
                    match cat.charge_traffic(&account, 7, Some(1000)) {
                        Ok(()) => ok += 1,
                        Err(StoreError::OverLimit {
                            what: "traffic", ..
                        }) => {}
                        Err(e) => panic!("unexpected: {e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let ok: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(ok, 1000 / 7, "exactly as many as fit");
    assert_eq!(cat.traffic_used(&ann.account).unwrap(), 1000 / 7 * 7);
    cat.charge_traffic(&ann.account, 5000, None).unwrap();
}

#[test]
fn parallel_purchases_pay_once_and_conserve_credits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let cat = Catalog::open(&path).unwrap();
    let seller = user(&cat, "seller", None, None);
    let file = add(&cat, &seller.home, "film.mp4", b"film").unwrap().entry;
    let buyers: Vec<User> = (0..5)
        .map(|i| user(&cat, &format!("b{i}"), None, None))
        .collect();
    for (i, b) in buyers.iter().enumerate() {
        // b0 cannot afford it; the others can.
        let credits = if i == 0 { 2 } else { 10 };
        cat.transfer(MINT, &b.account, Unit::Credits, credits, "deposit")
            .unwrap();
    }
    let threads: Vec<_> = (0..10)
        .map(|t| {
            let (path, file, seller) = (path.clone(), file.id.clone(), seller.account.clone());
            let buyer = buyers[t % buyers.len()].account.clone();
            std::thread::spawn(move || {
                let cat = Catalog::open(&path).unwrap();
                match cat.buy(&file, &buyer, &seller, 3) {
                    Ok(fresh) => Some(fresh),
                    Err(StoreError::Insufficient { .. }) => None,
                    Err(e) => panic!("unexpected: {e}"),
                }
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == Some(true)).count(), 4);
    assert_eq!(outcomes.iter().filter(|o| **o == Some(false)).count(), 4);
    assert_eq!(outcomes.iter().filter(|o| o.is_none()).count(), 2);
    assert_eq!(cat.balance(&seller.account, Unit::Credits).unwrap(), 12);
    assert!(!cat.has_bought(&file.id, &buyers[0].account).unwrap());
    assert!(cat.has_bought(&file.id, &buyers[1].account).unwrap());
    for b in &buyers[1..] {
        assert_eq!(cat.balance(&b.account, Unit::Credits).unwrap(), 7);
    }
    assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
}

/// Issue 15: `bob` and `BOB` were two accounts, so a look-alike login
/// could pass for another user.
#[test]
fn logins_differing_only_in_case_are_one_account() {
    let cat = Catalog::open_in_memory().unwrap();
    let bob = user(&cat, "bob", None, None);
    let again = cat.create_user(&NewUser {
        login: "BOB",
        key_hash: &[8; 32],
        email: "",
        storage_limit: None,
        traffic_limit: None,
        password_hash: None,
    });
    assert!(
        matches!(again, Err(StoreError::NameTaken { .. })),
        "{again:?}"
    );
    for asked in ["bob", "Bob", "BOB"] {
        let found = cat.user_by_login(asked).unwrap().unwrap();
        assert_eq!(found.account, bob.account, "{asked}");
    }
    assert!(cat.user_by_login("bobby").unwrap().is_none());
}

/// A database from before logins were case-blind may hold both spellings:
/// each still finds its own account.
#[test]
fn older_logins_in_two_cases_each_find_their_own_account() {
    let cat = Catalog::open_in_memory().unwrap();
    let lower = user(&cat, "ann", None, None);
    let upper = user(&cat, "carl", None, None);
    cat.with(|c| {
        // A second younger, so which is older does not hang on the clock.
        c.execute(
            "UPDATE users SET login = 'ANN', created = created + 1000 WHERE account = ?1",
            [&upper.account],
        )?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        cat.user_by_login("ann").unwrap().unwrap().account,
        lower.account
    );
    assert_eq!(
        cat.user_by_login("ANN").unwrap().unwrap().account,
        upper.account
    );
    // Neither spelling: the older account.
    assert_eq!(
        cat.user_by_login("Ann").unwrap().unwrap().account,
        lower.account
    );
}

#[test]
fn a_home_folder_and_the_folders_holding_it_cannot_be_deleted() {
    let cat = Catalog::open_in_memory().unwrap();
    let ann = cat
        .create_user(&NewUser {
            login: "ann",
            key_hash: &[1; 32],
            email: "",
            storage_limit: None,
            traffic_limit: None,
            password_hash: None,
        })
        .unwrap();
    let home = cat.entry(&ann.home).unwrap();
    let users = home.parent.clone().unwrap();
    for (id, recursive) in [(ann.home.as_str(), true), (users.as_str(), true)] {
        let err = cat.delete(id, recursive, |_| {}).unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains("home folder of account 'ann'")),
            "{err}"
        );
    }
    assert!(cat.entry(&ann.home).is_ok(), "nothing was deleted");
    let inside = cat.create_folder(Some(&ann.home), "docs").unwrap();
    cat.delete(&inside.id, false, |_| {}).unwrap();
}
