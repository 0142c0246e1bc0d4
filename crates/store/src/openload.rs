//! Openload's task table: remote uploads and converts, each with the
//! decimal id Openload's clients expect, the account it belongs to and the
//! job doing the work. Progress and outcome live in the job (see the job
//! log); a task whose job could not start keeps the error instead.
//!
//! A task row is written after its job has started, in one statement, so a
//! crash leaves at worst a job without a task, never a task pointing at
//! nothing.

use rusqlite::params;
use serde::Serialize;

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// A remote URL upload (`remotedl/add`).
    Remote,
    /// A conversion to browser-streamable mp4 (`file/convert`).
    Convert,
}

impl TaskKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Remote => "remote",
            Self::Convert => "convert",
        }
    }
}

/// A task as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// The decimal id.
    pub id: i64,
    /// What it does.
    pub kind: TaskKind,
    /// The ledger account of the user it belongs to.
    pub account: String,
    /// The remote URL, or the entry id being converted.
    pub source: String,
    /// The folder the result goes to.
    pub folder: String,
    /// The job doing the work.
    pub job: Option<String>,
    /// Why no job could start.
    pub error: Option<String>,
    /// When it was added, Unix milliseconds.
    pub created: i64,
}

/// A task to record.
pub struct NewTask<'a> {
    /// What it does.
    pub kind: TaskKind,
    /// The user's ledger account.
    pub account: &'a str,
    /// The remote URL, or the entry id being converted.
    pub source: &'a str,
    /// The folder the result goes to.
    pub folder: &'a str,
    /// The job doing the work.
    pub job: Option<&'a str>,
    /// Why no job could start.
    pub error: Option<&'a str>,
}

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let kind: String = r.get(1)?;
    Ok(Task {
        id: r.get(0)?,
        kind: if kind == "convert" {
            TaskKind::Convert
        } else {
            TaskKind::Remote
        },
        account: r.get(2)?,
        source: r.get(3)?,
        folder: r.get(4)?,
        job: r.get(5)?,
        error: r.get(6)?,
        created: r.get(7)?,
    })
}

impl Catalog {
    /// Records a task; answers its id.
    pub fn openload_task_add(&self, t: &NewTask<'_>) -> Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO openload_tasks (kind, account, source, folder, job, error, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.kind.as_str(),
                    t.account,
                    t.source,
                    t.folder,
                    t.job,
                    t.error,
                    now_ms()
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// `account`'s newest `limit` tasks of `kind` (only task `id` when
    /// given), newest first.
    pub fn openload_tasks(
        &self,
        account: &str,
        kind: TaskKind,
        id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Task>> {
        if limit > crate::catalog::MAX_PAGE {
            return Err(StoreError::Invalid(format!("limit {limit} is too large")));
        }
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, kind, account, source, folder, job, error, created FROM openload_tasks \
                 WHERE account = ?1 AND kind = ?2 AND (?3 IS NULL OR id = ?3) \
                 ORDER BY id DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![account, kind.as_str(), id, limit], task_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::NewUser;

    #[test]
    fn tasks_are_numbered_kept_per_account_and_listed_newest_first() {
        let cat = Catalog::open_in_memory().unwrap();
        let user = |login: &str| {
            cat.create_user(&NewUser {
                login,
                key_hash: &[1; 32],
                email: "",
                storage_limit: None,
                traffic_limit: None,
            })
            .unwrap()
        };
        let (ann, bob) = (user("ann"), user("bob"));
        let add = |account: &str, kind, source: &str| {
            cat.openload_task_add(&NewTask {
                kind,
                account,
                source,
                folder: "f",
                job: Some("j"),
                error: None,
            })
            .unwrap()
        };
        let a1 = add(&ann.account, TaskKind::Remote, "http://a/1");
        let a2 = add(&ann.account, TaskKind::Remote, "http://a/2");
        add(&bob.account, TaskKind::Remote, "http://b/1");
        add(&ann.account, TaskKind::Convert, "entry");
        assert!(a2 > a1);
        let mine = cat
            .openload_tasks(&ann.account, TaskKind::Remote, None, 10)
            .unwrap();
        let ids: Vec<i64> = mine.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![a2, a1]);
        let one = cat
            .openload_tasks(&ann.account, TaskKind::Remote, Some(a1), 10)
            .unwrap();
        assert_eq!(one[0].source, "http://a/1");
        assert!(
            cat.openload_tasks(&bob.account, TaskKind::Remote, Some(a1), 10)
                .unwrap()
                .is_empty(),
            "another account's task is not found"
        );
        assert_eq!(
            cat.openload_tasks(&ann.account, TaskKind::Remote, None, 1)
                .unwrap()
                .len(),
            1
        );
    }
}
