//! Groups (`node.groups()`): conversations among several identities,
//! each message signed by its sender and sealed under the group's key
//! (`seal.rs`).
//!
//! A group's creator makes its key and invites members: each is handed
//! the group (id, label, key, epoch, members) in a sealed message, now
//! or, when away, as soon as it is back; every change of members hands
//! the new version to all. A message goes out two ways: published on the
//! group's gossipsub topic, which every member's node subscribes to (the
//! fast path), and as a copy for each member in the sender's catalog,
//! handed over directly until the member takes it (or answers that it
//! has it): a member away when it was sent gets it when it is back.
//! Removing a member gives the group a new key (a new epoch) in the same
//! transaction, handed to the members left: what is sent after does not
//! open with the key the removed member holds. A member that leaves
//! tells the creator, which removes it the same way.

pub(crate) mod seal;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cairn_store::groups::GroupRow;
use cairn_store::messages::Message;
use ed25519_dalek::SigningKey;
use rand::RngCore;
use serde::Serialize;

use crate::NodeError;
use crate::messages::Messages;
use crate::network::Network;
use crate::people::People;
use crate::shared::Shared;
use crate::tasks::blocking;
use seal::{GroupGrant, GroupPayload};

type Result<T> = std::result::Result<T, NodeError>;

/// How often grants and copies are tried again and subscriptions set.
const ROUND: Duration = Duration::from_secs(2);

/// Grants or copies tried in one round, at most.
const PER_ROUND: u32 = 64;

/// One group, as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    /// Its id (32 hex digits).
    pub id: String,
    /// Its creator's peer id.
    pub creator: String,
    /// Whether this node created it.
    pub mine: bool,
    /// What people call it.
    pub label: String,
    /// Its members' peer ids (the creator not among them).
    pub members: Vec<String>,
    /// The current key's number: one more with each member removed.
    pub epoch: i64,
    /// Goes up with each change of members.
    pub version: i64,
    /// `joined`, or `left`.
    pub state: String,
    /// When it was made or joined here, Unix milliseconds.
    pub created: i64,
}

/// The groups service. Cheap to clone.
#[derive(Clone)]
pub struct Groups(Arc<State>);

struct State {
    shared: Arc<Shared>,
    network: Network,
    people: People,
    messages: Messages,
    key: SigningKey,
    me: String,
    /// The topics subscribed to now.
    subscribed: std::sync::Mutex<BTreeSet<String>>,
}

/// Checks a group id: 32 lowercase hex digits.
pub(crate) fn check_id(id: &str) -> Result<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(NodeError::Invalid(format!(
            "'{}' is not a group id (32 hex digits)",
            id.chars().take(80).collect::<String>()
        )))
    }
}

impl Groups {
    pub(crate) fn new(
        shared: Arc<Shared>,
        network: Network,
        people: People,
        messages: Messages,
        key: SigningKey,
        me: String,
    ) -> Self {
        Self(Arc::new(State {
            shared,
            network,
            people,
            messages,
            key,
            me,
            subscribed: Default::default(),
        }))
    }

    /// Registers the `groups` service: reading group messages from the
    /// gossip network, subscribing to the groups this node is in, and
    /// handing grants and copies over until taken (with the network on).
    pub(crate) fn register(&self, services: &crate::services::Services) {
        let gossip = self.0.network.swarm().ok().and_then(|s| s.take_gossip());
        let maker = gossip.map(|gossip| {
            let gossip = Arc::new(tokio::sync::Mutex::new(gossip));
            let groups = self.clone();
            let maker: crate::services::Maker = Arc::new(move |stop| {
                let (groups, gossip) = (groups.clone(), gossip.clone());
                Box::pin(async move {
                    let reading = groups.read_gossip(gossip, stop.clone());
                    tokio::join!(reading, groups.rounds(stop));
                    Ok(())
                })
            });
            maker
        });
        services.add(
            "groups",
            "groups: reads their messages, subscribes, hands keys and copies over",
            &["swarm"],
            maker,
        );
    }

