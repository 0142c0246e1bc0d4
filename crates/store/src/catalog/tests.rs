//! The catalog's tests: the entry tree, blobs and their aliases, jobs,
//! placements, and each migration run on a catalog of the schema before it.

use super::*;

fn add(cat: &Catalog, parent: Option<&str>, name: &str, content: &[u8]) -> Result<Added> {
    add_with(cat, parent, name, content, OnConflict::Fail)
}

fn add_with(
    cat: &Catalog,
    parent: Option<&str>,
    name: &str,
    content: &[u8],
    on_conflict: OnConflict,
) -> Result<Added> {
    let blob = BlobId::of(content);
    cat.add_file(
        NewFile {
            parent,
            name,
            blob,
            size: content.len() as u64,
            manifest: b"m",
            content_type: "application/octet-stream",
            on_conflict,
            md5: None,
            reset_prefix: None,
            finishes: None,
        },
        || Ok(()),
        |_| {},
    )
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let id = {
        let cat = Catalog::open(&path).unwrap();
        add(&cat, None, "a.txt", b"a").unwrap().entry.id
    };
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(cat.entry(&id).unwrap().name, "a.txt");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    drop(Catalog::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Catalog::open(&path),
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Whether the database or its WAL holds `needle` anywhere in its bytes.
fn bytes_hold(path: &Path, needle: &str) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        std::fs::read(sibling(path, suffix))
            .unwrap_or_default()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    })
}

#[test]
fn a_new_catalog_and_its_wal_are_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let cat = Catalog::open(&path).unwrap();
    let t = cat.issue_token("TokenInTheCatalog").unwrap();
    cat.transfer(
        crate::ledger::MINT,
        &t,
        crate::ledger::Unit::Bytes,
        9,
        "deposit",
    )
    .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(
            mode_of(&sibling(&path, suffix)),
            0o600,
            "catalog.db{suffix}"
        );
    }
    assert!(!bytes_hold(&path, "TokenInTheCatalog"));
}

#[test]
fn an_older_installs_catalog_files_are_tightened_at_open() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    // Still open, as a node killed with its WAL in use leaves it.
    let first = Catalog::open(&path).unwrap();
    add(&first, None, "a.txt", b"a").unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = sibling(&path, suffix);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _second = Catalog::open(&path).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(
            mode_of(&sibling(&path, suffix)),
            0o600,
            "catalog.db{suffix}"
        );
    }
}

/// The index of the migration that hashed stored tokens.
fn hashing_tokens() -> usize {
    let found = MIGRATIONS
        .iter()
        .position(|m| m.contains("cairn_sha256_hex"));
    found.expect("a migration hashes tokens")
}

