//! A conversation's activity lines ("Ada assigned this to Bob", "Bob resolved this"), read
//! from the audit trail, so the thread shows who changed what without storing the changes
//! twice. SLA warnings and breaches are already activity messages in the thread.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::db::types::{ActorType, Role};
use crate::db::{DbConn, StoreError};
use crate::store::audit::AuditEntry;
use crate::store::conversations::Conversation;

/// The audited changes shown as activity lines.
const ACTIONS: [&str; 7] = [
    "conversation.assign",
    "conversation.team",
    "conversation.status",
    "conversation.priority",
    "conversation.labels",
    "conversation.transcript",
    "conversation.csat",
];
/// Most lines answered (the newest).
const LIMIT: i64 = 500;

/// One line of a conversation's activity.
#[derive(Debug, Clone)]
pub(crate) struct ActivityLine {
    pub(crate) id: i64,
    pub(crate) action: String,
    pub(crate) actor_id: Option<i64>,
    pub(crate) text: String,
    pub(crate) created_at: NaiveDateTime,
}

/// The conversation's activity, oldest first (the newest 500), as the viewer may read it:
/// admins see every name; agents see their inbox's members and themselves, anyone else
/// as "An admin" or "A former member".
pub(crate) async fn lines(
    conn: &mut DbConn,
    conversation: &Conversation,
    viewer_id: i64,
    viewer_role: Role,
) -> Result<Vec<ActivityLine>, StoreError> {
    let entries =
        crate::store::audit::for_target(conn, "conversation", conversation.id, &ACTIONS, LIMIT)
            .await?;
    // Agents see the names they see elsewhere: their inbox's members and themselves;
    // anyone else is "An admin" or "A former member".
    let members = match (viewer_role, conversation.inbox_id) {
        (Role::Admin, _) => None,
        (_, Some(inbox)) => Some(crate::store::inboxes::member_ids(conn, inbox).await?),
        (_, None) => Some(Vec::new()),
    };
    let mut names = Names::default();
    for entry in &entries {
        let details: Value = serde_json::from_str(&entry.details).unwrap_or(Value::Null);
        for id in entry
            .actor_id
            .into_iter()
            .chain(id_field(&details, "assignee_id"))
        {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.agents.entry(id) {
                let agent = crate::store::agents::find(conn, id).await?;
                let known = members
                    .as_ref()
                    .is_none_or(|m| m.contains(&id) || id == viewer_id);
                slot.insert(match agent {
                    Some(a) if known => a.name,
                    Some(a) if a.role == Role::Admin => "An admin".to_owned(),
                    Some(_) => "A former member".to_owned(),
                    None => "A former agent".to_owned(),
                });
            }
        }
        if let Some(team) = id_field(&details, "team_id")
            && let std::collections::hash_map::Entry::Vacant(slot) = names.teams.entry(team)
        {
            let name = crate::store::teams::find(conn, team).await?.map(|t| t.name);
            slot.insert(name.unwrap_or_else(|| "a deleted team".to_owned()));
        }
    }
    Ok(entries
        .iter()
        .filter_map(|entry| {
            Some(ActivityLine {
                id: entry.id,
                action: entry.action.clone(),
                actor_id: entry.actor_id,
                text: line(entry, &names)?,
                created_at: entry.created_at,
            })
        })
        .collect())
}

/// Agents' and teams' names by id.
#[derive(Debug, Default)]
struct Names {
    agents: HashMap<i64, String>,
    teams: HashMap<i64, String>,
}

/// An id the audit details keep as a string (`"assignee_id": "4"`).
fn id_field(details: &Value, field: &str) -> Option<i64> {
    details.get(field)?.as_str()?.parse().ok()
}

