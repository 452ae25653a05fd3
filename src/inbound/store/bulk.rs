//! PostgreSQL: a batch of plain messages stored with a fixed number of set-based statements
//! instead of about five per message.
//!
//! On PostgreSQL every statement is a round trip and a parse/plan/execute on the server,
//! and the server shares the machine's cores with the hub: statements per message, not
//! fsyncs, bound ingest (issue #23). Most inbound traffic is a customer's plain message in
//! their open conversation, so the writer stores a run of such messages in one go: look up
//! every external id, every sender and every open conversation with one statement each,
//! bump all conversations' sequence numbers with one `UPDATE … FROM unnest(…)`, and insert
//! every message with one `INSERT … SELECT FROM unnest(…)`. Texts are fixed, so the server
//! prepares each once per connection. Only what is rare (a new or renamed contact, a new
//! conversation) takes per-row statements, through the same code as the one-by-one path;
//! the result is what [`ingest_pg`](super::ingest_pg) would store for the same events in the
//! same order, except that a run shares one receive time.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use switchboard_channel::{ContactProfile, InboundEvent, InboundMessage};

use super::{
    ConversationStart, LAST_INBOUND_STEP, NewConversation, Outcome, Source, changed_details,
    details_json, naive,
};
use crate::db::StoreError;
use crate::db::schema::{contact_identities, contacts, conversations};
use crate::db::types::{ConversationKind, ConversationStatus};
use crate::store::attachments::NewAttachment;
use crate::store::conversations::{Conversation, Message, MessageDetails};
use crate::store::now;

/// The message, if the set-based way can store it: one that threads by contact (no mail
/// thread keys, not automatic), quotes nothing the hub must look up, and carries no files.
fn plain<'a>(event: &'a InboundEvent, files: &[NewAttachment]) -> Option<&'a InboundMessage> {
    match event {
        InboundEvent::Message(m)
            if m.thread.is_none()
                && m.automatic.is_none()
                && m.mail.is_none()
                && m.reply_to_external_id.is_none()
                && files.is_empty() =>
        {
            Some(m)
        }
        _ => None,
    }
}

/// One job of a batch: where its events came from, the events, and each event's files.
pub(in crate::inbound) type JobRef<'a> = (&'a Source, &'a [InboundEvent], &'a [Vec<NewAttachment>]);

/// Stores a batch of jobs (source, events, files per event) in the caller's transaction,
/// after [`lock_pg`](super::lock_pg): runs of plain messages the set-based way, every other
/// event one by one in its place, so each contact's events keep their order.
pub(in crate::inbound) async fn ingest_batch_pg(
    c: &mut AsyncPgConnection,
    jobs: &[JobRef<'_>],
) -> Result<Vec<Vec<Outcome>>, StoreError> {
    let mut outcomes: Vec<Vec<Outcome>> = jobs
        .iter()
        .map(|(_, events, _)| Vec::with_capacity(events.len()))
        .collect();
    let mut run: Vec<Item<'_>> = Vec::new();
    for (job, (source, events, media)) in jobs.iter().enumerate() {
        for (index, event) in events.iter().enumerate() {
            let files = media.get(index).map(Vec::as_slice).unwrap_or(&[]);
            let plain = plain(event, files);
            // A policy change while jobs queued: one run sees one policy per inbox.
            let policy_changed = run.iter().any(|item| {
                item.source.inbox_id == source.inbox_id
                    && item.source.reopen_resolved != source.reopen_resolved
            });
            if plain.is_none() || policy_changed {
                for (item, outcome) in run.iter().zip(ingest_plain_pg(c, &run).await?) {
                    outcomes[item.job].push(outcome);
                }
                run.clear();
            }
            if let Some(message) = plain {
                run.push(Item {
                    job,
                    source,
                    message,
                });
                continue;
            }
            let one = super::ingest_pg(
                c,
                source,
                std::slice::from_ref(event),
                media.get(index..=index).unwrap_or(&[]),
            )
            .await?;
            outcomes[job].extend(one);
        }
    }
    for (item, outcome) in run.iter().zip(ingest_plain_pg(c, &run).await?) {
        outcomes[item.job].push(outcome);
    }
    Ok(outcomes)
}

/// One message of the run, with where it came from.
struct Item<'a> {
    job: usize,
    source: &'a Source,
    message: &'a InboundMessage,
}

