//! `GET /widget/ws`: one session actor per visitor socket.
//!
//! The first frame must be `hello` with the visitor's token. The session then joins the
//! visitors' registry (`realtime::visitors`), loads what the visitor missed from the store
//! (everything after their `last_seq`, or the recent history) and follows live events.
//! Frames are handled one at a time (`ctx.wait`), so a message's ack always follows the
//! frames before it, and live messages already sent from the store are skipped by seq:
//! no gaps, no duplicates. Visitor messages go through the inbound door like every
//! channel's, with `{visitor_id}:{client_id}` as the external id, so a resent message is
//! stored once; receipts go through the DeliveryTracker like every status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web;
use actix_web_actors::ws;
use switchboard_channel::{ContactProfile, InboundEvent, InboundMessage};
use switchboard_widget::{
    AttachmentFrame, ClientFrame, ErrorCode, Limits, MessageFrame, Receipt, Sender, ServerFrame,
};

use super::WidgetConfig;
use super::limits::SocketSlot;
use crate::actors::delivery::VisitorReceipt;
use crate::channels::ChannelEntry;
use crate::db::types::{ConversationStatus, DeliveryStatus, SenderType};
use crate::files::Variant;
use crate::inbound::{InboundError, Outcome};
use crate::realtime::visitors::{VisitorEvent, VisitorKey};
use crate::realtime::{Event, Scope};
use crate::state::AppState;
use crate::store::conversations::Message;
use crate::views::utc;

const HEARTBEAT: Duration = Duration::from_secs(30);
/// A socket that has not said `hello` by then is closed: pings alone would keep it (and its
/// file descriptor) forever.
const HELLO_DEADLINE: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);
/// Messages sent when a visitor opens the widget without a resume point.
const HISTORY: i64 = 50;
/// Most messages sent on one resume; a visitor further behind gets the latest ones.
const MAX_RESUME: i64 = 500;
/// Typing frames relayed to agents at most this often.
const TYPING_EVERY: Duration = Duration::from_secs(1);
/// A visitor's page is written at most this often per socket.
const CONTEXT_EVERY: Duration = Duration::from_secs(2);
/// How long visitors' download links stay valid.
const URL_TTL: Duration = Duration::from_secs(3600);

/// The visitor, once `hello` proved who they are.
struct Visitor {
    id: String,
    key: VisitorKey,
    session: u64,
}

/// One visitor socket.
pub(crate) struct VisitorSession {
    state: web::Data<AppState>,
    entry: Arc<ChannelEntry>,
    config: Arc<WidgetConfig>,
    ip: String,
    limits: Limits,
    visitor: Option<Visitor>,
    conversation_id: Option<i64>,
    contact_id: Option<i64>,
    /// Whether the visitor was last told their conversation is resolved (`None`: not told).
    resolved: Option<bool>,
    /// Highest seq of a stored message sent on this socket.
    last_seq: i64,
    last_heard: Instant,
    typing_at: Option<Instant>,
    typing_on: bool,
    delivered_up_to: i64,
    read_up_to: i64,
    /// Frames of any kind per socket (a page cannot flood the agents' stream).
    frames: governor::DefaultDirectRateLimiter,
    agents_online: bool,
    agent_names: HashMap<i64, String>,
    /// The socket's `User-Agent` (browser and system for agents), cut to 512 characters.
    user_agent: Option<String>,
    /// Where the visitor is (from `context` frames), kept on their identity and sent with
    /// their messages.
    context: Option<serde_json::Map<String, serde_json::Value>>,
    context_saved_at: Option<Instant>,
    /// A page arrived inside the 2 s window: written when it ends.
    context_pending: bool,
    /// This socket's share of the visitor sockets, given back when the session ends.
    _slot: SocketSlot,
}

