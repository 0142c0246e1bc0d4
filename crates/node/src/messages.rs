//! Private messages (`node.messages()`): text from one identity to
//! another over the message protocol (`/cairn/messages/1`), signed by the
//! sender and sealed to the recipient, kept in the catalog on both sides,
//! and sent again until the recipient takes it.
//!
//! An envelope is `CM1`, then the sealed payload: an ephemeral X25519 key
//! and the payload under ChaCha20-Poly1305, its key derived (BLAKE3) from
//! the X25519 agreement with the recipient's key (its Ed25519 key, from
//! its peer id, in Montgomery form), the ephemeral key and the
//! recipient's. The payload is the sender's Ed25519 signature over the
//! message's JSON, then the JSON (`id`, `from`, `to`, `sent`, `body`). So
//! only the recipient can read it, anyone holding it can tell who wrote
//! it, and it could travel through other nodes unchanged; today it goes
//! straight to the recipient, whose connection also authenticates the
//! sender. The recipient keeps a message once (by sender and id) and
//! answers `ok` (or `dup`), after which the sender marks it delivered; a
//! message to a node that is away stays `queued` and is sent again every
//! [`RETRY`] until taken, across restarts (the outbox is the catalog):
//! each recipient's in order, the recipients at once, and a recipient
//! that does not take one is not asked again until the next round.

use std::sync::Arc;
use std::time::Duration;

use cairn_net::PeerId;
use cairn_net::messages::InboundMessage;
use cairn_store::messages::Message;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::NodeError;
use crate::events::Event;
use crate::network::Network;
use crate::people::People;
use crate::shared::Shared;
use crate::tasks::blocking;

type Result<T> = std::result::Result<T, NodeError>;

/// How often queued messages are sent again.
pub const RETRY: Duration = Duration::from_secs(2);

/// How long a send waits for the recipient before it answers `queued`
/// (the try goes on; the recipient keeps a message once, so one that
/// arrives after all is marked delivered by the next round).
const FIRST_TRY: Duration = Duration::from_secs(5);

/// The longest text, in bytes.
pub const MAX_BODY: usize = 64 << 10;

/// The envelope's first bytes.
const MAGIC: &[u8] = b"CM1";

/// What derives a sealed message's key.
const SEAL_CONTEXT: &str = "cairn message seal v1";

/// Queued messages tried in one round, at most.
const ROUND: u32 = 64;

/// What the sender signs and the recipient reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Payload {
    id: String,
    from: String,
    to: String,
    sent: i64,
    /// `text`; `key`: a key shared, its [`SharedKey`] as JSON in
    /// `body`; `share`: a share granted, its [`ShareGrant`] as JSON.
    #[serde(default = "text_kind")]
    kind: String,
    body: String,
}

fn text_kind() -> String {
    "text".into()
}

/// A key as it is shared.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SharedKey {
    alias: String,
    label: String,
    /// PKCS#1 PEM.
    private: String,
}

/// A share as it is granted: what a member needs to read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShareGrant {
    /// The share's id.
    pub(crate) id: String,
    /// Its label.
    pub(crate) label: String,
    /// Its key, hex.
    pub(crate) key: String,
}

/// A file a share's member puts into it, as it travels to the share's
/// owner: where it goes, and the link the owner reads it by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SharePut {
    /// The share's id.
    pub(crate) share: String,
    /// Its path in the share, `/`-separated.
    pub(crate) path: String,
    /// `<blob id>.<read key>`: the member's copy, on its suppliers.
    pub(crate) link: String,
    /// Its size.
    pub(crate) size: u64,
}

/// Puts arriving at an owner, for the shares service: the member and
/// what it puts.
pub(crate) type Puts = tokio::sync::mpsc::Receiver<(String, SharePut)>;

/// The messages service. Cheap to clone.
#[derive(Clone)]
pub struct Messages(Arc<State>);

struct State {
    shared: Arc<Shared>,
    network: Network,
    /// Who a name means (peer id, friend's alias, nickname).
    people: People,
    key: SigningKey,
    me: String,
    /// Where puts into own shares go (the shares service takes them).
    puts: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<(String, SharePut)>>>,
}

