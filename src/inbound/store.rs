//! Storing normalized inbound events: dedupe, contact, conversation, append, in one
//! transaction per batch (the batching writer in [`super::writer`] gathers them). Delivery
//! statuses never come here: the door sends them to the DeliveryTracker.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use switchboard_channel::{
    ContactProfile, IdentityChange, InboundEvent, InboundMessage, MessageEdit, Reachability,
    Reaction, ThreadKeys,
};

use crate::db::StoreError;
use crate::db::schema::{
    attachments, contact_identities, contacts, conversations, message_edits, messages,
};
use crate::db::types::{
    ChannelType, ConversationKind, ConversationStatus, Direction, Priority, SenderType,
    Verification,
};
use crate::metrics::UpdateOutcome;
use crate::store::attachments::{Attachment, NewAttachment, meta_json, row as attachment_row};
use crate::store::conversations::{Conversation, Message, MessageDetails, coalesce_time};
use crate::store::delivery::StatusApplied;
use crate::store::locks::{advisory_locks_pg, contact_lock_key, edit_lock_key};
use crate::store::now;

/// Where events came from and how far the channel vouches for the sender's identity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source {
    pub(crate) inbox_id: i64,
    pub(crate) channel_type: ChannelType,
    pub(crate) verification: Verification,
    /// The inbox's policy for a message on a resolved conversation.
    pub(crate) reopen_resolved: bool,
}

/// What storing one event did; the caller fans these out after the commit.
// Short-lived results moved once; boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A new message was appended.
    Created {
        message: Message,
        conversation: Conversation,
        /// The conversation was created (`Created`) or reopened by this message.
        conversation_change: Option<ConversationStart>,
        /// The message's images (attachment id, storage key), to make thumbnails of.
        images: Vec<(i64, String)>,
    },
    /// The external id was stored before: nothing new (a provider retry).
    Duplicate { message_id: i64 },
    /// An edit changed a message (its earlier text is kept in `message_edits`).
    Edited { message: Message },
    /// An edit or typing event about something the hub does not know; logged, skipped.
    Ignored { reason: &'static str },
    /// The channel skipped the update on purpose (another update kind, an ignored group).
    Skipped { reason: String },
    /// The update could not be read; it is kept as `unreadable_events` row `id`.
    Unreadable { id: i64, reason: String },
    /// The contact blocked (or unblocked) the channel.
    Reachability { contact_id: i64, blocked: bool },
    /// A reaction was put on (or taken off) a message.
    Reacted { message: Message },
    /// The contact's identity moved to a new identifier (a new WhatsApp number).
    IdentityMoved { contact_id: i64 },
    /// A delivery status (applied only if it moves the message forward).
    Status(StatusApplied),
    /// The contact is typing in this conversation.
    Typing {
        conversation_id: i64,
        contact_id: i64,
        on: bool,
    },
    /// The customer answered (or changed their answer to) a satisfaction survey.
    SurveyAnswered { conversation_id: i64 },
    /// A survey answer that was not taken, and why (not this customer's survey, closed, off
    /// the scale).
    SurveyRefused { reason: &'static str },
}

impl Outcome {
    /// How the update is counted in `switchboard_channel_updates_total`.
    pub(crate) fn counted_as(&self) -> UpdateOutcome {
        match self {
            Self::Ignored { .. } | Self::Skipped { .. } | Self::SurveyRefused { .. } => {
                UpdateOutcome::ignored
            }
            Self::Unreadable { .. } => UpdateOutcome::unreadable,
            Self::Created { .. }
            | Self::Duplicate { .. }
            | Self::Edited { .. }
            | Self::Status(_)
            | Self::Typing { .. }
            | Self::Reachability { .. }
            | Self::Reacted { .. }
            | Self::IdentityMoved { .. }
            | Self::SurveyAnswered { .. } => UpdateOutcome::stored,
        }
    }
}

/// Why a conversation became active with this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConversationStart {
    Created,
    Reopened,
}

/// The support conversation a customer's first message (or first after a closed one) opens.
#[derive(Insertable)]
#[diesel(table_name = conversations)]
struct NewConversation<'a> {
    kind: ConversationKind,
    inbox_id: i64,
    contact_id: i64,
    subject: Option<&'a str>,
    status: ConversationStatus,
    priority: Priority,
    last_seq: i64,
    last_activity_at: chrono::NaiveDateTime,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

