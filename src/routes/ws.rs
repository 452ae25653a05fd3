//! `GET /api/v1/ws`: the agents' realtime socket (one session actor per connection).
//!
//! Query: `?epoch=<epoch>&since=<seq>` to resume. The first frame is
//! `{"type":"hello","data":{"epoch","seq","start"}}`; `start` is `resumed` (the missed
//! events follow, then live ones), `fresh`, or `resync` (reload through the REST API; a
//! `reason` says why). Every event frame is `{"seq":N,"type":...,"data":...}`. A client
//! that falls too far behind gets `{"type":"resync",...}` and continues live from there.
//! The server pings every 15 s and closes a connection silent for 45 s.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::extract::{Auth, AuthMethod};
use crate::actors::router::AgentAvailable;
use crate::db::types::{Availability, Role};
use crate::hub::Hub;
use crate::realtime::{Envelope, Start, Subscription};
use crate::state::AppState;
use crate::store::inboxes;

const HEARTBEAT: Duration = Duration::from_secs(15);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(connect));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeQuery {
    epoch: Option<String>,
    since: Option<u64>,
}

async fn connect(
    state: web::Data<AppState>,
    caller: Auth,
    req: HttpRequest,
    query: web::Query<ResumeQuery>,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    // Browsers send cookies with cross-site WebSocket handshakes; with cookie auth the
    // page must come from the hub itself.
    if let AuthMethod::Session { .. } = caller.method
        && let Some(origin) = req.headers().get("Origin").and_then(|o| o.to_str().ok())
    {
        {
            let host = req.connection_info().host().to_owned();
            let public = state
                .settings
                .server
                .public_url
                .origin()
                .ascii_serialization();
            let same = origin == public
                || url::Url::parse(origin).is_ok_and(|u| {
                    u.host_str().map(|h| match u.port() {
                        Some(p) => format!("{h}:{p}"),
                        None => h.to_owned(),
                    }) == Some(host.clone())
                });
            if !same {
                return Err(ApiError::forbidden(
                    "origin_refused",
                    "this page's origin may not open the agent socket",
                )
                .into());
            }
        }
    }
    let resume = match (&query.epoch, query.since) {
        (Some(epoch), Some(since)) => Some((epoch.clone(), since)),
        (None, None) => None,
        _ => {
            return Err(
                ApiError::bad_request("invalid_query", "give epoch and since together").into(),
            );
        }
    };
    // A request that is no websocket handshake is refused before anything is registered.
    ws::handshake(&req).map_err(|e| {
        ApiError::bad_request("not_a_websocket", format!("websocket handshake: {e}"))
    })?;
    let admin = caller.agent.role == Role::Admin;
    let inbox_ids: HashSet<i64> = inboxes::ids_of_member(
        &mut state.db.reader().await.map_err(ApiError::from)?,
        caller.agent.id,
    )
    .await
    .map_err(ApiError::from)?
    .into_iter()
    .collect();
    let hub = state.hub.clone();
    let subscription = hub.events.subscribe(
        caller.agent.id,
        admin,
        inbox_ids,
        resume.as_ref().map(|(e, s)| (e.as_str(), *s)),
    );
    let credential = match caller.method {
        AuthMethod::Session { session_id, .. } => (Some(session_id), None),
        AuthMethod::Token { token_id } => (None, Some(token_id)),
    };
    let session = AgentSession {
        hub,
        db: state.db.clone(),
        credential,
        recheck: state.settings.realtime.recheck,
        admin,
        agent_id: caller.agent.id,
        availability: caller.agent.availability,
        subscription: Some(subscription),
        current: 0,
        last_heard: Instant::now(),
        socket_id: u64::from_le_bytes(crate::auth::random_bytes::<8>()),
        agent_name: caller.agent.name.clone(),
        viewing_generation: 0,
    };
    ws::start(session, &req, stream)
}

/// One agent connection.
struct AgentSession {
    hub: Hub,
    db: crate::db::Database,
    /// The session or token id it signed in with, re-checked every `realtime.recheck_secs`.
    credential: (Option<i64>, Option<i64>),
    recheck: Duration,
    admin: bool,
    agent_id: i64,
    availability: Availability,
    subscription: Option<Subscription>,
    /// Subscriber id of the live stream.
    current: u64,
    last_heard: Instant,
    /// This socket's key in the viewers registry (collision detection).
    socket_id: u64,
    /// Shown to colleagues viewing the same conversation.
    agent_name: String,
    /// Counts `viewing` frames, so a slow check cannot undo a later frame.
    viewing_generation: u64,
}