impl VisitorSession {
    pub(crate) fn new(
        state: web::Data<AppState>,
        entry: Arc<ChannelEntry>,
        config: Arc<WidgetConfig>,
        ip: String,
        user_agent: Option<String>,
        slot: SocketSlot,
    ) -> Self {
        Self {
            state,
            entry,
            config,
            ip,
            limits: Limits::default(),
            visitor: None,
            conversation_id: None,
            contact_id: None,
            resolved: None,
            last_seq: 0,
            last_heard: Instant::now(),
            typing_at: None,
            typing_on: false,
            delivered_up_to: 0,
            read_up_to: 0,
            frames: governor::RateLimiter::direct(
                governor::Quota::per_second(
                    std::num::NonZeroU32::new(20).unwrap_or(std::num::NonZeroU32::MIN),
                )
                .allow_burst(std::num::NonZeroU32::new(40).unwrap_or(std::num::NonZeroU32::MIN)),
            ),
            agents_online: false,
            agent_names: HashMap::new(),
            user_agent,
            context: None,
            context_saved_at: None,
            context_pending: false,
            _slot: slot,
        }
    }

    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, frame: &ServerFrame) {
        ctx.text(switchboard_widget::render(frame));
    }

    fn refuse(&self, ctx: &mut ws::WebsocketContext<Self>, code: ErrorCode, message: &str) {
        self.send(
            ctx,
            &ServerFrame::error(code, message.to_owned(), None::<String>),
        );
    }

    /// The frame a visitor sees for a stored message.
    fn frame(&self, message: &Message) -> MessageFrame {
        let visitor = self.visitor.as_ref().map(|v| v.id.as_str()).unwrap_or("");
        frame_for(&self.state, visitor, &self.agent_names, message)
    }

    /// Sends stored messages not sent yet on this socket, in seq order.
    fn send_new(&mut self, ctx: &mut ws::WebsocketContext<Self>, messages: &[Message]) {
        for message in messages {
            if message.seq > self.last_seq {
                self.last_seq = message.seq;
                let frame = ServerFrame::Message {
                    message: self.frame(message),
                };
                self.send(ctx, &frame);
            }
        }
    }

    /// Looks up the names of agents not seen yet, then runs `then`.
    fn with_names(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        ids: Vec<i64>,
        then: impl FnOnce(&mut Self, &mut ws::WebsocketContext<Self>) + 'static,
    ) {
        let missing: Vec<i64> = ids
            .into_iter()
            .filter(|id| !self.agent_names.contains_key(id))
            .collect();
        if missing.is_empty() {
            then(self, ctx);
            return;
        }
        let db = self.state.db.clone();
        let lookup = async move {
            let conn = &mut db.reader().await?;
            crate::store::widget::agent_names(conn, &missing).await
        };
        ctx.wait(lookup.into_actor(self).map(move |names, this, ctx| {
            match names {
                Ok(names) => this.agent_names.extend(names),
                Err(error) => tracing::warn!(%error, "cannot read agent names"),
            }
            then(this, ctx);
        }));
    }

    fn hello(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        token: &str,
        last_seq: Option<i64>,
        client_conversation: Option<String>,
    ) {
        let key = super::token_key(&self.state);
        let token = match switchboard_widget::verify_visitor_token(&key, token) {
            Ok(token) if token.inbox_id == self.config.inbox_id => token,
            _ => {
                self.refuse(
                    ctx,
                    ErrorCode::Unauthorized,
                    "the visitor token is not valid here",
                );
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Policy,
                    description: Some("unauthorized".into()),
                }));
                ctx.stop();
                return;
            }
        };
        let visitor_key: VisitorKey = (self.config.inbox_id, token.visitor_id.clone());
        let visitors = &self.state.hub.events.visitors;
        // Joined before reading the store: a message stored meanwhile arrives live and is
        // skipped by seq if the read already had it.
        let (session, events) = visitors.join(visitor_key.clone());
        self.visitor = Some(Visitor {
            id: token.visitor_id.clone(),
            key: visitor_key.clone(),
            session,
        });
        let stream = futures_util::stream::unfold(events, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        ctx.add_stream(stream);
        let state = self.state.clone();
        let inbox_id = self.config.inbox_id;
        let identifier = switchboard_widget::visitor_identifier(&token.visitor_id);
        let bind_key = visitor_key.clone();
        let load = async move {
            // Presence first: it takes its own connection, and none may wait for a second one
            // while holding the first (the pool is small).
            let online = super::agents_online(&state, inbox_id).await?;
            let conn = &mut state.db.reader().await?;
            let found =
                crate::store::widget::visitor_conversation(conn, inbox_id, &identifier).await?;
            let (contact_id, conversation_id) = match found {
                Some((contact, conversation)) => (Some(contact), conversation),
                None => (None, None),
            };
            // Bound before the history is read: a message stored meanwhile arrives live
            // (and is skipped by seq when the read had it).
            match conversation_id {
                Some(id) => state.hub.events.visitors.bind(&bind_key, id),
                // A closed conversation's events no longer concern the visitor.
                None => state.hub.events.visitors.unbind(&bind_key),
            }
            // A resume point counts in the conversation the browser had; another one now
            // (a new conversation, an identify that joined another contact) starts over.
            let same = match (&client_conversation, conversation_id) {
                (Some(had), Some(now)) => *had == now.to_string(),
                (None, _) => true,
                (Some(_), None) => false,
            };
            let mut after = if same { last_seq } else { None };
            let (resolved, read_up_to) = match conversation_id {
                Some(id) => crate::store::widget::conversation_state(conn, id).await?,
                None => (false, 0),
            };
            // A survey asked and still open to an answer comes with the conversation.
            let survey = match conversation_id {
                Some(id) => crate::store::csat::open_survey(conn, id, crate::store::now()).await?,
                None => None,
            };
            let history = match conversation_id {
                Some(id) => {
                    let limit = if after.is_some() { MAX_RESUME } else { HISTORY };
                    let mut rows =
                        crate::store::widget::visible_messages(conn, id, after, limit).await?;
                    if after.is_some() && rows.len() as i64 == MAX_RESUME {
                        // Too far behind: the latest ones are what matters.
                        rows =
                            crate::store::widget::visible_messages(conn, id, None, HISTORY).await?;
                        after = None;
                    }
                    rows
                }
                None => Vec::new(),
            };
            let shown = (resolved, read_up_to, survey);
            Ok::<_, crate::db::StoreError>((
                contact_id,
                conversation_id,
                history,
                online,
                after,
                shown,
            ))
        };
        ctx.wait(load.into_actor(self).map(move |loaded, this, ctx| {
            let (
                contact_id,
                conversation_id,
                history,
                online,
                after,
                (resolved, read_up_to, survey),
            ) = match loaded {
                Ok(loaded) => loaded,
                Err(error) => {
                    tracing::warn!(%error, "cannot load a visitor's conversation");
                    this.close_to_retry(ctx);
                    return;
                }
            };
            this.contact_id = contact_id;
            this.conversation_id = conversation_id;
            this.agents_online = online;
            this.last_seq = after.unwrap_or(0);
            let ids = agent_ids(&history);
            this.with_names(ctx, ids, move |this, ctx| {
                let ready = ServerFrame::Ready {
                    visitor_id: token.visitor_id.clone(),
                    conversation_id: this.conversation_id.map(|id| id.to_string()),
                    last_seq: this.last_seq,
                    agents_online: this.agents_online,
                };
                this.send(ctx, &ready);
                this.send_new(ctx, &history);
                if let Some(id) = this.conversation_id {
                    this.resolved = Some(resolved);
                    let frame = ServerFrame::Conversation {
                        conversation_id: id.to_string(),
                        resolved,
                    };
                    this.send(ctx, &frame);
                }
                if read_up_to > 0 {
                    let frame = ServerFrame::Status {
                        up_to: read_up_to,
                        status: Receipt::Read,
                    };
                    this.send(ctx, &frame);
                }
                if let Some(survey) = &survey {
                    this.send(ctx, &csat_frame(survey));
                }
            });
        }));
    }

    /// The visitor leaves their resolved conversation for a new one: it is closed (so their
    /// next message starts another, whatever the inbox's reopen setting) and every tab of the
    /// visitor reconnects to an empty conversation. An open conversation stays as it is (an
    /// agent reopened it meanwhile): the visitor is told it is open.
    fn new_conversation(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let (Some(visitor), Some(id)) = (&self.visitor, self.conversation_id) else {
            return;
        };
        let state = self.state.clone();
        let key = visitor.key.clone();
        let ip = self.ip.clone();
        let close = async move {
            use crate::conversations::ConversationError;
            let actor = crate::store::Actor {
                ip: Some(ip),
                ..crate::store::Actor::system()
            };
            // Only while resolved, checked in the same statement: an agent who reopened it
            // meanwhile wins; one already closed (another tab, an agent) is left as it is.
            match state
                .hub
                .conversations
                .close_resolved(crate::domain::ConversationId(id), actor)
                .await
            {
                Ok(_) => Ok(true),
                Err(ConversationError::Lost) => {
                    let conn = &mut state.db.reader().await?;
                    let closed = crate::store::conversations::find(conn, id)
                        .await?
                        .is_some_and(|c| c.status == ConversationStatus::Closed);
                    Ok::<_, ConversationError>(closed)
                }
                Err(error) => Err(error),
            }
        };
        ctx.wait(
            close
                .into_actor(self)
                .map(move |closed, this, ctx| match closed {
                    Ok(true) => {
                        // Every tab (this one too) loads the visitor's conversation again:
                        // none now.
                        let visitors = &this.state.hub.events.visitors;
                        visitors.unbind(&key);
                        visitors.to_visitor(&key, VisitorEvent::Resume);
                        this.close_to_retry(ctx);
                    }
                    Ok(false) => {
                        this.resolved = Some(false);
                        let frame = ServerFrame::Conversation {
                            conversation_id: id.to_string(),
                            resolved: false,
                        };
                        this.send(ctx, &frame);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot close a visitor's resolved conversation");
                        this.close_to_retry(ctx);
                    }
                }),
        );
    }

    /// The visitor answers a survey of their conversation (or changes their answer within the
    /// week): checked against its scale, stored, audited, and shown in every tab.
    fn csat(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        survey_id: &str,
        rating: i64,
        comment: Option<String>,
    ) {
        let (Some(visitor), Some(conversation_id)) = (&self.visitor, self.conversation_id) else {
            self.refuse(ctx, ErrorCode::InvalidFrame, "there is no survey to answer");
            return;
        };
        let Ok(survey_id) = survey_id.parse::<i64>() else {
            self.refuse(ctx, ErrorCode::InvalidFrame, "no such survey");
            return;
        };
        if !self.state.hub.widget_limits.csat(&visitor.id, &self.ip) {
            self.refuse(
                ctx,
                ErrorCode::RateLimited,
                "too many answers; wait a moment and try again",
            );
            return;
        }
        let state = self.state.clone();
        let key = visitor.key.clone();
        let ip = self.ip.clone();
        let work = async move {
            let actor = crate::store::Actor {
                ip: Some(ip),
                ..crate::store::Actor::system()
            };
            // One connection, the writer: the answer is checked and stored in its transaction.
            let answered = crate::store::csat::answer(
                &mut state.db.writer().await?,
                conversation_id,
                survey_id,
                rating,
                crate::store::csat::Comment::Given(comment.as_deref()),
                crate::store::now(),
                None,
                &actor,
            )
            .await?;
            if answered.is_ok() {
                // Agents see the answer at once (the thread's activity follows the update).
                let conn = &mut state.db.reader().await?;
                if let Some(conversation) =
                    crate::store::conversations::find(conn, conversation_id).await?
                {
                    state.hub.events.conversation(&conversation, false);
                }
            }
            Ok::<_, crate::db::StoreError>(answered.map_err(|refusal| refusal.describe()))
        };
        // Detached: a visitor who leaves mid-write does not cut the transaction off.
        let store = async move { crate::actors::detached(work).await.and_then(|done| done) };
        ctx.wait(
            store
                .into_actor(self)
                .map(move |stored, this, ctx| match stored {
                    Ok(Ok(survey)) => {
                        // Every tab of the visitor shows the answer (this one too).
                        this.state.hub.events.visitors.to_visitor(
                            &key,
                            VisitorEvent::Csat {
                                survey: Arc::new(survey),
                            },
                        );
                    }
                    Ok(Err(reason)) => this.refuse(ctx, ErrorCode::InvalidFrame, reason),
                    Err(error) => {
                        tracing::warn!(%error, "cannot store a survey answer");
                        this.close_to_retry(ctx);
                    }
                }),
        );
    }

    fn message(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        client_id: String,
        content: String,
    ) {
        let Some(visitor) = &self.visitor else {
            return;
        };
        if !self.state.hub.widget_limits.message(&visitor.id, &self.ip) {
            let frame = ServerFrame::error(
                ErrorCode::RateLimited,
                "too many messages; wait a moment".to_owned(),
                Some(client_id),
            );
            self.send(ctx, &frame);
            return;
        }
        let event = InboundEvent::Message(InboundMessage {
            external_id: switchboard_widget::client_external_id(&visitor.id, &client_id),
            // Where they are (with their generated name), once the page said it; none leaves
            // what is stored as it is.
            sender: ContactProfile {
                details: self.context.clone().unwrap_or_default(),
                ..ContactProfile::new(switchboard_widget::visitor_identifier(&visitor.id))
            },
            content,
            attachments: Vec::new(),
            reply_to_external_id: None,
            provider_at: None,
            author: None,
            ..InboundMessage::default()
        });
        let state = self.state.clone();
        let entry = self.entry.clone();
        let known = (self.conversation_id, self.last_seq);
        let store = async move {
            let outcomes = state.hub.inbound.take_in(&entry, vec![event]).await?;
            let conn = &mut state.db.reader().await?;
            let stored = match outcomes.into_iter().next() {
                Some(Outcome::Created { message, .. }) => Some((message, false)),
                Some(Outcome::Duplicate { message_id }) => {
                    crate::store::conversations::find_message(conn, message_id)
                        .await?
                        .map(|m| (m, true))
                }
                _ => None,
            };
            // Everything this socket has not sent yet up to the message: a message stored
            // just before it (another tab, a bot) must not be skipped by the seq the ack
            // moves the socket to.
            let missed = match &stored {
                Some((message, _)) => {
                    let after = match known {
                        (Some(conversation), seq) if conversation == message.conversation_id => seq,
                        _ => 0,
                    };
                    crate::store::widget::visible_messages(
                        conn,
                        message.conversation_id,
                        Some(after),
                        MAX_RESUME,
                    )
                    .await?
                    .into_iter()
                    .filter(|m| m.seq < message.seq)
                    .collect()
                }
                None => Vec::new(),
            };
            Ok::<_, InboundError>(stored.map(|(m, d)| (m, d, missed)))
        };
        ctx.wait(
            store
                .into_actor(self)
                .map(move |stored, this, ctx| match stored {
                    Ok(Some((message, duplicate, missed))) => {
                        this.acked(ctx, client_id, message, duplicate, missed)
                    }
                    Ok(None) => {
                        let frame = ServerFrame::error(
                            ErrorCode::InvalidFrame,
                            "the message was not stored".to_owned(),
                            Some(client_id),
                        );
                        this.send(ctx, &frame);
                    }
                    // Refused for good (a conflict is not: the message may be stored on
                    // the next try).
                    Err(error) if !error.is_retryable() => {
                        let frame = ServerFrame::error(
                            ErrorCode::InvalidFrame,
                            error.to_string(),
                            Some(client_id),
                        );
                        this.send(ctx, &frame);
                    }
                    Err(error) => {
                        // Kept in the browser's queue: it is sent again after the reconnect.
                        tracing::warn!(%error, "cannot store a visitor message");
                        this.close_to_retry(ctx);
                    }
                }),
        );
    }

    fn acked(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        client_id: String,
        message: Message,
        duplicate: bool,
        missed: Vec<Message>,
    ) {
        let before = self.conversation_id;
        let moved = before.is_some_and(|c| c != message.conversation_id);
        self.conversation_id = Some(message.conversation_id);
        self.contact_id = message.sender_id;
        if moved {
            // A new conversation (the last one was closed): the browser's seqs count in the
            // old one, so it reconnects and loads the new one from the start.
            let frame = ServerFrame::Ack {
                client_id,
                message: self.frame(&message),
                duplicate,
            };
            self.send(ctx, &frame);
            self.close_to_retry(ctx);
            return;
        }
        let mut ids = agent_ids(&missed);
        ids.extend(agent_ids(std::slice::from_ref(&message)));
        self.with_names(ctx, ids, move |this, ctx| {
            this.send_new(ctx, &missed);
            let frame = ServerFrame::Ack {
                client_id,
                message: this.frame(&message),
                duplicate,
            };
            this.send_new(ctx, std::slice::from_ref(&message));
            this.send(ctx, &frame);
            if before.is_none() {
                // The browser learns the conversation it now shows (its state follows).
                this.resolved = Some(false);
                let frame = ServerFrame::Conversation {
                    conversation_id: message.conversation_id.to_string(),
                    resolved: false,
                };
                this.send(ctx, &frame);
            }
            if before.is_none()
                && let Some(visitor) = &this.visitor
            {
                // The visitor's other tabs learn the conversation and its first message.
                let visitors = &this.state.hub.events.visitors;
                visitors.bind(&visitor.key, message.conversation_id);
                visitors.to_visitor(
                    &visitor.key,
                    VisitorEvent::Conversation {
                        conversation_id: message.conversation_id,
                        resolved: false,
                    },
                );
                visitors.to_visitor(
                    &visitor.key,
                    VisitorEvent::Message {
                        message: Arc::new(message),
                        created: true,
                    },
                );
            }
        });
    }

    /// A page of the visitor's: remembered for their next message and, when they have a
    /// contact already, kept on it now and told to agents. At most one write in 2 s per
    /// socket (a later page waits for the window's end, so the latest is never lost) and 30
    /// a minute per client address, whatever number of sockets it opens.
    fn context(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        context: switchboard_widget::VisitorContext,
    ) {
        let Some(visitor) = &self.visitor else {
            return;
        };
        let name = switchboard_widget::visitor_name(&visitor.id);
        self.context = Some(context.to_profile(self.user_agent.as_deref(), &name));
        let now = Instant::now();
        match self.context_saved_at.map(|at| now - at) {
            Some(since) if since < CONTEXT_EVERY => {
                if !self.context_pending {
                    self.context_pending = true;
                    ctx.run_later(CONTEXT_EVERY - since, |this, ctx| {
                        this.context_pending = false;
                        this.save_context(ctx);
                    });
                }
            }
            _ => self.save_context(ctx),
        }
    }

    /// Writes the latest page to the visitor's identity (see [`Self::context`]).
    fn save_context(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let (Some(visitor), Some(profile)) = (&self.visitor, &self.context) else {
            return;
        };
        if !self.state.hub.widget_limits.context(&self.ip) {
            return;
        }
        self.context_saved_at = Some(Instant::now());
        let json = serde_json::Value::Object(profile.clone()).to_string();
        let state = self.state.clone();
        let inbox_id = self.config.inbox_id;
        let identifier = switchboard_widget::visitor_identifier(&visitor.id);
        let work = async move {
            let conn = &mut state.db.writer().await?;
            let changed =
                crate::store::widget::save_visitor_context(conn, inbox_id, &identifier, &json)
                    .await?;
            if let Some(contact_id) = changed {
                state.hub.events.publish(
                    Scope::Inbox(inbox_id),
                    &Event::ContactUpdated { contact_id },
                );
            }
            Ok::<_, crate::db::StoreError>(())
        };
        ctx.spawn(
            async move {
                if let Err(error) = crate::actors::detached(work).await.and_then(|done| done) {
                    tracing::warn!(%error, "cannot keep a visitor's page");
                }
            }
            .into_actor(self),
        );
    }

    fn typing(&mut self, on: bool) {
        let (Some(conversation_id), Some(contact_id)) = (self.conversation_id, self.contact_id)
        else {
            return;
        };
        // A change goes out at once; a repeat at most once a second.
        let now = Instant::now();
        if on == self.typing_on && self.typing_at.is_some_and(|at| now - at < TYPING_EVERY) {
            return;
        }
        self.typing_on = on;
        self.typing_at = Some(now);
        self.state.hub.events.publish(
            Scope::Inbox(self.config.inbox_id),
            &Event::Typing {
                conversation_id,
                sender_type: "contact",
                sender_id: contact_id,
                on,
            },
        );
    }

    fn receipt(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        up_to: i64,
        status: DeliveryStatus,
    ) {
        let Some(conversation_id) = self.conversation_id else {
            return;
        };
        // Only what this socket delivered, and only forward: repeats cost nothing.
        let up_to = up_to.min(self.last_seq);
        let done = match status {
            DeliveryStatus::Read => &mut self.read_up_to,
            _ => &mut self.delivered_up_to,
        };
        if up_to <= *done {
            return;
        }
        *done = up_to;
        let receipt = VisitorReceipt {
            conversation_id,
            up_to,
            status,
        };
        let work = self.state.hub.delivery.send(receipt);
        ctx.spawn(work.into_actor(self).map(|result, _, _| match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot record a visitor receipt"),
            Err(error) => tracing::warn!(%error, "delivery tracker unavailable"),
        }));
    }

    /// Closes so the browser reconnects and resumes (a store error, a lagging socket).
    fn close_to_retry(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Again,
            description: Some("reconnect and resume".into()),
        }));
        ctx.stop();
    }
}

