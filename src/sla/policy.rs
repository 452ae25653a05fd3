//! SLA policies: which targets apply to a conversation, and what happens when one is
//! close to or past its due time.
//!
//! A policy names its conditions (inbox, priority, team, label; each absent means any) and
//! its targets in business seconds. Policies are tried in `position` order and the first
//! enabled one whose conditions all hold applies, so an admin writes the specific ones
//! ("urgent in Billing: 15 minutes") before the general ones ("everything: 8 hours").

use serde::Serialize;
use serde_json::{Value, json};

use super::hours::FieldError;
use crate::db::types::Priority;
use crate::store::sla::{PolicyRow, PolicyValues};

/// Most actions one policy may carry.
const MAX_ACTIONS: usize = 10;
/// The longest target: a year of business seconds.
const MAX_TARGET_SECS: i64 = 366 * 24 * 3600;

/// One SLA target of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
    /// From the customer's first message to the first agent reply.
    FirstResponse,
    /// From a customer's message after an agent reply to the next agent reply.
    NextResponse,
    /// From the start (or reopening) of the conversation to its resolution.
    Resolution,
}

impl Target {
    pub(crate) const ALL: [Target; 3] = [Self::FirstResponse, Self::NextResponse, Self::Resolution];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::NextResponse => "next_response",
            Self::Resolution => "resolution",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Words for activity lines ("First response SLA breached").
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::FirstResponse => "First response",
            Self::NextResponse => "Next response",
            Self::Resolution => "Resolution",
        }
    }
}

/// When an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stage {
    /// `warn_percent` of the target has passed.
    Warning,
    /// The target has passed.
    Breach,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Breach => "breach",
        }
    }
}

/// What a warning or breach does to the conversation. Each is idempotent, so applying
/// it a second time changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Raises the priority to at least this level.
    RaisePriority(Priority),
    /// Hands the conversation to a team (the assignee stays).
    SetTeam(i64),
    /// Takes the assignee off, so the router offers the conversation again.
    Unassign,
    /// Adds a label.
    AddLabel(String),
    /// Tells these people (on top of nothing else: without a notify action the assignee
    /// hears it, or every admin when nobody has the conversation).
    Notify(NotifyTargets),
}

/// Who an SLA warning or breach notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NotifyTargets {
    /// The conversation's assignee.
    pub(crate) assignee: bool,
    /// The members of its team (after the stage's other actions).
    pub(crate) team: bool,
    /// Every active admin.
    pub(crate) admins: bool,
}

impl NotifyTargets {
    /// Without a notify action: the assignee, or the admins when nobody has it.
    pub(crate) const DEFAULT: Self = Self {
        assignee: true,
        team: false,
        admins: false,
    };

    fn names(self) -> Vec<&'static str> {
        [
            (self.assignee, "assignee"),
            (self.team, "team"),
            (self.admins, "admins"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// An action and the stage it runs at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedAction {
    pub(crate) on: Stage,
    pub(crate) action: Action,
}

/// A checked policy, as the supervisor uses it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) position: i64,
    pub(crate) enabled: bool,
    pub(crate) inbox_id: Option<i64>,
    pub(crate) priority: Option<Priority>,
    pub(crate) team_id: Option<i64>,
    pub(crate) label: Option<String>,
    pub(crate) first_response_secs: Option<i64>,
    pub(crate) next_response_secs: Option<i64>,
    pub(crate) resolution_secs: Option<i64>,
    pub(crate) warn_percent: i64,
    pub(crate) actions: Vec<StagedAction>,
}

/// What a policy's conditions are checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) inbox_id: Option<i64>,
    pub(crate) priority: Priority,
    pub(crate) team_id: Option<i64>,
    pub(crate) labels: &'a [String],
}