/// A catalog made by the schema before tokens were hashed (version 9): two
/// token accounts named by their plain tokens, with balances, postings and
/// a redemption, as a node killed with its WAL unchecked left it, its
/// files 0644 as that version made them. With `hashed_then_killed`, a
/// node of this version then ran the migration and was killed before it
/// scrubbed the file.
fn catalog_with_plain_tokens(dir: &Path, hashed_then_killed: bool) -> std::path::PathBuf {
    let made = dir.join("made");
    std::fs::create_dir_all(&made).unwrap();
    let conn = Connection::open(made.join("catalog.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    for sql in &MIGRATIONS[..hashing_tokens()] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", hashing_tokens() as i64)
        .unwrap();
    conn.execute_batch(
        "INSERT INTO accounts VALUES ('tok1', 'token', 'token:PlainTokenOne1', 1);
         INSERT INTO balances VALUES ('mint', 'bytes', -1000), ('tok1', 'bytes', 1000);
         INSERT INTO postings (tx, account, unit, amount, reason, created) VALUES
            (1, 'mint', 'bytes', -1000, 'deposit', 1), (1, 'tok1', 'bytes', 1000, 'deposit', 1);",
    )
    .unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    conn.execute_batch(
        "INSERT INTO accounts VALUES ('tok2', 'token', 'token:PlainTokenTwo2', 2);
         UPDATE balances SET amount = -1500 WHERE account = 'mint';
         UPDATE balances SET amount = 700 WHERE account = 'tok1';
         INSERT INTO balances VALUES ('tok2', 'bytes', 500), ('spent', 'bytes', 300);
         INSERT INTO postings (tx, account, unit, amount, reason, created) VALUES
            (2, 'mint', 'bytes', -500, 'promo code WELCOME', 2), (2, 'tok2', 'bytes', 500, 'promo code WELCOME', 2),
            (3, 'tok1', 'bytes', -300, 'withdraw', 3), (3, 'spent', 'bytes', 300, 'withdraw', 3);
         INSERT INTO promocode_uses VALUES ('tok2', 'WELCOME', 2);",
    )
    .unwrap();
    if hashed_then_killed {
        conn.create_scalar_function("cairn_sha256_hex", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
            Ok(crate::ledger::sha256_hex(&ctx.get::<String>(0)?))
        })
        .unwrap();
        conn.execute_batch(MIGRATIONS[hashing_tokens()]).unwrap();
        conn.pragma_update(None, "user_version", hashing_tokens() as i64 + 1)
            .unwrap();
    }
    let killed = dir.join("killed");
    std::fs::create_dir_all(&killed).unwrap();
    for name in ["catalog.db", "catalog.db-wal"] {
        let to = killed.join(name);
        std::fs::copy(made.join(name), &to).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    killed.join("catalog.db")
}

#[test]
fn the_migration_hashes_stored_tokens_and_keeps_their_books() {
    let dir = tempfile::tempdir().unwrap();
    opens_hashed_with_its_books(&catalog_with_plain_tokens(dir.path(), false));
}

#[test]
fn a_node_killed_before_the_scrub_scrubs_at_its_next_open() {
    let dir = tempfile::tempdir().unwrap();
    opens_hashed_with_its_books(&catalog_with_plain_tokens(dir.path(), true));
}

/// Opens the catalog at `path`, made by [`catalog_with_plain_tokens`], and
/// checks that its tokens are known by their hashes only, in the files
/// too, with their books as they were.
fn opens_hashed_with_its_books(path: &Path) {
    use crate::ledger::{MINT, Unit};
    let path = path.to_path_buf();
    assert!(bytes_hold(&path, "PlainTokenOne1") && bytes_hold(&path, "PlainTokenTwo2"));
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(
        cat.token_account("PlainTokenOne1").unwrap().as_deref(),
        Some("tok1")
    );
    assert_eq!(
        cat.token_account("PlainTokenTwo2").unwrap().as_deref(),
        Some("tok2")
    );
    assert_eq!(cat.balance("tok1", Unit::Bytes).unwrap(), 700);
    assert_eq!(cat.balance("tok2", Unit::Bytes).unwrap(), 500);
    assert_eq!(cat.balance(MINT, Unit::Bytes).unwrap(), -1500);
    assert_eq!(cat.audit_ledger().unwrap(), (0, 0, 0));
    assert!(
        !cat.redeem_once("tok2", "WELCOME", 500).unwrap(),
        "redeemed before"
    );
    cat.transfer(MINT, "tok2", Unit::Bytes, 1, "deposit")
        .unwrap();
    for token in ["PlainTokenOne1", "PlainTokenTwo2"] {
        assert!(!bytes_hold(&path, token), "{token} left in the files");
    }
    for suffix in ["", "-wal", "-shm"] {
        assert_eq!(
            mode_of(&sibling(&path, suffix)),
            0o600,
            "catalog.db{suffix}"
        );
    }
    drop(cat);
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(
        cat.balance("tok2", Unit::Bytes).unwrap(),
        501,
        "reopened as it was"
    );
}

#[test]
fn name_collisions_fail_rename_or_replace() {
    let cat = Catalog::open_in_memory().unwrap();
    let first = add(&cat, None, "x.txt", b"one").unwrap();
    assert!(first.new_blob);
    let same = add(&cat, None, "x.txt", b"one").unwrap();
    assert_eq!(
        same.entry.id, first.entry.id,
        "same name and content is idempotent"
    );
    assert!(matches!(
        add(&cat, None, "x.txt", b"two"),
        Err(StoreError::NameTaken { .. })
    ));
    let renamed = add_with(&cat, None, "x.txt", b"two", OnConflict::Rename).unwrap();
    assert_eq!(renamed.entry.name, "x (1).txt");
    let replaced = add_with(&cat, None, "x.txt", b"three", OnConflict::Replace).unwrap();
    assert_eq!(replaced.entry.id, first.entry.id);
    assert_eq!(replaced.orphan, Some(BlobId::of(b"one")));
    assert_eq!(cat.blob_ids().unwrap().len(), 2);
}

#[test]
fn folders_nest_and_cannot_move_into_themselves() {
    let cat = Catalog::open_in_memory().unwrap();
    let a = cat.create_folder(None, "a").unwrap();
    let b = cat.create_folder(Some(&a.id), "b").unwrap();
    let c = cat.create_folder(Some(&b.id), "c").unwrap();
    assert_eq!(cat.create_folder(None, "a").unwrap().id, a.id);
    for target in [&a.id, &b.id, &c.id] {
        assert!(matches!(
            cat.move_to(&a.id, Some(target)),
            Err(StoreError::Conflict(_))
        ));
    }
    let moved = cat.move_to(&c.id, None).unwrap();
    assert_eq!(moved.parent, None);
    let path: Vec<String> = cat
        .path_of(&b.id)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(path, ["a", "b"]);
}

#[test]
fn moving_onto_a_taken_name_or_into_a_file_is_refused() {
    let cat = Catalog::open_in_memory().unwrap();
    let a = cat.create_folder(None, "a").unwrap();
    let f = add(&cat, None, "same", b"1").unwrap().entry;
    add(&cat, Some(&a.id), "same", b"2").unwrap();
    assert!(matches!(
        cat.move_to(&f.id, Some(&a.id)),
        Err(StoreError::NameTaken { .. })
    ));
    assert!(matches!(
        cat.move_to(&a.id, Some(&f.id)),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        cat.rename(&f.id, "a"),
        Err(StoreError::NameTaken { .. })
    ));
    assert!(matches!(
        cat.move_to(&f.id, Some("nonexistent")),
        Err(StoreError::NotFound { what: "folder", .. })
    ));
}

#[test]
fn a_folder_summary_counts_children_and_finds_a_key() {
    let cat = Catalog::open_in_memory().unwrap();
    let a = cat.create_folder(None, "a").unwrap();
    let empty = cat.create_folder(None, "empty").unwrap();
    add(&cat, Some(&a.id), "x", b"x").unwrap();
    add(&cat, Some(&a.id), "y", b"y").unwrap();
    let top = add(&cat, None, "top", b"t").unwrap().entry;
    let marked = BTreeMap::from([("k".to_owned(), Some("1".to_owned()))]);
    cat.set_metadata(&top.id, &marked).unwrap();
    let s = cat.folder_summary(None, "k").unwrap();
    assert_eq!(s.counts.get(&a.id), Some(&2));
    assert_eq!(s.counts.get(&empty.id), Some(&0));
    assert_eq!(s.counts.len(), 2, "folders only");
    assert_eq!(
        s.with_key,
        std::collections::HashSet::from([top.id.clone()])
    );
    let inner = cat.folder_summary(Some(&a.id), "k").unwrap();
    assert!(inner.counts.is_empty() && inner.with_key.is_empty());
    assert!(
        cat.folder_summary(Some(&top.id), "k").is_err(),
        "a file is no folder"
    );
}

#[test]
fn listing_pages_and_sorts_with_folders_first() {
    let cat = Catalog::open_in_memory().unwrap();
    for (i, name) in ["b", "a", "d", "c"].iter().enumerate() {
        add(&cat, None, name, &vec![0u8; i + 1]).unwrap();
    }
    cat.create_folder(None, "z").unwrap();
    let all = cat.list(None, ListQuery::default()).unwrap();
    let names: Vec<&str> = all.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["z", "a", "b", "c", "d"]);
    let page = cat
        .list(
            None,
            ListQuery {
                offset: 1,
                limit: 2,
                sort: SortKey::Size,
                descending: true,
            },
        )
        .unwrap();
    assert_eq!(page.total, 5);
    let names: Vec<&str> = page.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["c", "d"]);
    assert!(
        cat.list(
            None,
            ListQuery {
                limit: MAX_PAGE + 1,
                ..Default::default()
            }
        )
        .is_err()
    );
}