impl<'a> NewConversation<'a> {
    fn support(
        inbox_id: i64,
        contact_id: i64,
        subject: Option<&'a str>,
        at: chrono::NaiveDateTime,
    ) -> Self {
        Self {
            kind: ConversationKind::Support,
            inbox_id,
            contact_id,
            subject,
            status: ConversationStatus::Open,
            priority: Priority::None,
            last_seq: 0,
            last_activity_at: at,
            created_at: at,
            updated_at: at,
        }
    }
}

/// How stale `contact_identities.last_inbound_at` may get before a message refreshes it.
const LAST_INBOUND_STEP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The audit entry of a customer's message reopening a resolved conversation: the thread
/// says so and reports start a new resolution cycle at it.
pub(crate) fn reopened_by_customer(conversation_id: i64) -> crate::store::audit::NewAuditRow {
    crate::store::audit::AuditEvent::new("conversation.status", "conversation", conversation_id)
        .with_details(
            serde_json::json!({"status": ConversationStatus::Open, "reason": "customer_wrote"}),
        )
        .row(&crate::store::audit::Actor::system())
}

/// The body of one inbound transaction, written once per backend connection type.
macro_rules! ingest_body {
    ([$($aw:tt)*] $c:expr, $source:expr, $events:expr, $media:expr) => {{
        let c = $c;
        let source: &Source = $source;
        let mut outcomes = Vec::with_capacity($events.len());
        let media: &[Vec<NewAttachment>] = $media;
        for (index, event) in $events.iter().enumerate() {
            let files: &[NewAttachment] = media.get(index).map(Vec::as_slice).unwrap_or(&[]);
            let outcome = match event {
                InboundEvent::Message(m) => ingest_message!([$($aw)*] c, source, m, files),
                InboundEvent::Edit(e) => ingest_edit!([$($aw)*] c, source, e, files),
                InboundEvent::Reachability(r) => {
                    let r: &Reachability = r;
                    let blocked_at = r.blocked.then(|| r.at.map(naive).unwrap_or_else(now));
                    let contact_id: Option<i64> = diesel::update(
                        contact_identities::table
                            .filter(contact_identities::inbox_id.eq(source.inbox_id))
                            .filter(contact_identities::identifier.eq(&r.sender.identifier)),
                    )
                    .set(contact_identities::blocked_at.eq(blocked_at))
                    .returning(contact_identities::contact_id)
                    .get_result(c)
                    $($aw)*
                    .optional()?;
                    match contact_id {
                        Some(contact_id) => Outcome::Reachability {
                            contact_id,
                            blocked: r.blocked,
                        },
                        None => Outcome::Ignored {
                            reason: "block or unblock by someone who never wrote",
                        },
                    }
                }
                InboundEvent::Reaction(r) => ingest_reaction!([$($aw)*] c, source, r),
                InboundEvent::IdentityChange(change) => {
                    let change: &IdentityChange = change;
                    // Someone already known under the new id keeps it: two identities are
                    // not merged silently (an admin can merge the contacts).
                    let taken: i64 = contact_identities::table
                        .filter(contact_identities::inbox_id.eq(source.inbox_id))
                        .filter(contact_identities::identifier.eq(&change.new_identifier))
                        .count()
                        .get_result(c)
                        $($aw)*?;
                    let moved: Option<i64> = if taken > 0 {
                        None
                    } else {
                        diesel::update(
                            contact_identities::table
                                .filter(contact_identities::inbox_id.eq(source.inbox_id))
                                .filter(contact_identities::identifier.eq(&change.old_identifier)),
                        )
                        .set((
                            contact_identities::identifier.eq(&change.new_identifier),
                            contact_identities::updated_at.eq(now()),
                        ))
                        .returning(contact_identities::contact_id)
                        .get_result(c)
                        $($aw)*
                        .optional()?
                    };
                    match moved {
                        Some(contact_id) => Outcome::IdentityMoved { contact_id },
                        None if taken > 0 => Outcome::Ignored {
                            reason: "number change to an identifier another contact has",
                        },
                        None => Outcome::Ignored {
                            reason: "number change of someone who never wrote",
                        },
                    }
                }
                // The door handles these before the writer; one here is a bug, not data.
                InboundEvent::Skipped { .. } | InboundEvent::Unreadable { .. } => Outcome::Ignored {
                    reason: "a skipped or unreadable update reached the inbound writer",
                },
                // The door answers surveys itself; one here is a bug, not data.
                InboundEvent::SurveyAnswer(_) => Outcome::Ignored {
                    reason: "a survey answer reached the inbound writer",
                },
                // The door sends statuses to the DeliveryTracker; one here is a bug, not data.
                InboundEvent::Status(_) => Outcome::Ignored {
                    reason: "a status report reached the inbound writer",
                },
                InboundEvent::Typing(t) => {
                    let found: Option<(i64, i64)> = contact_identities::table
                        .inner_join(
                            conversations::table.on(conversations::contact_id
                                .eq(contact_identities::contact_id.nullable())
                                .and(
                                    conversations::inbox_id
                                        .eq(contact_identities::inbox_id.nullable()),
                                )),
                        )
                        .filter(contact_identities::inbox_id.eq(source.inbox_id))
                        .filter(contact_identities::identifier.eq(&t.sender.identifier))
                        .filter(conversations::status.ne(ConversationStatus::Resolved))
                        .filter(conversations::status.ne(ConversationStatus::Closed))
                        .order(conversations::id.desc())
                        .select((conversations::id, contact_identities::contact_id))
                        .first(c)
                        $($aw)*
                        .optional()?;
                    match found {
                        Some((conversation_id, contact_id)) => Outcome::Typing {
                            conversation_id,
                            contact_id,
                            on: t.on,
                        },
                        None => Outcome::Ignored {
                            reason: "typing from a contact without an open conversation",
                        },
                    }
                }
            };
            outcomes.push(outcome);
        }
        Ok::<_, StoreError>(outcomes)
    }};
}

