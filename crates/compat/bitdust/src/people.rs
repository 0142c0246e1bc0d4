//! BitDust's identity, user and automat calls (bitdust-details.md §4.3,
//! §4.9, §4.20) over cairn's identity, network and jobs.
//!
//! A cairn node always has its identity (made with its data dir), so
//! `identity_create` names it (its nickname, registered in the DHT) when
//! it has no name yet, and answers BitDust's "already exist" otherwise;
//! `identity_recover` happens offline (`cairn id recover`), before the
//! node starts, and the running node answers as BitDust did for an
//! identity in place.

use serde_json::{Value, json};

use crate::BitDust;
use crate::envelope::Envelope;
use crate::ids;
use crate::methods::Args;

impl BitDust {
    pub(crate) async fn identity_create(&self, username: &str) -> Envelope {
        let me = self.me();
        if self.node().network().nickname().is_some() {
            return Envelope::error("local identity already exist");
        }
        let ok = (3..=20).contains(&username.len())
            && username.starts_with(|c: char| c.is_ascii_lowercase())
            && username
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Envelope::error("invalid user name");
        }
        match self.node().network().set_nickname(username).await {
            Ok(_) => {
                let mut identity = self.identity_object(&me).await;
                identity["xml"] = json!("");
                Envelope::ok_with(identity)
            }
            Err(e) => Envelope::error(e.to_string()),
        }
    }

    pub(crate) async fn identity_backup(&self, path: &str) -> Envelope {
        let text = match self.node().identity_backup().await {
            Ok(t) => t,
            Err(_) => return Envelope::error("local identity is not ready"),
        };
        if path.is_empty() {
            return Envelope::ok_with(json!({"result": text}));
        }
        // Written by the engine: an absolute path in a folder under the
        // import roots, the file made readable by the node's user alone.
        match self
            .node()
            .write_identity_backup(std::path::Path::new(path))
            .await
        {
            Ok(_) => Envelope::ok_with(json!({"local_path": path})).message(
                "WARNING! keep the master key in a safe place and never publish it anywhere!",
            ),
            Err(_) => Envelope::error(format!("error writing to {path}\n")),
        }
    }

    pub(crate) async fn user_ping(&self, user: &str) -> Envelope {
        if user.trim().is_empty() {
            return Envelope::error("empty idurl provided");
        }
        let Some(peer) = self.peer_of(user).await else {
            return Envelope::error(format!("failed to cache remote identity {user}"));
        };
        match self.node().network().ping(&peer).await {
            Ok(_) => Envelope::ok().message("connected"),
            Err(_) => Envelope::error(format!(
                "remote node {} did not respond after 1 ping attempt(s)",
                self.idurl_of(&peer).await
            )),
        }
    }

    pub(crate) async fn user_status_check(&self, user: &str) -> Envelope {
        let Some(peer) = self.peer_of(user).await else {
            return Envelope::error("peer is not connected");
        };
        let state = match self.node().network().ping(&peer).await {
            Ok(_) => "CONNECTED",
            Err(_) => "OFFLINE",
        };
        Envelope::ok_with(json!({
            "idurl": self.idurl_of(&peer).await,
            "global_id": self.gid_of(&peer).await,
            "contact_state": state,
        }))
    }

    pub(crate) async fn user_observe(&self, nickname: &str) -> Envelope {
        match self.user_search_result(nickname).await {
            Ok(Some(found)) => Envelope::result(json!([found])),
            Ok(None) => Envelope::result(json!([])),
            Err(e) => e,
        }
    }

    /// What `user_search` finds: the user object, `None` when nobody is
    /// called that, or the error envelope.
    pub(crate) async fn user_search_result(
        &self,
        nickname: &str,
    ) -> Result<Option<Value>, Envelope> {
        if nickname.is_empty() {
            return Err(Envelope::error("requires nickname of the user"));
        }
        let ok = (3..=20).contains(&nickname.len())
            && nickname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.,{}[]()@!$^&*=+".contains(c));
        if !ok {
            return Err(Envelope::error("invalid nickname"));
        }
        match self.node().network().lookup_nickname(nickname).await {
            Ok(Some(peer)) => Ok(Some(json!({
                "result": "exist",
                "nickname": nickname,
                "position": 0,
                "global_id": ids::gid(&peer, Some(nickname)),
                "idurl": ids::idurl(&peer, Some(nickname)),
            }))),
            Ok(None) => Ok(None),
            Err(e) => Err(Envelope::error(e.to_string())),
        }
    }

    /// The node's running jobs as BitDust's state machines (A.5).
    pub(crate) async fn automats_list(&self, _a: &Args) -> Envelope {
        let jobs = self.node().jobs().list(1000).await.unwrap_or_default();
        let list: Vec<Value> = jobs
            .into_iter()
            .filter(|j| j.state == "running")
            .map(|j| {
                let state = j.state.to_ascii_uppercase();
                json!({
                    "index": j.seq,
                    "id": j.id,
                    "name": j.kind,
                    "state": state,
                    "repr": format!("{}({state})", j.id),
                    "timers": "",
                    "events": self.is_publishing(&j.id),
                    "past": [],
                })
            })
            .collect();
        Envelope::ok_with(Value::Array(list))
    }
}