/// The `csat` frame of a survey (asked, or answered so far).
fn csat_frame(survey: &crate::store::csat::Survey) -> ServerFrame {
    ServerFrame::Csat {
        survey_id: survey.id.to_string(),
        question: survey.question.clone(),
        scale: survey.scale.clone(),
        rating: survey.rating,
        comment: survey.comment.clone(),
    }
}

/// The frame a visitor sees for a stored message: their own messages carry the
/// `client_id` they were sent with, replies their agent's name, files signed links.
fn frame_for(
    state: &AppState,
    visitor_id: &str,
    agent_names: &HashMap<i64, String>,
    message: &Message,
) -> MessageFrame {
    let from = match message.sender_type {
        SenderType::Contact => Sender::Visitor,
        SenderType::Agent => Sender::Agent,
        SenderType::Bot => Sender::Bot,
        SenderType::System => Sender::System,
    };
    let client_id = match (from, message.external_id.as_deref()) {
        (Sender::Visitor, Some(ext)) => ext
            .strip_prefix(visitor_id)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_owned),
        _ => None,
    };
    let author = match message.sender_type {
        SenderType::Agent => message
            .sender_id
            .and_then(|id| agent_names.get(&id).cloned()),
        _ => message.author.clone(),
    };
    let status = match message.delivery_status {
        Some(DeliveryStatus::Sent) => Some(Receipt::Sent),
        Some(DeliveryStatus::Delivered) => Some(Receipt::Delivered),
        Some(DeliveryStatus::Read) => Some(Receipt::Read),
        _ => None,
    };
    let files = &state.hub.files;
    let attachments = crate::store::attachments::parse_meta(&message.attachments)
        .into_iter()
        .map(|a| AttachmentFrame {
            id: a.id.to_string(),
            url: files.signed_url(a.id, Variant::Original, URL_TTL),
            thumbnail_url: a
                .thumbnail
                .then(|| files.signed_url(a.id, Variant::Small, URL_TTL)),
            file_name: a.file_name,
            content_type: a.content_type,
            byte_size: u64::try_from(a.byte_size).unwrap_or(0),
            width: a.width.and_then(|w| u32::try_from(w).ok()),
            height: a.height.and_then(|h| u32::try_from(h).ok()),
        })
        .collect();
    MessageFrame {
        id: message.id.to_string(),
        seq: message.seq,
        client_id,
        from,
        author,
        content: message.content.clone(),
        attachments,
        created_at: utc(message.created_at),
        status,
    }
}