// "Active" (open, pending or snoozed) is written as "neither resolved nor closed": a fixed
// SQL text that SQLite's prepared-statement cache keeps, unlike an `IN (...)` list.

macro_rules! ingest_message {
    ([$($aw:tt)*] $c:expr, $source:expr, $m:expr, $files:expr) => {{
        let c = &mut *$c;
        let source: &Source = $source;
        let m: &InboundMessage = $m;
        let at = now();
        let earlier: Option<i64> = messages::table
            .filter(messages::inbox_id.eq(source.inbox_id))
            .filter(messages::external_id.eq(&m.external_id))
            .select(messages::id)
            .first(c)
            $($aw)*
            .optional()?;
        // A mail finds its conversation by its thread keys, before anything is written: an
        // automatic reply that answers nothing here is not stored at all.
        let threaded: Option<Option<(i64, ConversationStatus)>> = match (&earlier, &m.thread) {
            (None, Some(keys)) => Some(find_thread!([$($aw)*] c, source, &m.sender, keys)),
            _ => None,
        };
        let automatic_unthreaded = m.automatic.is_some() && !matches!(threaded, Some(Some(_)));
        if let Some(message_id) = earlier {
            Outcome::Duplicate { message_id }
        } else if automatic_unthreaded {
            Outcome::Skipped {
                reason: format!(
                    "automatic mail ({}) that answers no conversation here",
                    m.automatic.as_deref().unwrap_or("automatic")
                ),
            }
        } else {
            let contact_id = resolve_contact!([$($aw)*] c, source, &m.sender, at);
            // A mail: the conversation its thread keys found (a closed one, or a resolved one
            // the inbox does not reopen, starts a new thread). Other channels: the contact's
            // active conversation here, else (policy) the last resolved one.
            let existing: Option<(i64, ConversationStatus)> = if let Some(found) = threaded {
                found.filter(|(_, status)| match status {
                    ConversationStatus::Closed => m.automatic.is_some(),
                    ConversationStatus::Resolved => {
                        source.reopen_resolved || m.automatic.is_some()
                    }
                    _ => true,
                })
            } else {
            // Closed never continues; resolved only when the inbox reopens. One fixed
            // statement for both policies (the second status is a bound value), so SQLite
            // keeps it prepared: a boxed query was parsed and planned again per message.
            let also_excluded = if source.reopen_resolved {
                ConversationStatus::Closed
            } else {
                ConversationStatus::Resolved
            };
            conversations::table
                .filter(conversations::inbox_id.eq(source.inbox_id))
                .filter(conversations::contact_id.eq(contact_id))
                .filter(conversations::kind.eq(ConversationKind::Support))
                .filter(conversations::status.ne(ConversationStatus::Closed))
                .filter(conversations::status.ne(also_excluded))
                .order(conversations::id.desc())
                .select((conversations::id, conversations::status))
                .first(c)
                $($aw)*
                .optional()?
            };
            let status = match existing {
                Some((_, ConversationStatus::Pending)) => ConversationStatus::Pending,
                _ => ConversationStatus::Open,
            };
            let subject: Option<&str> = m
                .mail
                .as_ref()
                .map(|mail| mail.subject.trim())
                .filter(|subject| !subject.is_empty());
            let (conversation_id, start) = match existing {
                // An automatic mail changes nothing about its conversation's state.
                Some((id, _)) if m.automatic.is_some() => (id, None),
                Some((id, ConversationStatus::Resolved)) => (id, Some(ConversationStart::Reopened)),
                Some((id, _)) => (id, None),
                None => {
                    let id: i64 = diesel::insert_into(conversations::table)
                        .values(NewConversation::support(source.inbox_id, contact_id, subject, at))
                        .returning(conversations::id)
                        .get_result(c)
                        $($aw)*?;
                    (id, Some(ConversationStart::Created))
                }
            };
            // A customer writing wakes a snoozed conversation and reopens a resolved one; an
            // automatic mail only takes its place in the thread.
            let conversation: Conversation = if m.automatic.is_some() {
                diesel::update(conversations::table.find(conversation_id))
                    .set((
                        conversations::last_seq.eq(conversations::last_seq + 1),
                        conversations::updated_at.eq(at),
                    ))
                    .returning(Conversation::as_returning())
                    .get_result(c)
                    $($aw)*?
            } else {
                // A customer writing moves the conversation on, wakes and reopens it.
                let woken = (
                    conversations::last_seq.eq(conversations::last_seq + 1),
                    conversations::last_activity_at.eq(at),
                    conversations::updated_at.eq(at),
                    conversations::status.eq(status),
                    conversations::snoozed_until.eq(None::<chrono::NaiveDateTime>),
                    conversations::resolved_at.eq(None::<chrono::NaiveDateTime>),
                );
                let target = conversations::table.find(conversation_id);
                if matches!(start, Some(ConversationStart::Reopened)) {
                    // Reports count the reopen and start a new resolution cycle here.
                    diesel::insert_into(crate::db::schema::audit_log::table)
                        .values(crate::inbound::store::reopened_by_customer(conversation_id))
                        .execute(c)
                        $($aw)*?;
                    // A resolved conversation's customer starts waiting anew.
                    diesel::update(target)
                        .set((woken, conversations::waiting_since.eq(Some(at))))
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        $($aw)*?
                } else {
                    // Still waiting since their first unanswered message.
                    let since = coalesce_time(conversations::waiting_since, at);
                    diesel::update(target)
                        .set((woken, conversations::waiting_since.eq(since)))
                        .returning(Conversation::as_returning())
                        .get_result(c)
                        $($aw)*?
                }
            };
            let reply_to_id: Option<i64> = match &m.reply_to_external_id {
                Some(ext) => messages::table
                    .filter(messages::inbox_id.eq(source.inbox_id))
                    // A quote of the customer's own message, or of one of our replies.
                    .filter(
                        messages::external_id
                            .eq(ext)
                            .or(messages::provider_message_id.eq(ext)),
                    )
                    .filter(messages::conversation_id.eq(conversation_id))
                    .select(messages::id)
                    .first(c)
                    $($aw)*
                    .optional()?,
                None => None,
            };
            let message: Message = diesel::insert_into(messages::table)
                .values((
                    messages::conversation_id.eq(conversation_id),
                    messages::inbox_id.eq(source.inbox_id),
                    messages::seq.eq(conversation.last_seq),
                    messages::direction.eq(Direction::Inbound),
                    messages::sender_type.eq(SenderType::Contact),
                    messages::sender_id.eq(contact_id),
                    messages::content.eq(&m.content),
                    messages::private.eq(false),
                    messages::reply_to_id.eq(reply_to_id),
                    messages::external_id.eq(&m.external_id),
                    messages::provider_at.eq(m.provider_at.map(naive)),
                    messages::edited_at.eq(m.edited_at.map(naive)),
                    messages::author.eq(&m.author),
                    messages::details.eq(MessageDetails::of(m)),
                    messages::created_at.eq(at),
                ))
                .returning(Message::as_returning())
                .get_result(c)
                $($aw)*?;
            // Files fetched before the transaction (see routes::webhooks) join the message.
            let files: &[NewAttachment] = $files;
            let mut images = Vec::new();
            let message = if files.is_empty() {
                message
            } else {
                let mut stored: Vec<Attachment> = Vec::with_capacity(files.len());
                for file in files {
                    let row: Attachment = diesel::insert_into(attachments::table)
                        .values(attachment_row(conversation_id, Some(message.id), file, at))
                        .returning(Attachment::as_returning())
                        .get_result(c)
                        $($aw)*?;
                    if row.content_type.starts_with("image/") {
                        images.push((row.id, row.storage_key.clone()));
                    }
                    stored.push(row);
                }
                diesel::update(messages::table.find(message.id))
                    .set(messages::attachments.eq(meta_json(&stored)))
                    .returning(Message::as_returning())
                    .get_result(c)
                    $($aw)*?
            };
            Outcome::Created {
                message,
                conversation,
                conversation_change: start,
                images,
            }
        }
    }};
}