/// What the run does with one message.
enum Fate {
    /// Stored before this batch (a provider retry).
    Known(i64),
    /// The same id earlier in this run: a duplicate of what that item creates.
    SameAs(usize),
    /// New: stored by this run.
    New,
}

#[derive(QueryableByName)]
struct KnownId {
    #[diesel(sql_type = BigInt)]
    inbox_id: i64,
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct KnownContact {
    #[diesel(sql_type = BigInt)]
    inbox_id: i64,
    #[diesel(sql_type = Text)]
    identifier: String,
    #[diesel(sql_type = BigInt)]
    contact_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    phone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    language: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    avatar_url: Option<String>,
    #[diesel(sql_type = BigInt)]
    identity_id: i64,
    #[diesel(sql_type = Text)]
    profile: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_inbound_at: Option<chrono::NaiveDateTime>,
}

impl KnownContact {
    /// Whether storing a message from `p` leaves the contact and identity rows as they are
    /// (apart from `last_inbound_at`), as `resolve_contact!` decides.
    fn unchanged_by(&self, p: &ContactProfile) -> bool {
        let differs = |new: &Option<String>, old: &Option<String>| new.is_some() && new != old;
        changed_details(&p.details, &self.profile).is_none()
            && !(differs(&p.name, &self.name)
                || differs(&p.email, &self.email)
                || differs(&p.phone, &self.phone)
                || differs(&p.language, &self.language)
                || differs(&p.avatar_url, &self.avatar_url))
    }
}

#[derive(QueryableByName)]
struct ActiveConversation {
    #[diesel(sql_type = BigInt)]
    inbox_id: i64,
    #[diesel(sql_type = BigInt)]
    contact_id: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    status: ConversationStatus,
}

/// Stores a run of plain messages; answers one outcome per item, in order.
async fn ingest_plain_pg(
    c: &mut AsyncPgConnection,
    items: &[Item<'_>],
) -> Result<Vec<Outcome>, StoreError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();

    // 1. Which external ids are stored already, or repeat one earlier in the run.
    let known: HashMap<(i64, String), i64> = diesel::sql_query(
        "SELECT m.inbox_id, m.external_id, m.id FROM messages m \
         JOIN unnest($1::int8[], $2::text[]) AS k(inbox_id, external_id) \
         ON m.inbox_id = k.inbox_id AND m.external_id = k.external_id",
    )
    .bind::<Array<BigInt>, _>(items.iter().map(|i| i.source.inbox_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        items
            .iter()
            .map(|i| i.message.external_id.as_str())
            .collect::<Vec<_>>(),
    )
    .load::<KnownId>(c)
    .await?
    .into_iter()
    .map(|row| ((row.inbox_id, row.external_id), row.id))
    .collect();
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
    let fates: Vec<Fate> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let key = (item.source.inbox_id, item.message.external_id.as_str());
            if let Some(id) = known.get(&(key.0, key.1.to_owned())) {
                Fate::Known(*id)
            } else if let Some(first) = first_of.get(&key) {
                Fate::SameAs(*first)
            } else {
                first_of.insert(key, index);
                Fate::New
            }
        })
        .collect();
    let new: Vec<usize> = (0..items.len())
        .filter(|index| matches!(fates[*index], Fate::New))
        .collect();