/// The sentence for one audited change; `None` for one it cannot describe.
fn line(entry: &AuditEntry, names: &Names) -> Option<String> {
    let details: Value = serde_json::from_str(&entry.details).ok()?;
    // Inside a sentence: "assigned this to an admin".
    let agent = |id: i64| {
        let name = names
            .agents
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "a former agent".to_owned());
        match name.as_str() {
            "An admin" | "A former member" | "A former agent" => name.to_lowercase(),
            _ => name,
        }
    };
    let who = match (entry.actor_type, entry.actor_id) {
        (ActorType::Agent, Some(id)) => names
            .agents
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "A former agent".to_owned()),
        (ActorType::Cli, _) => "An admin (command line)".to_owned(),
        _ => "Switchboard".to_owned(),
    };
    let text = match entry.action.as_str() {
        "conversation.assign" => match id_field(&details, "assignee_id") {
            None => format!("{who} unassigned this"),
            Some(to) if Some(to) == entry.actor_id => format!("{who} took this"),
            Some(to) if entry.actor_type == ActorType::System => {
                format!("Assigned to {} automatically", agent(to))
            }
            Some(to) => format!("{who} assigned this to {}", agent(to)),
        },
        "conversation.team" => match id_field(&details, "team_id") {
            None => format!("{who} removed the team"),
            Some(team) => {
                let name = names.teams.get(&team).map_or("a team", String::as_str);
                format!("{who} handed this to {name}")
            }
        },
        "conversation.status" => match details.get("status")?.as_str()? {
            "resolved" => format!("{who} resolved this"),
            "open" if details.get("reason").and_then(Value::as_str) == Some("customer_wrote") => {
                "Reopened: the customer wrote again".to_owned()
            }
            "open" => format!("{who} reopened this"),
            "closed"
                if details.get("reason").and_then(Value::as_str) == Some("customer_restarted") =>
            {
                "Closed: the customer started a new conversation".to_owned()
            }
            "closed" => format!("{who} closed this"),
            "pending" => format!("{who} set this to pending"),
            "snoozed" => {
                let until = details
                    .get("snoozed_until")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<chrono::NaiveDateTime>().ok())
                    .map(|t| format!(" until {} UTC", t.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_default();
                format!("{who} snoozed this{until}")
            }
            other => format!("{who} set the status to {other}"),
        },
        "conversation.priority" => match details.get("priority")?.as_str()? {
            "none" => format!("{who} removed the priority"),
            p => format!("{who} set the priority to {p}"),
        },
        "conversation.labels" => {
            let labels: Vec<&str> = details
                .get("labels")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if labels.is_empty() {
                format!("{who} removed the labels")
            } else {
                format!("{who} set the labels: {}", labels.join(", "))
            }
        }
        "conversation.csat" => {
            let rating = details.get("rating")?.as_i64()?;
            let said = match details.get("scale").and_then(Value::as_str) {
                Some("thumbs") if rating >= 5 => "gave this a thumbs up".to_owned(),
                Some("thumbs") => "gave this a thumbs down".to_owned(),
                _ => format!("rated this {rating} of 5"),
            };
            let changed = details.get("changed").and_then(Value::as_bool) == Some(true);
            let comment = details
                .get("comment")
                .and_then(Value::as_str)
                .map(|c| format!(": \u{201c}{c}\u{201d}"))
                .unwrap_or_default();
            format!(
                "The customer {}{said}{comment}",
                if changed {
                    "changed their answer and "
                } else {
                    ""
                }
            )
        }
        "conversation.transcript" => format!(
            "The customer had the transcript emailed to {}",
            details.get("email")?.as_str()?
        ),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, actor: (ActorType, Option<i64>), details: Value) -> AuditEntry {
        AuditEntry {
            id: 1,
            actor_type: actor.0,
            actor_id: actor.1,
            action: action.to_owned(),
            target_type: Some("conversation".into()),
            target_id: Some(7),
            details: details.to_string(),
            ip: None,
            created_at: chrono::NaiveDateTime::default(),
        }
    }

    #[test]
    fn changes_read_as_sentences() {
        let names = Names {
            agents: [(1, "Ada".to_owned()), (2, "Bob".to_owned())].into(),
            teams: [(5, "Billing".to_owned())].into(),
        };
        let ada = (ActorType::Agent, Some(1));
        let cases = [
            (
                entry("conversation.assign", ada, json!({"assignee_id": "2"})),
                "Ada assigned this to Bob",
            ),
            (
                entry("conversation.assign", ada, json!({"assignee_id": "1"})),
                "Ada took this",
            ),
            (
                entry("conversation.assign", ada, json!({"assignee_id": null})),
                "Ada unassigned this",
            ),
            (
                entry(
                    "conversation.assign",
                    (ActorType::System, None),
                    json!({"assignee_id": "2"}),
                ),
                "Assigned to Bob automatically",
            ),
            (
                entry("conversation.team", ada, json!({"team_id": "5"})),
                "Ada handed this to Billing",
            ),
            (
                entry(
                    "conversation.status",
                    (ActorType::System, None),
                    json!({"status": "closed", "reason": "customer_restarted"}),
                ),
                "Closed: the customer started a new conversation",
            ),
            (
                entry(
                    "conversation.csat",
                    (ActorType::System, None),
                    json!({"rating": 4, "scale": "five", "comment": "Quick", "changed": false}),
                ),
                "The customer rated this 4 of 5: \u{201c}Quick\u{201d}",
            ),
            (
                entry(
                    "conversation.csat",
                    (ActorType::System, None),
                    json!({"rating": 1, "scale": "thumbs", "comment": null, "changed": true}),
                ),
                "The customer changed their answer and gave this a thumbs down",
            ),
            (
                entry(
                    "conversation.transcript",
                    (ActorType::System, None),
                    json!({"email": "ann@example.com"}),
                ),
                "The customer had the transcript emailed to ann@example.com",
            ),
            (
                entry("conversation.status", ada, json!({"status": "resolved"})),
                "Ada resolved this",
            ),
            (
                entry("conversation.status", ada, json!({"status": "open"})),
                "Ada reopened this",
            ),
            (
                entry(
                    "conversation.status",
                    ada,
                    json!({"status": "snoozed", "snoozed_until": "2026-12-08T09:00:00"}),
                ),
                "Ada snoozed this until 2026-12-08 09:00 UTC",
            ),
            (
                entry("conversation.priority", ada, json!({"priority": "urgent"})),
                "Ada set the priority to urgent",
            ),
            (
                entry(
                    "conversation.labels",
                    ada,
                    json!({"labels": ["vip", "refund"]}),
                ),
                "Ada set the labels: vip, refund",
            ),
            (
                entry(
                    "conversation.labels",
                    (ActorType::Agent, Some(9)),
                    json!({"labels": []}),
                ),
                "A former agent removed the labels",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(line(&e, &names).as_deref(), Some(want), "{}", e.details);
        }
        assert_eq!(
            line(&entry("conversation.merge", ada, json!({})), &names),
            None
        );
        assert_eq!(
            line(
                &entry("conversation.status", ada, json!("not an object")),
                &names
            ),
            None
        );
    }
}