/// The conversation a mail's thread keys find, in the order the keys are trusted: a signed
/// reply address, our signed Message-IDs, stored inbound Message-IDs, then a `[#n]` subject
/// number (only of a conversation of the same contact: anyone can type one).
macro_rules! find_thread {
    ([$($aw:tt)*] $c:expr, $source:expr, $sender:expr, $keys:expr) => {{
        let c = &mut *$c;
        let source: &Source = $source;
        let sender: &ContactProfile = $sender;
        let keys: &ThreadKeys = $keys;
        let ids = |raw: &[String]| -> Vec<i64> {
            raw.iter().filter_map(|id| id.parse::<i64>().ok()).collect()
        };
        let mut found: Option<(i64, ConversationStatus)> = None;
        let conversation_ids = ids(&keys.conversation_ids);
        if !conversation_ids.is_empty() {
            found = conversations::table
                .filter(conversations::inbox_id.eq(source.inbox_id))
                .filter(conversations::kind.eq(ConversationKind::Support))
                .filter(conversations::id.eq_any(&conversation_ids))
                .order(conversations::id.desc())
                .select((conversations::id, conversations::status))
                .first(c)
                $($aw)*
                .optional()?;
        }
        let message_ids = ids(&keys.message_ids);
        if found.is_none() && !message_ids.is_empty() {
            found = messages::table
                .inner_join(conversations::table)
                .filter(messages::inbox_id.eq(source.inbox_id))
                .filter(messages::id.eq_any(&message_ids))
                .filter(conversations::kind.eq(ConversationKind::Support))
                .order(messages::id.desc())
                .select((conversations::id, conversations::status))
                .first(c)
                $($aw)*
                .optional()?;
        }
        if found.is_none() && !keys.external_ids.is_empty() {
            found = messages::table
                .inner_join(conversations::table)
                .filter(messages::inbox_id.eq(source.inbox_id))
                .filter(
                    messages::external_id
                        .eq_any(&keys.external_ids)
                        .or(messages::provider_message_id.eq_any(&keys.external_ids)),
                )
                .filter(conversations::kind.eq(ConversationKind::Support))
                .order(messages::id.desc())
                .select((conversations::id, conversations::status))
                .first(c)
                $($aw)*
                .optional()?;
        }
        if found.is_none() && let Some(number) = keys.number {
            found = conversations::table
                .inner_join(
                    contact_identities::table
                        .on(contact_identities::contact_id.nullable().eq(conversations::contact_id)),
                )
                .filter(conversations::id.eq(number))
                .filter(conversations::inbox_id.eq(source.inbox_id))
                .filter(conversations::kind.eq(ConversationKind::Support))
                .filter(contact_identities::inbox_id.eq(source.inbox_id))
                .filter(contact_identities::identifier.eq(&sender.identifier))
                .select((conversations::id, conversations::status))
                .first(c)
                $($aw)*
                .optional()?;
        }
        found
    }};
}