impl Messages {
    pub(crate) fn new(
        shared: Arc<Shared>,
        network: Network,
        people: People,
        key: SigningKey,
        me: String,
    ) -> Self {
        Self(Arc::new(State {
            shared,
            network,
            people,
            key,
            me,
            puts: std::sync::Mutex::new(None),
        }))
    }

    /// The puts into own shares that members send from now on (at most
    /// 64 waiting; more are refused, and their senders told so).
    pub(crate) fn take_puts(&self) -> Puts {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        *self.0.puts.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    /// Puts a file into share `put.share`, whose owner is `owner`, now:
    /// `network` when the owner cannot be reached.
    pub(crate) async fn put_share_file(&self, owner: &str, put: &SharePut) -> Result<()> {
        let body = serde_json::to_string(put).map_err(|e| NodeError::Internal(e.to_string()))?;
        self.send_now(owner, "share-put", body).await
    }

    /// Registers the `messages` service: serving messages from peers and
    /// sending the queued ones again (with the network on).
    pub(crate) fn register(&self, services: &crate::services::Services) {
        let inbound = self.0.network.swarm().ok().and_then(|s| s.take_messages());
        let maker = inbound.map(|inbound| {
            let inbound = Arc::new(tokio::sync::Mutex::new(inbound));
            let messages = self.clone();
            let maker: crate::services::Maker = Arc::new(move |stop| {
                let (messages, inbound) = (messages.clone(), inbound.clone());
                Box::pin(async move {
                    let serving = messages.clone().serve(inbound, stop.clone());
                    let (served, ()) = tokio::join!(serving, messages.resend(stop));
                    served
                })
            });
            maker
        });
        services.add(
            "messages",
            "private messages: serves those that arrive, sends the queued ones again",
            &["swarm"],
            maker,
        );
    }

    /// Sends the queued messages again now and then, until `stop`.
    async fn resend(&self, stop: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RETRY) => {}
            }
            self.send_queued().await;
        }
    }

    /// Sends `body` to `to` (a peer id, a friend's alias, or a nickname
    /// found through the DHT): kept at once, delivered now if the
    /// recipient can be reached, else `queued` and sent again until it is.
    pub async fn send(&self, to: &str, body: &str) -> Result<Message> {
        if body.is_empty() || body.len() > MAX_BODY {
            return Err(NodeError::Invalid(format!(
                "a message has 1 to {MAX_BODY} bytes"
            )));
        }
        self.0.network.swarm()?;
        let peer = self.0.people.peer_of(to.trim()).await?;
        if peer == self.0.me {
            return Err(NodeError::Invalid(
                "a message to oneself goes nowhere".into(),
            ));
        }
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let message = Message {
            seq: 0,
            id: hex::encode(id),
            sender: self.0.me.clone(),
            recipient: peer.clone(),
            peer,
            outgoing: true,
            body: body.to_owned(),
            sent: cairn_store::catalog::now_ms(),
            state: "queued".into(),
        };
        let shared = self.0.shared.clone();
        let kept = blocking(move || {
            shared
                .catalog
                .add_message(&message)?
                .ok_or_else(|| NodeError::Internal("a new message id was taken".into()))
        })
        .await?;
        match tokio::time::timeout(FIRST_TRY, self.deliver(kept.clone())).await {
            Ok(now) => Ok(now),
            Err(_) => Ok(kept),
        }
    }

    /// Shares key `key` (its private part included) with `to` (a peer
    /// id, a friend's alias or a nickname), now: `network` when the
    /// recipient cannot be reached (a key is never left queued). The
    /// recipient keeps it as `alias` from this node, replacing one it had
    /// under that name; answers the recipient's peer id.
    pub async fn share_key(&self, key: &crate::keys::KeyInfo, to: &str) -> Result<String> {
        if key.alias == crate::keys::MASTER {
            return Err(NodeError::Conflict(
                "the master key cannot be shared".into(),
            ));
        }
        let private = key.private.clone().ok_or_else(|| {
            NodeError::Conflict(format!("key '{}' has only its public part here", key.alias))
        })?;
        self.0.network.swarm()?;
        let peer = self.0.people.peer_of(to.trim()).await?;
        if peer == self.0.me {
            return Err(NodeError::Invalid(
                "a key shared with oneself goes nowhere".into(),
            ));
        }
        let body = serde_json::to_string(&SharedKey {
            alias: key.alias.clone(),
            label: key.label.clone(),
            private,
        })
        .map_err(|e| NodeError::Internal(e.to_string()))?;
        self.send_now(&peer, "key", body).await?;
        Ok(peer)
    }

    /// Grants share `grant` to peer `peer` (a peer id), now: `network`
    /// when it cannot be reached (a grant is never left queued).
    pub(crate) async fn grant_share(&self, peer: &str, grant: &ShareGrant) -> Result<()> {
        if peer == self.0.me {
            return Err(NodeError::Invalid(
                "a share granted to oneself goes nowhere".into(),
            ));
        }
        let body = serde_json::to_string(grant).map_err(|e| NodeError::Internal(e.to_string()))?;
        self.send_now(peer, "share", body).await
    }

    /// Hands group `grant` (as its creator has it now) to member `peer`,
    /// now.
    pub(crate) async fn grant_group(
        &self,
        peer: &str,
        grant: &crate::groups::seal::GroupGrant,
    ) -> Result<()> {
        let body = serde_json::to_string(grant).map_err(|e| NodeError::Internal(e.to_string()))?;
        self.send_now(peer, "group", body).await
    }

    /// Hands member `peer` its copy of a group message (`framed`: the
    /// group's id, then the sealed message), now.
    pub(crate) async fn hand_group_copy(&self, peer: &str, framed: &[u8]) -> Result<()> {
        self.send_now(peer, "group-copy", hex::encode(framed)).await
    }

    /// Tells group `group`'s creator that this node left it, now.
    pub(crate) async fn leave_group(&self, creator: &str, group: &str) -> Result<()> {
        let body = serde_json::json!({ "group": group }).to_string();
        self.send_now(creator, "group-leave", body).await
    }

    /// Audits `to` (a peer id, a friend's alias or a nickname), now: it
    /// must show it holds key `key` (its private part with `private`,
    /// else its public part) without sending it. Answers the holder's
    /// peer id and whether it showed it; `network` when it cannot be
    /// asked, `not_found` when it does not have the key at all.
    pub async fn audit_key(
        &self,
        key: &crate::keys::KeyInfo,
        to: &str,
        private: bool,
    ) -> Result<(String, bool)> {
        let pem = key.private.clone().ok_or_else(|| {
            NodeError::Conflict(format!("key '{}' has only its public part here", key.alias))
        })?;
        self.0.network.swarm()?;
        let peer = self.0.people.peer_of(to.trim()).await?;
        if peer == self.0.me {
            return Err(NodeError::Invalid("a node audits others".into()));
        }
        let owner = key.owner.clone().unwrap_or_else(|| self.0.me.clone());
        let mut nonce = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut nonce);
        let body = serde_json::json!({
            "owner": owner,
            "alias": key.alias,
            "nonce": hex::encode(nonce),
            "private": private,
        })
        .to_string();
        let answer = self.ask_now(&peer, "key-audit", body).await?;
        let proof = answer
            .strip_prefix(b"proof ")
            .and_then(|p| hex::decode(p).ok())
            .ok_or_else(|| {
                let said = String::from_utf8_lossy(&answer).into_owned();
                if said.contains("no key") {
                    NodeError::NotFound(format!("{peer} does not hold key '{}'", key.alias))
                } else {
                    NodeError::Network(format!("{peer} answered the audit: {said}"))
                }
            })?;
        let shown = if private {
            crate::keys::check_private(&pem, &owner, &key.alias, &nonce, &proof)
        } else {
            proof == crate::keys::prove_public(&key.public, &owner, &key.alias, &nonce)
        };
        Ok((peer, shown))
    }

    /// The proof an auditor (`from`) asks for: that this node holds a
    /// key, signed (private part) or hashed (public part) over its nonce.
    async fn answer_audit(&self, from: &str, body: &str) -> Result<Vec<u8>> {
        let ask: serde_json::Value = serde_json::from_str(body)
            .map_err(|_| NodeError::Invalid("an audit that does not parse".into()))?;
        let (Some(owner), Some(alias), Some(nonce)) = (
            ask["owner"].as_str(),
            ask["alias"].as_str(),
            ask["nonce"].as_str().and_then(|n| hex::decode(n).ok()),
        ) else {
            return Err(NodeError::Invalid(
                "an audit without owner, alias or nonce".into(),
            ));
        };
        crate::keys::check_alias(alias)?;
        let private = ask["private"].as_bool().unwrap_or(false);
        let kept_as = if owner == self.0.me { "" } else { owner };
        let (shared, o, a) = (self.0.shared.clone(), kept_as.to_owned(), alias.to_owned());
        let row = blocking(move || Ok(shared.catalog.key(&o, &a)?))
            .await?
            .ok_or_else(|| NodeError::NotFound(format!("no key '{alias}' of {owner} here")))?;
        let proof = if private {
            let pem = row.private_key.ok_or_else(|| {
                NodeError::NotFound(format!("no key '{alias}' of {owner} here, private part"))
            })?;
            crate::keys::prove_private(&pem, owner, alias, &nonce)?
        } else {
            crate::keys::prove_public(&row.public_key, owner, alias, &nonce)
        };
        tracing::info!(auditor = %from, key = %alias, private, "a key audit answered");
        Ok([&b"proof "[..], hex::encode(proof).as_bytes()].concat())
    }

    /// Seals a payload of `kind` to `peer`, hands it over now and answers
    /// what the peer answered (any bytes; a refusal is an error).
    async fn ask_now(&self, peer: &str, kind: &str, body: String) -> Result<Vec<u8>> {
        let (target, envelope) = self.seal_to(peer, kind, body)?;
        let answer = self
            .0
            .network
            .swarm()?
            .send_message(target, envelope)
            .await
            .map_err(|e| NodeError::Network(e.to_string()))?;
        if let Some(why) = answer.strip_prefix(b"refused: ") {
            let why = String::from_utf8_lossy(why).into_owned();
            return Err(if why.contains("no key") {
                NodeError::NotFound(why)
            } else {
                NodeError::Network(format!("{peer} refused it: {why}"))
            });
        }
        Ok(answer)
    }

    /// Seals a payload of `kind` to `peer` and hands it over now.
    async fn send_now(&self, peer: &str, kind: &str, body: String) -> Result<()> {
        let (target, envelope) = self.seal_to(peer, kind, body)?;
        self.hand_over(target, envelope).await
    }

    /// A new payload of `kind` from this node to `peer` (a peer id),
    /// signed and sealed: the peer and the envelope.
    fn seal_to(&self, peer: &str, kind: &str, body: String) -> Result<(PeerId, Vec<u8>)> {
        self.0.network.swarm()?;
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let payload = Payload {
            id: hex::encode(id),
            from: self.0.me.clone(),
            to: peer.to_owned(),
            sent: cairn_store::catalog::now_ms(),
            kind: kind.into(),
            body,
        };
        let target = crate::network::parse_peer(peer)?;
        let envelope = seal_payload(&self.0.key, &target, &payload)?;
        Ok((target, envelope))
    }

    /// The outbox: how many messages wait for each recipient.
    pub async fn outbox(&self) -> Result<Vec<(String, i64)>> {
        let shared = self.0.shared.clone();
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.queued_message_counts()?))
            .await
    }

    /// By conversation (a peer id, or `group:<id>`): messages sent,
    /// messages received, and the last one's number.
    pub async fn counts(&self) -> Result<Vec<(String, i64, i64, i64)>> {
        let shared = self.0.shared.clone();
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.message_counts()?))
            .await
    }

    /// Messages numbered after `after` (with `peer` only, when given),
    /// oldest first, at most `limit`.
    pub async fn list(&self, peer: Option<&str>, after: i64, limit: u32) -> Result<Vec<Message>> {
        let peer = match peer {
            Some(p) => Some(self.0.people.peer_of(p.trim()).await?),
            None => None,
        };
        let shared = self.0.shared.clone();
        let limit = limit.clamp(1, 1000);
        self.0
            .shared
            .lookup(move || Ok(shared.catalog.messages(peer.as_deref(), after, limit)?))
            .await
    }

    /// Tries to hand `message` to its recipient; marks it delivered when
    /// it took it. Answers the message as it now is.
    async fn deliver(&self, message: Message) -> Message {
        self.deliver_checked(message).await.0
    }

    /// [`Messages::deliver`], also saying whether the recipient took it.
    async fn deliver_checked(&self, mut message: Message) -> (Message, bool) {
        match self.try_deliver(&message).await {
            Ok(()) => {
                let (shared, seq) = (self.0.shared.clone(), message.seq);
                match blocking(move || Ok(shared.catalog.message_delivered(seq)?)).await {
                    Ok(()) => message.state = "delivered".into(),
                    Err(e) => tracing::warn!(error = %e, "a delivered message stays queued"),
                }
                (message, true)
            }
            Err(e) => {
                tracing::debug!(to = %message.recipient, error = %e, "message queued");
                let (shared, seq) = (self.0.shared.clone(), message.seq);
                let _ = blocking(move || Ok(shared.catalog.message_tried(seq)?)).await;
                (message, false)
            }
        }
    }

    async fn try_deliver(&self, message: &Message) -> Result<()> {
        let peer = crate::network::parse_peer(&message.recipient)?;
        let envelope = seal_message(&self.0.key, &peer, message)?;
        self.hand_over(peer, envelope).await
    }

    /// Sends `envelope` to `peer`; `Ok` once it kept it (`ok`, or `dup`
    /// for one it had).
    async fn hand_over(&self, peer: PeerId, envelope: Vec<u8>) -> Result<()> {
        let answer = self
            .0
            .network
            .swarm()?
            .send_message(peer, envelope)
            .await
            .map_err(|e| NodeError::Network(e.to_string()))?;
        match answer.as_slice() {
            b"ok" | b"dup" => Ok(()),
            other => Err(NodeError::Network(format!(
                "{peer} refused it: {}",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    /// One round of sending the queued messages again.
    async fn send_queued(&self) {
        let shared = self.0.shared.clone();
        let queued = match blocking(move || Ok(shared.catalog.queued_messages(ROUND)?)).await {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the queued messages");
                return;
            }
        };
        // Each recipient's messages in order, the recipients at once; a
        // recipient that does not take one is not asked again this round.
        let mut by_peer: std::collections::BTreeMap<String, Vec<Message>> = Default::default();
        for message in queued {
            by_peer
                .entry(message.recipient.clone())
                .or_default()
                .push(message);
        }
        let rounds = by_peer.into_values().map(|messages| async move {
            for message in messages {
                if !self.deliver_checked(message).await.1 {
                    break;
                }
            }
        });
        futures_util::future::join_all(rounds).await;
    }

    async fn serve(
        self,
        inbound: Arc<tokio::sync::Mutex<mpsc::Receiver<InboundMessage>>>,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<()> {
        let mut inbound = inbound.lock().await;
        loop {
            let m = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                m = inbound.recv() => match m { Some(m) => m, None => return Ok(()) },
            };
            let answer = match self.answer(m.peer, &m.body).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::info!(peer = %m.peer, error = %e, "a message refused");
                    format!("refused: {e}").into_bytes()
                }
            };
            let _ = m.reply.send(answer);
        }
    }

    /// Opens and checks a message from `peer`, and answers it: a key
    /// audit with its proof, anything else `ok` once kept (`dup` if it
    /// was).
    async fn answer(&self, peer: PeerId, envelope: &[u8]) -> Result<Vec<u8>> {
        let payload = self.open_from(peer, envelope)?;
        if payload.kind == "key-audit" {
            return self.answer_audit(&payload.from, &payload.body).await;
        }
        Ok(match self.receive(payload).await? {
            true => b"ok".to_vec(),
            false => b"dup".to_vec(),
        })
    }

    /// The payload of a message from `peer`, checked: sealed to this
    /// node, signed by its sender, the sender the connection's peer.
    fn open_from(&self, peer: PeerId, envelope: &[u8]) -> Result<Payload> {
        let payload = open_message(&self.0.key, envelope)?;
        if payload.to != self.0.me {
            return Err(NodeError::Invalid("the message is for someone else".into()));
        }
        if payload.from != peer.to_string() {
            return Err(NodeError::Invalid(
                "the message's sender is not the peer that sent it".into(),
            ));
        }
        if payload.id.len() != 32 || !payload.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NodeError::Invalid("the message's id is malformed".into()));
        }
        Ok(payload)
    }

    /// Keeps a checked message; whether it is new.
    async fn receive(&self, payload: Payload) -> Result<bool> {
        match payload.kind.as_str() {
            "text" => {}
            "key" => return self.receive_key(&payload.from, &payload.body).await,
            "share" => return self.receive_share(&payload.from, &payload.body).await,
            "group" => return self.receive_group(&payload.from, &payload.body).await,
            "group-copy" => {
                let framed = hex::decode(&payload.body)
                    .map_err(|_| NodeError::Invalid("a group copy that is not hex".into()))?;
                return crate::groups::seal::receive(
                    &self.0.shared,
                    &self.0.me,
                    &payload.from,
                    &framed,
                )
                .await;
            }
            "group-leave" => return self.receive_leave(&payload.from, &payload.body).await,
            "share-put" => {
                let put: SharePut = serde_json::from_str(&payload.body)
                    .map_err(|_| NodeError::Invalid("a share put that does not parse".into()))?;
                crate::shares::check_id(&put.share)?;
                let sender = self
                    .0
                    .puts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let sender = sender
                    .ok_or_else(|| NodeError::Unavailable("shares are not served here".into()))?;
                sender
                    .try_send((payload.from.clone(), put))
                    .map_err(|_| NodeError::Unavailable("too many puts waiting: later".into()))?;
                return Ok(true);
            }
            other => {
                return Err(NodeError::Invalid(format!(
                    "a message of kind '{other}' is not read here"
                )));
            }
        }
        let message = Message {
            seq: 0,
            id: payload.id,
            sender: payload.from.clone(),
            recipient: payload.to,
            peer: payload.from,
            outgoing: false,
            body: payload.body,
            sent: payload.sent,
            state: "received".into(),
        };
        let shared = self.0.shared.clone();
        let kept = blocking(move || Ok(shared.catalog.add_message(&message)?)).await?;
        match kept {
            Some(message) => {
                self.0.shared.events.send(Event::Message { message });
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl Messages {
    /// Keeps a key `from` shared: as its alias from that peer, replacing
    /// one kept under that name with another key; whether it is new.
    async fn receive_key(&self, from: &str, body: &str) -> Result<bool> {
        let shared: SharedKey = serde_json::from_str(body)
            .map_err(|_| NodeError::Invalid("a shared key that does not parse".into()))?;
        let alias = shared.alias.trim().to_ascii_lowercase();
        crate::keys::check_alias(&alias)?;
        if alias == crate::keys::MASTER {
            return Err(NodeError::Invalid("a master key is never shared".into()));
        }
        let (public, size) = crate::keys::public_of_pem(&shared.private)?;
        let label: String = shared
            .label
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        // Kept as keys made here are: one line ending after the PEM.
        let pem = format!("{}\n", shared.private.trim_end());
        let (catalog_owner, catalog) = (from.to_owned(), self.0.shared.clone());
        let new = blocking(move || {
            if let Some(kept) = catalog.catalog.key(&catalog_owner, &alias)? {
                if kept.public_key == public {
                    return Ok(false);
                }
                catalog.catalog.remove_key(&catalog_owner, &alias)?;
            }
            catalog.catalog.add_key(&cairn_store::keys::NewKey {
                owner: &catalog_owner,
                alias: &alias,
                label: &label,
                algorithm: "rsa",
                size,
                public_key: &public,
                private_key: Some(&pem),
                active: true,
            })?;
            Ok(true)
        })
        .await?;
        tracing::info!(from = %from, "a key shared with this node is kept");
        Ok(new)
    }
}

impl Messages {
    /// Keeps a share `from` granted (or its new key); whether it was new
    /// to this node or brought a new key.
    async fn receive_share(&self, from: &str, body: &str) -> Result<bool> {
        let grant: ShareGrant = serde_json::from_str(body)
            .map_err(|_| NodeError::Invalid("a share grant that does not parse".into()))?;
        crate::shares::check_id(&grant.id)?;
        let key: [u8; 32] = hex::decode(&grant.key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| NodeError::Invalid("a share key is 64 hex digits".into()))?;
        let label = crate::shares::clean_label(&grant.label);
        let row = cairn_store::shares::ShareRow {
            id: grant.id.clone(),
            owner: from.to_owned(),
            label: label.clone(),
            folder: None,
            key,
            version: 0,
            digest: None,
            state: "open".into(),
            created: 0,
            members: Vec::new(),
        };
        let shared = self.0.shared.clone();
        let new = blocking(move || {
            let before = shared.catalog.share(&row.id)?;
            let kept = shared.catalog.keep_share(&row)?;
            Ok(before.is_none_or(|b| b.key != kept.key || b.state != "open"))
        })
        .await?;
        tracing::info!(from = %from, share = %grant.id, "a share granted to this node is kept");
        self.0.shared.events.send(Event::ShareGranted {
            share: grant.id,
            owner: from.to_owned(),
            label,
        });
        Ok(new)
    }
}

impl Messages {
    /// Keeps what a group's creator (`from`) handed this node; whether it
    /// was new or newer.
    async fn receive_group(&self, from: &str, body: &str) -> Result<bool> {
        let grant: crate::groups::seal::GroupGrant = serde_json::from_str(body)
            .map_err(|_| NodeError::Invalid("a group grant that does not parse".into()))?;
        crate::groups::check_id(&grant.id)?;
        let key: [u8; 32] = hex::decode(&grant.key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| NodeError::Invalid("a group key is 64 hex digits".into()))?;
        if grant.members.len() > 10_000 || grant.epoch < 0 || grant.version < 0 {
            return Err(NodeError::Invalid("a group grant out of bounds".into()));
        }
        let label = crate::shares::clean_label(&grant.label);
        let row = cairn_store::groups::GroupRow {
            id: grant.id.clone(),
            creator: from.to_owned(),
            label: label.clone(),
            key,
            epoch: grant.epoch,
            version: grant.version,
            state: "joined".into(),
            created: 0,
            members: grant.members,
        };
        let shared = self.0.shared.clone();
        let changed = blocking(move || Ok(shared.catalog.keep_group(&row)?)).await?;
        if changed {
            self.0.shared.events.send(Event::GroupChanged {
                group: grant.id,
                creator: from.to_owned(),
                label,
            });
        }
        // Taken either way: an older version is answered as kept.
        Ok(true)
    }

    /// A member (`from`) left own group `body.group`: it is removed, and
    /// the group gets a new key.
    async fn receive_leave(&self, from: &str, body: &str) -> Result<bool> {
        let group = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["group"].as_str().map(str::to_owned))
            .ok_or_else(|| NodeError::Invalid("a leave that names no group".into()))?;
        crate::groups::check_id(&group)?;
        let key = crate::shares::random_key();
        let (shared, member) = (self.0.shared.clone(), from.to_owned());
        blocking(move || {
            let own = shared
                .catalog
                .group(&group)?
                .is_some_and(|g| g.creator.is_empty());
            if !own {
                return Err(NodeError::NotFound(format!(
                    "no group {group} of this node"
                )));
            }
            Ok(shared.catalog.remove_group_member(&group, &member, &key)?)
        })
        .await
    }
}

/// The key that seals between X25519 `shared`, `ephemeral` and
/// `recipient` keys.
fn seal_key(
    shared: &MontgomeryPoint,
    ephemeral: &MontgomeryPoint,
    recipient: &MontgomeryPoint,
) -> Result<Key> {
    if shared.as_bytes() == &[0u8; 32] {
        return Err(NodeError::Invalid("a key of low order".into()));
    }
    let mut material = Vec::with_capacity(96);
    material.extend_from_slice(shared.as_bytes());
    material.extend_from_slice(ephemeral.as_bytes());
    material.extend_from_slice(recipient.as_bytes());
    Ok(Key::from(blake3::derive_key(SEAL_CONTEXT, &material)))
}

/// `message` as an envelope from `key`'s identity to `peer`.
fn seal_message(key: &SigningKey, peer: &PeerId, message: &Message) -> Result<Vec<u8>> {
    let payload = Payload {
        id: message.id.clone(),
        from: message.sender.clone(),
        to: message.recipient.clone(),
        sent: message.sent,
        kind: text_kind(),
        body: message.body.clone(),
    };
    seal_payload(key, peer, &payload)
}

/// `payload` as an envelope from `key`'s identity to `peer`.
fn seal_payload(key: &SigningKey, peer: &PeerId, payload: &Payload) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(&payload).map_err(|e| NodeError::Internal(e.to_string()))?;
    let mut plain = key.sign(&json).to_bytes().to_vec();
    plain.extend_from_slice(&json);
    let recipient_ed = cairn_net::records::ed25519_public(peer)
        .ok_or_else(|| NodeError::Invalid(format!("{peer} has no Ed25519 key to seal to")))?;
    let recipient = VerifyingKey::from_bytes(&recipient_ed)
        .map_err(|_| NodeError::Invalid(format!("{peer}'s key is not a curve point")))?
        .to_montgomery();
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let ephemeral = MontgomeryPoint::mul_base_clamped(secret);
    let shared = recipient.mul_clamped(secret);
    let cipher = ChaCha20Poly1305::new(&seal_key(&shared, &ephemeral, &recipient)?);
    // A fresh key each message: one nonce is enough.
    let sealed = cipher
        .encrypt(&Nonce::default(), plain.as_slice())
        .map_err(|_| NodeError::Internal("cannot seal a message".into()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 32 + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(ephemeral.as_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens an envelope sealed to `key`'s identity, checking its sender's
/// signature.
fn open_message(key: &SigningKey, envelope: &[u8]) -> Result<Payload> {
    let bad = |why: &str| NodeError::Invalid(format!("not a message: {why}"));
    let rest = envelope
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("no header"))?;
    if rest.len() < 32 + 16 + 64 {
        return Err(bad("too short"));
    }
    let ephemeral = MontgomeryPoint(rest[..32].try_into().map_err(|_| bad("no key"))?);
    let mine = key.verifying_key().to_montgomery();
    let shared = ephemeral.mul_clamped(key.to_scalar_bytes());
    let cipher = ChaCha20Poly1305::new(&seal_key(&shared, &ephemeral, &mine)?);
    let plain = cipher
        .decrypt(&Nonce::default(), &rest[32..])
        .map_err(|_| bad("not sealed to this node, or changed"))?;
    let (signature, json) = plain.split_at(64);
    let payload: Payload =
        serde_json::from_slice(json).map_err(|_| bad("its text does not parse"))?;
    let from: PeerId = payload.from.parse().map_err(|_| bad("no sender"))?;
    let sender = cairn_net::records::ed25519_public(&from)
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| bad("its sender has no Ed25519 key"))?;
    let signature =
        ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad("no signature"))?;
    sender
        .verify(json, &signature)
        .map_err(|_| bad("its signature is not its sender's"))?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer_of(key: &SigningKey) -> PeerId {
        let public = cairn_net::Keypair::ed25519_from_bytes(key.to_bytes())
            .unwrap()
            .public();
        public.to_peer_id()
    }

    fn message(from: &PeerId, to: &PeerId) -> Message {
        Message {
            seq: 1,
            id: "ab".repeat(16),
            sender: from.to_string(),
            recipient: to.to_string(),
            peer: to.to_string(),
            outgoing: true,
            body: "Hello Bob ✓".into(),
            sent: 42,
            state: "queued".into(),
        }
    }

    #[test]
    fn only_the_recipient_opens_a_message_and_nobody_can_change_or_forge_one() {
        let alice = SigningKey::from_bytes(&[1u8; 32]);
        let bob = SigningKey::from_bytes(&[2u8; 32]);
        let mallory = SigningKey::from_bytes(&[3u8; 32]);
        let (a, b) = (peer_of(&alice), peer_of(&bob));
        let envelope = seal_message(&alice, &b, &message(&a, &b)).unwrap();
        let opened = open_message(&bob, &envelope).unwrap();
        assert_eq!(
            (opened.body.as_str(), opened.from),
            ("Hello Bob ✓", a.to_string())
        );
        assert!(open_message(&mallory, &envelope).is_err(), "sealed to Bob");
        let mut changed = envelope.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(open_message(&bob, &changed).is_err(), "changed");
        // Mallory seals a message that claims to be Alice's: its signature
        // is Mallory's, so it does not open.
        let forged = seal_message(&mallory, &b, &message(&a, &b)).unwrap();
        let err = open_message(&bob, &forged).unwrap_err().to_string();
        assert!(err.contains("signature"), "{err}");
        assert!(open_message(&bob, b"CM1short").is_err());
        assert!(open_message(&bob, b"nothing").is_err());
    }
}