/// The counts as a scan of every entry and blob finds them.
fn scanned(cat: &Catalog) -> Counts {
    cat.with(|c| {
        let (files, folders): (i64, i64) = c.query_row(
            "SELECT count(*) FILTER (WHERE kind = 'file'), count(*) FILTER (WHERE kind = 'folder') FROM entries",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (blobs, bytes): (i64, i64) = c.query_row(
            "SELECT count(*), ifnull(sum(size), 0) FROM blobs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Counts {
            files: files as u64,
            folders: folders as u64,
            blobs: blobs as u64,
            blob_bytes: bytes as u64,
        })
    })
    .unwrap()
}

/// A folder ('' for the root) and its number of entries.
type FolderCount = (String, i64);

/// Each folder's entries ('' for the root): as kept in `children` (rows
/// of folders emptied are 0, or gone), then as counted.
fn children(cat: &Catalog) -> (Vec<FolderCount>, Vec<FolderCount>) {
    let rows = |sql: &str| {
        cat.with(|c| {
            let mut q = c.prepare(sql)?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .unwrap()
    };
    (
        rows("SELECT parent, n FROM children WHERE n != 0 ORDER BY parent"),
        rows("SELECT ifnull(parent, ''), count(*) FROM entries GROUP BY 1 ORDER BY 1"),
    )
}

fn same(a: &Counts, b: &Counts) -> bool {
    (a.files, a.folders, a.blobs, a.blob_bytes) == (b.files, b.folders, b.blobs, b.blob_bytes)
}

/// Issue 22: the counts are kept by triggers, not scanned: after every
/// kind of change they agree with a scan, and so does each folder's
/// number of entries a listing reports.
#[test]
fn the_kept_counts_agree_with_a_scan_after_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let check = |what: &str| {
        let (kept, seen) = (cat.counts().unwrap(), scanned(&cat));
        assert!(
            same(&kept, &seen),
            "{what}: kept {kept:?}, scanned {seen:?}"
        );
        let (kept, seen) = children(&cat);
        assert_eq!(kept, seen, "{what}: entries per folder");
        for (parent, n) in seen {
            let parent = (!parent.is_empty()).then_some(parent.as_str());
            let page = cat.list(parent, ListQuery::default()).unwrap();
            assert_eq!(page.total, n as u64, "{what}: a listing's total");
        }
    };
    check("empty");
    let top = cat.create_folder(None, "top").unwrap().id;
    let sub = cat.create_folder(Some(&top), "sub").unwrap().id;
    check("folders");
    add(&cat, Some(&top), "a", b"aaaa").unwrap();
    add(&cat, Some(&sub), "b", b"bbbbbb").unwrap();
    add(&cat, None, "a-again", b"aaaa").unwrap();
    check("files, one blob named twice");
    add_with(&cat, Some(&top), "a", b"replaced", OnConflict::Replace).unwrap();
    check("a file replaced");
    add_with(&cat, Some(&top), "a", b"x", OnConflict::Rename).unwrap();
    check("a name taken, renamed");
    let moved = add(&cat, Some(&sub), "m", b"mm").unwrap();
    cat.move_to(&moved.entry.id, None).unwrap();
    cat.move_to(&sub, None).unwrap();
    check("a file and a folder moved");
    cat.move_to(&sub, Some(&top)).unwrap();
    check("moved back");
    cat.delete(&moved.entry.id, false, |_| {}).unwrap();
    cat.delete(&top, true, |_| {}).unwrap();
    check("a tree deleted");
    let kept = cat.counts().unwrap();
    assert_eq!(
        (kept.files, kept.folders, kept.blobs, kept.blob_bytes),
        (1, 0, 1, 4)
    );
}

/// Migration 16 counts what a catalog already holds.
#[test]
fn the_counts_start_from_what_an_older_catalog_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.create_scalar_function("cairn_sha256_hex", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
            Ok(crate::ledger::sha256_hex(&ctx.get::<String>(0)?))
        })
        .unwrap();
        let before = 15;
        for sql in &MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO entries (id, parent, kind, name, created, modified) VALUES
                ('f1', NULL, 'folder', 'f', 1, 1);
             INSERT INTO blobs (id, size, manifest, created) VALUES (x'01', 10, x'00', 1), (x'02', 32, x'00', 1);
             INSERT INTO entries (id, parent, kind, name, blob, size, created, modified) VALUES
                ('e1', 'f1', 'file', 'a', x'01', 10, 1, 1),
                ('e2', NULL, 'file', 'b', x'02', 32, 1, 1),
                ('e3', NULL, 'file', 'c', x'02', 32, 1, 1);",
        )
        .unwrap();
    }
    let cat = Catalog::open(&path).unwrap();
    let kept = cat.counts().unwrap();
    assert_eq!(
        (kept.files, kept.folders, kept.blobs, kept.blob_bytes),
        (3, 1, 2, 42)
    );
    assert!(same(&kept, &scanned(&cat)));
}