macro_rules! resolve_contact {
    ([$($aw:tt)*] $c:expr, $source:expr, $profile:expr, $at:expr) => {{
        let c = &mut *$c;
        let source: &Source = $source;
        let p: &ContactProfile = $profile;
        let at = $at;
        type Current = (
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            String,
            Option<chrono::NaiveDateTime>,
        );
        let known: Option<Current> = contact_identities::table
            .inner_join(contacts::table)
            .filter(contact_identities::inbox_id.eq(source.inbox_id))
            .filter(contact_identities::identifier.eq(&p.identifier))
            .select((
                contacts::id,
                contacts::name,
                contacts::email,
                contacts::phone,
                contacts::language,
                contacts::avatar_url,
                contact_identities::id,
                contact_identities::profile,
                contact_identities::last_inbound_at,
            ))
            .first(c)
            $($aw)*
            .optional()?;
        match known {
            Some((id, name, email, phone, language, avatar_url, identity_id, profile, last_in)) => {
                // The channel's details of the identity (a Telegram username) follow renames.
                if let Some(details) = changed_details(&p.details, &profile) {
                    diesel::update(contact_identities::table.find(identity_id))
                        .set((
                            contact_identities::profile.eq(details),
                            contact_identities::updated_at.eq(at),
                            contact_identities::last_inbound_at.eq(at),
                        ))
                        .execute(c)
                        $($aw)*?;
                } else if last_in.is_none_or(|last| at - last > LAST_INBOUND_STEP) {
                    // At most one write a minute per chatty customer: the reply window it
                    // feeds is 24 hours, and closing it a minute early is the safe side.
                    diesel::update(contact_identities::table.find(identity_id))
                        .set(contact_identities::last_inbound_at.eq(at))
                        .execute(c)
                        $($aw)*?;
                }
                // Only fields the channel sent are updated, and only when they changed.
                let differs =
                    |new: &Option<String>, old: &Option<String>| new.is_some() && new != old;
                if differs(&p.name, &name)
                    || differs(&p.email, &email)
                    || differs(&p.phone, &phone)
                    || differs(&p.language, &language)
                    || differs(&p.avatar_url, &avatar_url)
                {
                    diesel::update(contacts::table.find(id))
                        .set((
                            contacts::name.eq(p.name.clone().or(name)),
                            contacts::email.eq(p.email.clone().or(email)),
                            contacts::phone.eq(p.phone.clone().or(phone)),
                            contacts::language.eq(p.language.clone().or(language)),
                            contacts::avatar_url.eq(p.avatar_url.clone().or(avatar_url)),
                            contacts::updated_at.eq(at),
                        ))
                        .execute(c)
                        $($aw)*?;
                }
                id
            }
            None => {
                let id: i64 = diesel::insert_into(contacts::table)
                    .values((
                        contacts::name.eq(&p.name),
                        contacts::email.eq(&p.email),
                        contacts::phone.eq(&p.phone),
                        contacts::language.eq(&p.language),
                        contacts::avatar_url.eq(&p.avatar_url),
                        contacts::attributes.eq("{}"),
                        contacts::created_at.eq(at),
                        contacts::updated_at.eq(at),
                    ))
                    .returning(contacts::id)
                    .get_result(c)
                    $($aw)*?;
                diesel::insert_into(contact_identities::table)
                    .values((
                        contact_identities::contact_id.eq(id),
                        contact_identities::inbox_id.eq(source.inbox_id),
                        contact_identities::channel_type.eq(source.channel_type),
                        contact_identities::identifier.eq(&p.identifier),
                        contact_identities::verification.eq(source.verification),
                        contact_identities::profile.eq(details_json(&p.details)),
                        contact_identities::last_inbound_at.eq(at),
                        contact_identities::created_at.eq(at),
                        contact_identities::updated_at.eq(at),
                    ))
                    .execute(c)
                    $($aw)*?;
                id
            }
        }
    }};
}

