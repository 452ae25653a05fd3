//! What an email reply needs of its conversation: the subject, the Message-IDs of the
//! thread so far and the copies to keep, so the customer's mail client threads the answer
//! and everyone on the thread gets it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use switchboard_channel::MailThread;

use super::conversations::MessageDetails;
use crate::db::schema::{conversations, messages};
use crate::db::types::Direction;
use crate::db::{DbConn, StoreError};
use crate::db_run;

/// Message-IDs a reply's References keeps: the thread's first and its latest ones.
const MAX_REFERENCES: usize = 20;

/// Whether two `Name <address>` texts name the same address.
fn same_address(a: &str, b: &str) -> bool {
    let address = |text: &str| {
        let text = text.trim();
        text.rsplit_once('<')
            .map_or(text, |(_, rest)| rest.trim_end_matches('>'))
            .trim()
            .to_ascii_lowercase()
    };
    address(a) == address(b)
}

/// Most addresses a reply copies: a thread that grew past this is a mailing list, not a
/// conversation.
const MAX_COPIES: usize = 50;

/// The mail thread of a conversation, as of now.
pub async fn thread(conn: &mut DbConn, conversation_id: i64) -> Result<MailThread, StoreError> {
    let subject: Option<Option<String>> = db_run!(conn, c => conversations::table
        .find(conversation_id)
        .select(conversations::subject)
        .first(c)
        .await
        .optional())?;
    // Customers' ids (external_id) and ours (provider_message_id), in thread order.
    type Row = (Direction, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = db_run!(conn, c => messages::table
        .filter(messages::conversation_id.eq(conversation_id))
        .filter(messages::private.eq(false))
        .filter(
            messages::external_id
                .is_not_null()
                .or(messages::provider_message_id.is_not_null()),
        )
        .order(messages::seq.asc())
        .select((
            messages::direction,
            messages::external_id,
            messages::provider_message_id,
            messages::details,
        ))
        .load(c)
        .await)?;
    let mut references: Vec<String> = Vec::with_capacity(rows.len());
    let mut cc = Vec::new();
    for (direction, external_id, provider_message_id, details) in rows {
        let id = match direction {
            Direction::Inbound => external_id,
            Direction::Outbound => provider_message_id,
            Direction::Internal => None,
        };
        if let Some(id) = id.filter(|id| !references.contains(id)) {
            references.push(id);
        }
        if direction == Direction::Inbound
            && let Some(mail) = MessageDetails::parse(details.as_deref()).mail
        {
            // Everyone who wrote or was copied stays on the thread (the channel leaves out
            // the customer the reply is addressed to, and us).
            for person in mail.from.into_iter().chain(mail.to).chain(mail.cc) {
                if !cc.iter().any(|known: &String| same_address(known, &person)) {
                    cc.push(person);
                }
            }
        }
    }
    cc.truncate(MAX_COPIES);
    if references.len() > MAX_REFERENCES {
        let tail = references.split_off(references.len() - (MAX_REFERENCES - 1));
        references.truncate(1);
        references.extend(tail);
    }
    Ok(MailThread {
        number: conversation_id,
        subject: subject.flatten(),
        references,
        cc,
    })
}