#[test]
fn deleting_returns_blobs_nothing_else_uses() {
    let cat = Catalog::open_in_memory().unwrap();
    let dir = cat.create_folder(None, "d").unwrap();
    add(&cat, Some(&dir.id), "1", b"shared").unwrap();
    add(&cat, Some(&dir.id), "2", b"only-here").unwrap();
    add(&cat, None, "3", b"shared").unwrap();
    assert!(matches!(
        cat.delete(&dir.id, false, |_| {}),
        Err(StoreError::Conflict(_))
    ));
    let orphans = cat.delete(&dir.id, true, |_| {}).unwrap();
    assert_eq!(orphans, vec![BlobId::of(b"only-here")]);
    assert!(cat.entry(&dir.id).is_err());
    assert_eq!(cat.counts().unwrap().files, 1);
}

#[test]
fn aliases_resolve_and_go_with_their_blob() {
    let cat = Catalog::open_in_memory().unwrap();
    let e = add(&cat, None, "f", b"hello").unwrap().entry;
    let blob = BlobId::of(b"hello");
    assert_eq!(cat.blobs_without_aliases().unwrap(), vec![blob]);
    let md5 = "5d41402abc4b2a76b9719d911017c592".to_owned();
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".to_owned();
    cat.add_aliases(
        &blob,
        &[
            (DigestKind::Md5, md5.clone()),
            (DigestKind::Sha256, sha.clone()),
        ],
    )
    .unwrap();
    assert!(cat.blobs_without_aliases().unwrap().is_empty());
    for d in [md5.as_str(), sha.as_str(), &blob.to_hex()] {
        assert_eq!(cat.resolve(&d.parse().unwrap()).unwrap(), Some(blob), "{d}");
    }
    assert_eq!(cat.resolve(&"0".repeat(40).parse().unwrap()).unwrap(), None);
    cat.delete(&e.id, false, |_| {}).unwrap();
    assert_eq!(cat.resolve(&md5.parse().unwrap()).unwrap(), None);
}

#[test]
fn metadata_sets_removes_and_bounds() {
    let cat = Catalog::open_in_memory().unwrap();
    let e = add(&cat, None, "movie.mkv", b"m").unwrap().entry;
    let mut ch = BTreeMap::new();
    ch.insert("title".to_owned(), Some("Night".to_owned()));
    ch.insert("year".to_owned(), Some("1968".to_owned()));
    assert_eq!(cat.set_metadata(&e.id, &ch).unwrap().len(), 2);
    let mut rm = BTreeMap::new();
    rm.insert("year".to_owned(), None);
    let now = cat.set_metadata(&e.id, &rm).unwrap();
    assert_eq!(now.get("title").map(String::as_str), Some("Night"));
    assert!(!now.contains_key("year"));
    let mut bad = BTreeMap::new();
    bad.insert("bad key".to_owned(), Some("v".to_owned()));
    assert!(matches!(
        cat.set_metadata(&e.id, &bad),
        Err(StoreError::Invalid(_))
    ));
    let mut big = BTreeMap::new();
    big.insert("k".to_owned(), Some("x".repeat(MAX_META_VALUE + 1)));
    assert!(matches!(
        cat.set_metadata(&e.id, &big),
        Err(StoreError::Invalid(_))
    ));
    let many: BTreeMap<_, _> = (0..=MAX_META_KEYS)
        .map(|i| (format!("k{i}"), Some("v".to_owned())))
        .collect();
    assert!(cat.set_metadata(&e.id, &many).is_err());
    assert_eq!(
        cat.metadata(&e.id).unwrap().len(),
        1,
        "a refused change changes nothing"
    );
}