macro_rules! ingest_reaction {
    ([$($aw:tt)*] $c:expr, $source:expr, $r:expr) => {{
        let c = &mut *$c;
        let source: &Source = $source;
        let r: &Reaction = $r;
        // A reaction to the customer's own message or to one of our replies.
        let found: Option<Message> = messages::table
            .filter(messages::inbox_id.eq(source.inbox_id))
            .filter(
                messages::external_id
                    .eq(&r.target_external_id)
                    .or(messages::provider_message_id.eq(&r.target_external_id)),
            )
            .select(Message::as_select())
            .first(c)
            $($aw)*
            .optional()?;
        match found {
            None => Outcome::Ignored {
                reason: "reaction to a message the hub does not know",
            },
            Some(message) => {
                let mut details = MessageDetails::parse(message.details.as_deref());
                let emoji = r.emoji.as_deref().filter(|e| !e.is_empty());
                if details.react(&r.sender.identifier, emoji, r.at) {
                    let message: Message = diesel::update(messages::table.find(message.id))
                        .set(messages::details.eq(details.to_stored()))
                        .returning(Message::as_returning())
                        .get_result(c)
                        $($aw)*?;
                    Outcome::Reacted { message }
                } else {
                    // A redelivered webhook: the reaction is already there.
                    Outcome::Ignored {
                        reason: "reaction already applied",
                    }
                }
            }
        }
    }};
}

