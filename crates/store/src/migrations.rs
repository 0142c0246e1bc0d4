//! Versioned schema migrations, applied in order inside one transaction
//! each; `PRAGMA user_version` records how far a catalog has come.
//!
//! A migration may call `cairn_sha256_hex(text)`, which the catalog
//! registers on its connection before migrating. A migration that
//! replaces secrets adds a row to `scrub_pending`: what it replaced may
//! still sit in freed pages and old WAL frames, so while that table has a
//! row the catalog rewrites itself whole when it opens (VACUUM, its WAL
//! truncated) and then empties it; a node killed before that scrubs at its
//! next start.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: blobs, aliases, the entry tree, metadata, jobs.
    r#"
    CREATE TABLE blobs (
        id       BLOB PRIMARY KEY,
        size     INTEGER NOT NULL,
        manifest BLOB NOT NULL,
        created  INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE aliases (
        kind   TEXT NOT NULL,
        digest TEXT NOT NULL,
        blob   BLOB NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
        PRIMARY KEY (kind, digest)
    ) WITHOUT ROWID;
    CREATE INDEX aliases_by_blob ON aliases(blob);

    CREATE TABLE entries (
        id           TEXT PRIMARY KEY,
        parent       TEXT REFERENCES entries(id),
        kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
        name         TEXT NOT NULL,
        blob         BLOB REFERENCES blobs(id),
        size         INTEGER NOT NULL DEFAULT 0,
        content_type TEXT,
        created      INTEGER NOT NULL,
        modified     INTEGER NOT NULL,
        downloads    INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX entries_by_name ON entries(ifnull(parent, ''), name);
    CREATE INDEX entries_by_blob ON entries(blob);

    CREATE TABLE metadata (
        entry TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
        key   TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (entry, key)
    ) WITHOUT ROWID;

    CREATE TABLE jobs (
        id       TEXT PRIMARY KEY,
        kind     TEXT NOT NULL,
        state    TEXT NOT NULL,
        label    TEXT NOT NULL,
        done     INTEGER NOT NULL DEFAULT 0,
        total    INTEGER,
        error    TEXT,
        result   TEXT,
        created  INTEGER NOT NULL,
        updated  INTEGER NOT NULL
    );
    CREATE INDEX jobs_by_created ON jobs(created);
    "#,
    // 2: accounts, balances and the double-entry ledger.
    r#"
    CREATE TABLE accounts (
        id       TEXT PRIMARY KEY,
        kind     TEXT NOT NULL CHECK (kind IN ('system', 'user', 'token')),
        name     TEXT NOT NULL UNIQUE,
        created  INTEGER NOT NULL
    );

    CREATE TABLE balances (
        account  TEXT NOT NULL REFERENCES accounts(id),
        unit     TEXT NOT NULL CHECK (unit IN ('bytes', 'credits')),
        amount   INTEGER NOT NULL,
        PRIMARY KEY (account, unit)
    ) WITHOUT ROWID;

    CREATE TABLE postings (
        id       INTEGER PRIMARY KEY,
        tx       INTEGER NOT NULL,
        account  TEXT NOT NULL REFERENCES accounts(id),
        unit     TEXT NOT NULL,
        amount   INTEGER NOT NULL,
        reason   TEXT NOT NULL,
        created  INTEGER NOT NULL
    );
    CREATE INDEX postings_by_account ON postings(account, id);
    CREATE INDEX postings_by_tx ON postings(tx);

    INSERT INTO accounts (id, kind, name, created) VALUES
        ('mint', 'system', 'mint', 0),
        ('spent', 'system', 'spent', 0);
    "#,
    // 3: promo codes redeemed, once per account and code.
    r#"
    CREATE TABLE promocode_uses (
        account  TEXT NOT NULL REFERENCES accounts(id),
        code     TEXT NOT NULL,
        created  INTEGER NOT NULL,
        PRIMARY KEY (account, code)
    ) WITHOUT ROWID;
    "#,
    // 4: MetaDisk's file hashes, and the monthly transfer meter.
    r#"
    CREATE TABLE metadisk_files (
        filehash TEXT PRIMARY KEY,
        entry    TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
        created  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX metadisk_by_entry ON metadisk_files(entry);

    CREATE TABLE transfer_meter (
        month    TEXT PRIMARY KEY,
        incoming INTEGER NOT NULL DEFAULT 0,
        outgoing INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    "#,
    // 5: gateway users, entry owners, 24-hour traffic, purchases of paid
    // files, and the operator's account (it sells the files no user owns).
    r#"
    CREATE TABLE users (
        account       TEXT PRIMARY KEY REFERENCES accounts(id),
        login         TEXT NOT NULL UNIQUE,
        key_hash      BLOB NOT NULL,
        email         TEXT NOT NULL DEFAULT '',
        home          TEXT NOT NULL REFERENCES entries(id),
        storage_limit INTEGER,
        traffic_limit INTEGER,
        created       INTEGER NOT NULL
    ) WITHOUT ROWID;

    ALTER TABLE entries ADD COLUMN owner TEXT REFERENCES accounts(id);
    CREATE INDEX entries_by_owner ON entries(owner, kind);

    CREATE TABLE traffic (
        account  TEXT NOT NULL REFERENCES accounts(id),
        at       INTEGER NOT NULL,
        bytes    INTEGER NOT NULL
    );
    CREATE INDEX traffic_by_account ON traffic(account, at);

    CREATE TABLE purchases (
        entry    TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
        buyer    TEXT NOT NULL REFERENCES accounts(id),
        price    INTEGER NOT NULL,
        tx       INTEGER NOT NULL,
        created  INTEGER NOT NULL,
        PRIMARY KEY (entry, buyer)
    ) WITHOUT ROWID;

    INSERT INTO accounts (id, kind, name, created) VALUES ('operator', 'system', 'operator', 0);
    "#,
    // 6: Openload's remote uploads and converts: a numeric id per task
    // (Openload's clients expect decimal ids), the account it belongs to,
    // and the job doing the work (or the error that kept it from starting).
    r#"
    CREATE TABLE openload_tasks (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        kind     TEXT NOT NULL CHECK (kind IN ('remote', 'convert')),
        account  TEXT NOT NULL REFERENCES accounts(id),
        source   TEXT NOT NULL,
        folder   TEXT NOT NULL,
        job      TEXT,
        error    TEXT,
        created  INTEGER NOT NULL
    );
    CREATE INDEX openload_tasks_by_account ON openload_tasks(account, kind, id);
    "#,
    // 7: the network: this node's suppliers by position, and where each
    // blob's shards were placed.
    r#"
    CREATE TABLE suppliers (
        position INTEGER PRIMARY KEY,
        peer     TEXT NOT NULL,
        hired    INTEGER NOT NULL
    );

    CREATE TABLE placements (
        blob     BLOB PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
        record   BLOB NOT NULL,
        created  INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 8: shard deletions owed to suppliers. A placement that goes with its
    // blob (the entry deleted or replaced) is queued by a trigger in the
    // same transaction, so a crash cannot lose it; the node asks the
    // suppliers to delete those shards until every one of them has.
    r#"
    CREATE TABLE unplaced (
        blob     BLOB PRIMARY KEY,
        record   BLOB NOT NULL,
        since    INTEGER NOT NULL,
        tries    INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;

    CREATE TRIGGER placements_unplaced AFTER DELETE ON placements BEGIN
        INSERT OR REPLACE INTO unplaced (blob, record, since)
        VALUES (OLD.blob, OLD.record, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    END;
    "#,
    // 9: audit challenges of placed blobs, made while the owner has the
    // bytes: a secret nonce, a segment, and the keyed hash each position's
    // piece of that segment must give (16 bytes per position). Each is
    // used once.
    r#"
    CREATE TABLE audit_challenges (
        blob     BLOB NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
        seq      INTEGER NOT NULL,
        segment  INTEGER NOT NULL,
        nonce    BLOB NOT NULL,
        expected BLOB NOT NULL,
        PRIMARY KEY (blob, seq)
    ) WITHOUT ROWID;
    "#,
    // 10: what each supplier holds for this node: the bytes of every shard
    // file of every placement, by position (kept with the placement, gone
    // with it), and their sum per supplier, kept by triggers. A supplier
    // that is a customer of ours here may keep as much more than a
    // stranger's quota (the admission policy). Placements made before are
    // filled in by `Catalog::open`.
    r#"
    CREATE TABLE placement_shards (
        blob     BLOB NOT NULL REFERENCES placements(blob) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        peer     TEXT NOT NULL,
        bytes    INTEGER NOT NULL,
        PRIMARY KEY (blob, position)
    ) WITHOUT ROWID;

    CREATE TABLE held_by_suppliers (
        peer     TEXT PRIMARY KEY,
        bytes    INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TRIGGER placement_shards_held AFTER INSERT ON placement_shards BEGIN
        INSERT INTO held_by_suppliers (peer, bytes) VALUES (NEW.peer, NEW.bytes)
        ON CONFLICT (peer) DO UPDATE SET bytes = bytes + excluded.bytes;
    END;

    CREATE TRIGGER placement_shards_freed AFTER DELETE ON placement_shards BEGIN
        UPDATE held_by_suppliers SET bytes = bytes - OLD.bytes WHERE peer = OLD.peer;
        DELETE FROM held_by_suppliers WHERE peer = OLD.peer AND bytes <= 0;
    END;
    "#,
    // 11: access tokens are kept as their SHA-256 only, like account
    // keys: a token account was named `token:<the token>`, now
    // `token:<hex of its SHA-256>`. Balances, postings and redemptions
    // name the account by its id, so they stay as they are. The plain
    // names are then scrubbed from the file (see the module doc).
    r#"
    UPDATE accounts SET name = 'token:' || cairn_sha256_hex(substr(name, 7))
    WHERE kind = 'token' AND substr(name, 1, 6) = 'token:';

    CREATE TABLE scrub_pending (reason TEXT NOT NULL);
    INSERT INTO scrub_pending VALUES ('plain access tokens replaced by their hashes');
    "#,
    // 12: names a layer gives entries (MetaDisk's file hashes, and what
    // later layers need), one table for every layer: `metadisk_files`
    // becomes the `metadisk` namespace of `tags`.
    r#"
    CREATE TABLE tags (
        namespace TEXT NOT NULL,
        name      TEXT NOT NULL,
        entry     TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
        created   INTEGER NOT NULL,
        PRIMARY KEY (namespace, name)
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_entry ON tags(entry);

    INSERT INTO tags (namespace, name, entry, created)
        SELECT 'metadisk', filehash, entry, created FROM metadisk_files;
    DROP TABLE metadisk_files;
    "#,
    // 13: cacaoweb's upload folder publishes its files by a mark on the
    // folder (`published`), which the engine reads, instead of by its
    // name, which the engine no longer knows.
    r#"
    INSERT OR IGNORE INTO metadata (entry, key, value)
        SELECT id, 'published', 'true' FROM entries
        WHERE parent IS NULL AND kind = 'folder' AND name = 'cacaoweb';
    "#,
    // 14: jobs are general: each has a stable sequence number, and may
    // belong to an account and name what it works on (`subject`: a URL, an
    // entry) and where its result goes (`folder`). Openload's task table
    // folds into them: a task's decimal id becomes its job's number, and a
    // task whose job never started (or was never recorded) becomes a
    // failed job (`{"started":false}` when it never started). The other jobs are numbered after them, oldest first.
    r#"
    ALTER TABLE jobs ADD COLUMN seq INTEGER;
    ALTER TABLE jobs ADD COLUMN account TEXT;
    ALTER TABLE jobs ADD COLUMN subject TEXT;
    ALTER TABLE jobs ADD COLUMN folder TEXT;

    UPDATE jobs SET seq = t.id, account = t.account, subject = t.source, folder = t.folder
        FROM openload_tasks AS t WHERE t.job = jobs.id;
    INSERT INTO jobs (id, kind, state, label, done, error, result, created, updated,
                      seq, account, subject, folder)
        SELECT coalesce(t.job, lower(hex(randomblob(6)))),
               CASE t.kind WHEN 'convert' THEN 'convert' ELSE 'fetch' END,
               'failed', t.source, 0,
               coalesce(t.error, 'interrupted: the node stopped while it ran'),
               CASE WHEN t.job IS NULL THEN '{"started":false}' END,
               t.created, t.created, t.id, t.account, t.source, t.folder
        FROM openload_tasks AS t
        WHERE t.job IS NULL OR t.job NOT IN (SELECT id FROM jobs);

    CREATE TEMP TABLE job_numbers AS
        SELECT id, (SELECT coalesce(max(seq), 0) FROM jobs)
                   + row_number() OVER (ORDER BY created, id) AS n
        FROM jobs WHERE seq IS NULL;
    UPDATE jobs SET seq = (SELECT n FROM job_numbers WHERE job_numbers.id = jobs.id)
        WHERE seq IS NULL;
    DROP TABLE job_numbers;

    CREATE UNIQUE INDEX jobs_by_seq ON jobs(seq);
    CREATE INDEX jobs_by_account ON jobs(account, kind, seq);
    DROP TABLE openload_tasks;
    "#,
    // 15: a delete looks up whether a folder is a user's home.
    r#"
    CREATE INDEX users_by_home ON users(home);
    "#,
    // 16: the counts a node's status shows, kept by triggers in the
    // transaction of every change, so asking is one look-up and not a
    // scan of every entry and blob.
    r#"
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters VALUES
        ('files', (SELECT count(*) FROM entries WHERE kind = 'file')),
        ('folders', (SELECT count(*) FROM entries WHERE kind = 'folder')),
        ('blobs', (SELECT count(*) FROM blobs)),
        ('blob_bytes', (SELECT ifnull(sum(size), 0) FROM blobs));
    CREATE TRIGGER entries_counted AFTER INSERT ON entries BEGIN
        UPDATE counters SET value = value + 1 WHERE name = NEW.kind || 's';
    END;
    CREATE TRIGGER entries_uncounted AFTER DELETE ON entries BEGIN
        UPDATE counters SET value = value - 1 WHERE name = OLD.kind || 's';
    END;
    CREATE TRIGGER entries_recounted AFTER UPDATE OF kind ON entries BEGIN
        UPDATE counters SET value = value - 1 WHERE name = OLD.kind || 's';
        UPDATE counters SET value = value + 1 WHERE name = NEW.kind || 's';
    END;
    CREATE TRIGGER blobs_counted AFTER INSERT ON blobs BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'blobs';
        UPDATE counters SET value = value + NEW.size WHERE name = 'blob_bytes';
    END;
    CREATE TRIGGER blobs_uncounted AFTER DELETE ON blobs BEGIN
        UPDATE counters SET value = value - 1 WHERE name = 'blobs';
        UPDATE counters SET value = value - OLD.size WHERE name = 'blob_bytes';
    END;
    CREATE TRIGGER blobs_recounted AFTER UPDATE OF size ON blobs BEGIN
        UPDATE counters SET value = value - OLD.size + NEW.size WHERE name = 'blob_bytes';
    END;
    "#,
    // 17: listings that cost the page, not the table. A folder's entries
    // are found and ordered through an index per sort key (folders first,
    // then the key, then the id), and its number of entries is kept by
    // triggers in `children` ('' for the root) in the transaction of every
    // change. Before, every listing scanned all entries and sorted them.
    r#"
    CREATE INDEX entries_list_name ON entries(parent, kind = 'file', name COLLATE NOCASE, id);
    CREATE INDEX entries_list_size ON entries(parent, kind = 'file', size, id);
    CREATE INDEX entries_list_created ON entries(parent, kind = 'file', created, id);
    CREATE INDEX entries_list_modified ON entries(parent, kind = 'file', modified, id);
    CREATE INDEX entries_list_downloads ON entries(parent, kind = 'file', downloads, id);
    CREATE TABLE children (
        parent TEXT PRIMARY KEY,
        n      INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO children SELECT ifnull(parent, ''), count(*) FROM entries GROUP BY ifnull(parent, '');
    CREATE TRIGGER children_added AFTER INSERT ON entries BEGIN
        INSERT INTO children VALUES (ifnull(NEW.parent, ''), 1)
            ON CONFLICT (parent) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER children_removed AFTER DELETE ON entries BEGIN
        UPDATE children SET n = n - 1 WHERE parent = ifnull(OLD.parent, '');
        DELETE FROM children WHERE parent = OLD.id;
    END;
    CREATE TRIGGER children_moved AFTER UPDATE OF parent ON entries
        WHEN OLD.parent IS NOT NEW.parent BEGIN
        UPDATE children SET n = n - 1 WHERE parent = ifnull(OLD.parent, '');
        INSERT INTO children VALUES (ifnull(NEW.parent, ''), 1)
            ON CONFLICT (parent) DO UPDATE SET n = n + 1;
    END;
    "#,
    // 18: watch history: per viewer ('' the operator, else an account's
    // id) and subject (an entry id, or `torrent:<hash>:<index>`), where
    // they stopped. A deleted entry's rows go with it.
    r#"
    CREATE TABLE watch_history (
        viewer TEXT NOT NULL,
        subject TEXT NOT NULL,
        position REAL NOT NULL,
        duration REAL,
        ended INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        PRIMARY KEY (viewer, subject)
    ) WITHOUT ROWID;
    CREATE INDEX watch_history_recent ON watch_history(viewer, updated DESC);
    CREATE TRIGGER watch_history_gone AFTER DELETE ON entries BEGIN
        DELETE FROM watch_history WHERE subject = OLD.id;
    END;
    "#,
    // 19: passwords and sessions for the doors where people sign in with
    // an email and a password (Powder Web, the web UI): a slow hash (PHC
    // string) per user; sessions named by their token's SHA-256, each for
    // one door (`purpose`), expiring; and the title a player gave what it
    // watched, for histories of things that are not entries.
    r#"
    ALTER TABLE users ADD COLUMN password_hash TEXT;
    CREATE INDEX users_by_email ON users(email COLLATE NOCASE);
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(id),
        purpose TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_expiry ON sessions(expires);
    ALTER TABLE watch_history ADD COLUMN title TEXT;
    "#,
    // 20: keys the identity holds besides its own Ed25519 one (RSA, as
    // BitDust's clients expect): each named by its maker ('' this node,
    // else the peer id of the identity that shared it) and an alias; the
    // private part only where this node has it; a small local number,
    // never reused.
    r#"
    CREATE TABLE keys (
        owner       TEXT NOT NULL,
        alias       TEXT NOT NULL,
        label       TEXT NOT NULL,
        algorithm   TEXT NOT NULL,
        size        INTEGER NOT NULL,
        public_key  TEXT NOT NULL,
        private_key TEXT,
        active      INTEGER NOT NULL,
        local_id    INTEGER NOT NULL UNIQUE,
        created     INTEGER NOT NULL,
        PRIMARY KEY (owner, alias)
    ) WITHOUT ROWID;
    CREATE TABLE key_numbers (next INTEGER NOT NULL);
    INSERT INTO key_numbers VALUES (1);
    "#,
    // 21: people: the identities seen on the network (a peer id and the
    // nickname it goes by, when first and last seen) and the friends the
    // operator keeps (a peer id and what they call it).
    r#"
    CREATE TABLE identities (
        peer       TEXT PRIMARY KEY,
        nickname   TEXT,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE friends (
        peer  TEXT PRIMARY KEY,
        alias TEXT NOT NULL,
        added INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 22: private messages, sent and received, in the order this node
    // kept them: each named by its sender and the id the sender gave it
    // (so one delivered twice is kept once), the other side of the
    // conversation, and its state (`queued` until the recipient took it,
    // then `delivered`; `received` for one that came in).
    r#"
    CREATE TABLE messages (
        seq       INTEGER PRIMARY KEY,
        id        TEXT NOT NULL,
        sender    TEXT NOT NULL,
        recipient TEXT NOT NULL,
        peer      TEXT NOT NULL,
        outgoing  INTEGER NOT NULL,
        body      TEXT NOT NULL,
        sent      INTEGER NOT NULL,
        state     TEXT NOT NULL,
        tries     INTEGER NOT NULL DEFAULT 0,
        UNIQUE (sender, id)
    );
    CREATE INDEX messages_by_peer ON messages(peer, seq);
    CREATE INDEX messages_queued ON messages(seq) WHERE state = 'queued';
    "#,
    // 23: shares and pins. A pin keeps a blob that no entry names (a
    // share's index, a contribution to another's share) under a name of
    // its own. A share is named by its owner ('' this node, else the peer
    // id that granted it) and a random id; it has a symmetric key, and
    // for an own share the folder it shows and the digest of the index
    // last published; its members are the peers it was granted to, each
    // with the key last handed to it (a member without the current one is
    // sent it until it takes it).
    r#"
    CREATE TABLE pins (
        name TEXT PRIMARY KEY,
        blob BLOB NOT NULL REFERENCES blobs(id)
    ) WITHOUT ROWID;
    CREATE INDEX pins_by_blob ON pins(blob);
    CREATE TABLE shares (
        id        TEXT PRIMARY KEY,
        owner     TEXT NOT NULL,
        label     TEXT NOT NULL,
        folder    TEXT,
        key       BLOB NOT NULL,
        version   INTEGER NOT NULL DEFAULT 0,
        digest    TEXT,
        state     TEXT NOT NULL DEFAULT 'open',
        created   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE share_members (
        share TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
        peer  TEXT NOT NULL,
        added INTEGER NOT NULL,
        granted_key BLOB,
        PRIMARY KEY (share, peer)
    ) WITHOUT ROWID;
    "#, // 24: what the catalog's backup needs to know: a count of the changes
    // that matter to a recovered node, kept by triggers in each change's
    // own transaction (entries and what hangs on them; placements made or
    // changed, but not the backup's own, and not one dropped with its
    // blob, whose entry's change counted already; shares, keys, friends,
    // messages, accounts and their money, watch history; a catalog that
    // had entries starts with one), and the count, version and blob of the
    // last backup made.
    r#"
    CREATE TABLE backup_state (
        changes INTEGER NOT NULL,
        backed  INTEGER NOT NULL,
        version INTEGER NOT NULL,
        blob    BLOB,
        at      INTEGER NOT NULL
    );
    INSERT INTO backup_state SELECT (SELECT count(*) > 0 FROM entries), 0, 0, NULL, 0;
    CREATE TRIGGER backup_entries_insert AFTER INSERT ON entries BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_entries_update AFTER UPDATE ON entries BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_entries_delete AFTER DELETE ON entries BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_metadata_insert AFTER INSERT ON metadata BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_metadata_update AFTER UPDATE ON metadata BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_metadata_delete AFTER DELETE ON metadata BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_tags_insert AFTER INSERT ON tags BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_tags_update AFTER UPDATE ON tags BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_tags_delete AFTER DELETE ON tags BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_aliases_insert AFTER INSERT ON aliases BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_aliases_update AFTER UPDATE ON aliases BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_aliases_delete AFTER DELETE ON aliases BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_shares_insert AFTER INSERT ON shares BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_shares_update AFTER UPDATE ON shares BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_shares_delete AFTER DELETE ON shares BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_share_members_insert AFTER INSERT ON share_members BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_share_members_update AFTER UPDATE ON share_members BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_share_members_delete AFTER DELETE ON share_members BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_keys_insert AFTER INSERT ON keys BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_keys_update AFTER UPDATE ON keys BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_keys_delete AFTER DELETE ON keys BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_friends_insert AFTER INSERT ON friends BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_friends_update AFTER UPDATE ON friends BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_friends_delete AFTER DELETE ON friends BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_accounts_insert AFTER INSERT ON accounts BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_accounts_update AFTER UPDATE ON accounts BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_accounts_delete AFTER DELETE ON accounts BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_users_insert AFTER INSERT ON users BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_users_update AFTER UPDATE ON users BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_users_delete AFTER DELETE ON users BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_balances_insert AFTER INSERT ON balances BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_balances_update AFTER UPDATE ON balances BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_balances_delete AFTER DELETE ON balances BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_postings_insert AFTER INSERT ON postings BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_postings_update AFTER UPDATE ON postings BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_postings_delete AFTER DELETE ON postings BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_purchases_insert AFTER INSERT ON purchases BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_purchases_update AFTER UPDATE ON purchases BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_purchases_delete AFTER DELETE ON purchases BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_watch_history_insert AFTER INSERT ON watch_history BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_watch_history_update AFTER UPDATE ON watch_history BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_watch_history_delete AFTER DELETE ON watch_history BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_messages_insert AFTER INSERT ON messages BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_messages_state AFTER UPDATE OF state ON messages BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_messages_delete AFTER DELETE ON messages BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_placements_insert AFTER INSERT ON placements WHEN NOT EXISTS (SELECT 1 FROM pins WHERE blob = NEW.blob AND name IN ('catalog-backup', 'catalog-backup~')) BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_placements_update AFTER UPDATE ON placements WHEN NOT EXISTS (SELECT 1 FROM pins WHERE blob = NEW.blob AND name IN ('catalog-backup', 'catalog-backup~')) BEGIN UPDATE backup_state SET changes = changes + 1; END;
    "#,
    // 25: groups. A group is a random id, its creator ('' this node, else
    // its peer id), a label, the current key and its epoch, a version that
    // goes up with each change of members, and whether this node is in it;
    // its members, and on the creator the version last handed to each.
    // The group outbox holds a group message's sealed copy for each
    // member until the member takes it (delivery to one that was away).
    r#"
    CREATE TABLE groups (
        id      TEXT PRIMARY KEY,
        creator TEXT NOT NULL,
        label   TEXT NOT NULL,
        key     BLOB NOT NULL,
        epoch   INTEGER NOT NULL,
        version INTEGER NOT NULL,
        state   TEXT NOT NULL,
        created INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE group_members (
        grp     TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        peer    TEXT NOT NULL,
        added   INTEGER NOT NULL,
        granted INTEGER,
        PRIMARY KEY (grp, peer)
    ) WITHOUT ROWID;
    CREATE TABLE group_outbox (
        seq      INTEGER PRIMARY KEY,
        grp      TEXT NOT NULL,
        message  TEXT NOT NULL,
        peer     TEXT NOT NULL,
        envelope BLOB NOT NULL,
        tries    INTEGER NOT NULL DEFAULT 0,
        UNIQUE (peer, grp, message)
    );
    CREATE TRIGGER backup_groups_insert AFTER INSERT ON groups BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_groups_update AFTER UPDATE ON groups BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_groups_delete AFTER DELETE ON groups BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_group_members_insert AFTER INSERT ON group_members BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_group_members_delete AFTER DELETE ON group_members BEGIN UPDATE backup_state SET changes = changes + 1; END;
    "#,
    // 26: settings. Options the operator changed at run time (BitDust's
    // `config_set`, `cairn config set`, a service stopped or started), by
    // key, each a JSON value; they override the config file at start.
    r#"
    CREATE TABLE settings (
        key     TEXT PRIMARY KEY,
        value   TEXT NOT NULL,
        changed INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 27: the S3 door. Access keys (their secrets are derived from the
    // node's identity, never kept) and multipart uploads: the upload's
    // target, and its parts, each a blob pinned under
    // `multipart/<upload>/<number>` in the transaction that adds the part.
    r#"
    CREATE TABLE access_keys (
        id      TEXT PRIMARY KEY,
        account TEXT REFERENCES accounts(id),
        created INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX access_keys_by_account ON access_keys(account);
    CREATE TABLE multipart_uploads (
        id       TEXT PRIMARY KEY,
        parent   TEXT NOT NULL,
        name     TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX multipart_uploads_by_parent ON multipart_uploads(parent, name);
    CREATE TABLE multipart_parts (
        upload  TEXT NOT NULL REFERENCES multipart_uploads(id) ON DELETE CASCADE,
        number  INTEGER NOT NULL,
        blob    BLOB NOT NULL,
        size    INTEGER NOT NULL,
        md5     TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (upload, number)
    ) WITHOUT ROWID;
    CREATE TRIGGER backup_access_keys_insert AFTER INSERT ON access_keys BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_access_keys_delete AFTER DELETE ON access_keys BEGIN UPDATE backup_state SET changes = changes + 1; END;
    "#,
    // 28: the web UI. Its sessions, named by their token's SHA-256, the
    // operator's (no account) or a gateway account's; and resumable
    // uploads (tus): where the file goes, its length, how many bytes of it
    // are durably in its spool file, and the entry it became.
    r#"
    CREATE TABLE web_sessions (
        token_hash BLOB PRIMARY KEY,
        account    TEXT REFERENCES accounts(id) ON DELETE CASCADE,
        created    INTEGER NOT NULL,
        expires    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX web_sessions_by_expiry ON web_sessions(expires);
    CREATE TABLE resumable_uploads (
        id        TEXT PRIMARY KEY,
        parent    TEXT NOT NULL,
        name      TEXT NOT NULL,
        length    INTEGER NOT NULL,
        received  INTEGER NOT NULL DEFAULT 0,
        metadata  TEXT NOT NULL,
        conflict  TEXT NOT NULL,
        entry     TEXT,
        created   INTEGER NOT NULL,
        expires   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX resumable_uploads_by_expiry ON resumable_uploads(expires);
    "#,
    // 29: share links of entries: the link's id (its signature is the
    // engine's, never kept), the entry, when it ends, how often it was
    // opened. A link goes with its entry.
    r#"
    CREATE TABLE entry_links (
        id      TEXT PRIMARY KEY,
        entry   TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER,
        opened  INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX entry_links_by_entry ON entry_links(entry);
    CREATE TRIGGER entry_links_gone AFTER DELETE ON entries BEGIN
        DELETE FROM entry_links WHERE entry = OLD.id;
    END;
    CREATE TRIGGER backup_entry_links_insert AFTER INSERT ON entry_links BEGIN UPDATE backup_state SET changes = changes + 1; END;
    CREATE TRIGGER backup_entry_links_delete AFTER DELETE ON entry_links BEGIN UPDATE backup_state SET changes = changes + 1; END;
    "#,
];