#[test]
fn bad_names_are_refused() {
    let cat = Catalog::open_in_memory().unwrap();
    for name in [
        "",
        "  ",
        "a/b",
        ".",
        "..",
        "tab\there",
        &"x".repeat(MAX_NAME + 1),
    ] {
        assert!(
            matches!(cat.create_folder(None, name), Err(StoreError::Invalid(_))),
            "{name:?}"
        );
    }
    assert!(cat.create_folder(None, &"é".repeat(MAX_NAME / 2)).is_ok());
}

#[test]
fn a_failing_blob_commit_leaves_no_rows() {
    let cat = Catalog::open_in_memory().unwrap();
    let err = cat.add_file(
        NewFile {
            parent: None,
            name: "f",
            blob: BlobId::of(b"z"),
            size: 1,
            manifest: b"m",
            content_type: "text/plain",
            on_conflict: OnConflict::Fail,
            md5: None,
            reset_prefix: None,
            finishes: None,
        },
        || Err(StoreError::Corrupt("disk full".into())),
        |_| {},
    );
    assert!(err.is_err());
    assert_eq!(cat.counts().unwrap().files, 0);
    assert!(cat.blob_ids().unwrap().is_empty());
}

#[test]
fn interrupted_jobs_are_marked_failed() {
    let cat = Catalog::open_in_memory().unwrap();
    let job = JobRecord {
        id: "j1".into(),
        seq: 1,
        account: None,
        subject: None,
        folder: None,
        kind: "upload".into(),
        state: "running".into(),
        label: "f".into(),
        done: 5,
        total: Some(10),
        error: None,
        result: None,
        created: 1,
        updated: 1,
    };
    cat.save_job(&job).unwrap();
    assert_eq!(cat.fail_interrupted_jobs("node restarted").unwrap(), 1);
    let j = cat.job("j1").unwrap();
    assert_eq!(j.state, "failed");
    assert_eq!(j.error.as_deref(), Some("node restarted"));
    assert_eq!(cat.jobs(10).unwrap().len(), 1);
}

#[test]
fn a_gone_placement_is_owed_a_deletion_until_done_or_placed_again() {
    let cat = Catalog::open_in_memory().unwrap();
    let a = add(&cat, None, "a", b"a").unwrap();
    let b = add(&cat, None, "b", b"b").unwrap();
    let (ba, bb) = (BlobId::of(b"a"), BlobId::of(b"b"));
    cat.save_placement(&ba, b"placement a").unwrap();
    cat.save_placement(&bb, b"placement b").unwrap();
    assert!(cat.unplaced().unwrap().is_empty());
    // Deleting the entry drops the blob and its placement: a deletion is
    // owed, in the same transaction.
    cat.delete(&a.entry.id, false, |_| {}).unwrap();
    cat.delete(&b.entry.id, false, |_| {}).unwrap();
    let mut owed = cat.unplaced().unwrap();
    owed.sort();
    let mut want = vec![(ba, b"placement a".to_vec()), (bb, b"placement b".to_vec())];
    want.sort();
    assert_eq!(owed, want);
    cat.unplaced_attempt(&ba, false).unwrap();
    assert_eq!(
        cat.unplaced().unwrap().len(),
        2,
        "a failed attempt keeps it"
    );
    cat.unplaced_attempt(&ba, true).unwrap();
    assert_eq!(cat.unplaced().unwrap(), vec![(bb, b"placement b".to_vec())]);
    // The same bytes uploaded and placed again: its shards are wanted.
    let again = add(&cat, None, "b again", b"b").unwrap();
    cat.save_placement(&bb, b"placement b2").unwrap();
    assert!(cat.unplaced().unwrap().is_empty());
    // Given up after enough failed attempts.
    cat.delete(&again.entry.id, false, |_| {}).unwrap();
    for _ in 0..crate::placements::UNPLACE_TRIES - 1 {
        cat.unplaced_attempt(&bb, false).unwrap();
    }
    assert_eq!(
        cat.unplaced().unwrap(),
        vec![(bb, b"placement b2".to_vec())]
    );
    cat.unplaced_attempt(&bb, false).unwrap();
    assert!(cat.unplaced().unwrap().is_empty(), "given up");
}

#[test]
fn audit_challenges_are_used_once_in_order_and_go_with_a_new_placement() {
    use crate::placements::Challenge;
    let cat = Catalog::open_in_memory().unwrap();
    add(&cat, None, "a", b"a").unwrap();
    let id = BlobId::of(b"a");
    cat.save_placement(&id, b"p1").unwrap();
    let ch = |s: u64| Challenge {
        segment: s,
        nonce: [s as u8; 32],
        expected: vec![s as u8; 32],
    };
    cat.add_challenges(&id, &[ch(3), ch(1)]).unwrap();
    cat.add_challenges(&id, &[ch(7)]).unwrap();
    assert_eq!(cat.take_challenge(&id).unwrap(), Some(ch(3)));
    assert_eq!(cat.take_challenge(&id).unwrap(), Some(ch(1)));
    // A new placement (maybe another coding) drops what is left.
    cat.save_placement(&id, b"p2").unwrap();
    assert_eq!(cat.take_challenge(&id).unwrap(), None);
    cat.add_challenges(&id, &[ch(9)]).unwrap();
    assert_eq!(cat.take_challenge(&id).unwrap(), Some(ch(9)));
    assert_eq!(cat.take_challenge(&id).unwrap(), None);
}