impl AgentSession {
    /// Closes the socket when its sign-in no longer holds; follows a role change.
    fn check_credential(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let db = self.db.clone();
        let (session_id, token_id) = self.credential;
        let lookup = crate::actors::detached(async move {
            let conn = &mut db.reader().await?;
            crate::store::agents::still_signed_in(conn, session_id, token_id).await
        });
        ctx.spawn(lookup.into_actor(self).map(|result, this, ctx| {
            match result.and_then(|r| r) {
                Ok(Some(agent)) => {
                    let admin = agent.role == Role::Admin;
                    if admin != this.admin {
                        this.admin = admin;
                        this.hub.events.set_admin(this.current, admin);
                    }
                    // A choice made through another node reaches this node's presence
                    // (and its router) within a re-check.
                    if agent.availability != this.availability {
                        this.availability = agent.availability;
                        if this.hub.presence.chose(this.agent_id, agent.availability)
                            == Some(Availability::Online)
                        {
                            let _ = this.hub.router.try_send(AgentAvailable {
                                agent_id: this.agent_id,
                            });
                        }
                    }
                }
                Ok(None) => {
                    tracing::info!(
                        agent_id = this.agent_id,
                        "signed out; closing the agent socket"
                    );
                    ctx.close(Some(ws::CloseReason {
                        code: ws::CloseCode::Policy,
                        description: Some("signed out".into()),
                    }));
                    ctx.stop();
                }
                // The database is busy or away: keep the socket, check again later.
                Err(error) => tracing::warn!(%error, "cannot re-check an agent socket's sign-in"),
            }
        }));
    }

    /// Sends the start frame and backlog, then follows the subscription's live stream.
    fn follow(&mut self, sub: Subscription, ctx: &mut ws::WebsocketContext<Self>) {
        let (start, reason) = match sub.start {
            Start::Resumed => ("resumed", None),
            Start::Fresh => ("fresh", None),
            Start::Resync(reason) => ("resync", Some(reason)),
        };
        ctx.text(
            json!({"type": "hello", "data": {
                "epoch": self.hub.events.epoch(), "seq": sub.seq, "start": start, "reason": reason,
            }})
            .to_string(),
        );
        for envelope in &sub.backlog {
            ctx.text(envelope.json.clone());
        }
        self.current = sub.id;
        let lagged = sub.lagged.clone();
        let events = futures_util::stream::unfold(sub.events, |mut rx| async move {
            rx.recv().await.map(|e| (Live(e), rx))
        });
        let end =
            futures_util::stream::once(async move { LiveEnded(lagged.load(Ordering::Acquire)) });
        ctx.add_stream(futures_util::StreamExt::chain(
            futures_util::StreamExt::map(events, Item::Event),
            futures_util::StreamExt::map(end, Item::End),
        ));
    }
}

/// What an agent's browser may send on the socket.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum ClientFrame {
    Ping,
    /// The conversation the agent has open now (`null`: none), so colleagues see it.
    Viewing {
        conversation_id: Option<super::PublicId>,
    },
}

/// Records what a socket views and tells the inboxes concerned who views what now.
fn publish_viewers(hub: &Hub, socket: u64, agent: (i64, &str), viewing: Option<(i64, i64)>) {
    let changes = hub.events.viewers.set(socket, agent, viewing);
    if let Some(link) = hub.events.link() {
        // With several nodes the cluster's keeper publishes viewers for all of them.
        if !changes.is_empty() {
            link.changed.notify_one();
        }
        return;
    }
    for (conversation_id, inbox_id, agent_ids, agents) in changes {
        hub.events.publish(
            crate::realtime::Scope::Inbox(inbox_id),
            &crate::realtime::Event::Viewers {
                conversation_id,
                agent_ids,
                agents,
            },
        );
    }
}