macro_rules! ingest_edit {
    ([$($aw:tt)*] $c:expr, $source:expr, $e:expr, $files:expr) => {{
        let c = &mut *$c;
        let source: &Source = $source;
        let e: &MessageEdit = $e;
        let found: Option<Message> = messages::table
            .filter(messages::inbox_id.eq(source.inbox_id))
            .filter(messages::external_id.eq(&e.external_id))
            .filter(messages::direction.eq(Direction::Inbound))
            .select(Message::as_select())
            .first(c)
            $($aw)*
            .optional()?;
        let at = now();
        let edited_at = e.edited_at.map(naive).unwrap_or(at);
        match found {
            // The original never arrived: the message as it reads now is stored (marked
            // edited), so the customer's words are not lost.
            None => match e.as_message.as_deref() {
                Some(m) => ingest_message!([$($aw)*] c, source, m, $files),
                None => Outcome::Ignored {
                    reason: "edit of a message the hub never received",
                },
            },
            // An older edit handled after a newer one (edits delivered out of order): its
            // text goes into the history at its place, and the newest text stays current.
            Some(message) if message.edited_at.is_some_and(|current| current > edited_at) => {
                let known: i64 = message_edits::table
                    .filter(message_edits::message_id.eq(message.id))
                    .filter(message_edits::edited_at.eq(edited_at))
                    .count()
                    .get_result(c)
                    $($aw)*?;
                if known > 0 {
                    Outcome::Ignored {
                        reason: "edit already in the history",
                    }
                } else {
                    // The history row of the text this edit replaced is the first one replaced
                    // after it: that text now ended with this edit, and this edit's text
                    // lasted until that row's time.
                    let next: Option<(i64, chrono::NaiveDateTime)> = message_edits::table
                        .filter(message_edits::message_id.eq(message.id))
                        .filter(message_edits::edited_at.gt(edited_at))
                        .order((message_edits::edited_at.asc(), message_edits::id.asc()))
                        .select((message_edits::id, message_edits::edited_at))
                        .first(c)
                        $($aw)*
                        .optional()?;
                    let replaced_at = match next {
                        Some((id, next_at)) => {
                            diesel::update(message_edits::table.find(id))
                                .set(message_edits::edited_at.eq(edited_at))
                                .execute(c)
                                $($aw)*?;
                            next_at
                        }
                        None => message.edited_at.unwrap_or(at),
                    };
                    diesel::insert_into(message_edits::table)
                        .values((
                            message_edits::message_id.eq(message.id),
                            message_edits::previous_content.eq(&e.content),
                            message_edits::edited_at.eq(replaced_at),
                        ))
                        .execute(c)
                        $($aw)*?;
                    // Unchanged, announced again: its history grew.
                    Outcome::Edited { message }
                }
            }
            Some(message) if message.content == e.content => Outcome::Ignored {
                reason: "edit repeats the current text",
            },
            Some(message) => {
                diesel::insert_into(message_edits::table)
                    .values((
                        message_edits::message_id.eq(message.id),
                        message_edits::previous_content.eq(&message.content),
                        message_edits::edited_at.eq(edited_at),
                    ))
                    .execute(c)
                    $($aw)*?;
                let message: Message = diesel::update(messages::table.find(message.id))
                    .set((
                        messages::content.eq(&e.content),
                        messages::edited_at.eq(edited_at),
                    ))
                    .returning(Message::as_returning())
                    .get_result(c)
                    $($aw)*?;
                Outcome::Edited { message }
            }
        }
    }};
}

// After the macros, which it reuses for what is rare.
mod bulk;
pub(super) use self::bulk::{JobRef, ingest_batch_pg};

/// Stores a batch of events in the caller's transaction on SQLite, synchronously: the writer
/// runs a whole batch in one blocking call on the connection's thread instead of hopping to
/// a blocking thread for every statement (about five per message).
pub(super) fn ingest_sqlite(
    c: &mut diesel::SqliteConnection,
    source: &Source,
    events: &[InboundEvent],
    media: &[Vec<NewAttachment>],
) -> Result<Vec<Outcome>, StoreError> {
    blocking::ingest(c, source, events, media)
}

/// The same statements with diesel's synchronous `RunQueryDsl` in scope (the async one is
/// in scope above, and both cannot be).
mod blocking {
    use diesel::prelude::*;
    use switchboard_channel::{
        ContactProfile, IdentityChange, InboundEvent, InboundMessage, MessageEdit, Reachability,
        Reaction, ThreadKeys,
    };