impl Policy {
    /// The stored row, read tolerantly: an action list that no longer parses (a team
    /// deleted since) loses only the actions it cannot read.
    pub(crate) fn from_row(row: &PolicyRow) -> Self {
        let actions = serde_json::from_str::<Value>(&row.actions)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, a)| parse_action(i, a).ok())
            .collect();
        Self {
            id: row.id,
            name: row.name.clone(),
            position: row.position,
            enabled: row.enabled,
            inbox_id: row.inbox_id,
            priority: row.priority,
            team_id: row.team_id,
            label: row.label.clone(),
            first_response_secs: row.first_response_secs,
            next_response_secs: row.next_response_secs,
            resolution_secs: row.resolution_secs,
            warn_percent: row.warn_percent,
            actions,
        }
    }

    /// Whether every condition holds for the conversation.
    pub(crate) fn matches(&self, subject: Subject<'_>) -> bool {
        self.enabled
            && self.inbox_id.is_none_or(|i| subject.inbox_id == Some(i))
            && self.priority.is_none_or(|p| subject.priority == p)
            && self.team_id.is_none_or(|t| subject.team_id == Some(t))
            && self
                .label
                .as_ref()
                .is_none_or(|l| subject.labels.iter().any(|have| have == l))
    }

    /// The target in business seconds, if this policy sets one.
    pub(crate) fn target_secs(&self, target: Target) -> Option<i64> {
        match target {
            Target::FirstResponse => self.first_response_secs,
            Target::NextResponse => self.next_response_secs,
            Target::Resolution => self.resolution_secs,
        }
    }

    /// The actions of one stage, in the order the admin gave them.
    /// Who hears of a warning or breach at `stage`: the notify actions' targets together,
    /// or the default without any.
    pub(crate) fn notify_targets(&self, stage: Stage) -> NotifyTargets {
        let mut any = false;
        let mut to = NotifyTargets::default();
        for action in self.actions_on(stage) {
            if let Action::Notify(t) = action {
                any = true;
                to.assignee |= t.assignee;
                to.team |= t.team;
                to.admins |= t.admins;
            }
        }
        if any { to } else { NotifyTargets::DEFAULT }
    }

    pub(crate) fn actions_on(&self, stage: Stage) -> impl Iterator<Item = &Action> {
        self.actions
            .iter()
            .filter(move |a| a.on == stage)
            .map(|a| &a.action)
    }
}

/// The policy that applies: the first matching one by position (then id).
pub(crate) fn choose<'a>(policies: &'a [Policy], subject: Subject<'_>) -> Option<&'a Policy> {
    policies
        .iter()
        .filter(|p| p.matches(subject))
        .min_by_key(|p| (p.position, p.id))
}

/// Order of priorities, for "raise to at least".
pub(crate) fn priority_rank(priority: Priority) -> u8 {
    match priority {
        Priority::None => 0,
        Priority::Low => 1,
        Priority::Medium => 2,
        Priority::High => 3,
        Priority::Urgent => 4,
    }
}

/// Checks a whole policy document (a create, or a stored policy with a change laid over
/// it) into what the store writes; every problem names its field.
pub(crate) fn parse_policy(doc: &Value) -> Result<PolicyValues, FieldError> {
    let Value::Object(map) = doc else {
        return Err(FieldError::new("body", "must be a JSON object"));
    };
    const KNOWN: [&str; 14] = [
        "id",
        "name",
        "position",
        "enabled",
        "inbox_id",
        "priority",
        "team_id",
        "label",
        "first_response_secs",
        "next_response_secs",
        "resolution_secs",
        "warn_percent",
        "actions",
        "created_at",
    ];
    if let Some(unknown) = map
        .keys()
        .find(|k| !KNOWN.contains(&k.as_str()) && k.as_str() != "updated_at")
    {
        return Err(FieldError::new(unknown.as_str(), "not a policy field"));
    }
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 100)
        .ok_or_else(|| FieldError::new("name", "required: 1 to 100 characters"))?
        .to_owned();
    let position = match map.get("position") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|p| (0..=1_000_000).contains(p))
            .ok_or_else(|| FieldError::new("position", "a whole number 0 to 1000000"))?,
    };
    let enabled = match map.get("enabled") {
        None | Some(Value::Null) => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| FieldError::new("enabled", "true or false"))?,
    };
    let inbox_id = optional_id(map.get("inbox_id"), "inbox_id")?;
    let team_id = optional_id(map.get("team_id"), "team_id")?;
    let priority = match map.get("priority") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|p| p.parse::<Priority>().ok())
                .ok_or_else(|| {
                    FieldError::new("priority", "one of none, low, medium, high, urgent")
                })?,
        ),
    };
    let label = match map.get("label") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty() && l.chars().count() <= 50)
                .ok_or_else(|| FieldError::new("label", "a label name, 1 to 50 characters"))?,
        ),
    };
    let target = |key: &str| -> Result<Option<i64>, FieldError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|s| (1..=MAX_TARGET_SECS).contains(s))
                .map(Some)
                .ok_or_else(|| {
                    FieldError::new(
                        key,
                        format!("seconds of business time, 1 to {MAX_TARGET_SECS}"),
                    )
                }),
        }
    };
    let first_response_secs = target("first_response_secs")?;
    let next_response_secs = target("next_response_secs")?;
    let resolution_secs = target("resolution_secs")?;
    if first_response_secs
        .or(next_response_secs)
        .or(resolution_secs)
        .is_none()
    {
        return Err(FieldError::new(
            "first_response_secs",
            "a policy needs at least one target (first_response_secs, next_response_secs or resolution_secs)",
        ));
    }
    let warn_percent = match map.get("warn_percent") {
        None | Some(Value::Null) => 80,
        Some(v) => v
            .as_i64()
            .filter(|p| (1..=99).contains(p))
            .ok_or_else(|| FieldError::new("warn_percent", "a whole number 1 to 99"))?,
    };
    let actions = match map.get("actions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.len() <= MAX_ACTIONS => list
            .iter()
            .enumerate()
            .map(|(i, a)| parse_action(i, a))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(FieldError::new(
                "actions",
                format!("a list of at most {MAX_ACTIONS} actions"),
            ));
        }
    };
    Ok(PolicyValues {
        name,
        position,
        enabled,
        inbox_id,
        priority,
        team_id,
        label,
        first_response_secs,
        next_response_secs,
        resolution_secs,
        warn_percent,
        actions: actions_json(&actions).to_string(),
    })
}