/// A 1+1 placement of a blob of `size` bytes on `suppliers`.
fn placement_on(size: u64, suppliers: [&str; 2]) -> Vec<u8> {
    use cairn_core::erasure::Coding;
    let coding = Coding::new(1, 1).unwrap();
    let segments = cairn_core::layout::segment_count(size) as usize;
    cairn_core::placement::Placement {
        coding,
        stride: coding.shard_len(cairn_core::layout::SEGMENT_SIZE as usize) as u32,
        owner: [0; 32],
        suppliers: suppliers.map(String::from).to_vec(),
        hashes: vec![[0; 32]; 2 * segments],
    }
    .encode()
}

#[test]
fn what_each_supplier_holds_for_us_follows_the_placements() {
    let cat = Catalog::open_in_memory().unwrap();
    let big = vec![1u8; 3_000_000];
    add(&cat, None, "a", &big).unwrap();
    let b = add(&cat, None, "b", b"0123456789").unwrap();
    let (ba, bb) = (BlobId::of(&big), BlobId::of(b"0123456789"));
    cat.save_placement(&ba, &placement_on(3_000_000, ["P", "Q"]))
        .unwrap();
    cat.save_placement(&bb, &placement_on(10, ["P", "R"]))
        .unwrap();
    let held = |peer| cat.held_by(peer).unwrap();
    assert_eq!(
        (held("P"), held("Q"), held("R")),
        (3_000_010, 3_000_000, 10)
    );
    // A repair moves position 0 of a to R: the placement is saved again.
    cat.save_placement(&ba, &placement_on(3_000_000, ["R", "Q"]))
        .unwrap();
    assert_eq!(
        (held("P"), held("Q"), held("R")),
        (10, 3_000_000, 3_000_010)
    );
    // b is deleted: its placement goes, and what its suppliers held.
    cat.delete(&b.entry.id, false, |_| {}).unwrap();
    assert_eq!((held("P"), held("R")), (0, 3_000_000));
    assert_eq!(
        cat.held_by_suppliers().unwrap(),
        vec![("Q".to_owned(), 3_000_000), ("R".to_owned(), 3_000_000)]
    );
}

#[test]
fn placements_made_before_schema_10_are_counted_once_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let cat = Catalog::open(&path).unwrap();
        add(&cat, None, "a", b"abc").unwrap();
        cat.save_placement(&BlobId::of(b"abc"), &placement_on(3, ["P", "Q"]))
            .unwrap();
    }
    // As a catalog of schema 9 had it: the placement, nothing beside it.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "{UNDO_29} {UNDO_28} {UNDO_27} {UNDO_26} {UNDO_25} {UNDO_24} {UNDO_23} {UNDO_22} {UNDO_21} {UNDO_20} {UNDO_19} {UNDO_18} {UNDO_17} {UNDO_16} DROP INDEX users_by_home; {UNDO_14} DROP TABLE placement_shards; DROP TABLE held_by_suppliers; \
         DROP TABLE scrub_pending; {SCHEMA_11_METADISK} PRAGMA user_version = 9;"
    ))
    .unwrap();
    drop(conn);
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(
        (cat.held_by("P").unwrap(), cat.held_by("Q").unwrap()),
        (4, 4)
    );
    drop(cat);
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.held_by("P").unwrap(), 4, "filled once");
}

/// What migration 12 replaced: schema 4's MetaDisk index, as it stood
/// until schema 11.
const SCHEMA_11_METADISK: &str = "DROP TABLE tags; \
     CREATE TABLE metadisk_files (filehash TEXT PRIMARY KEY, \
        entry TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE, \
        created INTEGER NOT NULL) WITHOUT ROWID; \
     CREATE INDEX metadisk_by_entry ON metadisk_files(entry);";

/// A catalog file at `path` made by the first `version` migrations only,
/// as a node of that version left it.
fn schema_at(path: &Path, version: usize) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.create_scalar_function("cairn_sha256_hex", 1, FunctionFlags::SQLITE_UTF8, |ctx| {
        Ok(crate::ledger::sha256_hex(&ctx.get::<String>(0)?))
    })
    .unwrap();
    for sql in &MIGRATIONS[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn
}

#[test]
fn a_schema_17_catalog_gains_the_watch_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    drop(schema_at(&path, 17));
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let a = add(&cat, None, "a", b"abc").unwrap();
    cat.watched("", &a.entry.id, None, 3.0, None, false)
        .unwrap();
    assert_eq!(cat.history("", 0, 10).unwrap().len(), 1);
    cat.delete(&a.entry.id, false, |_| {}).unwrap();
    assert!(
        cat.history("", 0, 10).unwrap().is_empty(),
        "gone with its entry"
    );
}