    use super::{
        ConversationStart, LAST_INBOUND_STEP, NewConversation, Outcome, Source, changed_details,
        details_json, naive,
    };
    use crate::db::StoreError;
    use crate::db::schema::attachments;
    use crate::db::schema::{contact_identities, contacts, conversations, message_edits, messages};
    use crate::db::types::{ConversationKind, ConversationStatus, Direction, SenderType};
    use crate::store::attachments::{Attachment, NewAttachment, meta_json, row as attachment_row};
    use crate::store::conversations::{Conversation, Message, MessageDetails, coalesce_time};
    use crate::store::now;

    pub(super) fn ingest(
        c: &mut SqliteConnection,
        source: &Source,
        events: &[InboundEvent],
        media: &[Vec<NewAttachment>],
    ) -> Result<Vec<Outcome>, StoreError> {
        ingest_body!([] c, source, events, media)
    }
}

/// Which of these external ids this inbox already stored (a retried webhook), so their
/// files are not fetched again.
pub(super) async fn known_external_ids(
    conn: &mut crate::db::DbConn,
    inbox_id: i64,
    external_ids: &[&str],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let found: Vec<Option<String>> = crate::db_run!(conn, c => messages::table
        .filter(messages::inbox_id.eq(inbox_id))
        .filter(messages::external_id.eq_any(external_ids))
        .select(messages::external_id)
        .load(c)
        .await)?;
    Ok(found.into_iter().flatten().collect())
}

/// PostgreSQL: takes, at the start of a transaction, a transaction-scoped advisory lock per
/// contact identity whose messages it will store, per external id whose status it will
/// apply and per message it will edit, all in one statement and in one global order (by lock
/// key).
///
/// Several writers (and several nodes) commit in parallel on PostgreSQL. Without this, two
/// transactions storing messages of one new contact could both create a contact or a
/// conversation, and a status report racing the send that records its external id could
/// be stored unmatched after the send looked for early reports (see
/// [`super::delivery::apply_early_reports`]). With row locks taken as events come, batches
/// naming several contacts in different orders deadlock; locking every key up front,
/// sorted, serializes exactly the transactions that share a key and cannot form a cycle.
pub(super) async fn lock_pg<'a>(
    c: &mut diesel_async::AsyncPgConnection,
    batches: impl IntoIterator<Item = (&'a Source, &'a [InboundEvent])>,
) -> Result<(), StoreError> {
    let keys: Vec<String> = batches
        .into_iter()
        .flat_map(|(source, events)| {
            events.iter().flat_map(move |event| match event {
                InboundEvent::Message(m) => {
                    vec![contact_lock_key(source.inbox_id, &m.sender.identifier)]
                }
                // Two edits of one message in parallel would both read its current text; an
                // edit of an unknown message may store it, like a message.
                InboundEvent::Edit(e) => vec![
                    edit_lock_key(source.inbox_id, &e.external_id),
                    contact_lock_key(source.inbox_id, &e.sender.identifier),
                ],
                // Reactions rewrite the reacted message's details.
                InboundEvent::Reaction(r) => {
                    vec![edit_lock_key(source.inbox_id, &r.target_external_id)]
                }
                InboundEvent::IdentityChange(change) => vec![
                    contact_lock_key(source.inbox_id, &change.old_identifier),
                    contact_lock_key(source.inbox_id, &change.new_identifier),
                ],
                _ => Vec::new(),
            })
        })
        .collect();
    advisory_locks_pg(c, keys).await
}

/// Stores a batch of events in the caller's transaction on PostgreSQL (after
/// [`lock_pg`]).
pub(super) async fn ingest_pg(
    c: &mut diesel_async::AsyncPgConnection,
    source: &Source,
    events: &[InboundEvent],
    media: &[Vec<NewAttachment>],
) -> Result<Vec<Outcome>, StoreError> {
    ingest_body!([.await] c, source, events, media)
}

/// The stored form of an identity's channel details.
fn details_json(details: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(details.clone()).to_string()
}

/// The new profile text when the channel sent details that differ from the stored ones.
fn changed_details(
    details: &serde_json::Map<String, serde_json::Value>,
    stored: &str,
) -> Option<String> {
    if details.is_empty() {
        return None;
    }
    let current: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(stored).ok();
    (current.as_ref() != Some(details)).then(|| details_json(details))
}

fn naive(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    at.naive_utc()
}