/// The stored and answered form of a policy's actions.
pub(crate) fn actions_json(actions: &[StagedAction]) -> Value {
    Value::Array(
        actions
            .iter()
            .map(|a| {
                let mut v = match &a.action {
                    Action::RaisePriority(p) => {
                        json!({"do": "raise_priority", "priority": p.as_str()})
                    }
                    Action::SetTeam(t) => json!({"do": "set_team", "team_id": t.to_string()}),
                    Action::Unassign => json!({"do": "unassign"}),
                    Action::AddLabel(l) => json!({"do": "add_label", "label": l}),
                    Action::Notify(to) => json!({"do": "notify", "to": to.names()}),
                };
                v["on"] = json!(a.on.as_str());
                v
            })
            .collect(),
    )
}

fn optional_id(value: Option<&Value>, field: &str) -> Result<Option<i64>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let id = match v {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            id.filter(|i| *i > 0).map(Some).ok_or_else(|| {
                FieldError::new(field, "an id (a string of digits), or null for any")
            })
        }
    }
}

fn parse_action(i: usize, value: &Value) -> Result<StagedAction, FieldError> {
    let field = format!("actions[{i}]");
    let on = match value.get("on").and_then(Value::as_str) {
        Some("warning") => Stage::Warning,
        Some("breach") => Stage::Breach,
        _ => {
            return Err(FieldError::new(
                format!("{field}.on"),
                "\"warning\" or \"breach\"",
            ));
        }
    };
    let action = match value.get("do").and_then(Value::as_str) {
        Some("raise_priority") => Action::RaisePriority(
            value
                .get("priority")
                .and_then(Value::as_str)
                .and_then(|p| p.parse::<Priority>().ok())
                .filter(|p| *p != Priority::None)
                .ok_or_else(|| {
                    FieldError::new(
                        format!("{field}.priority"),
                        "one of low, medium, high, urgent",
                    )
                })?,
        ),
        Some("set_team") => Action::SetTeam(
            optional_id(value.get("team_id"), &format!("{field}.team_id"))?
                .ok_or_else(|| FieldError::new(format!("{field}.team_id"), "required"))?,
        ),
        Some("unassign") => Action::Unassign,
        Some("add_label") => Action::AddLabel(
            value
                .get("label")
                .and_then(Value::as_str)
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty() && l.chars().count() <= 50)
                .ok_or_else(|| {
                    FieldError::new(format!("{field}.label"), "a label name, 1 to 50 characters")
                })?,
        ),
        Some("notify") => {
            let bad = || {
                FieldError::new(
                    format!("{field}.to"),
                    "a list of assignee, team, admins (at least one)",
                )
            };
            let mut to = NotifyTargets::default();
            for name in value.get("to").and_then(Value::as_array).ok_or_else(bad)? {
                match name.as_str() {
                    Some("assignee") => to.assignee = true,
                    Some("team") => to.team = true,
                    Some("admins") => to.admins = true,
                    _ => return Err(bad()),
                }
            }
            if to == NotifyTargets::default() {
                return Err(bad());
            }
            Action::Notify(to)
        }
        _ => {
            return Err(FieldError::new(
                format!("{field}.do"),
                "one of raise_priority, set_team, unassign, add_label, notify",
            ));
        }
    };
    Ok(StagedAction { on, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: i64, position: i64, doc: Value) -> Policy {
        let f = parse_policy(&doc).unwrap_or_else(|e| panic!("{e}"));
        let row = PolicyRow {
            id,
            name: f.name,
            position,
            enabled: f.enabled,
            inbox_id: f.inbox_id,
            priority: f.priority,
            team_id: f.team_id,
            label: f.label,
            first_response_secs: f.first_response_secs,
            next_response_secs: f.next_response_secs,
            resolution_secs: f.resolution_secs,
            warn_percent: f.warn_percent,
            actions: f.actions,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
        };
        Policy::from_row(&row)
    }

    #[test]
    fn the_first_matching_policy_by_position_applies() {
        let general = policy(1, 10, json!({"name": "all", "first_response_secs": 3600}));
        let urgent = policy(
            2,
            1,
            json!({"name": "urgent billing", "priority": "urgent", "inbox_id": "7", "first_response_secs": 600}),
        );
        let labelled = policy(
            3,
            5,
            json!({"name": "vip", "label": "VIP", "resolution_secs": 60}),
        );
        let all = [general, urgent, labelled];
        let subject = |inbox, priority, labels: &'static [String]| Subject {
            inbox_id: Some(inbox),
            priority,
            team_id: None,
            labels,
        };
        assert_eq!(
            choose(&all, subject(7, Priority::Urgent, &[])).map(|p| p.id),
            Some(2)
        );
        assert_eq!(
            choose(&all, subject(8, Priority::Urgent, &[])).map(|p| p.id),
            Some(1)
        );
        static VIP: [String; 0] = [];
        assert_eq!(
            choose(&all, subject(8, Priority::Low, &VIP)).map(|p| p.id),
            Some(1)
        );
        let vip = vec!["vip".to_owned()];
        let s = Subject {
            inbox_id: Some(8),
            priority: Priority::Low,
            team_id: None,
            labels: &vip,
        };
        assert_eq!(
            choose(&all, s).map(|p| p.id),
            Some(3),
            "labels are lower-cased"
        );
    }

    #[test]
    fn actions_round_trip_and_bad_ones_name_their_field() {
        let doc = json!({"name": "p", "resolution_secs": 60, "actions": [
            {"on": "warning", "do": "add_label", "label": "Late"},
            {"on": "breach", "do": "raise_priority", "priority": "urgent"},
            {"on": "breach", "do": "set_team", "team_id": "4"},
            {"on": "breach", "do": "unassign"}
        ]});
        let p = policy(1, 0, doc);
        assert_eq!(
            p.actions_on(Stage::Breach).cloned().collect::<Vec<_>>(),
            vec![
                Action::RaisePriority(Priority::Urgent),
                Action::SetTeam(4),
                Action::Unassign
            ]
        );
        assert_eq!(
            p.actions_on(Stage::Warning).cloned().collect::<Vec<_>>(),
            vec![Action::AddLabel("late".into())]
        );
        // Without a notify action the assignee hears it; with some, their targets together.
        assert_eq!(p.notify_targets(Stage::Breach), NotifyTargets::DEFAULT);
        let told = policy(
            2,
            0,
            json!({"name": "n", "resolution_secs": 60, "actions": [
                {"on": "breach", "do": "notify", "to": ["team"]},
                {"on": "breach", "do": "notify", "to": ["admins", "team"]}
            ]}),
        );
        assert_eq!(
            told.notify_targets(Stage::Breach),
            NotifyTargets {
                assignee: false,
                team: true,
                admins: true
            }
        );
        assert_eq!(told.notify_targets(Stage::Warning), NotifyTargets::DEFAULT);
        assert_eq!(
            actions_json(&told.actions)[1],
            json!({"on": "breach", "do": "notify", "to": ["team", "admins"]})
        );
        let field = |doc: Value| {
            parse_policy(&doc)
                .err()
                .map(|e| e.field)
                .unwrap_or_default()
        };
        assert_eq!(field(json!({"name": "p"})), "first_response_secs");
        assert_eq!(
            field(json!({"name": "p", "resolution_secs": -5})),
            "resolution_secs"
        );
        assert_eq!(
            field(json!({"name": "p", "resolution_secs": 60, "warn_percent": 100})),
            "warn_percent"
        );
        assert_eq!(field(json!({"resolution_secs": 60})), "name");
        assert_eq!(
            field(json!({"name": "p", "resolution_secs": 60, "priority": "asap"})),
            "priority"
        );
        assert_eq!(
            field(json!({"name": "p", "resolution_secs": 60, "inbox_id": "x"})),
            "inbox_id"
        );
        assert_eq!(
            field(
                json!({"name": "p", "resolution_secs": 60, "actions": [{"on": "later", "do": "unassign"}]})
            ),
            "actions[0].on"
        );
        assert_eq!(
            field(
                json!({"name": "p", "resolution_secs": 60, "actions": [{"on": "breach", "do": "explode"}]})
            ),
            "actions[0].do"
        );
        for to in [json!(["everyone"]), json!([]), json!("team"), Value::Null] {
            assert_eq!(
                field(json!({"name": "p", "resolution_secs": 60,
                    "actions": [{"on": "breach", "do": "notify", "to": to}]})),
                "actions[0].to"
            );
        }
        assert_eq!(
            field(json!({"name": "p", "resolution_secs": 60, "colour": 1})),
            "colour"
        );
    }
}