impl AgentSession {
    /// The agent opened a conversation (or closed it): checked like a REST read, so nobody
    /// learns of conversations outside their inboxes.
    fn viewing(
        &mut self,
        conversation: Option<super::PublicId>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        // Only the latest frame counts: a check still running for an earlier one is dropped.
        self.viewing_generation += 1;
        let generation = self.viewing_generation;
        let Some(id) = conversation.map(|c| c.0) else {
            publish_viewers(
                &self.hub,
                self.socket_id,
                (self.agent_id, &self.agent_name),
                None,
            );
            return;
        };
        let db = self.db.clone();
        let (admin, agent_id) = (self.admin, self.agent_id);
        let check = async move {
            let conn = &mut db.reader().await?;
            let Some(found) = crate::store::conversations::find(conn, id).await? else {
                return Ok(None);
            };
            let Some(inbox_id) = found.inbox_id else {
                return Ok(None);
            };
            let visible = admin || inboxes::is_member(conn, inbox_id, agent_id).await?;
            Ok::<_, crate::db::StoreError>(visible.then_some((found.id, inbox_id)))
        };
        ctx.spawn(check.into_actor(self).map(move |checked, this, ctx| {
            if generation != this.viewing_generation {
                return;
            }
            let (socket, agent) = (this.socket_id, (this.agent_id, this.agent_name.as_str()));
            match checked {
                Ok(Some(viewing)) => publish_viewers(&this.hub, socket, agent, Some(viewing)),
                Ok(None) => {
                    publish_viewers(&this.hub, socket, agent, None);
                    ctx.text(
                        json!({"type": "error", "data": {"message": "no conversation with that id"}})
                            .to_string(),
                    );
                }
                Err(error) => {
                    publish_viewers(&this.hub, socket, agent, None);
                    tracing::warn!(%error, "cannot check a viewed conversation");
                }
            }
        }));
    }
}

struct Live(Arc<Envelope>);
struct LiveEnded(bool);

enum Item {
    Event(Live),
    End(LiveEnded),
}

impl Actor for AgentSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(sub) = self.subscription.take() {
            self.follow(sub, ctx);
        }
        if self
            .hub
            .presence
            .connected(self.agent_id, self.availability)
            == Some(Availability::Online)
        {
            let _ = self.hub.router.try_send(AgentAvailable {
                agent_id: self.agent_id,
            });
        }
        ctx.run_interval(HEARTBEAT, |this, ctx| {
            if this.last_heard.elapsed() > CLIENT_TIMEOUT {
                tracing::debug!(agent_id = this.agent_id, "agent socket timed out");
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
        ctx.run_interval(self.recheck, |this, ctx| this.check_credential(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.hub.events.unsubscribe(self.current);
        self.hub.presence.disconnected(self.agent_id);
        publish_viewers(
            &self.hub,
            self.socket_id,
            (self.agent_id, &self.agent_name),
            None,
        );
    }
}

impl StreamHandler<Item> for AgentSession {
    fn handle(&mut self, item: Item, ctx: &mut Self::Context) {
        match item {
            Item::Event(Live(envelope)) => ctx.text(envelope.json.clone()),
            Item::End(LiveEnded(true)) => {
                // Too slow: dropped from the stream. Start again live, told to reload.
                tracing::info!(agent_id = self.agent_id, "agent socket fell behind; resync");
                match self.hub.events.resubscribe(self.current) {
                    Some(sub) => self.follow(sub, ctx),
                    None => ctx.stop(),
                }
            }
            Item::End(LiveEnded(false)) => ctx.stop(),
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The live stream ends through `Item::End`; nothing else to do.
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for AgentSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let _span = tracing::debug_span!("agent_frame", agent_id = self.agent_id).entered();
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_)) => {}
            Ok(ws::Message::Text(text)) => match serde_json::from_str::<ClientFrame>(&text) {
                // Clients may send {"type":"ping"} as an application-level keepalive.
                Ok(ClientFrame::Ping) => {}
                Ok(ClientFrame::Viewing { conversation_id }) => self.viewing(conversation_id, ctx),
                Err(error) => ctx.text(
                    json!({"type": "error", "data": {"message": format!(
                        "this socket accepts {{\"type\":\"ping\"}} and {{\"type\":\"viewing\",\"conversation_id\":\"7\"|null}} ({error}); use the REST API for actions"
                    )}})
                    .to_string(),
                ),
            },
            Ok(ws::Message::Binary(_)) => ctx.text(
                json!({"type": "error", "data": {"message": "binary frames are not supported"}})
                    .to_string(),
            ),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Continuation(_)) | Ok(ws::Message::Nop) => {}
            Err(error) => {
                tracing::debug!(%error, "agent socket protocol error");
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