#[test]
fn metadisk_file_hashes_become_tags_in_the_metadisk_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    schema_at(&path, 11)
        .execute_batch(
            "INSERT INTO entries (id, parent, kind, name, created, modified) \
                 VALUES ('e1', NULL, 'folder', 'MetaDisk', 1, 1); \
             INSERT INTO metadisk_files VALUES ('f00d', 'e1', 1234);",
        )
        .unwrap();
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let (tagged, created) = cat.tagged("metadisk", "f00d").unwrap().unwrap();
    assert_eq!((tagged.id.as_str(), created), ("e1", 1234));
}

#[test]
fn cacaowebs_top_level_folder_is_marked_published_by_migration_13() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    schema_at(&path, 12)
        .execute_batch(
            "INSERT INTO entries (id, parent, kind, name, created, modified) VALUES \
                 ('top', NULL, 'folder', 'cacaoweb', 1, 1), \
                 ('other', NULL, 'folder', 'other', 1, 1), \
                 ('nested', 'other', 'folder', 'cacaoweb', 1, 1);",
        )
        .unwrap();
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(
        cat.metadata("top")
            .unwrap()
            .get("published")
            .map(String::as_str),
        Some("true")
    );
    assert!(
        cat.metadata("nested").unwrap().is_empty(),
        "only the top-level one"
    );
    assert!(cat.metadata("other").unwrap().is_empty());
}

fn job(id: &str, seq: i64, account: Option<&str>, kind: &str) -> JobRecord {
    JobRecord {
        id: id.into(),
        seq,
        account: account.map(str::to_owned),
        subject: Some(format!("http://x/{id}")),
        folder: Some("f".into()),
        kind: kind.into(),
        state: "done".into(),
        label: id.into(),
        done: 0,
        total: None,
        error: None,
        result: None,
        created: seq,
        updated: seq,
    }
}

#[test]
fn an_accounts_jobs_are_listed_by_number_newest_first() {
    let cat = Catalog::open_in_memory().unwrap();
    for (id, seq, account, kind) in [
        ("a1", 1, Some("ann"), "fetch"),
        ("a2", 2, Some("ann"), "fetch"),
        ("b1", 3, Some("bob"), "fetch"),
        ("a3", 4, Some("ann"), "convert"),
        ("n1", 5, None, "fetch"),
    ] {
        cat.save_job(&job(id, seq, account, kind)).unwrap();
    }
    let ids = |jobs: Vec<JobRecord>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(cat.jobs_of("ann", "fetch", None, 10).unwrap()),
        ["a2", "a1"]
    );
    assert_eq!(
        ids(cat.jobs_of("ann", "fetch", Some(1), 10).unwrap()),
        ["a1"]
    );
    assert!(
        cat.jobs_of("bob", "fetch", Some(1), 10).unwrap().is_empty(),
        "another account's job is not found"
    );
    assert_eq!(cat.jobs_of("ann", "fetch", None, 1).unwrap().len(), 1);
    assert!(cat.jobs_of("ann", "fetch", None, MAX_PAGE + 1).is_err());
    assert_eq!(cat.last_job_seq().unwrap(), 5);
    let a1 = cat.job("a1").unwrap();
    assert_eq!(
        (a1.seq, a1.subject.as_deref(), a1.folder.as_deref()),
        (1, Some("http://x/a1"), Some("f"))
    );
}

/// What migration 27 added.
/// What migration 29 added.
const UNDO_29: &str = "DROP TRIGGER backup_entry_links_insert; DROP TRIGGER backup_entry_links_delete; DROP TRIGGER entry_links_gone; DROP TABLE entry_links;";

/// What migration 28 added.
const UNDO_28: &str = "DROP TABLE resumable_uploads; DROP TABLE web_sessions;";

const UNDO_27: &str = "DROP TRIGGER backup_access_keys_insert; DROP TRIGGER backup_access_keys_delete; DROP TABLE multipart_parts; DROP TABLE multipart_uploads; DROP TABLE access_keys;";

/// What migration 26 added.
const UNDO_26: &str = "DROP TABLE settings;";

/// What migration 16 added: the kept counts and their triggers.
/// What migration 17 added, for the tests that go back before it.
/// What migration 19 added.
const UNDO_25: &str = "DROP TABLE group_outbox; DROP TABLE group_members; DROP TABLE groups;";