/// The frame of one message, for answers outside a socket (a message sent over HTTP).
pub(crate) async fn message_frame(
    state: &AppState,
    visitor_id: &str,
    message: &Message,
) -> Result<MessageFrame, crate::db::StoreError> {
    let ids = agent_ids(std::slice::from_ref(message));
    let names = if ids.is_empty() {
        HashMap::new()
    } else {
        let conn = &mut state.db.reader().await?;
        crate::store::widget::agent_names(conn, &ids).await?
    };
    Ok(frame_for(state, visitor_id, &names, message))
}

fn agent_ids(messages: &[Message]) -> Vec<i64> {
    messages
        .iter()
        .filter(|m| m.sender_type == SenderType::Agent)
        .filter_map(|m| m.sender_id)
        .collect()
}

impl Actor for VisitorSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        ctx.run_later(HELLO_DEADLINE, |this, ctx| {
            if this.visitor.is_none() {
                this.refuse(ctx, ErrorCode::Unauthorized, "no hello within 10 s");
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Policy,
                    description: Some("no hello".into()),
                }));
                ctx.stop();
            }
        });
        ctx.run_interval(HEARTBEAT, |this, ctx| {
            if this.last_heard.elapsed() > CLIENT_TIMEOUT {
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(visitor) = &self.visitor {
            self.state.hub.events.visitors.leave(visitor.session);
        }
        if self.typing_on {
            self.typing(false);
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for VisitorSession {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let _span =
            tracing::debug_span!("visitor_frame", inbox_id = self.config.inbox_id).entered();
        self.last_heard = Instant::now();
        let text = match item {
            Ok(ws::Message::Text(text)) => text,
            Ok(ws::Message::Ping(bytes)) => {
                ctx.pong(&bytes);
                return;
            }
            Ok(ws::Message::Pong(_)) => return,
            Ok(ws::Message::Close(_)) | Err(_) => {
                ctx.stop();
                return;
            }
            Ok(_) => {
                self.refuse(ctx, ErrorCode::InvalidFrame, "frames are JSON text");
                return;
            }
        };
        if self.frames.check().is_err() {
            self.refuse(ctx, ErrorCode::RateLimited, "too many frames; slow down");
            return;
        }
        let frame = match switchboard_widget::parse_client_frame(&text, &self.limits) {
            Ok(frame) => frame,
            Err(error) => {
                self.send(ctx, &error.to_frame());
                return;
            }
        };
        match (frame, self.visitor.is_some()) {
            (
                ClientFrame::Hello {
                    token,
                    last_seq,
                    conversation_id,
                },
                false,
            ) => self.hello(ctx, &token, last_seq, conversation_id),
            (ClientFrame::Hello { .. }, true) => {
                self.refuse(ctx, ErrorCode::InvalidFrame, "hello was already sent");
            }
            (_, false) => {
                self.refuse(
                    ctx,
                    ErrorCode::Unauthorized,
                    "the first frame must be hello",
                );
                ctx.stop();
            }
            (ClientFrame::Message { client_id, content }, true) => {
                self.message(ctx, client_id, content);
            }
            (ClientFrame::Typing { on }, true) => self.typing(on),
            (ClientFrame::Delivered { up_to }, true) => {
                self.receipt(ctx, up_to, DeliveryStatus::Delivered);
            }
            (ClientFrame::Read { up_to }, true) => self.receipt(ctx, up_to, DeliveryStatus::Read),
            (ClientFrame::Context(context), true) => self.context(ctx, context),
            (ClientFrame::NewConversation, true) => self.new_conversation(ctx),
            (
                ClientFrame::Csat {
                    survey_id,
                    rating,
                    comment,
                },
                true,
            ) => self.csat(ctx, &survey_id, rating, comment),
        }
    }
}

impl StreamHandler<VisitorEvent> for VisitorSession {
    fn handle(&mut self, event: VisitorEvent, ctx: &mut Self::Context) {
        match event {
            VisitorEvent::Message { message, created } => {
                let ids = agent_ids(std::slice::from_ref(&message));
                self.with_names(ctx, ids, move |this, ctx| {
                    if created {
                        this.send_new(ctx, std::slice::from_ref(&message));
                    } else if message.seq <= this.last_seq {
                        // A change (a status, an edit) to a message the visitor has.
                        let frame = ServerFrame::Message {
                            message: this.frame(&message),
                        };
                        this.send(ctx, &frame);
                    }
                });
            }
            VisitorEvent::Typing { agent_id, on } => {
                self.with_names(ctx, vec![agent_id], move |this, ctx| {
                    let frame = ServerFrame::Typing {
                        on,
                        author: this
                            .agent_names
                            .get(&agent_id)
                            .cloned()
                            .unwrap_or_else(|| "An agent".to_owned()),
                    };
                    this.send(ctx, &frame);
                });
            }
            VisitorEvent::Read { up_to } => {
                let frame = ServerFrame::Status {
                    up_to,
                    status: Receipt::Read,
                };
                self.send(ctx, &frame);
            }
            VisitorEvent::Presence { agents_online } => {
                if agents_online != self.agents_online {
                    self.agents_online = agents_online;
                    self.send(ctx, &ServerFrame::Presence { agents_online });
                }
            }
            VisitorEvent::Csat { survey } => {
                if self.conversation_id == Some(survey.conversation_id) {
                    self.send(ctx, &csat_frame(&survey));
                }
            }
            VisitorEvent::Conversation {
                conversation_id,
                resolved,
            } => {
                // Another tab's first message may have started it (open): this socket shows it
                // too. An ended one it never had is not adopted.
                let adopt = self.conversation_id.is_none() && !resolved;
                let changed = self.conversation_id == Some(conversation_id)
                    && self.resolved != Some(resolved);
                if adopt || changed {
                    self.conversation_id = Some(conversation_id);
                    self.resolved = Some(resolved);
                    let frame = ServerFrame::Conversation {
                        conversation_id: conversation_id.to_string(),
                        resolved,
                    };
                    self.send(ctx, &frame);
                }
            }
            VisitorEvent::Resume => self.close_to_retry(ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // Cut off for falling behind: the browser reconnects and resumes from the store.
        self.close_to_retry(ctx);
    }
}