    // 2. The senders: known ones in one statement; new or changed ones the one-by-one way.
    let mut senders: Vec<(i64, &str)> = new
        .iter()
        .map(|&i| {
            (
                items[i].source.inbox_id,
                items[i].message.sender.identifier.as_str(),
            )
        })
        .collect();
    senders.sort_unstable();
    senders.dedup();
    let stored: HashMap<(i64, String), KnownContact> = if senders.is_empty() {
        HashMap::new()
    } else {
        diesel::sql_query(
            "SELECT k.inbox_id, k.identifier, f.* \
             FROM unnest($1::int8[], $2::text[]) AS k(inbox_id, identifier) \
             CROSS JOIN LATERAL (SELECT c.id AS contact_id, c.name, c.email, c.phone, \
             c.language, c.avatar_url, ci.id AS identity_id, ci.profile, ci.last_inbound_at \
             FROM contact_identities ci JOIN contacts c ON c.id = ci.contact_id \
             WHERE ci.inbox_id = k.inbox_id AND ci.identifier = k.identifier LIMIT 1) AS f",
        )
        .bind::<Array<BigInt>, _>(senders.iter().map(|s| s.0).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(senders.iter().map(|s| s.1).collect::<Vec<_>>())
        .load::<KnownContact>(c)
        .await?
        .into_iter()
        .map(|row| ((row.inbox_id, row.identifier.clone()), row))
        .collect()
    };
    // A contact merged by an admin can have two identifiers here; its messages must update
    // it in arrival order, so both go the one-by-one way.
    let mut identifiers_of: HashMap<i64, usize> = HashMap::new();
    for row in stored.values() {
        *identifiers_of.entry(row.contact_id).or_default() += 1;
    }
    let mut contact_of: HashMap<(i64, &str), i64> = HashMap::new();
    let mut fast: std::collections::HashSet<(i64, &str)> = std::collections::HashSet::new();
    let mut touched: Vec<i64> = Vec::new();
    for &(inbox_id, identifier) in &senders {
        let Some(row) = stored.get(&(inbox_id, identifier.to_owned())) else {
            continue;
        };
        let unchanged = new.iter().map(|&i| &items[i]).all(|item| {
            item.source.inbox_id != inbox_id
                || item.message.sender.identifier != identifier
                || row.unchanged_by(&item.message.sender)
        });
        if unchanged && identifiers_of.get(&row.contact_id) == Some(&1) {
            if row
                .last_inbound_at
                .is_none_or(|last| at - last > LAST_INBOUND_STEP)
            {
                touched.push(row.identity_id);
            }
            contact_of.insert((inbox_id, identifier), row.contact_id);
            fast.insert((inbox_id, identifier));
        }
    }
    // New contacts and changed profiles: each message's profile in arrival order, as one by one.
    for &i in &new {
        let item = &items[i];
        let key = (
            item.source.inbox_id,
            item.message.sender.identifier.as_str(),
        );
        if fast.contains(&key) {
            continue;
        }
        let contact_id = resolve_contact!([.await] c, item.source, &item.message.sender, at);
        contact_of.insert(key, contact_id);
    }
    if !touched.is_empty() {
        diesel::update(contact_identities::table.filter(contact_identities::id.eq_any(&touched)))
            .set(contact_identities::last_inbound_at.eq(at))
            .execute(c)
            .await?;
    }

    // 3. Each contact's active conversation here (or, by the inbox's policy, the last
    //    resolved one), in one statement; a contact without one gets a new conversation.
    //    Locked as read (`FOR UPDATE`): an agent resolving or closing one now waits until
    //    this commits, so the status read here is the one step 4 moves on from.
    let mut threads: Vec<(i64, i64, bool)> = new
        .iter()
        .map(|&i| {
            let source = items[i].source;
            let identifier = items[i].message.sender.identifier.as_str();
            let contact_id = contact_of[&(source.inbox_id, identifier)];
            (source.inbox_id, contact_id, source.reopen_resolved)
        })
        .collect();
    threads.sort_unstable();
    threads.dedup();
    let mut found: HashMap<(i64, i64), (i64, ConversationStatus)> = if threads.is_empty() {
        HashMap::new()
    } else {
        diesel::sql_query(
            "SELECT k.inbox_id, k.contact_id, c.id, c.status \
             FROM unnest($1::int8[], $2::int8[], $3::bool[]) AS k(inbox_id, contact_id, reopen) \
             CROSS JOIN LATERAL (SELECT id, status FROM conversations \
             WHERE contact_id = k.contact_id AND inbox_id = k.inbox_id AND kind = $4 \
             AND status <> $5 AND (k.reopen OR status <> $6) \
             ORDER BY id DESC LIMIT 1 FOR UPDATE) AS c",
        )
        .bind::<Array<BigInt>, _>(threads.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(threads.iter().map(|t| t.1).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(threads.iter().map(|t| t.2).collect::<Vec<_>>())
        .bind::<Text, _>(ConversationKind::Support)
        .bind::<Text, _>(ConversationStatus::Closed)
        .bind::<Text, _>(ConversationStatus::Resolved)
        .load::<ActiveConversation>(c)
        .await?
        .into_iter()
        .map(|row| ((row.inbox_id, row.contact_id), (row.id, row.status)))
        .collect()
    };
    // Why each conversation became active with its first message of the run, if it did.
    let mut started: HashMap<i64, ConversationStart> = HashMap::new();
    for &(inbox_id, contact_id, _) in &threads {
        match found.get(&(inbox_id, contact_id)) {
            Some((id, ConversationStatus::Resolved)) => {
                started.insert(*id, ConversationStart::Reopened);
            }
            Some(_) => {}
            None => {
                let id: i64 = diesel::insert_into(conversations::table)
                    .values(NewConversation::support(inbox_id, contact_id, None, at))
                    .returning(conversations::id)
                    .get_result(c)
                    .await?;
                started.insert(id, ConversationStart::Created);
                found.insert((inbox_id, contact_id), (id, ConversationStatus::Open));
            }
        }
    }
    // Reports count each reopen and start a new resolution cycle at it.
    let reopens: Vec<_> = started
        .iter()
        .filter(|(_, start)| matches!(start, ConversationStart::Reopened))
        .map(|(id, _)| super::reopened_by_customer(*id))
        .collect();
    if !reopens.is_empty() {
        diesel::insert_into(crate::db::schema::audit_log::table)
            .values(&reopens)
            .execute(c)
            .await?;
    }
    let conversation_of = |item: &Item<'_>| -> i64 {
        let contact_id = contact_of[&(
            item.source.inbox_id,
            item.message.sender.identifier.as_str(),
        )];
        found[&(item.source.inbox_id, contact_id)].0
    };

    // 4. Every conversation moves on by its number of new messages, in one statement: a
    //    customer writing wakes a snoozed conversation and reopens a resolved one. (The
    //    `= ANY` lets the planner find the rows by primary key instead of scanning the
    //    table for a hash join; the lookups above are LATERAL for the same reason.)
    let mut counts: HashMap<i64, i64> = HashMap::new();
    for &i in &new {
        *counts.entry(conversation_of(&items[i])).or_default() += 1;
    }
    let mut bumps: Vec<(i64, i64)> = counts.iter().map(|(id, n)| (*id, *n)).collect();
    bumps.sort_unstable();
    let (ids, ns): (Vec<i64>, Vec<i64>) = bumps.into_iter().unzip();
    let updated: HashMap<i64, Conversation> = if ids.is_empty() {
        HashMap::new()
    } else {
        diesel::sql_query(
            "UPDATE conversations c SET last_seq = c.last_seq + k.n, \
             last_activity_at = $3, updated_at = $3, \
             status = CASE WHEN c.status = $4 THEN c.status ELSE $5 END, \
             snoozed_until = NULL, resolved_at = NULL, \
             waiting_since = CASE WHEN c.status = $6 THEN $3 ELSE COALESCE(c.waiting_since, $3) END \
             FROM unnest($1::int8[], $2::int8[]) AS k(id, n) \
             WHERE c.id = k.id AND c.id = ANY($1) \
             RETURNING c.*",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<BigInt>, _>(&ns)
        .bind::<Timestamp, _>(at)
        .bind::<Text, _>(ConversationStatus::Pending)
        .bind::<Text, _>(ConversationStatus::Open)
        .bind::<Text, _>(ConversationStatus::Resolved)
        .load::<Conversation>(c)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect()
    };

    // 5. All new messages in one statement, numbered in arrival order per conversation.
    let mut next_seq: HashMap<i64, i64> = updated
        .values()
        .map(|conversation| {
            (
                conversation.id,
                conversation.last_seq - counts[&conversation.id],
            )
        })
        .collect();
    let mut rows = NewMessages::default();
    for &i in &new {
        let item = &items[i];
        let conversation_id = conversation_of(item);
        let seq = next_seq.entry(conversation_id).or_default();
        *seq += 1;
        rows.push(
            item,
            conversation_id,
            *seq,
            contact_of[&(
                item.source.inbox_id,
                item.message.sender.identifier.as_str(),
            )],
        );
    }
    let inserted: HashMap<(i64, i64), Message> = if new.is_empty() {
        HashMap::new()
    } else {
        rows.insert(c, at)
            .await?
            .into_iter()
            .map(|message| ((message.conversation_id, message.seq), message))
            .collect()
    };

    // 6. One outcome per message, as the one-by-one path reports them.
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(items.len());
    let mut created_ids: Vec<i64> = vec![0; items.len()];
    let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
    let mut row = 0;
    for (index, fate) in fates.iter().enumerate() {
        let outcome = match *fate {
            Fate::Known(message_id) => Outcome::Duplicate { message_id },
            Fate::SameAs(first) => Outcome::Duplicate {
                message_id: created_ids[first],
            },
            Fate::New => {
                let conversation_id = rows.conversation_ids[row];
                let seq = rows.seqs[row];
                row += 1;
                let message = inserted
                    .get(&(conversation_id, seq))
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::Unavailable("a stored message was not returned".into())
                    })?;
                let mut conversation = updated.get(&conversation_id).cloned().ok_or_else(|| {
                    StoreError::Unavailable("an updated conversation was not returned".into())
                })?;
                // The conversation as it was right after this message, as one by one.
                conversation.last_seq = seq;
                created_ids[index] = message.id;
                let conversation_change = if seen.insert(conversation_id) {
                    started.get(&conversation_id).copied()
                } else {
                    None
                };
                Outcome::Created {
                    message,
                    conversation,
                    conversation_change,
                    images: Vec::new(),
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The new messages as column arrays, for one `INSERT … SELECT FROM unnest(…)`.
#[derive(Default)]
struct NewMessages {
    conversation_ids: Vec<i64>,
    inbox_ids: Vec<i64>,
    seqs: Vec<i64>,
    sender_ids: Vec<i64>,
    contents: Vec<String>,
    external_ids: Vec<String>,
    provider_ats: Vec<Option<chrono::NaiveDateTime>>,
    edited_ats: Vec<Option<chrono::NaiveDateTime>>,
    authors: Vec<Option<String>>,
    details: Vec<Option<String>>,
}

impl NewMessages {
    fn push(&mut self, item: &Item<'_>, conversation_id: i64, seq: i64, sender_id: i64) {
        let m = item.message;
        self.conversation_ids.push(conversation_id);
        self.inbox_ids.push(item.source.inbox_id);
        self.seqs.push(seq);
        self.sender_ids.push(sender_id);
        self.contents.push(m.content.clone());
        self.external_ids.push(m.external_id.clone());
        self.provider_ats.push(m.provider_at.map(naive));
        self.edited_ats.push(m.edited_at.map(naive));
        self.authors.push(m.author.clone());
        self.details.push(MessageDetails::of(m));
    }

    async fn insert(
        &self,
        c: &mut AsyncPgConnection,
        at: chrono::NaiveDateTime,
    ) -> Result<Vec<Message>, StoreError> {
        use crate::db::types::{Direction, SenderType};
        Ok(diesel::sql_query(
            "INSERT INTO messages (conversation_id, inbox_id, seq, direction, sender_type, \
             sender_id, content, private, external_id, provider_at, edited_at, author, \
             details, created_at) \
             SELECT k.conversation_id, k.inbox_id, k.seq, $11, $12, k.sender_id, k.content, \
             FALSE, k.external_id, k.provider_at, k.edited_at, k.author, k.details, $13 \
             FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::text[], \
             $6::text[], $7::timestamp[], $8::timestamp[], $9::text[], $10::text[]) \
             AS k(conversation_id, inbox_id, seq, sender_id, content, external_id, \
             provider_at, edited_at, author, details) \
             RETURNING *",
        )
        .bind::<Array<BigInt>, _>(&self.conversation_ids)
        .bind::<Array<BigInt>, _>(&self.inbox_ids)
        .bind::<Array<BigInt>, _>(&self.seqs)
        .bind::<Array<BigInt>, _>(&self.sender_ids)
        .bind::<Array<Text>, _>(&self.contents)
        .bind::<Array<Text>, _>(&self.external_ids)
        .bind::<Array<Nullable<Timestamp>>, _>(&self.provider_ats)
        .bind::<Array<Nullable<Timestamp>>, _>(&self.edited_ats)
        .bind::<Array<Nullable<Text>>, _>(&self.authors)
        .bind::<Array<Nullable<Text>>, _>(&self.details)
        .bind::<Text, _>(Direction::Inbound)
        .bind::<Text, _>(SenderType::Contact)
        .bind::<Timestamp, _>(at)
        .load::<Message>(c)
        .await?)
    }
}