    /// Reads group messages from the gossip network until `stop`.
    async fn read_gossip(
        &self,
        gossip: Arc<
            tokio::sync::Mutex<tokio::sync::mpsc::Receiver<cairn_net::messages::GossipMessage>>,
        >,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut gossip = gossip.lock().await;
        loop {
            let got = tokio::select! {
                _ = stop.cancelled() => return,
                got = gossip.recv() => match got { Some(g) => g, None => return },
            };
            let Some(from) = got.source.map(|p| p.to_string()) else {
                continue;
            };
            if let Err(e) = seal::receive(&self.0.shared, &self.0.me, &from, &got.data).await {
                tracing::debug!(%from, topic = %got.topic, error = %e, "a group message refused");
            }
        }
    }

    /// Subscribes, grants and sends copies every round until `stop`.
    async fn rounds(&self, stop: tokio_util::sync::CancellationToken) {
        loop {
            self.subscribe_all().await;
            self.grant_pending().await;
            self.send_copies().await;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(ROUND) => {}
            }
        }
    }

    /// Makes a group with a new key; this node is its creator.
    pub async fn create(&self, label: &str) -> Result<GroupInfo> {
        let label = crate::shares::check_label(label)?;
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let key = crate::shares::random_key();
        let row = GroupRow {
            id: hex::encode(id),
            creator: String::new(),
            label,
            key,
            epoch: 0,
            version: 0,
            state: "joined".into(),
            created: 0,
            members: Vec::new(),
        };
        let (shared, kept) = (self.0.shared.clone(), row.clone());
        blocking(move || Ok(shared.catalog.keep_group(&kept)?)).await?;
        self.subscribe_all().await;
        self.info(&row.id).await
    }

    /// Every group this node is or was in.
    pub async fn list(&self) -> Result<Vec<GroupInfo>> {
        let shared = self.0.shared.clone();
        let rows = self
            .0
            .shared
            .lookup(move || Ok(shared.catalog.groups()?))
            .await?;
        Ok(rows.into_iter().map(|r| self.to_info(r)).collect())
    }

    /// Group `id`.
    pub async fn info(&self, id: &str) -> Result<GroupInfo> {
        Ok(self.to_info(self.row(id).await?))
    }

    fn to_info(&self, row: GroupRow) -> GroupInfo {
        let mine = row.creator.is_empty();
        GroupInfo {
            creator: if mine { self.0.me.clone() } else { row.creator },
            mine,
            id: row.id,
            label: row.label,
            members: row.members,
            epoch: row.epoch,
            version: row.version,
            state: row.state,
            created: row.created,
        }
    }

    async fn row(&self, id: &str) -> Result<GroupRow> {
        check_id(id)?;
        let (shared, owned) = (self.0.shared.clone(), id.to_owned());
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.group(&owned)?))
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no group {id}")))
    }

    async fn own_row(&self, id: &str) -> Result<GroupRow> {
        let row = self.row(id).await?;
        if !row.creator.is_empty() {
            return Err(NodeError::Forbidden(format!(
                "group {id} is {}'s: only its creator changes its members",
                row.creator
            )));
        }
        if row.state != "joined" {
            return Err(NodeError::Conflict(format!("group {id} was left")));
        }
        Ok(row)
    }

    /// Invites `who` (a peer id, a friend's alias, or a nickname) into
    /// own group `id`: handed the group now, or when back. Answers its
    /// peer id and whether it took it already.
    pub async fn invite(&self, id: &str, who: &str) -> Result<(String, bool)> {
        let row = self.own_row(id).await?;
        self.0.network.swarm()?;
        let peer = self.0.people.peer_of(who).await?;
        if peer == self.0.me {
            return Err(NodeError::Invalid(
                "the creator is in its group already".into(),
            ));
        }
        let (shared, group, member) = (self.0.shared.clone(), row.id.clone(), peer.clone());
        blocking(move || Ok(shared.catalog.add_group_member(&group, &member)?)).await?;
        let row = self.row(id).await?;
        let took = self.hand_group(&row, &peer).await.is_ok();
        // The others learn of the new member.
        self.grant_pending().await;
        Ok((peer, took))
    }

    /// Takes `who` out of own group `id`: the group gets a new key,
    /// handed to the members left.
    pub async fn remove(&self, id: &str, who: &str) -> Result<String> {
        let row = self.own_row(id).await?;
        let peer = self.0.people.member_named(&row.members, who).await?;
        let key = crate::shares::random_key();
        let (shared, group, member) = (self.0.shared.clone(), row.id.clone(), peer.clone());
        let was =
            blocking(move || Ok(shared.catalog.remove_group_member(&group, &member, &key)?))
                .await?;
        if !was {
            return Err(NodeError::NotFound(format!(
                "{peer} is not a member of group {id}"
            )));
        }
        self.grant_pending().await;
        Ok(peer)
    }

    /// Leaves group `id`: no more of its messages here. A member tells
    /// the creator (now, if it can), which removes it; the creator's own
    /// group is closed here (its members are not told).
    pub async fn leave(&self, id: &str) -> Result<()> {
        let row = self.row(id).await?;
        let (shared, group) = (self.0.shared.clone(), row.id.clone());
        blocking(move || Ok(shared.catalog.set_group_state(&group, "left")?)).await?;
        self.subscribe_all().await;
        if !row.creator.is_empty()
            && let Err(e) = self.0.messages.leave_group(&row.creator, &row.id).await
        {
            tracing::info!(group = %row.id, error = %e, "the creator was not told of the leave");
        }
        Ok(())
    }

    /// Leaves group `id` (as [`Groups::leave`]) and forgets it here, its
    /// key with it (its messages stay in the history).
    pub async fn forget(&self, id: &str) -> Result<()> {
        self.leave(id).await?;
        let (shared, group) = (self.0.shared.clone(), id.to_owned());
        blocking(move || Ok(shared.catalog.remove_group(&group)?)).await?;
        Ok(())
    }

    /// Sends `body` to group `id`: published to the members there now,
    /// and a copy kept for each, handed over until taken.
    pub async fn send(&self, id: &str, body: &str) -> Result<Message> {
        if body.is_empty() || body.len() > crate::messages::MAX_BODY {
            return Err(NodeError::Invalid(format!(
                "a message has 1 to {} bytes",
                crate::messages::MAX_BODY
            )));
        }
        let swarm = self.0.network.swarm()?.clone();
        let row = self.row(id).await?;
        if row.state != "joined" {
            return Err(NodeError::Conflict(format!("group {id} was left")));
        }
        let mut mid = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut mid);
        let payload = GroupPayload {
            id: hex::encode(mid),
            from: self.0.me.clone(),
            group: row.id.clone(),
            sent: cairn_store::catalog::now_ms(),
            body: body.to_owned(),
        };
        let framed = seal::with_group(&row.id, &seal::seal(&row, &self.0.key, &payload)?);
        let peers: Vec<String> = std::iter::once(row.creator.clone())
            .chain(row.members.iter().cloned())
            .filter(|p| !p.is_empty() && *p != self.0.me)
            .collect();
        let message = Message {
            seq: 0,
            id: payload.id,
            sender: self.0.me.clone(),
            recipient: format!("group:{}", row.id),
            peer: format!("group:{}", row.id),
            outgoing: true,
            body: body.to_owned(),
            sent: payload.sent,
            state: "sent".into(),
        };
        let (shared, copy) = (self.0.shared.clone(), framed.clone());
        let kept =
            blocking(move || Ok(shared.catalog.add_group_message(&message, &peers, &copy)?))
                .await?;
        if let Err(e) = swarm.publish(&seal::topic(&row.id), framed).await {
            tracing::debug!(group = %row.id, error = %e, "not published; the copies go");
        }
        Ok(kept)
    }

    /// The outbox: how many copies of messages wait for their members,
    /// by group.
    pub async fn outbox(&self) -> Result<Vec<(String, i64)>> {
        let shared = self.0.shared.clone();
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.group_outbox_counts()?))
            .await
    }

    /// Group `id`'s messages numbered after `after`, oldest first, at
    /// most `limit`.
    pub async fn messages(&self, id: &str, after: i64, limit: u32) -> Result<Vec<Message>> {
        let row = self.row(id).await?;
        let (shared, peer) = (self.0.shared.clone(), format!("group:{}", row.id));
        let limit = limit.clamp(1, 1000);
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.messages(Some(&peer), after, limit)?))
            .await
    }

    /// Subscribes to the topics of the groups this node is in, and leaves
    /// the others.
    async fn subscribe_all(&self) {
        let Ok(swarm) = self.0.network.swarm() else {
            return;
        };
        let shared = self.0.shared.clone();
        let Ok(rows) = blocking(move || Ok(shared.catalog.groups()?)).await else {
            return;
        };
        let want: BTreeSet<String> = rows
            .iter()
            .filter(|g| g.state == "joined")
            .map(|g| seal::topic(&g.id))
            .collect();
        let have = self
            .0
            .subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for topic in want.difference(&have) {
            match swarm.subscribe(topic).await {
                Ok(()) => {
                    self.0
                        .subscribed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(topic.clone());
                }
                Err(e) => tracing::warn!(%topic, error = %e, "cannot subscribe"),
            }
        }
        for topic in have.difference(&want) {
            let _ = swarm.unsubscribe(topic).await;
            self.0
                .subscribed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(topic);
        }
    }

    /// Hands own group `row` as it is now to member `peer`, and notes
    /// that it took it.
    async fn hand_group(&self, row: &GroupRow, peer: &str) -> Result<()> {
        let grant = GroupGrant {
            id: row.id.clone(),
            label: row.label.clone(),
            key: hex::encode(row.key),
            epoch: row.epoch,
            version: row.version,
            members: row.members.clone(),
        };
        self.0.messages.grant_group(peer, &grant).await?;
        let (shared, group, member, version) = (
            self.0.shared.clone(),
            row.id.clone(),
            peer.to_owned(),
            row.version,
        );
        blocking(move || Ok(shared.catalog.group_granted(&group, &member, version)?)).await
    }

    /// Hands their group's current version to the members that lack it.
    async fn grant_pending(&self) {
        let shared = self.0.shared.clone();
        let Ok(pending) =
            blocking(move || Ok(shared.catalog.group_grants_pending(PER_ROUND)?)).await
        else {
            return;
        };
        let mut rows: BTreeMap<String, Option<GroupRow>> = BTreeMap::new();
        for (group, _) in &pending {
            if !rows.contains_key(group) {
                rows.insert(group.clone(), self.row(group).await.ok());
            }
        }
        let tries = pending.iter().filter_map(|(group, peer)| {
            let row = rows.get(group)?.as_ref()?;
            Some(async move {
                if let Err(e) = self.hand_group(row, peer).await {
                    tracing::debug!(group = %row.id, %peer, error = %e, "group not handed yet");
                }
            })
        });
        futures_util::future::join_all(tries).await;
    }

    /// Hands the waiting copies to their members: each member's in
    /// order, the members at once; one that does not take a copy is not
    /// asked again this round.
    async fn send_copies(&self) {
        let shared = self.0.shared.clone();
        let Ok(copies) = blocking(move || Ok(shared.catalog.group_copies(PER_ROUND)?)).await else {
            return;
        };
        let mut by_peer: BTreeMap<String, Vec<cairn_store::groups::GroupCopy>> = BTreeMap::new();
        for copy in copies {
            by_peer.entry(copy.peer.clone()).or_default().push(copy);
        }
        let rounds = by_peer.into_iter().map(|(peer, copies)| async move {
            for copy in copies {
                let taken = self
                    .0
                    .messages
                    .hand_group_copy(&peer, &copy.envelope)
                    .await
                    .is_ok();
                let (shared, seq) = (self.0.shared.clone(), copy.seq);
                let _ = blocking(move || Ok(shared.catalog.group_copy_tried(seq, taken)?)).await;
                if !taken {
                    break;
                }
            }
        });
        futures_util::future::join_all(rounds).await;
    }
}