const UNDO_24: &str = "DROP TABLE backup_state; DROP TRIGGER backup_entries_insert; DROP TRIGGER backup_entries_update; DROP TRIGGER backup_entries_delete; DROP TRIGGER backup_metadata_insert; DROP TRIGGER backup_metadata_update; DROP TRIGGER backup_metadata_delete; DROP TRIGGER backup_tags_insert; DROP TRIGGER backup_tags_update; DROP TRIGGER backup_tags_delete; DROP TRIGGER backup_aliases_insert; DROP TRIGGER backup_aliases_update; DROP TRIGGER backup_aliases_delete; DROP TRIGGER backup_shares_insert; DROP TRIGGER backup_shares_update; DROP TRIGGER backup_shares_delete; DROP TRIGGER backup_share_members_insert; DROP TRIGGER backup_share_members_update; DROP TRIGGER backup_share_members_delete; DROP TRIGGER backup_keys_insert; DROP TRIGGER backup_keys_update; DROP TRIGGER backup_keys_delete; DROP TRIGGER backup_friends_insert; DROP TRIGGER backup_friends_update; DROP TRIGGER backup_friends_delete; DROP TRIGGER backup_accounts_insert; DROP TRIGGER backup_accounts_update; DROP TRIGGER backup_accounts_delete; DROP TRIGGER backup_users_insert; DROP TRIGGER backup_users_update; DROP TRIGGER backup_users_delete; DROP TRIGGER backup_balances_insert; DROP TRIGGER backup_balances_update; DROP TRIGGER backup_balances_delete; DROP TRIGGER backup_postings_insert; DROP TRIGGER backup_postings_update; DROP TRIGGER backup_postings_delete; DROP TRIGGER backup_purchases_insert; DROP TRIGGER backup_purchases_update; DROP TRIGGER backup_purchases_delete; DROP TRIGGER backup_watch_history_insert; DROP TRIGGER backup_watch_history_update; DROP TRIGGER backup_watch_history_delete; DROP TRIGGER backup_messages_insert; DROP TRIGGER backup_messages_state; DROP TRIGGER backup_messages_delete; DROP TRIGGER backup_placements_insert; DROP TRIGGER backup_placements_update;";

const UNDO_23: &str = "DROP TABLE share_members; DROP TABLE shares; DROP TABLE pins;";

const UNDO_22: &str = "DROP TABLE messages;";

const UNDO_21: &str = "DROP TABLE identities; DROP TABLE friends;";

const UNDO_20: &str = "DROP TABLE keys; DROP TABLE key_numbers;";

const UNDO_19: &str = "DROP INDEX users_by_email; ALTER TABLE users DROP COLUMN password_hash; \
     DROP TABLE sessions; ALTER TABLE watch_history DROP COLUMN title;";

const UNDO_18: &str = "DROP TRIGGER watch_history_gone; DROP TABLE watch_history;";

const UNDO_17: &str = "DROP INDEX entries_list_name; DROP INDEX entries_list_size; \
     DROP INDEX entries_list_created; DROP INDEX entries_list_modified; \
     DROP INDEX entries_list_downloads; DROP TRIGGER children_added; \
     DROP TRIGGER children_removed; DROP TRIGGER children_moved; DROP TABLE children;";

const UNDO_16: &str = "DROP TRIGGER entries_counted; DROP TRIGGER entries_uncounted; \
     DROP TRIGGER entries_recounted; DROP TRIGGER blobs_counted; DROP TRIGGER blobs_uncounted; \
     DROP TRIGGER blobs_recounted; DROP TABLE counters;";

/// What migration 14 replaced, for the tests that go back before it.
const UNDO_14: &str = "DROP INDEX jobs_by_seq; DROP INDEX jobs_by_account; \
     ALTER TABLE jobs DROP COLUMN seq; ALTER TABLE jobs DROP COLUMN account; \
     ALTER TABLE jobs DROP COLUMN subject; ALTER TABLE jobs DROP COLUMN folder; \
     CREATE TABLE openload_tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, \
        account TEXT NOT NULL, source TEXT NOT NULL, folder TEXT NOT NULL, job TEXT, \
        error TEXT, created INTEGER NOT NULL);";

#[test]
fn openload_tasks_become_numbered_jobs_and_other_jobs_follow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    schema_at(&path, 13)
        .execute_batch(
            "INSERT INTO accounts (id, kind, name, created) VALUES ('acct', 'user', 'u:ann', 1); \
             INSERT INTO jobs (id, kind, state, label, done, created, updated) VALUES \
                 ('old', 'upload', 'done', 'a.txt', 3, 5, 5), \
                 ('jf', 'fetch', 'done', 'http://x/1', 9, 10, 10), \
                 ('new', 'upload', 'done', 'b.txt', 3, 50, 50); \
             INSERT INTO openload_tasks (id, kind, account, source, folder, job, error, created) \
             VALUES (7, 'remote', 'acct', 'http://x/1', 'home', 'jf', NULL, 10), \
                 (8, 'remote', 'acct', 'ftp://bad', 'home', NULL, 'not http', 20), \
                 (9, 'convert', 'acct', 'entry1', 'home', 'lost', NULL, 30);",
        )
        .unwrap();
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let remote = cat.jobs_of("acct", "fetch", None, 10).unwrap();
    let seen: Vec<(i64, &str, Option<&str>)> = remote
        .iter()
        .map(|j| (j.seq, j.state.as_str(), j.error.as_deref()))
        .collect();
    assert_eq!(seen, [(8, "failed", Some("not http")), (7, "done", None)]);
    assert_eq!(remote[1].id, "jf");
    assert_eq!(remote[0].subject.as_deref(), Some("ftp://bad"));
    assert_eq!(
        remote[0].result,
        Some(serde_json::json!({ "started": false }))
    );
    let convert = cat.jobs_of("acct", "convert", Some(9), 10).unwrap();
    assert_eq!(
        (convert[0].id.as_str(), convert[0].state.as_str()),
        ("lost", "failed")
    );
    assert_eq!(
        (cat.job("old").unwrap().seq, cat.job("new").unwrap().seq),
        (10, 11)
    );
    assert_eq!(cat.last_job_seq().unwrap(), 11);
}
