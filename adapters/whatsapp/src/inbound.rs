//! WhatsApp Cloud API webhooks: signature check, subscription handshake and the lenient
//! reading of `object/entry[]/changes[]/value` into normalized events.
//!
//! Bodies are read from `serde_json::Value`, never from strict types: Meta adds fields and
//! message types every few months (usernames and business-scoped user ids in 2025–2026, new
//! interactive replies, group messages), and one missing or unexpected field must never cost
//! the customer's message. The rules here:
//!
//! - Only a body that is not a webhook envelope at all (not JSON, not an object, no `entry`
//!   array, another `object`) is an error; a body meant for another of the app's numbers is
//!   [`InboundError::UnknownAccount`].
//! - Everything inside yields an event, in document order: a message (with a visible note for
//!   every part that could not be shown), a status, a reaction, an identity change, a
//!   satisfaction survey's answer (a tapped reply button or list row whose id is a
//!   [`switchboard_channel::choice_id`]; any other interactive reply is a message with its
//!   title), a [`InboundEvent::Skipped`] with the reason, or an [`InboundEvent::Unreadable`]
//!   whose `raw` is a minimal envelope holding just that item, so [`parse_value`] can replay it
//!   later.
//! - Key order is never assumed, and every optional field may be missing, empty or of another
//!   JSON type than documented (timestamps as numbers, prices as strings).
//!
//! Media arrive as ids, not files: an [`AttachmentRef::source`] is `"{media_id}"`, or
//! `"{media_id}?sha256={sha256}"` when Meta sent the file's hash (base64, as Meta writes it),
//! which the channel client reads to fetch and check the file.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use switchboard_channel::{
    AttachmentRef, ContactProfile, DeliveryState, Forward, Handshake, IdentityChange, InboundError,
    InboundEvent, InboundMessage, ProviderError, Reaction, StatusUpdate, SurveyAnswer, json_int,
    json_type, parse_choice_id,
};

/// The header Meta signs every webhook body with: `sha256=` + hex HMAC-SHA256(app secret).
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The only `object` a WhatsApp Business Account webhook carries.
const WHATSAPP_OBJECT: &str = "whatsapp_business_account";

type Object = Map<String, Value>;

/// Checks `X-Hub-Signature-256` against the raw body in constant time.
pub fn verify_signature(
    app_secret: &str,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), InboundError> {
    if app_secret.is_empty() {
        return Err(InboundError::Unauthorized(
            "this inbox has no app secret configured, so no webhook signature can be checked"
                .to_owned(),
        ));
    }
    let Some(header) = header.map(str::trim).filter(|header| !header.is_empty()) else {
        return Err(InboundError::Unauthorized(format!(
            "{SIGNATURE_HEADER} header is missing; Meta signs every webhook with the app secret"
        )));
    };
    let digits = header
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
        .ok_or_else(|| {
            InboundError::Unauthorized(format!(
                "{SIGNATURE_HEADER} must be `sha256=` followed by 64 hex digits"
            ))
        })?;
    let signature = hex::decode(digits.trim()).map_err(|_| {
        InboundError::Unauthorized(format!("{SIGNATURE_HEADER} is not hex after `sha256=`"))
    })?;
    if signature.len() != 32 {
        return Err(InboundError::Unauthorized(format!(
            "{SIGNATURE_HEADER} has {} hex digits; a SHA-256 HMAC has 64",
            digits.trim().len()
        )));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).map_err(|_| {
        InboundError::Unauthorized("the app secret cannot be used as an HMAC key".to_owned())
    })?;
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| {
        InboundError::Unauthorized(format!(
            "{SIGNATURE_HEADER} does not match the body; check the inbox's app secret"
        ))
    })
}

/// Answers Meta's `GET` subscription check (`hub.mode`, `hub.verify_token`, `hub.challenge`).
pub fn answer_handshake(query: &str, verify_token: &str) -> Handshake {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    match mode.as_deref() {
        Some("subscribe") => {}
        Some(other) => {
            return Handshake::Refused(format!("hub.mode must be `subscribe`, found `{other}`"));
        }
        None => return Handshake::Refused("hub.mode is missing".to_owned()),
    }
    if verify_token.is_empty() {
        return Handshake::Refused("this inbox has no verify token set".to_owned());
    }
    let Some(token) = token else {
        return Handshake::Refused("hub.verify_token is missing".to_owned());
    };
    if !constant_time_eq(token.as_bytes(), verify_token.as_bytes()) {
        return Handshake::Refused(
            "hub.verify_token does not match this inbox's verify token".to_owned(),
        );
    }
    match challenge.filter(|challenge| !challenge.is_empty()) {
        Some(challenge) => Handshake::Accepted(challenge),
        None => Handshake::Refused("hub.challenge is missing".to_owned()),
    }
}

/// Compares two secrets without leaking where (or whether their lengths) they differ: both
/// are hashed first, and the digests compared in full.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    let left = Sha256::digest(left);
    let right = Sha256::digest(right);
    left.iter()
        .zip(right.iter())
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// The business numbers (`metadata.phone_number_id`) a webhook body's changes are for, each
/// once, in order: Meta posts every number of an app to one callback URL, and the hub hands
/// the body to each number's inbox. Unreadable bodies name none.
pub fn phone_number_ids(body: &[u8]) -> Vec<String> {
    let Ok(envelope) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::new();
    let entries = envelope.get("entry").and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let changes = entry.get("changes").and_then(Value::as_array);
        for change in changes.into_iter().flatten() {
            let id = change
                .pointer("/value/metadata/phone_number_id")
                .and_then(|v| match v {
                    Value::String(s) => Some(s.trim().to_owned()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|id| !id.is_empty());
            if let Some(id) = id
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
    ids
}

/// Reads a verified webhook body for the number `phone_number_id`.
pub fn parse_webhook(
    body: &[u8],
    phone_number_id: &str,
) -> Result<Vec<InboundEvent>, InboundError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| InboundError::Malformed(format!("body is not JSON: {e}")))?;
    parse_value(&value, phone_number_id)
}

/// Reads a webhook envelope already parsed as JSON (a replayed unreadable one too).
pub fn parse_value(
    envelope: &Value,
    phone_number_id: &str,
) -> Result<Vec<InboundEvent>, InboundError> {
    let Value::Object(root) = envelope else {
        return Err(InboundError::Malformed(format!(
            "body must be a JSON object (a WhatsApp webhook envelope), found {}",
            json_type(envelope)
        )));
    };
    let object = root.get("object");
    match object {
        None => {}
        Some(Value::String(name)) if name == WHATSAPP_OBJECT => {}
        Some(other) => {
            return Err(InboundError::Malformed(format!(
                "object: must be `{WHATSAPP_OBJECT}`, found {}",
                describe_value(other)
            )));
        }
    }
    let entries = match root.get("entry") {
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(InboundError::Malformed(format!(
                "entry: must be an array, found {}",
                json_type(other)
            )));
        }
        None => {
            return Err(InboundError::Malformed(
                "entry: missing; the body is not a WhatsApp webhook envelope".to_owned(),
            ));
        }
    };
    let mut parser = Parser {
        phone_number_id,
        events: Vec::new(),
        matched: false,
        other_numbers: Vec::new(),
    };
    for entry in entries {
        parser.entry(object, entry);
    }
    if !parser.matched && !parser.other_numbers.is_empty() {
        return Err(InboundError::UnknownAccount(format!(
            "this webhook is for another WhatsApp number: phone_number_id {} is not this \
             inbox's number ({phone_number_id})",
            parser.other_numbers.join(", ")
        )));
    }
    Ok(parser.events)
}

/// Walks one envelope, collecting events in document order.
struct Parser<'a> {
    phone_number_id: &'a str,
    events: Vec<InboundEvent>,
    /// At least one change was for this inbox's number.
    matched: bool,
    /// The other numbers changes were for, to name them when none was for this one.
    other_numbers: Vec<String>,
}

impl Parser<'_> {
    fn unreadable(&mut self, reason: String, raw: Value) {
        self.events.push(InboundEvent::Unreadable { reason, raw });
    }

    fn skip(&mut self, reason: String) {
        self.events.push(InboundEvent::Skipped { reason });
    }

    fn entry(&mut self, object: Option<&Value>, entry: &Value) {
        let object_name = object
            .cloned()
            .unwrap_or_else(|| Value::from(WHATSAPP_OBJECT));
        let Value::Object(entry_object) = entry else {
            self.unreadable(
                format!("an entry is {}, not an object", json_type(entry)),
                json!({ "object": object_name, "entry": [entry] }),
            );
            return;
        };
        let changes = match entry_object.get("changes") {
            Some(Value::Array(changes)) => changes,
            other => {
                let reason = match other {
                    None => "an entry has no `changes`".to_owned(),
                    Some(found) => format!(
                        "an entry's `changes` must be an array, found {}",
                        json_type(found)
                    ),
                };
                self.unreadable(reason, json!({ "object": object_name, "entry": [entry] }));
                return;
            }
        };
        for change in changes {
            let Value::Object(change_object) = change else {
                let mut lone = entry_object.clone();
                lone.insert("changes".to_owned(), json!([change]));
                self.unreadable(
                    format!("a change is {}, not an object", json_type(change)),
                    json!({ "object": object_name, "entry": [lone] }),
                );
                continue;
            };
            let scope = Scope {
                object: object_name.clone(),
                entry_id: entry_object.get("id"),
                field: change_object.get("field"),
            };
            self.change(&scope, change_object);
        }
    }

    fn change(&mut self, scope: &Scope<'_>, change: &Object) {
        // A change without `field` is read as `messages`, the only field an inbox subscribes
        // to; test tools and some relays leave it out.
        match scope.field {
            None => {}
            Some(Value::String(field)) if field == "messages" => {}
            Some(field) => {
                self.skip(format!(
                    "`{}` webhooks are not handled by this inbox",
                    field.as_str().unwrap_or("(not a string)")
                ));
                return;
            }
        }
        let Some(value) = change.get("value").and_then(Value::as_object) else {
            let reason = match change.get("value") {
                None => "a change has no `value`".to_owned(),
                Some(found) => format!(
                    "a change's `value` must be an object, found {}",
                    json_type(found)
                ),
            };
            self.unreadable(reason, scope.envelope_of_change(change));
            return;
        };
        let number = value
            .get("metadata")
            .and_then(Value::as_object)
            .and_then(|metadata| metadata.get("phone_number_id"))
            .and_then(text_of);
        match number {
            Some(number) if number != self.phone_number_id => {
                self.skip(format!(
                    "for another phone number (phone_number_id {number}), not this inbox's ({})",
                    self.phone_number_id
                ));
                if !self.other_numbers.contains(&number) {
                    self.other_numbers.push(number);
                }
                return;
            }
            Some(_) => self.matched = true,
            // No metadata to tell: read it (the signature proved it came from our app).
            None => {}
        }
        let contacts: &[Value] = match value.get("contacts") {
            Some(Value::Array(contacts)) => contacts,
            _ => &[],
        };
        let value_scope = ValueScope {
            scope,
            value,
            contacts,
        };
        let mut lists = 0;
        for key in ["messages", "statuses", "errors"] {
            let Some(list) = value.get(key) else {
                continue;
            };
            lists += 1;
            let Value::Array(items) = list else {
                self.unreadable(
                    format!("`value.{key}` must be an array, found {}", json_type(list)),
                    value_scope.envelope_holding(key, list.clone(), Vec::new()),
                );
                continue;
            };
            for item in items {
                match key {
                    "messages" => self.message(&value_scope, item),
                    "statuses" => self.status(&value_scope, item),
                    _ => self.value_error(&value_scope, item),
                }
            }
        }
        if lists == 0 {
            let mut keys: Vec<&str> = value
                .keys()
                .map(String::as_str)
                .filter(|key| !matches!(*key, "messaging_product" | "metadata" | "contacts"))
                .collect();
            keys.sort_unstable();
            let what = if keys.is_empty() {
                "nothing".to_owned()
            } else {
                keys.iter()
                    .map(|key| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.skip(format!(
                "a change carries no messages, statuses or errors (only {what})"
            ));
        }
    }

    fn message(&mut self, scope: &ValueScope<'_>, item: &Value) {
        let Value::Object(message) = item else {
            self.unreadable(
                format!("a message is {}, not an object", json_type(item)),
                scope.envelope_with("messages", item.clone(), Vec::new()),
            );
            return;
        };
        let ids = SenderIds::of(message);
        let contact = find_contact(scope.contacts, &ids);
        let raw = || {
            scope.envelope_with(
                "messages",
                item.clone(),
                contact
                    .map(|c| Value::Object(c.clone()))
                    .into_iter()
                    .collect(),
            )
        };
        // A tap on one of our survey's buttons is the answer, not a message: it needs a
        // sender but nothing else (no id, name or time), so nothing optional can lose it.
        if let Some((survey_id, rating)) = survey_choice(message)
            && message.get("group_id").and_then(text_of).is_none()
            && let Some(sender) = profile(&ids, contact)
        {
            self.events.push(InboundEvent::SurveyAnswer(SurveyAnswer {
                sender,
                survey_id,
                rating,
                comment: None,
                confirm: None,
                at: field_time(message, "timestamp"),
            }));
            return;
        }
        let Some(external_id) = message.get("id").and_then(text_of) else {
            self.unreadable(
                "a message has no id (`id`), so it cannot be stored".to_owned(),
                raw(),
            );
            return;
        };
        let Some(sender) = profile(&ids, contact) else {
            self.unreadable(
                format!("message {external_id} has no sender (`from` or `from_user_id`)"),
                raw(),
            );
            return;
        };
        if let Some(group) = message.get("group_id").and_then(text_of) {
            self.skip(format!(
                "message {external_id} is from a WhatsApp group ({group}); group messages are not \
                 handled by this inbox"
            ));
            return;
        }
        let at = field_time(message, "timestamp");
        let kind = message_type(message);
        match kind.as_str() {
            "reaction" => {
                let reaction = message.get("reaction").and_then(Value::as_object);
                let Some(target) = reaction.and_then(|r| r.get("message_id")).and_then(text_of)
                else {
                    self.unreadable(
                        format!(
                            "reaction {external_id} does not say which message it reacts to \
                             (`reaction.message_id`)"
                        ),
                        raw(),
                    );
                    return;
                };
                let emoji = reaction
                    .and_then(|r| r.get("emoji"))
                    .and_then(Value::as_str)
                    .filter(|emoji| !emoji.is_empty())
                    .map(str::to_owned);
                self.events.push(InboundEvent::Reaction(Reaction {
                    external_id,
                    target_external_id: target,
                    sender,
                    emoji,
                    at,
                }));
            }
            "system" => self.system(message, external_id, sender, &ids, at),
            _ => {
                let mut inbound = build_message(message, &kind, external_id, sender);
                inbound.provider_at = at;
                self.events.push(InboundEvent::Message(inbound));
            }
        }
    }

    /// A system message (the customer changed their number): the identity change first, so
    /// the hub moves the contact before it stores the notice under the new id.
    fn system(
        &mut self,
        message: &Object,
        external_id: String,
        sender: ContactProfile,
        ids: &SenderIds,
        at: Option<DateTime<Utc>>,
    ) {
        let system = message.get("system").and_then(Value::as_object);
        let system_type = system.and_then(|s| field_str(s, "type")).unwrap_or("");
        let body = system.and_then(|s| field_str(s, "body"));
        let new_identifier = match system_type {
            "user_changed_number" | "customer_changed_number" => system.and_then(|s| {
                s.get("new_wa_id")
                    .and_then(text_of)
                    .or_else(|| s.get("wa_id").and_then(text_of))
                    .map(|id| normalize_wa_id(&id))
                    .filter(|id| !id.is_empty())
            }),
            // A new business-scoped user id only moves the contact when that id is what the
            // hub knows them by (no phone number shared).
            "user_changed_user_id" if ids.wa_id.is_none() => {
                system.and_then(|s| s.get("user_id")).and_then(text_of)
            }
            _ => None,
        }
        .filter(|new| *new != sender.identifier);
        let content = match body {
            Some(body) => format!("[{body}]"),
            None => match &new_identifier {
                Some(new) => format!(
                    "[The customer changed their WhatsApp number from {} to {new}]",
                    sender.identifier
                ),
                None => format!(
                    "[WhatsApp sent a system message ({})]",
                    if system_type.is_empty() {
                        "of no type"
                    } else {
                        system_type
                    }
                ),
            },
        };
        let author = match &new_identifier {
            Some(new) => {
                self.events
                    .push(InboundEvent::IdentityChange(IdentityChange {
                        old_identifier: sender.identifier.clone(),
                        new_identifier: new.clone(),
                        at,
                    }));
                moved_profile(&sender, new, system_type, system)
            }
            None => sender,
        };
        let mut rendered = Rendered::default();
        rendered.line(content);
        if let Some(system) = message.get("system") {
            rendered.keep("system", system);
        }
        errors_notes(&mut rendered, message, "system", None);
        let mut inbound = InboundMessage::new(external_id, author, rendered.content());
        inbound.provider_at = at;
        inbound.extra = rendered.extra;
        apply_envelope_parts(message, &mut inbound);
        self.events.push(InboundEvent::Message(inbound));
    }

    fn status(&mut self, scope: &ValueScope<'_>, item: &Value) {
        let raw = || scope.envelope_with("statuses", item.clone(), Vec::new());
        let Value::Object(status) = item else {
            self.unreadable(
                format!("a status is {}, not an object", json_type(item)),
                raw(),
            );
            return;
        };
        let Some(external_id) = status.get("id").and_then(text_of) else {
            self.unreadable("a status has no message id (`id`)".to_owned(), raw());
            return;
        };
        let state = match field_str(status, "status") {
            Some("sent") => DeliveryState::Sent,
            Some("delivered") => DeliveryState::Delivered,
            Some("read") => DeliveryState::Read,
            Some("failed") => DeliveryState::Failed,
            Some(other) => {
                self.skip(format!(
                    "`{other}` statuses are not tracked (message {external_id})"
                ));
                return;
            }
            None => {
                self.unreadable(
                    format!("the status of message {external_id} has no `status`"),
                    raw(),
                );
                return;
            }
        };
        let error = (state == DeliveryState::Failed).then(|| failure(status));
        self.events.push(InboundEvent::Status(StatusUpdate {
            external_id,
            status: state,
            error,
            at: field_time(status, "timestamp"),
            raw: item.clone(),
        }));
    }

    fn value_error(&mut self, scope: &ValueScope<'_>, item: &Value) {
        let description = match item.as_object() {
            Some(error) => {
                let code = error.get("code").and_then(text_of);
                let title = field_str(error, "title").or_else(|| field_str(error, "message"));
                let details = error_details(error).filter(|details| Some(*details) != title);
                let mut text = [code.as_deref(), title.map(without_period)]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                if text.is_empty() {
                    text = "an error without code or title".to_owned();
                }
                if let Some(details) = details {
                    text.push_str(": ");
                    text.push_str(details);
                }
                text
            }
            None => format!("an error that is {}", json_type(item)),
        };
        self.unreadable(
            format!("WhatsApp reported an error: {description}"),
            scope.envelope_with("errors", item.clone(), Vec::new()),
        );
    }
}

/// Where a change sits in the envelope, to rebuild a minimal envelope around one item.
struct Scope<'a> {
    object: Value,
    entry_id: Option<&'a Value>,
    field: Option<&'a Value>,
}

impl Scope<'_> {
    fn envelope(&self, change: Value) -> Value {
        let mut entry = Object::new();
        if let Some(id) = self.entry_id {
            entry.insert("id".to_owned(), id.clone());
        }
        entry.insert("changes".to_owned(), Value::Array(vec![change]));
        json!({ "object": self.object, "entry": [entry] })
    }

    fn envelope_of_change(&self, change: &Object) -> Value {
        self.envelope(Value::Object(change.clone()))
    }
}

/// One change's `value`, whose items are read one by one.
struct ValueScope<'a> {
    scope: &'a Scope<'a>,
    value: &'a Object,
    contacts: &'a [Value],
}

impl ValueScope<'_> {
    /// A minimal envelope with the same object/entry/changes/value shape, holding `item`
    /// under `key` with the value's metadata and the given contacts, so [`parse_value`] can
    /// replay it alone.
    fn envelope_with(&self, key: &str, item: Value, contacts: Vec<Value>) -> Value {
        self.envelope_holding(key, Value::Array(vec![item]), contacts)
    }

    /// The same envelope with `content` under `key` as it is (a list that is not a list).
    fn envelope_holding(&self, key: &str, content: Value, contacts: Vec<Value>) -> Value {
        let mut value = Object::new();
        for kept in ["messaging_product", "metadata"] {
            if let Some(part) = self.value.get(kept) {
                value.insert(kept.to_owned(), part.clone());
            }
        }
        if !contacts.is_empty() {
            value.insert("contacts".to_owned(), Value::Array(contacts));
        }
        value.insert(key.to_owned(), content);
        let mut change = Object::new();
        change.insert(
            "field".to_owned(),
            self.scope
                .field
                .cloned()
                .unwrap_or_else(|| Value::from("messages")),
        );
        change.insert("value".to_owned(), Value::Object(value));
        self.scope.envelope(Value::Object(change))
    }
}

/// Who sent a message, as the message itself says.
struct SenderIds {
    /// The phone number (`from`), digits only; the customer's key when present.
    wa_id: Option<String>,
    /// The business-scoped user id (`from_user_id`), present from 2026 on.
    user_id: Option<String>,
    parent_user_id: Option<String>,
}

impl SenderIds {
    fn of(message: &Object) -> Self {
        Self {
            wa_id: message
                .get("from")
                .and_then(text_of)
                .map(|from| normalize_wa_id(&from))
                .filter(|from| !from.is_empty()),
            user_id: message.get("from_user_id").and_then(text_of),
            parent_user_id: message.get("from_parent_user_id").and_then(text_of),
        }
    }
}

/// `+16505551234` and `16505551234` are the same WhatsApp id; Meta's `wa_id` has no `+`.
fn normalize_wa_id(id: &str) -> String {
    let id = id.trim();
    match id.strip_prefix('+') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.to_owned()
        }
        _ => id.to_owned(),
    }
}

fn contact_wa_id(contact: &Object) -> Option<String> {
    contact
        .get("wa_id")
        .and_then(text_of)
        .map(|id| normalize_wa_id(&id))
        .filter(|id| !id.is_empty())
}

/// The `contacts[]` entry describing the sender: matched by phone number or user id; a lone
/// entry naming nobody else is taken too (Meta lists only the sender).
fn find_contact<'a>(contacts: &'a [Value], ids: &SenderIds) -> Option<&'a Object> {
    let objects = || contacts.iter().filter_map(Value::as_object);
    let matched = objects().find(|contact| {
        let by_phone = ids
            .wa_id
            .as_ref()
            .is_some_and(|wa_id| contact_wa_id(contact).as_ref() == Some(wa_id));
        let by_user = ids.user_id.as_ref().is_some_and(|user_id| {
            contact.get("user_id").and_then(text_of).as_ref() == Some(user_id)
        });
        by_phone || by_user
    });
    if matched.is_some() {
        return matched;
    }
    let mut all = objects();
    let (Some(only), None) = (all.next(), all.next()) else {
        return None;
    };
    let conflicts = |theirs: Option<String>, ours: &Option<String>| matches!((theirs, ours), (Some(theirs), Some(ours)) if theirs != *ours);
    let differs = conflicts(contact_wa_id(only), &ids.wa_id)
        || conflicts(only.get("user_id").and_then(text_of), &ids.user_id);
    (!differs).then_some(only)
}

/// The sender's profile; `None` when the message names no sender at all. The identifier is
/// the phone number (`wa_id`) when known, else the business-scoped user id.
fn profile(ids: &SenderIds, contact: Option<&Object>) -> Option<ContactProfile> {
    let wa_id = ids
        .wa_id
        .clone()
        .or_else(|| contact.and_then(contact_wa_id));
    let user_id = ids
        .user_id
        .clone()
        .or_else(|| contact.and_then(|c| c.get("user_id")).and_then(text_of));
    let identifier = wa_id.clone().or_else(|| user_id.clone())?;
    let profile_object = contact
        .and_then(|c| c.get("profile"))
        .and_then(Value::as_object);
    let parent_user_id = contact
        .and_then(|c| c.get("parent_user_id"))
        .and_then(text_of)
        .or_else(|| ids.parent_user_id.clone());
    let username = profile_object
        .and_then(|p| p.get("username"))
        .or_else(|| contact.and_then(|c| c.get("username")))
        .and_then(text_of);
    let mut details = Object::new();
    for (key, value) in [
        ("wa_id", &wa_id),
        ("user_id", &user_id),
        ("parent_user_id", &parent_user_id),
        ("username", &username),
    ] {
        if let Some(value) = value {
            details.insert(key.to_owned(), Value::from(value.as_str()));
        }
    }
    Some(ContactProfile {
        identifier,
        name: profile_object
            .and_then(|p| field_str(p, "name"))
            .map(str::to_owned),
        phone: wa_id.as_deref().and_then(phone_of),
        details,
        ..ContactProfile::default()
    })
}

/// `+` and the digits, when a WhatsApp id is a phone number.
fn phone_of(wa_id: &str) -> Option<String> {
    (!wa_id.is_empty() && wa_id.bytes().all(|b| b.is_ascii_digit())).then(|| format!("+{wa_id}"))
}

/// The sender after a number (or user id) change: same person, new identifier.
fn moved_profile(
    old: &ContactProfile,
    new: &str,
    system_type: &str,
    system: Option<&Object>,
) -> ContactProfile {
    let mut profile = old.clone();
    profile.identifier = new.to_owned();
    let new_user_id = system.and_then(|s| s.get("user_id")).and_then(text_of);
    if system_type == "user_changed_user_id" {
        profile
            .details
            .insert("user_id".to_owned(), Value::from(new));
    } else {
        profile.phone = phone_of(new);
        profile.details.insert("wa_id".to_owned(), Value::from(new));
        if let Some(user_id) = new_user_id {
            profile
                .details
                .insert("user_id".to_owned(), Value::from(user_id));
        }
    }
    profile
}

/// Keys every message may carry besides its content.
const ENVELOPE_KEYS: &[&str] = &[
    "from",
    "from_user_id",
    "from_parent_user_id",
    "id",
    "timestamp",
    "type",
    "context",
    "referral",
    "errors",
    "group_id",
    "identity",
];

/// The message's `type`, or for bodies without one the first content key this parser knows.
fn message_type(message: &Object) -> String {
    if let Some(kind) = field_str(message, "type") {
        return kind.to_owned();
    }
    const KNOWN: &[&str] = &[
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "order",
        "system",
        "unsupported",
    ];
    KNOWN
        .iter()
        .find(|key| message.contains_key(**key))
        .map(|key| (*key).to_owned())
        .unwrap_or_default()
}

/// A message's text, files and kept facts, before the notes are joined onto the text.
#[derive(Default)]
struct Rendered {
    lines: Vec<String>,
    notes: Vec<String>,
    attachments: Vec<AttachmentRef>,
    extra: Object,
}

impl Rendered {
    fn line(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// A part that arrived but cannot be shown: a visible note for the agent.
    fn unshowable(&mut self, label: &str, why: &str) {
        self.notes
            .push(format!("[{label} arrived but cannot be shown here: {why}]"));
    }

    fn keep(&mut self, key: &str, value: &Value) {
        self.extra.insert(key.to_owned(), value.clone());
    }

    fn content(&self) -> String {
        self.lines
            .iter()
            .chain(&self.notes)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Reads every part of a message (not a reaction or system message) into an
/// [`InboundMessage`].
fn build_message(
    message: &Object,
    kind: &str,
    external_id: String,
    sender: ContactProfile,
) -> InboundMessage {
    let mut rendered = Rendered::default();
    let payload = message.get(kind);
    match kind {
        "text" => match payload
            .and_then(|text| text.get("body"))
            .and_then(Value::as_str)
            .filter(|body| !body.is_empty())
        {
            Some(body) => rendered.line(body),
            None => rendered.unshowable("A text message", "it has no text"),
        },
        "image" | "video" | "audio" | "document" | "sticker" => {
            media(&mut rendered, kind, payload);
        }
        "location" => location(&mut rendered, payload),
        "contacts" => shared_contacts(&mut rendered, payload),
        "interactive" => interactive(&mut rendered, payload),
        "button" => {
            let button = payload.and_then(Value::as_object);
            let text = button
                .and_then(|b| field_str(b, "text"))
                .or_else(|| button.and_then(|b| field_str(b, "payload")));
            match text {
                Some(text) => rendered.line(text),
                None => rendered.unshowable("A button reply", "it has no text"),
            }
            if let Some(payload) = payload {
                rendered.keep("button", payload);
            }
        }
        "order" => order(&mut rendered, payload),
        "request_welcome" => rendered.line("[The customer opened a chat with you]"),
        "unsupported" => {
            if let Some(payload) = payload {
                rendered.keep("unsupported", payload);
            }
        }
        "" => {
            rendered.unshowable("A message", "it has no type");
            for (key, value) in message {
                if !ENVELOPE_KEYS.contains(&key.as_str()) {
                    rendered.keep(key, value);
                }
            }
        }
        other => {
            rendered.notes.push(format!(
                "[A message arrived but cannot be shown here: its type (`{other}`) is unknown \
                 here]"
            ));
            if let Some(payload) = payload {
                rendered.keep(other, payload);
            }
        }
    }
    errors_notes(&mut rendered, message, kind, payload);
    let mut inbound = InboundMessage::new(external_id, sender, rendered.content());
    inbound.attachments = rendered.attachments;
    inbound.extra = rendered.extra;
    apply_envelope_parts(message, &mut inbound);
    inbound
}

/// What every kind of message can carry besides its content: the message it answers, a
/// forward marker, the ad that started the chat.
fn apply_envelope_parts(message: &Object, inbound: &mut InboundMessage) {
    if let Some(context) = message.get("context").and_then(Value::as_object) {
        inbound.reply_to_external_id = context.get("id").and_then(text_of);
        let flag = |key: &str| context.get(key).and_then(Value::as_bool).unwrap_or(false);
        if flag("frequently_forwarded") {
            inbound.forwarded = Some(Forward {
                from: "Forwarded many times".to_owned(),
                date: None,
            });
        } else if flag("forwarded") {
            inbound.forwarded = Some(Forward {
                from: "Forwarded".to_owned(),
                date: None,
            });
        }
        if let Some(product) = context.get("referred_product") {
            inbound
                .extra
                .insert("referred_product".to_owned(), product.clone());
        }
    }
    if let Some(referral) = message.get("referral") {
        inbound
            .extra
            .insert("referral".to_owned(), referral.clone());
    }
}

/// The label a media kind goes by in notes.
fn media_label(kind: &str, payload: Option<&Object>) -> &'static str {
    match kind {
        "image" => "An image",
        "video" => "A video",
        "audio"
            if payload
                .and_then(|p| p.get("voice"))
                .and_then(Value::as_bool)
                == Some(true) =>
        {
            "A voice message"
        }
        "audio" => "An audio file",
        "document" => "A document",
        _ => "A sticker",
    }
}

/// An image, video, audio, document or sticker: one attachment fetched by media id later.
fn media(rendered: &mut Rendered, kind: &str, payload: Option<&Value>) {
    let object = payload.and_then(Value::as_object);
    let label = media_label(kind, object);
    let caption = object.and_then(|o| field_str(o, "caption"));
    if let Some(caption) = caption {
        rendered.line(caption);
    } else if kind == "sticker" {
        rendered.line("[Sticker]");
    }
    let Some(object) = object else {
        rendered.unshowable(label, "its description is missing");
        return;
    };
    let Some(media_id) = object.get("id").and_then(text_of) else {
        rendered.unshowable(label, "it has no media id");
        return;
    };
    // The id is written into the source before `?sha256=` and into a Graph URL path: one
    // with `?`, `/`, `.` or the like would make a reference the channel cannot open (or one
    // whose id and checksum read differently), so it is a note, not a file.
    if !is_media_id(&media_id) {
        rendered.unshowable(label, "its media id is not one WhatsApp serves files by");
        return;
    }
    let source = match object.get("sha256").and_then(text_of) {
        Some(sha256) => format!("{media_id}?sha256={sha256}"),
        None => media_id,
    };
    let file_name = (kind == "document")
        .then(|| field_str(object, "filename"))
        .flatten()
        .map(str::to_owned);
    rendered.attachments.push(AttachmentRef {
        source,
        file_name,
        content_type: field_str(object, "mime_type").map(str::to_owned),
        byte_size: object
            .get("file_size")
            .and_then(json_int)
            .and_then(|size| u64::try_from(size).ok()),
        content_id: None,
        data: None,
    });
}

/// Whether `id` can be a Graph media id (digits as Meta sends them; letters, `_` and `-` are
/// taken too): what the channel accepts in a media reference.
fn is_media_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A coordinate however it was written (`37.44`, `"37.44"`), in its shortest exact form.
fn coordinate(value: &Value) -> Option<String> {
    let number = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    number.is_finite().then(|| number.to_string())
}

fn location(rendered: &mut Rendered, payload: Option<&Value>) {
    let Some((payload, object)) = payload.and_then(|p| Some((p, p.as_object()?))) else {
        rendered.unshowable("A location", "its description is missing");
        return;
    };
    let place = [field_str(object, "name"), field_str(object, "address")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" — ");
    let mut text = if place.is_empty() {
        "📍 Location".to_owned()
    } else {
        format!("📍 {place}")
    };
    let latitude = object.get("latitude").and_then(coordinate);
    let longitude = object.get("longitude").and_then(coordinate);
    if let (Some(latitude), Some(longitude)) = (&latitude, &longitude) {
        text.push_str(&format!(
            "\nhttps://maps.google.com/?q={latitude},{longitude}"
        ));
    }
    if let Some(url) = field_str(object, "url") {
        text.push('\n');
        text.push_str(url);
    }
    rendered.line(text);
    if latitude.is_none() || longitude.is_none() {
        rendered
            .notes
            .push("[The location has no coordinates, so no map link can be shown]".to_owned());
    }
    rendered.keep("location", payload);
}

/// `value (TYPE)`, or just `value` when the entry has no type.
fn typed(value: &str, kind: Option<&str>) -> String {
    match kind {
        Some(kind) => format!("{value} ({kind})"),
        None => value.to_owned(),
    }
}

/// Shared contact cards (vCards), listed for the agent: name, phones, emails, organization.
fn shared_contacts(rendered: &mut Rendered, payload: Option<&Value>) {
    let Some((payload, cards)) = payload
        .and_then(|p| Some((p, p.as_array()?)))
        .filter(|(_, cards)| !cards.is_empty())
    else {
        rendered.unshowable("A shared contact", "it lists no contacts");
        if let Some(payload) = payload {
            rendered.keep("contacts", payload);
        }
        return;
    };
    let mut blocks = Vec::new();
    for card in cards {
        let Some(card) = card.as_object() else {
            blocks.push("Shared contact: (unreadable card)".to_owned());
            continue;
        };
        let name_object = card.get("name").and_then(Value::as_object);
        let name = name_object
            .and_then(|n| field_str(n, "formatted_name"))
            .map(str::to_owned)
            .or_else(|| {
                let parts = ["prefix", "first_name", "middle_name", "last_name", "suffix"]
                    .into_iter()
                    .filter_map(|key| name_object.and_then(|n| field_str(n, key)))
                    .collect::<Vec<_>>();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
            .unwrap_or_else(|| "(no name)".to_owned());
        let mut lines = vec![format!("Shared contact: {name}")];
        let list = |key: &str| -> Vec<&Object> {
            card.get(key)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_object).collect())
                .unwrap_or_default()
        };
        for phone in list("phones") {
            let number = field_str(phone, "phone").map(str::to_owned).or_else(|| {
                phone
                    .get("wa_id")
                    .and_then(text_of)
                    .map(|id| format!("+{id}"))
            });
            if let Some(number) = number {
                lines.push(format!(
                    "Phone: {}",
                    typed(&number, field_str(phone, "type"))
                ));
            }
        }
        for email in list("emails") {
            if let Some(address) = field_str(email, "email") {
                lines.push(format!(
                    "Email: {}",
                    typed(address, field_str(email, "type"))
                ));
            }
        }
        if let Some(org) = card.get("org").and_then(Value::as_object) {
            let parts = ["company", "department", "title"]
                .into_iter()
                .filter_map(|key| field_str(org, key))
                .collect::<Vec<_>>();
            if !parts.is_empty() {
                lines.push(format!("Organization: {}", parts.join(", ")));
            }
        }
        for address in list("addresses") {
            let city_line = [
                field_str(address, "city"),
                field_str(address, "state"),
                field_str(address, "zip"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            let parts = [
                field_str(address, "street").map(str::to_owned),
                (!city_line.is_empty()).then_some(city_line),
                field_str(address, "country").map(str::to_owned),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
            if !parts.is_empty() {
                lines.push(format!(
                    "Address: {}",
                    typed(&parts.join(", "), field_str(address, "type"))
                ));
            }
        }
        for url in list("urls") {
            if let Some(link) = field_str(url, "url") {
                lines.push(format!("Website: {}", typed(link, field_str(url, "type"))));
            }
        }
        if let Some(birthday) = field_str(card, "birthday") {
            lines.push(format!("Birthday: {birthday}"));
        }
        blocks.push(lines.join("\n"));
    }
    rendered.line(blocks.join("\n\n"));
    rendered.keep("contacts", payload);
}

/// The survey and rating a message answers: an interactive reply (a reply button or a list
/// row) whose id is a [`switchboard_channel::choice_id`]. Any other message, or a reply to
/// another button, is `None` and read as a message. Without `interactive.type` the reply is
/// whichever of `button_reply` and `list_reply` is there.
fn survey_choice(message: &Object) -> Option<(String, i64)> {
    if message_type(message) != "interactive" {
        return None;
    }
    let interactive = message.get("interactive")?.as_object()?;
    let reply = match field_str(interactive, "type") {
        Some(kind @ ("button_reply" | "list_reply")) => interactive.get(kind),
        Some(_) => None,
        None => interactive
            .get("button_reply")
            .or_else(|| interactive.get("list_reply")),
    }?;
    let id = reply.as_object()?.get("id").and_then(text_of)?;
    parse_choice_id(&id)
}

/// A tap on a reply button or list row, or a completed form (Flow, address message).
fn interactive(rendered: &mut Rendered, payload: Option<&Value>) {
    let Some((payload, object)) = payload.and_then(|p| Some((p, p.as_object()?))) else {
        rendered.unshowable("An interactive reply", "its description is missing");
        return;
    };
    rendered.keep("interactive", payload);
    let sub_type = field_str(object, "type").unwrap_or("");
    let reply = object.get(sub_type).and_then(Value::as_object);
    match sub_type {
        "button_reply" | "list_reply" => {
            let title = reply
                .and_then(|r| field_str(r, "title"))
                .or_else(|| reply.and_then(|r| field_str(r, "id")));
            let Some(title) = title else {
                rendered.unshowable("An interactive reply", "it has no title");
                return;
            };
            match reply.and_then(|r| field_str(r, "description")) {
                Some(description) => rendered.line(format!("{title}\n{description}")),
                None => rendered.line(title),
            }
        }
        "nfm_reply" => {
            // Flows answer with the placeholder body "Sent"; the answers are in
            // `response_json` then. Address messages put a readable address in `body`.
            let body = reply
                .and_then(|r| field_str(r, "body"))
                .filter(|body| *body != "Sent");
            if let Some(body) = body {
                rendered.line(body);
                return;
            }
            let response = reply.and_then(|r| r.get("response_json"));
            let parsed = match response {
                Some(Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
                Some(other) => Some(other.clone()),
                None => None,
            };
            match parsed.as_ref().and_then(render_form) {
                Some(text) => rendered.line(text),
                None => rendered.unshowable("A form reply", "its answers could not be read"),
            }
        }
        "" => rendered.unshowable("An interactive reply", "it has no type"),
        other => rendered.unshowable(
            "An interactive reply",
            &format!("its type (`{other}`) is unknown here"),
        ),
    }
}

/// A form's answers as `key: value` lines (the technical `flow_token` left out).
fn render_form(answers: &Value) -> Option<String> {
    let object = answers.as_object()?;
    let mut keys: Vec<&String> = object.keys().filter(|key| *key != "flow_token").collect();
    keys.sort();
    let lines = keys
        .into_iter()
        .map(|key| {
            let value = &object[key.as_str()];
            let shown = match value {
                Value::String(text) => text.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            format!("{key}: {shown}")
        })
        .collect::<Vec<_>>();
    Some(if lines.is_empty() {
        "Form submitted (no answers)".to_owned()
    } else {
        format!("Form submitted:\n{}", lines.join("\n"))
    })
}

/// An amount in hundredths, from a price however it was written (`30`, `7.99`, `"7.99"`).
fn cents(value: &Value) -> Option<i64> {
    let number = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let scaled = (number * 100.0).round();
    (scaled.is_finite() && scaled.abs() < 9.0e15).then_some(scaled as i64)
}

fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    if cents.is_multiple_of(100) {
        format!("{sign}{}", cents / 100)
    } else {
        format!("{sign}{}.{:02}", cents / 100, cents % 100)
    }
}

/// A catalog order: the customer's text, each item and the total per currency.
fn order(rendered: &mut Rendered, payload: Option<&Value>) {
    let Some((payload, object)) = payload.and_then(|p| Some((p, p.as_object()?))) else {
        rendered.unshowable("An order", "its description is missing");
        return;
    };
    rendered.keep("order", payload);
    if let Some(text) = field_str(object, "text") {
        rendered.line(text);
    }
    let items: &[Value] = match object.get("product_items") {
        Some(Value::Array(items)) => items,
        _ => &[],
    };
    let mut lines = vec![match object.get("catalog_id").and_then(text_of) {
        Some(catalog) => format!("🛒 Order (catalog {catalog}):"),
        None => "🛒 Order:".to_owned(),
    }];
    let mut totals: Vec<(String, i64)> = Vec::new();
    let mut incomplete = false;
    for item in items.iter().filter_map(Value::as_object) {
        let product = item
            .get("product_retailer_id")
            .and_then(text_of)
            .unwrap_or_else(|| "(unknown product)".to_owned());
        let quantity = item.get("quantity").and_then(json_int);
        let price = item.get("item_price").and_then(cents);
        let currency = field_str(item, "currency").unwrap_or("").to_owned();
        let with_currency = |amount: i64| {
            if currency.is_empty() {
                format_cents(amount)
            } else {
                format!("{} {currency}", format_cents(amount))
            }
        };
        let mut line = format!(
            "• {} × {product}",
            quantity.map_or_else(|| "?".to_owned(), |q| q.to_string())
        );
        match (quantity, price) {
            (Some(quantity), Some(price)) => {
                let sum = price.saturating_mul(quantity);
                line.push_str(&format!(
                    " @ {} = {}",
                    with_currency(price),
                    with_currency(sum)
                ));
                match totals.iter_mut().find(|(c, _)| *c == currency) {
                    Some((_, total)) => *total = total.saturating_add(sum),
                    None => totals.push((currency.clone(), sum)),
                }
            }
            (_, Some(price)) => {
                line.push_str(&format!(" @ {}", with_currency(price)));
                incomplete = true;
            }
            _ => incomplete = true,
        }
        lines.push(line);
    }
    if items.is_empty() {
        rendered.line(lines.remove(0));
        rendered.unshowable("The order's items", "it lists no products");
        return;
    }
    if !totals.is_empty() {
        let total = totals
            .iter()
            .map(|(currency, amount)| {
                if currency.is_empty() {
                    format_cents(*amount)
                } else {
                    format!("{} {currency}", format_cents(*amount))
                }
            })
            .collect::<Vec<_>>()
            .join(" + ");
        lines.push(if incomplete {
            format!("Total: {total} (some prices unknown)")
        } else {
            format!("Total: {total}")
        });
    }
    rendered.line(lines.join("\n"));
}

/// A title without its closing full stop, so `title: details` reads as one sentence.
fn without_period(title: &str) -> &str {
    title.strip_suffix('.').unwrap_or(title)
}

/// `details` of a WhatsApp error: `error_data.details`, or the older top-level `details`.
fn error_details(error: &Object) -> Option<&str> {
    error
        .get("error_data")
        .and_then(Value::as_object)
        .and_then(|data| field_str(data, "details"))
        .or_else(|| field_str(error, "details"))
}

/// `title (code): details` for one error of a message or status.
fn describe_error(error: &Object) -> String {
    let title = field_str(error, "title").or_else(|| field_str(error, "message"));
    let code = error.get("code").and_then(text_of);
    let mut text = title.map_or("Unknown error", without_period).to_owned();
    if let Some(code) = code {
        text.push_str(&format!(" ({code})"));
    }
    if let Some(details) = error_details(error).filter(|details| Some(*details) != title) {
        text.push_str(": ");
        text.push_str(details);
    }
    text
}

/// Notes for a message's `errors[]` (an unsupported message always has one), keeping them.
fn errors_notes(rendered: &mut Rendered, message: &Object, kind: &str, payload: Option<&Value>) {
    let errors: Vec<&Object> = message
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let subject = if kind == "unsupported" {
        let unsupported = payload
            .and_then(Value::as_object)
            .and_then(|p| p.get("type"))
            .and_then(text_of);
        match unsupported {
            Some(what) => {
                format!("This message type ({what}) is not supported by WhatsApp Cloud API")
            }
            None => "This message type is not supported by WhatsApp Cloud API".to_owned(),
        }
    } else {
        "WhatsApp reported a problem with this message".to_owned()
    };
    if errors.is_empty() {
        if kind == "unsupported" {
            rendered.notes.push(format!("[{subject}]"));
        }
    } else {
        for error in &errors {
            rendered
                .notes
                .push(format!("[{subject}: {}]", describe_error(error)));
        }
    }
    if let Some(errors) = message.get("errors") {
        rendered.keep("errors", errors);
    }
}

/// Why a status failed: `title: details` of each error (`message` when there is no title).
fn failure(status: &Object) -> ProviderError {
    let errors: Vec<&Object> = status
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let Some(first) = errors.first() else {
        return ProviderError {
            code: None,
            reason: "WhatsApp reported the message as failed without giving a reason".to_owned(),
        };
    };
    let reason = errors
        .iter()
        .map(|error| {
            let title = field_str(error, "title").or_else(|| field_str(error, "message"));
            let details = error_details(error).filter(|details| Some(*details) != title);
            match (title, details) {
                (Some(title), Some(details)) => format!("{}: {details}", without_period(title)),
                (Some(only), None) | (None, Some(only)) => only.to_owned(),
                (None, None) => "Unknown error".to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    ProviderError {
        code: first.get("code").and_then(text_of),
        reason,
    }
}

/// A short description of a value for error messages: strings quoted, others by type.
fn describe_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("`{text}`"),
        other => json_type(other).to_owned(),
    }
}

/// A non-empty id or text however it was written (`"42"`, `42`).
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => {
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        }
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A non-empty string field.
fn field_str<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
}

/// Unix seconds, as Meta writes them (strings) or as numbers.
fn field_time(object: &Object, key: &str) -> Option<DateTime<Utc>> {
    object
        .get(key)
        .and_then(json_int)
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_named_by_a_body_in_order_each_once() {
        let body = br#"{"entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"2"}}},
            {"value":{"metadata":{"phone_number_id":"1"}}}]},
            {"changes":[{"value":{"metadata":{"phone_number_id":"2"}}},{"value":{}}]}]}"#;
        assert_eq!(phone_number_ids(body), ["2", "1"]);
        assert!(phone_number_ids(b"not json").is_empty());
    }

    use super::*;

    /// The number every fixture is addressed to (Meta's documented example id).
    const NUMBER: &str = "106540352242922";
    /// Message ids Meta's examples use.
    const WAMID_A: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
    const WAMID_B: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=";
    const BSUID: &str = "user.9373795779eb6441c8adb2eaee5b848e7dd174ddd302d7db62142f4722d574b6";

    fn fixture(name: &str) -> &'static str {
        match name {
            "text" => include_str!("../tests/fixtures/inbound/text.json"),
            "image" => include_str!("../tests/fixtures/inbound/image.json"),
            "sticker" => include_str!("../tests/fixtures/inbound/sticker.json"),
            "video" => include_str!("../tests/fixtures/inbound/video.json"),
            "audio_voice" => include_str!("../tests/fixtures/inbound/audio_voice.json"),
            "document" => include_str!("../tests/fixtures/inbound/document.json"),
            "location" => include_str!("../tests/fixtures/inbound/location.json"),
            "contacts" => include_str!("../tests/fixtures/inbound/contacts.json"),
            "contacts_full" => include_str!("../tests/fixtures/inbound/contacts_full.json"),
            "interactive_button_reply" => {
                include_str!("../tests/fixtures/inbound/interactive_button_reply.json")
            }
            "interactive_list_reply" => {
                include_str!("../tests/fixtures/inbound/interactive_list_reply.json")
            }
            "interactive_button_reply_survey" => {
                include_str!("../tests/fixtures/inbound/interactive_button_reply_survey.json")
            }
            "interactive_list_reply_survey" => {
                include_str!("../tests/fixtures/inbound/interactive_list_reply_survey.json")
            }
            "interactive_nfm_reply" => {
                include_str!("../tests/fixtures/inbound/interactive_nfm_reply.json")
            }
            "button" => include_str!("../tests/fixtures/inbound/button.json"),
            "reaction" => include_str!("../tests/fixtures/inbound/reaction.json"),
            "reaction_removed" => include_str!("../tests/fixtures/inbound/reaction_removed.json"),
            "order" => include_str!("../tests/fixtures/inbound/order.json"),
            "system_user_changed_number" => {
                include_str!("../tests/fixtures/inbound/system_user_changed_number.json")
            }
            "unsupported" => include_str!("../tests/fixtures/inbound/unsupported.json"),
            "request_welcome" => include_str!("../tests/fixtures/inbound/request_welcome.json"),
            "context_reply" => include_str!("../tests/fixtures/inbound/context_reply.json"),
            "referred_product" => include_str!("../tests/fixtures/inbound/referred_product.json"),
            "forwarded" => include_str!("../tests/fixtures/inbound/forwarded.json"),
            "referral_ad" => include_str!("../tests/fixtures/inbound/referral_ad.json"),
            "status_sent" => include_str!("../tests/fixtures/inbound/status_sent.json"),
            "status_delivered" => include_str!("../tests/fixtures/inbound/status_delivered.json"),
            "status_read" => include_str!("../tests/fixtures/inbound/status_read.json"),
            "status_failed" => include_str!("../tests/fixtures/inbound/status_failed.json"),
            "statuses_out_of_order" => {
                include_str!("../tests/fixtures/inbound/statuses_out_of_order.json")
            }
            "batch" => include_str!("../tests/fixtures/inbound/batch.json"),
            "value_errors" => include_str!("../tests/fixtures/inbound/value_errors.json"),
            "identity_bsuid" => include_str!("../tests/fixtures/inbound/identity_bsuid.json"),
            "other_number" => include_str!("../tests/fixtures/inbound/other_number.json"),
            "mixed_numbers" => include_str!("../tests/fixtures/inbound/mixed_numbers.json"),
            "template_status_update" => {
                include_str!("../tests/fixtures/inbound/template_status_update.json")
            }
            "reversed_keys" => include_str!("../tests/fixtures/inbound/reversed_keys.json"),
            "unknown_type" => include_str!("../tests/fixtures/inbound/unknown_type.json"),
            "group_message" => include_str!("../tests/fixtures/inbound/group_message.json"),
            other => panic!("no fixture {other}"),
        }
    }

    fn fixture_value(name: &str) -> Value {
        serde_json::from_str(fixture(name)).expect("fixture is JSON")
    }

    fn parse(name: &str) -> Vec<InboundEvent> {
        parse_webhook(fixture(name).as_bytes(), NUMBER).expect("fixture parses")
    }

    /// Parses a fixture after changing it, for variants of one documented payload.
    fn parse_modified(name: &str, change: impl FnOnce(&mut Value)) -> Vec<InboundEvent> {
        let mut value = fixture_value(name);
        change(&mut value);
        let body = serde_json::to_vec(&value).expect("serializes");
        parse_webhook(&body, NUMBER).expect("modified fixture parses")
    }

    /// The first message object of a fixture, to change it in place.
    fn first_message(value: &mut Value) -> &mut Object {
        value["entry"][0]["changes"][0]["value"]["messages"][0]
            .as_object_mut()
            .expect("message is an object")
    }

    fn at(seconds: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(seconds, 0)
    }

    fn object(value: Value) -> Object {
        match value {
            Value::Object(object) => object,
            other => panic!("not an object: {other}"),
        }
    }

    fn person(wa_id: &str, name: Option<&str>) -> ContactProfile {
        ContactProfile {
            identifier: wa_id.to_owned(),
            name: name.map(str::to_owned),
            phone: Some(format!("+{wa_id}")),
            details: object(json!({ "wa_id": wa_id })),
            ..ContactProfile::default()
        }
    }

    fn sheena() -> ContactProfile {
        person("16505551234", Some("Sheena Nelson"))
    }

    fn message(
        external_id: &str,
        sender: ContactProfile,
        content: &str,
        seconds: i64,
    ) -> InboundMessage {
        InboundMessage {
            provider_at: at(seconds),
            ..InboundMessage::new(external_id, sender, content)
        }
    }

    fn attachment(source: &str, file_name: Option<&str>, content_type: &str) -> AttachmentRef {
        AttachmentRef {
            source: source.to_owned(),
            file_name: file_name.map(str::to_owned),
            content_type: Some(content_type.to_owned()),
            byte_size: None,
            content_id: None,
            data: None,
        }
    }

    fn only_message(events: Vec<InboundEvent>) -> InboundMessage {
        match <[InboundEvent; 1]>::try_from(events) {
            Ok([InboundEvent::Message(message)]) => message,
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key fits");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    // ---- signatures -------------------------------------------------------------------

    const SECRET: &str = "6a1f0c5b9e2d4f7a8b3c1d0e9f8a7b6c";

    #[test]
    fn signature_accepts_the_right_hmac() {
        let body = fixture("text").as_bytes();
        let header = format!("sha256={}", sign(SECRET, body));
        assert_eq!(verify_signature(SECRET, Some(&header), body), Ok(()));
    }

    #[test]
    fn signature_accepts_uppercase_hex_and_prefix() {
        let body = fixture("text").as_bytes();
        let digits = sign(SECRET, body).to_uppercase();
        assert_eq!(
            verify_signature(SECRET, Some(&format!("sha256={digits}")), body),
            Ok(())
        );
        assert_eq!(
            verify_signature(SECRET, Some(&format!(" SHA256={digits} ")), body),
            Ok(())
        );
    }

    #[test]
    fn signature_refuses_a_wrong_hmac() {
        let body = fixture("text").as_bytes();
        let other_secret = format!("sha256={}", sign("another-secret", body));
        let other_body = format!("sha256={}", sign(SECRET, b"{}"));
        for header in [other_secret, other_body] {
            assert_eq!(
                verify_signature(SECRET, Some(&header), body),
                Err(InboundError::Unauthorized(
                    "X-Hub-Signature-256 does not match the body; check the inbox's app secret"
                        .to_owned()
                ))
            );
        }
    }

    #[test]
    fn signature_refuses_a_missing_header() {
        for header in [None, Some(""), Some("   ")] {
            assert_eq!(
                verify_signature(SECRET, header, b"{}"),
                Err(InboundError::Unauthorized(
                    "X-Hub-Signature-256 header is missing; Meta signs every webhook with the \
                     app secret"
                        .to_owned()
                ))
            );
        }
    }

    #[test]
    fn signature_refuses_malformed_values() {
        let body = fixture("text").as_bytes();
        let digits = sign(SECRET, body);
        let cases = [
            (
                digits.clone(),
                "X-Hub-Signature-256 must be `sha256=` followed by 64 hex digits",
            ),
            (
                format!("sha1={digits}"),
                "X-Hub-Signature-256 must be `sha256=` followed by 64 hex digits",
            ),
            (
                "sha256=not-hex-at-all".to_owned(),
                "X-Hub-Signature-256 is not hex after `sha256=`",
            ),
            (
                format!("sha256={}", &digits[..63]),
                "X-Hub-Signature-256 is not hex after `sha256=`",
            ),
            (
                format!("sha256={}", &digits[..40]),
                "X-Hub-Signature-256 has 40 hex digits; a SHA-256 HMAC has 64",
            ),
            (
                "sha256=".to_owned(),
                "X-Hub-Signature-256 has 0 hex digits; a SHA-256 HMAC has 64",
            ),
        ];
        for (header, reason) in cases {
            assert_eq!(
                verify_signature(SECRET, Some(&header), body),
                Err(InboundError::Unauthorized(reason.to_owned())),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn signature_needs_an_app_secret() {
        let header = format!("sha256={}", sign("", b"{}"));
        assert!(matches!(
            verify_signature("", Some(&header), b"{}"),
            Err(InboundError::Unauthorized(_))
        ));
    }

    // ---- handshake --------------------------------------------------------------------

    #[test]
    fn handshake_echoes_the_challenge() {
        assert_eq!(
            answer_handshake(
                "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
                "meatyhamhock"
            ),
            Handshake::Accepted("1158201444".to_owned())
        );
        assert_eq!(
            answer_handshake(
                "?hub.verify_token=meatyhamhock&hub.challenge=42&hub.mode=subscribe",
                "meatyhamhock"
            ),
            Handshake::Accepted("42".to_owned())
        );
    }

    #[test]
    fn handshake_decodes_an_urlencoded_challenge_and_token() {
        assert_eq!(
            answer_handshake(
                "hub.mode=subscribe&hub.verify_token=s%C3%A9cret+token%26more&hub.challenge=a%20b%2Bc%26d%3D%F0%9F%91%8D",
                "sécret token&more"
            ),
            Handshake::Accepted("a b+c&d=👍".to_owned())
        );
    }

    #[test]
    fn handshake_refuses_a_wrong_token() {
        assert_eq!(
            answer_handshake(
                "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess",
                "meatyhamhock"
            ),
            Handshake::Refused(
                "hub.verify_token does not match this inbox's verify token".to_owned()
            )
        );
        assert_eq!(
            answer_handshake("hub.mode=subscribe&hub.challenge=1", "meatyhamhock"),
            Handshake::Refused("hub.verify_token is missing".to_owned())
        );
    }

    #[test]
    fn handshake_refuses_a_wrong_or_missing_mode() {
        assert_eq!(
            answer_handshake(
                "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock",
                "meatyhamhock"
            ),
            Handshake::Refused("hub.mode must be `subscribe`, found `unsubscribe`".to_owned())
        );
        assert_eq!(
            answer_handshake(
                "hub.challenge=1&hub.verify_token=meatyhamhock",
                "meatyhamhock"
            ),
            Handshake::Refused("hub.mode is missing".to_owned())
        );
    }

    #[test]
    fn handshake_refuses_a_missing_challenge() {
        for query in [
            "hub.mode=subscribe&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.verify_token=meatyhamhock&hub.challenge=",
        ] {
            assert_eq!(
                answer_handshake(query, "meatyhamhock"),
                Handshake::Refused("hub.challenge is missing".to_owned()),
                "query {query:?}"
            );
        }
    }

    #[test]
    fn handshake_never_matches_an_empty_verify_token() {
        for query in [
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=",
            "hub.mode=subscribe&hub.challenge=1",
        ] {
            assert_eq!(
                answer_handshake(query, ""),
                Handshake::Refused("this inbox has no verify token set".to_owned())
            );
        }
    }

    // ---- envelope errors --------------------------------------------------------------

    #[test]
    fn body_that_is_not_json_is_malformed() {
        let error = parse_webhook(b"{\"object\": ", NUMBER).expect_err("not JSON");
        assert!(
            matches!(&error, InboundError::Malformed(reason) if reason.starts_with("body is not JSON: ")),
            "{error:?}"
        );
    }

    #[test]
    fn body_that_is_not_an_object_is_malformed() {
        for (body, found) in [
            ("[]", "an array"),
            ("\"hello\"", "a string"),
            ("42", "a number"),
            ("null", "null"),
        ] {
            assert_eq!(
                parse_webhook(body.as_bytes(), NUMBER),
                Err(InboundError::Malformed(format!(
                    "body must be a JSON object (a WhatsApp webhook envelope), found {found}"
                )))
            );
        }
    }

    #[test]
    fn missing_or_wrong_entry_is_malformed() {
        assert_eq!(
            parse_webhook(br#"{"object":"whatsapp_business_account"}"#, NUMBER),
            Err(InboundError::Malformed(
                "entry: missing; the body is not a WhatsApp webhook envelope".to_owned()
            ))
        );
        assert_eq!(
            parse_webhook(
                br#"{"object":"whatsapp_business_account","entry":{}}"#,
                NUMBER
            ),
            Err(InboundError::Malformed(
                "entry: must be an array, found an object".to_owned()
            ))
        );
    }

    #[test]
    fn another_object_is_malformed() {
        assert_eq!(
            parse_webhook(br#"{"object":"instagram","entry":[]}"#, NUMBER),
            Err(InboundError::Malformed(
                "object: must be `whatsapp_business_account`, found `instagram`".to_owned()
            ))
        );
        assert_eq!(
            parse_webhook(br#"{"object":7,"entry":[]}"#, NUMBER),
            Err(InboundError::Malformed(
                "object: must be `whatsapp_business_account`, found a number".to_owned()
            ))
        );
    }

    #[test]
    fn an_empty_entry_list_is_no_events() {
        assert_eq!(
            parse_webhook(
                br#"{"object":"whatsapp_business_account","entry":[]}"#,
                NUMBER
            ),
            Ok(Vec::new())
        );
    }

    #[test]
    fn broken_entries_and_changes_are_unreadable_not_errors() {
        let envelope = json!({
            "object": "whatsapp_business_account",
            "entry": [
                "junk",
                { "id": "1" },
                { "id": "2", "changes": [ 5, { "field": "messages", "value": [] } ] }
            ]
        });
        let events = parse_value(&envelope, NUMBER).expect("envelope reads");
        assert_eq!(
            events,
            vec![
                InboundEvent::Unreadable {
                    reason: "an entry is a string, not an object".to_owned(),
                    raw: json!({ "object": "whatsapp_business_account", "entry": ["junk"] }),
                },
                InboundEvent::Unreadable {
                    reason: "an entry has no `changes`".to_owned(),
                    raw: json!({ "object": "whatsapp_business_account", "entry": [{ "id": "1" }] }),
                },
                InboundEvent::Unreadable {
                    reason: "a change is a number, not an object".to_owned(),
                    raw: json!({
                        "object": "whatsapp_business_account",
                        "entry": [{ "id": "2", "changes": [5] }]
                    }),
                },
                InboundEvent::Unreadable {
                    reason: "a change's `value` must be an object, found an array".to_owned(),
                    raw: json!({
                        "object": "whatsapp_business_account",
                        "entry": [{ "id": "2", "changes": [{ "field": "messages", "value": [] }] }]
                    }),
                },
            ]
        );
        // Each one replays to itself.
        for event in events {
            let InboundEvent::Unreadable { raw, .. } = &event else {
                panic!("not unreadable")
            };
            assert_eq!(parse_value(raw, NUMBER), Ok(vec![event.clone()]));
        }
    }

    #[test]
    fn broken_lists_and_items_replay_to_themselves() {
        let events = parse_modified("text", |value| {
            let change_value = value["entry"][0]["changes"][0]["value"]
                .as_object_mut()
                .expect("value");
            change_value.insert("messages".to_owned(), json!({ "id": "wamid.NOT_A_LIST" }));
            change_value.insert("statuses".to_owned(), json!(["junk"]));
        });
        let reasons: Vec<&str> = events
            .iter()
            .map(|event| match event {
                InboundEvent::Unreadable { reason, .. } => reason.as_str(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "`value.messages` must be an array, found an object",
                "a status is a string, not an object",
            ]
        );
        for event in &events {
            let InboundEvent::Unreadable { raw, .. } = event else {
                panic!("not unreadable")
            };
            assert_eq!(parse_value(raw, NUMBER), Ok(vec![event.clone()]));
        }
    }

    // ---- accounts ---------------------------------------------------------------------

    #[test]
    fn a_body_only_for_another_number_is_unknown_account() {
        assert_eq!(
            parse_webhook(fixture("other_number").as_bytes(), NUMBER),
            Err(InboundError::UnknownAccount(
                "this webhook is for another WhatsApp number: phone_number_id 109876543210987 \
                 is not this inbox's number (106540352242922)"
                    .to_owned()
            ))
        );
        // The same body is fine for the number it is for.
        let events =
            parse_webhook(fixture("other_number").as_bytes(), "109876543210987").expect("parses");
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn a_change_for_another_number_is_skipped_beside_ours() {
        assert_eq!(
            parse("mixed_numbers"),
            vec![
                InboundEvent::Skipped {
                    reason: "for another phone number (phone_number_id 109876543210987), not \
                             this inbox's (106540352242922)"
                        .to_owned()
                },
                InboundEvent::Message(message(
                    WAMID_A,
                    sheena(),
                    "Does it come in another color?",
                    1_749_416_383
                )),
            ]
        );
    }

    #[test]
    fn other_webhook_fields_are_skipped() {
        assert_eq!(
            parse("template_status_update"),
            vec![InboundEvent::Skipped {
                reason: "`message_template_status_update` webhooks are not handled by this inbox"
                    .to_owned()
            }]
        );
    }

    // ---- messages, one per documented type --------------------------------------------

    #[test]
    fn text_message() {
        assert_eq!(
            parse("text"),
            vec![InboundEvent::Message(message(
                WAMID_A,
                sheena(),
                "Does it come in another color?",
                1_749_416_383
            ))]
        );
    }

    #[test]
    fn image_with_caption() {
        let expected = InboundMessage {
            attachments: vec![attachment(
                "1003383421387256?sha256=SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                None,
                "image/jpeg",
            )],
            ..message(WAMID_A, sheena(), "Taj Mahal", 1_744_344_496)
        };
        assert_eq!(parse("image"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn sticker_without_caption() {
        let expected = InboundMessage {
            attachments: vec![attachment(
                "1908647269898587?sha256=wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
                None,
                "image/webp",
            )],
            ..message(WAMID_A, sheena(), "[Sticker]", 1_744_344_496)
        };
        assert_eq!(parse("sticker"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn video_with_caption() {
        let expected = InboundMessage {
            attachments: vec![attachment(
                "731675419373506?sha256=vdGU5X4caz12KwFgYwpljlUNqMt1YnkH+5GkPc3mMnc=",
                None,
                "video/mp4",
            )],
            ..message(WAMID_A, sheena(), "Timelapse of growth", 1_744_344_496)
        };
        assert_eq!(parse("video"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn voice_message_has_no_text() {
        let expected = InboundMessage {
            attachments: vec![attachment(
                "1908647269898587?sha256=wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
                None,
                "audio/ogg; codecs=opus",
            )],
            ..message(WAMID_A, sheena(), "", 1_744_344_496)
        };
        assert_eq!(parse("audio_voice"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn document_keeps_its_file_name() {
        let expected = InboundMessage {
            attachments: vec![attachment(
                "622684793477189?sha256=V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
                Some("receipt.pdf"),
                "application/pdf",
            )],
            ..message(WAMID_A, sheena(), "my receipt", 1_744_344_496)
        };
        assert_eq!(parse("document"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn media_without_sha256_is_the_bare_id() {
        let parsed = parse_modified("image", |value| {
            first_message(value)["image"]
                .as_object_mut()
                .expect("image")
                .remove("sha256");
        });
        assert_eq!(
            only_message(parsed).attachments,
            vec![attachment("1003383421387256", None, "image/jpeg")]
        );
    }

    /// Found by fuzzing (issue #17): an id such as `?` made the source `?sha256=…`, a
    /// reference without an id that the channel could not open.
    #[test]
    fn media_with_an_unusable_id_becomes_a_note() {
        for id in ["?", "12?sha256=AAAA", "../1", "1.2", "a b", "1/2", "#"] {
            let parsed = parse_modified("sticker", |value| {
                first_message(value)["sticker"]["id"] = json!(id);
            });
            let message = only_message(parsed);
            assert_eq!(
                message.content,
                "[Sticker]\n[A sticker arrived but cannot be shown here: its media id is not one \
                 WhatsApp serves files by]",
                "{id}"
            );
            assert!(message.attachments.is_empty(), "{id}");
        }
        let parsed = parse_modified("sticker", |value| {
            first_message(value)["sticker"]["id"] = json!(1908647269898587_u64);
        });
        assert_eq!(
            only_message(parsed).attachments.len(),
            1,
            "numeric ids still read"
        );
    }

    #[test]
    fn media_without_an_id_becomes_a_note() {
        for (fixture_name, kind, note) in [
            (
                "image",
                "image",
                "Taj Mahal\n[An image arrived but cannot be shown here: it has no media id]",
            ),
            (
                "audio_voice",
                "audio",
                "[A voice message arrived but cannot be shown here: it has no media id]",
            ),
            (
                "document",
                "document",
                "my receipt\n[A document arrived but cannot be shown here: it has no media id]",
            ),
            (
                "sticker",
                "sticker",
                "[Sticker]\n[A sticker arrived but cannot be shown here: it has no media id]",
            ),
        ] {
            let parsed = parse_modified(fixture_name, |value| {
                first_message(value)[kind]
                    .as_object_mut()
                    .expect("media object")
                    .remove("id");
            });
            let message = only_message(parsed);
            assert_eq!(message.content, note);
            assert!(message.attachments.is_empty());
        }
        let parsed = parse_modified("video", |value| {
            first_message(value).remove("video");
        });
        assert_eq!(
            only_message(parsed).content,
            "[A video arrived but cannot be shown here: its description is missing]"
        );
    }

    #[test]
    fn location_reads_as_text_with_a_map_link() {
        let expected = InboundMessage {
            extra: object(json!({
                "location": {
                    "address": "101 Forest Ave, Palo Alto, CA 94301",
                    "latitude": 37.44221496582,
                    "longitude": -122.16165924072,
                    "name": "Philz Coffee",
                    "url": "https://philzcoffee.com/"
                }
            })),
            ..message(
                WAMID_B,
                sheena(),
                "📍 Philz Coffee — 101 Forest Ave, Palo Alto, CA 94301\n\
                 https://maps.google.com/?q=37.44221496582,-122.16165924072\n\
                 https://philzcoffee.com/",
                1_744_344_496,
            )
        };
        assert_eq!(parse("location"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn a_bare_pin_is_just_the_map_link() {
        let parsed = parse_modified("location", |value| {
            first_message(value)["location"] = json!({ "latitude": "52.52", "longitude": 13.405 });
        });
        assert_eq!(
            only_message(parsed).content,
            "📍 Location\nhttps://maps.google.com/?q=52.52,13.405"
        );
    }

    #[test]
    fn shared_contact_lists_name_phone_and_organization() {
        let vcards =
            fixture_value("contacts")["entry"][0]["changes"][0]["value"]["messages"][0]["contacts"]
                .clone();
        let expected = InboundMessage {
            extra: object(json!({ "contacts": vcards })),
            ..message(
                WAMID_A,
                sheena(),
                "Shared contact: Barbara J. Johnson\n\
                 Phone: +1 (415) 555-0829 (MOBILE)\n\
                 Organization: Social Tsunami",
                1_744_344_496,
            )
        };
        assert_eq!(parse("contacts"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn shared_contacts_with_every_field() {
        let vcards = fixture_value("contacts_full")["entry"][0]["changes"][0]["value"]["messages"]
            [0]["contacts"]
            .clone();
        let expected = InboundMessage {
            extra: object(json!({ "contacts": vcards })),
            ..message(
                WAMID_B,
                sheena(),
                "Shared contact: Barbara J. Johnson\n\
                 Phone: +14125550829 (CELL)\n\
                 Email: bjohson@socialtsunami.com (Personal)\n\
                 Organization: Social Tsunami, Engineering, Software Engineer\n\
                 Address: 1 Hacker Way, Menlo Park CA 94025, United States (Home)\n\
                 Website: socialtsunami.com (Company)\n\
                 Birthday: 1999-01-23\n\
                 \n\
                 Shared contact: Pablo Morales\n\
                 Phone: +16505550000",
                1_739_321_024,
            )
        };
        assert_eq!(
            parse("contacts_full"),
            vec![InboundEvent::Message(expected)]
        );
    }

    #[test]
    fn button_reply_is_its_title() {
        let expected = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJBM0Y4RUU0RUNFQkFDMjYzQUMA".to_owned(),
            ),
            extra: object(json!({
                "interactive": {
                    "type": "button_reply",
                    "button_reply": { "id": "change-button", "title": "Change" }
                }
            })),
            ..message(
                "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQThBREYwNzc2RDc2QjA1QTIwMgA=",
                person("16505551234", Some("Pablo Morales")),
                "Change",
                1_714_510_003,
            )
        };
        assert_eq!(
            parse("interactive_button_reply"),
            vec![InboundEvent::Message(expected)]
        );
    }

    #[test]
    fn list_reply_is_title_and_description() {
        let expected = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIwMjg0RkMxOEMyMkNEQUFFRDgA".to_owned(),
            ),
            extra: object(json!({
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {
                        "id": "priority_express",
                        "title": "Priority Mail Express",
                        "description": "Next Day to 2 Days"
                    }
                }
            })),
            ..message(
                "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTZDMzFGRUFBQjlDMzIzMzlEQwA=",
                person("16505551234", Some("Pablo Morales")),
                "Priority Mail Express\nNext Day to 2 Days",
                1_712_595_443,
            )
        };
        assert_eq!(
            parse("interactive_list_reply"),
            vec![InboundEvent::Message(expected)]
        );
    }

    // ---- survey answers ----------------------------------------------------------------

    fn answer(survey_id: &str, rating: i64, sender: ContactProfile, seconds: i64) -> InboundEvent {
        InboundEvent::SurveyAnswer(SurveyAnswer {
            sender,
            survey_id: survey_id.to_owned(),
            rating,
            comment: None,
            confirm: None,
            at: at(seconds),
        })
    }

    fn pablo() -> ContactProfile {
        person("16505551234", Some("Pablo Morales"))
    }

    #[test]
    fn a_survey_button_tap_is_an_answer() {
        assert_eq!(
            parse("interactive_button_reply_survey"),
            vec![answer("42", 5, pablo(), 1_714_510_003)]
        );
    }

    #[test]
    fn a_survey_list_row_is_an_answer() {
        assert_eq!(
            parse("interactive_list_reply_survey"),
            vec![answer("42", 4, pablo(), 1_712_595_443)]
        );
    }

    #[test]
    fn a_survey_answer_survives_missing_optional_fields() {
        // No contacts (so no name), no timestamp, no message id, no title, no type.
        for fixture in [
            "interactive_button_reply_survey",
            "interactive_list_reply_survey",
        ] {
            let parsed = parse_modified(fixture, |value| {
                value["entry"][0]["changes"][0]["value"]
                    .as_object_mut()
                    .expect("value")
                    .remove("contacts");
                let message = first_message(value);
                for key in ["timestamp", "id", "context", "type"] {
                    message.remove(key);
                }
                let interactive = message
                    .get_mut("interactive")
                    .and_then(Value::as_object_mut)
                    .expect("interactive");
                interactive.remove("type");
                for reply in interactive.values_mut() {
                    reply.as_object_mut().expect("reply").remove("title");
                }
            });
            let rating = if fixture.contains("button") { 5 } else { 4 };
            assert_eq!(
                parsed,
                vec![InboundEvent::SurveyAnswer(SurveyAnswer {
                    sender: person("16505551234", None),
                    survey_id: "42".to_owned(),
                    rating,
                    comment: None,
                    confirm: None,
                    at: None,
                })],
                "{fixture}"
            );
        }
        // A numeric timestamp and a `+` before the number read as usual.
        let parsed = parse_modified("interactive_button_reply_survey", |value| {
            let message = first_message(value);
            message.insert("timestamp".to_owned(), json!(1_714_510_003));
            message.insert("from".to_owned(), json!("+16505551234"));
        });
        assert_eq!(parsed, vec![answer("42", 5, pablo(), 1_714_510_003)]);
    }

    #[test]
    fn other_interactive_replies_stay_messages() {
        // Ids that are not a survey's choice, or a choice id under another reply type.
        for id in ["csat:42:6", "csat:abc:5", "CSAT:42:5", "csat:42", "yes"] {
            let parsed = parse_modified("interactive_button_reply_survey", |value| {
                first_message(value)["interactive"]["button_reply"]["id"] = Value::from(id);
            });
            assert_eq!(only_message(parsed).content, "👍 Yes, thanks", "{id}");
        }
        let parsed = parse_modified("interactive_button_reply_survey", |value| {
            first_message(value)["interactive"]["type"] = Value::from("nfm_reply");
        });
        assert!(matches!(parsed.as_slice(), [InboundEvent::Message(_)]));
        // The template quick-reply button (`type: button`) is a message even with such a payload.
        let parsed = parse_modified("button", |value| {
            first_message(value)["button"]["payload"] = Value::from("csat:42:5");
        });
        assert!(matches!(parsed.as_slice(), [InboundEvent::Message(_)]));
        // The documented non-survey replies are unchanged.
        assert!(matches!(
            parse("interactive_button_reply").as_slice(),
            [InboundEvent::Message(_)]
        ));
        assert!(matches!(
            parse("interactive_list_reply").as_slice(),
            [InboundEvent::Message(_)]
        ));
    }

    #[test]
    fn a_survey_answer_without_sender_or_in_a_group_is_not_taken() {
        let parsed = parse_modified("interactive_button_reply_survey", |value| {
            value["entry"][0]["changes"][0]["value"]
                .as_object_mut()
                .expect("value")
                .remove("contacts");
            first_message(value).remove("from");
        });
        assert!(
            matches!(parsed.as_slice(), [InboundEvent::Unreadable { reason, .. }]
                if reason.contains("has no sender")),
            "{parsed:?}"
        );
        let parsed = parse_modified("interactive_button_reply_survey", |value| {
            first_message(value).insert("group_id".to_owned(), Value::from("G1"));
        });
        assert!(
            matches!(parsed.as_slice(), [InboundEvent::Skipped { .. }]),
            "{parsed:?}"
        );
    }

    #[test]
    fn a_survey_answer_keeps_its_place_in_a_batch() {
        let parsed = parse_modified("batch", |value| {
            let tap = json!({
                "from": "16505550000",
                "id": "wamid.BATCH.SURVEY",
                "timestamp": "1750300002",
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": { "id": "csat:77:2", "title": "🙁 Dissatisfied" }
                }
            });
            value["entry"][0]["changes"][0]["value"]["messages"]
                .as_array_mut()
                .expect("messages")
                .insert(1, tap);
        });
        let kinds: Vec<String> = parsed
            .iter()
            .map(|event| match event {
                InboundEvent::Message(m) => format!("message {}", m.external_id),
                InboundEvent::SurveyAnswer(a) => {
                    format!(
                        "answer {}:{} from {}",
                        a.survey_id, a.rating, a.sender.identifier
                    )
                }
                InboundEvent::Status(s) => format!("status {}", s.external_id),
                InboundEvent::Skipped { .. } => "skipped".to_owned(),
                InboundEvent::Reaction(r) => format!("reaction {}", r.external_id),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "message wamid.BATCH.1",
                "answer 77:2 from 16505550000",
                "message wamid.BATCH.2",
                "message wamid.BATCH.3",
                "status wamid.OUT.1",
                "status wamid.OUT.2",
                "skipped",
                "reaction wamid.BATCH.4",
            ]
        );
        assert_eq!(
            parsed[1],
            answer(
                "77",
                2,
                person("16505550000", Some("Pablo Morales")),
                1_750_300_002
            )
        );
    }

    #[test]
    fn flow_and_address_replies() {
        let messages =
            fixture_value("interactive_nfm_reply")["entry"][0]["changes"][0]["value"]["messages"]
                .clone();
        let flow = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QjM4MjdGRDNDRjY4Q0U2NjQA".to_owned(),
            ),
            extra: object(json!({ "interactive": messages[0]["interactive"].clone() })),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUY3NTc1QTFEQjM5NzAyNEZFMQA=",
                sheena(),
                "Form submitted:\ndate: 2025-06-20\nservices: repotting, pruning\ntime: 10:30",
                1_750_269_400,
            )
        };
        let address = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTIwNjU1NTAxMDcVAgARGBI3NjNFN0U5QzMzNDlCQjY0M0QA".to_owned(),
            ),
            extra: object(json!({ "interactive": messages[1]["interactive"].clone() })),
            ..message(
                "wamid.HBgLMTIwNjU1NTAxMDcVAgASGCA5RDhBNENEMEQ3RENEOEEzMEI0RUExRDczN0I1NThFQwA=",
                sheena(),
                "CUSTOMER_NAME\n +91xxxxxxxxxx\n 400063, Goregaon, Wing A, Cello Triumph,IB \
                 Patel Rd, Mumbai, 8",
                1_671_498_855,
            )
        };
        assert_eq!(
            parse("interactive_nfm_reply"),
            vec![InboundEvent::Message(flow), InboundEvent::Message(address)]
        );
    }

    #[test]
    fn unreadable_form_answers_and_unknown_interactive_types_become_notes() {
        let parsed = parse_modified("interactive_nfm_reply", |value| {
            first_message(value)["interactive"]["nfm_reply"]["response_json"] =
                Value::from("{not json");
        });
        assert_eq!(
            parsed
                .first()
                .cloned()
                .map(|event| only_message(vec![event]).content),
            Some(
                "[A form reply arrived but cannot be shown here: its answers could not be read]"
                    .to_owned()
            )
        );
        let parsed = parse_modified("interactive_button_reply", |value| {
            first_message(value)["interactive"] = json!({ "type": "call_permission_reply" });
        });
        assert_eq!(
            only_message(parsed).content,
            "[An interactive reply arrived but cannot be shown here: its type \
             (`call_permission_reply`) is unknown here]"
        );
    }

    #[test]
    fn template_button_is_its_text() {
        let expected = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=".to_owned(),
            ),
            extra: object(json!({
                "button": { "payload": "Unsubscribe", "text": "Unsubscribe" }
            })),
            ..message(WAMID_B, sheena(), "Unsubscribe", 1_750_091_045)
        };
        assert_eq!(parse("button"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn reaction_and_its_removal() {
        let reaction = |emoji: Option<&str>| {
            vec![InboundEvent::Reaction(Reaction {
                external_id: WAMID_B.to_owned(),
                target_external_id:
                    "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=".to_owned(),
                sender: sheena(),
                emoji: emoji.map(str::to_owned),
                at: at(1_749_419_544),
            })]
        };
        assert_eq!(parse("reaction"), reaction(Some("👍")));
        assert_eq!(parse("reaction_removed"), reaction(None));
        let empty = parse_modified("reaction", |value| {
            first_message(value)["reaction"]["emoji"] = Value::from("");
        });
        assert_eq!(empty, reaction(None));
    }

    #[test]
    fn a_reaction_without_target_is_unreadable() {
        let parsed = parse_modified("reaction", |value| {
            first_message(value)["reaction"] = json!({ "emoji": "👍" });
        });
        assert!(matches!(
            parsed.as_slice(),
            [InboundEvent::Unreadable { reason, .. }]
                if reason == &format!(
                    "reaction {WAMID_B} does not say which message it reacts to \
                     (`reaction.message_id`)"
                )
        ));
    }

    #[test]
    fn order_lists_items_and_total() {
        let order =
            fixture_value("order")["entry"][0]["changes"][0]["value"]["messages"][0]["order"]
                .clone();
        let expected = InboundMessage {
            extra: object(json!({ "order": order })),
            ..message(
                WAMID_B,
                sheena(),
                "Love these!\n\
                 🛒 Order (catalog 194836987003835):\n\
                 • 2 × di9ozbzfi4 @ 30 USD = 60 USD\n\
                 • 1 × nqryix03ez @ 25 USD = 25 USD\n\
                 Total: 85 USD",
                1_750_096_325,
            )
        };
        assert_eq!(parse("order"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn order_prices_may_be_decimal_and_quantities_strings() {
        let parsed = parse_modified("order", |value| {
            let order = &mut first_message(value)["order"];
            order.as_object_mut().expect("order").remove("text");
            order["product_items"] = json!([
                { "product_retailer_id": "a", "quantity": "3", "item_price": 7.99, "currency": "USD" },
                { "product_retailer_id": "b", "quantity": 1, "item_price": "0.05", "currency": "USD" },
                { "product_retailer_id": "c", "item_price": 1, "currency": "USD" }
            ]);
        });
        assert_eq!(
            only_message(parsed).content,
            "🛒 Order (catalog 194836987003835):\n\
             • 3 × a @ 7.99 USD = 23.97 USD\n\
             • 1 × b @ 0.05 USD = 0.05 USD\n\
             • ? × c @ 1 USD\n\
             Total: 24.02 USD (some prices unknown)"
        );
    }

    #[test]
    fn changed_number_moves_the_identity_before_the_notice() {
        let system = fixture_value("system_user_changed_number")["entry"][0]["changes"][0]["value"]
            ["messages"][0]["system"]
            .clone();
        let expected = vec![
            InboundEvent::IdentityChange(IdentityChange {
                old_identifier: "16505551234".to_owned(),
                new_identifier: "12195555358".to_owned(),
                at: at(1_750_269_342),
            }),
            InboundEvent::Message(InboundMessage {
                extra: object(json!({ "system": system })),
                ..message(
                    "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==",
                    person("12195555358", None),
                    "[User Sheena Nelson changed from 16505551234 to 12195555358]",
                    1_750_269_342,
                )
            }),
        ];
        assert_eq!(parse("system_user_changed_number"), expected);
    }

    #[test]
    fn changed_number_in_older_payloads_uses_new_wa_id() {
        let parsed = parse_modified("system_user_changed_number", |value| {
            first_message(value)["system"] = json!({
                "body": "NAME changed from 16505551234 to 15550003333",
                "new_wa_id": "15550003333",
                "type": "customer_changed_number"
            });
        });
        assert!(matches!(
            parsed.as_slice(),
            [
                InboundEvent::IdentityChange(IdentityChange { old_identifier, new_identifier, .. }),
                InboundEvent::Message(InboundMessage { sender, content, .. }),
            ] if old_identifier == "16505551234"
                && new_identifier == "15550003333"
                && sender.identifier == "15550003333"
                && content == "[NAME changed from 16505551234 to 15550003333]"
        ));
    }

    #[test]
    fn changed_user_id_moves_a_customer_known_only_by_it() {
        let new_id = "user.00aa11bb22cc33dd44ee55ff66778899aabbccddeeff00112233445566778899";
        let parsed = parse_modified("system_user_changed_number", |value| {
            let message = first_message(value);
            message.remove("from");
            message.insert("from_user_id".to_owned(), Value::from(BSUID));
            message["system"] = json!({
                "body": format!("User Sheena Nelson changed from {BSUID} to {new_id}"),
                "user_id": new_id,
                "type": "user_changed_user_id"
            });
        });
        assert!(matches!(
            parsed.as_slice(),
            [
                InboundEvent::IdentityChange(IdentityChange { old_identifier, new_identifier, .. }),
                InboundEvent::Message(InboundMessage { sender, .. }),
            ] if old_identifier == BSUID
                && new_identifier == new_id
                && sender.identifier == new_id
                && sender.details.get("user_id") == Some(&Value::from(new_id))
        ));
        // Known by phone number, the customer stays where they are.
        let parsed = parse_modified("system_user_changed_number", |value| {
            first_message(value)["system"] = json!({
                "body": "User Sheena Nelson changed their user id",
                "user_id": new_id,
                "type": "user_changed_user_id"
            });
        });
        assert_eq!(only_message(parsed).sender.identifier, "16505551234");
    }

    #[test]
    fn other_system_messages_are_just_a_notice() {
        let parsed = parse_modified("system_user_changed_number", |value| {
            first_message(value)["system"] = json!({
                "body": "Sheena Nelson's security code changed",
                "type": "customer_identity_changed"
            });
        });
        let message = only_message(parsed);
        assert_eq!(message.sender, person("16505551234", None));
        assert_eq!(message.content, "[Sheena Nelson's security code changed]");
    }

    #[test]
    fn unsupported_message_shows_why() {
        let parsed_message =
            fixture_value("unsupported")["entry"][0]["changes"][0]["value"]["messages"][0].clone();
        let expected = InboundMessage {
            extra: object(json!({
                "errors": parsed_message["errors"].clone(),
                "unsupported": { "type": "edit" }
            })),
            ..message(
                WAMID_B,
                sheena(),
                "[This message type (edit) is not supported by WhatsApp Cloud API: Message type \
                 unknown (131051): Message type is currently not supported.]",
                1_750_090_702,
            )
        };
        assert_eq!(parse("unsupported"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn request_welcome_opens_the_chat() {
        assert_eq!(
            parse("request_welcome"),
            vec![InboundEvent::Message(message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUY4QzA1MjIyNjZCQTMwQjBFNgA=",
                sheena(),
                "[The customer opened a chat with you]",
                1_749_416_383
            ))]
        );
    }

    #[test]
    fn unknown_future_type_keeps_its_payload() {
        let expected = InboundMessage {
            extra: object(json!({ "hologram": { "id": "5550001", "shape": "teapot" } })),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQkE5OTlGMEZGNjM4MDAwQTAwMQA=",
                sheena(),
                "[A message arrived but cannot be shown here: its type (`hologram`) is unknown \
                 here]",
                1_760_000_000,
            )
        };
        assert_eq!(parse("unknown_type"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn reply_context_names_the_answered_message() {
        let expected = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA".to_owned(),
            ),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCM0MwNEIyN0Y2RDA2QUE0NwA=",
                sheena(),
                "Yes, Tuesday works for me.",
                1_749_416_500,
            )
        };
        assert_eq!(
            parse("context_reply"),
            vec![InboundEvent::Message(expected)]
        );
    }

    #[test]
    fn product_enquiry_keeps_the_product() {
        let expected = InboundMessage {
            reply_to_external_id: Some(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA".to_owned(),
            ),
            extra: object(json!({
                "referred_product": {
                    "catalog_id": "194836987003835",
                    "product_retailer_id": "di9ozbzfi4"
                }
            })),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
                sheena(),
                "Is this still available?",
                1_750_016_800,
            )
        };
        assert_eq!(
            parse("referred_product"),
            vec![InboundEvent::Message(expected)]
        );
    }

    #[test]
    fn forwarded_and_frequently_forwarded() {
        let image = InboundMessage {
            attachments: vec![attachment(
                "1003383421387256?sha256=SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                None,
                "image/jpeg",
            )],
            forwarded: Some(Forward {
                from: "Forwarded".to_owned(),
                date: None,
            }),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQjAxRjQ2NTNCQjlERDA1RTk4NTkA",
                sheena(),
                "Taj Mahal",
                1_744_344_500,
            )
        };
        let video = InboundMessage {
            attachments: vec![attachment(
                "731675419373506?sha256=vdGU5X4caz12KwFgYwpljlUNqMt1YnkH+5GkPc3mMnc=",
                None,
                "video/mp4",
            )],
            forwarded: Some(Forward {
                from: "Forwarded many times".to_owned(),
                date: None,
            }),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQjAxRDE3MDJBRDEzNjYxQ0RBRUEA",
                sheena(),
                "Timelapse of growth",
                1_744_344_510,
            )
        };
        assert_eq!(
            parse("forwarded"),
            vec![InboundEvent::Message(image), InboundEvent::Message(video)]
        );
    }

    #[test]
    fn ad_referral_is_kept_as_is() {
        let referral = fixture_value("referral_ad")["entry"][0]["changes"][0]["value"]["messages"]
            [0]["referral"]
            .clone();
        let expected = InboundMessage {
            extra: object(json!({ "referral": referral })),
            ..message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=",
                sheena(),
                "Can I get more info about this?",
                1_750_275_992,
            )
        };
        assert_eq!(parse("referral_ad"), vec![InboundEvent::Message(expected)]);
    }

    #[test]
    fn business_scoped_identity_without_phone_number() {
        let sender = ContactProfile {
            identifier: BSUID.to_owned(),
            name: Some("Sheena Nelson".to_owned()),
            details: object(json!({
                "user_id": BSUID,
                "parent_user_id": "parent.5f1d2c9a0b7e4e8f9c3a2b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f",
                "username": "@realsheenanelson"
            })),
            ..ContactProfile::default()
        };
        let expected = vec![InboundEvent::Message(message(
            WAMID_A,
            sender,
            "Does it come in another color?",
            1_749_416_383,
        ))];
        assert_eq!(parse("identity_bsuid"), expected);
        // Meta's own example sends `"from": ""` rather than leaving it out.
        let empty_from = parse_modified("identity_bsuid", |value| {
            first_message(value).insert("from".to_owned(), Value::from(""));
        });
        assert_eq!(empty_from, expected);
    }

    #[test]
    fn business_scoped_identity_beside_a_phone_number() {
        let parsed = parse_modified("identity_bsuid", |value| {
            first_message(value).insert("from".to_owned(), Value::from("16505551234"));
            value["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] =
                Value::from("16505551234");
        });
        let sender = only_message(parsed).sender;
        assert_eq!(sender.identifier, "16505551234");
        assert_eq!(sender.phone.as_deref(), Some("+16505551234"));
        assert_eq!(
            Value::Object(sender.details),
            json!({
                "wa_id": "16505551234",
                "user_id": BSUID,
                "parent_user_id": "parent.5f1d2c9a0b7e4e8f9c3a2b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f",
                "username": "@realsheenanelson"
            })
        );
    }

    #[test]
    fn contacts_are_optional_and_matched_by_wa_id() {
        let parsed = parse_modified("text", |value| {
            value["entry"][0]["changes"][0]["value"]
                .as_object_mut()
                .expect("value")
                .remove("contacts");
        });
        assert_eq!(only_message(parsed).sender, person("16505551234", None));
        // A `+` in `from` is the same customer; the profile of another sender is not taken.
        let parsed = parse_modified("text", |value| {
            first_message(value).insert("from".to_owned(), Value::from("+16505551234"));
            value["entry"][0]["changes"][0]["value"]["contacts"] = json!([
                { "profile": { "name": "Somebody Else" }, "wa_id": "15550000000" },
                { "profile": { "name": "Sheena Nelson" }, "wa_id": "16505551234" }
            ]);
        });
        assert_eq!(only_message(parsed).sender, sheena());
        let parsed = parse_modified("text", |value| {
            value["entry"][0]["changes"][0]["value"]["contacts"] =
                json!([{ "profile": { "name": "Somebody Else" }, "wa_id": "15550000000" }]);
        });
        assert_eq!(only_message(parsed).sender, person("16505551234", None));
    }

    #[test]
    fn group_messages_are_skipped() {
        assert_eq!(
            parse("group_message"),
            vec![InboundEvent::Skipped {
                reason: "message wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUVBQkRGQTVDNjU4NTlGRjE3NwA= \
                         is from a WhatsApp group \
                         (Y2FwaV9ncm91cDoxNjUwNTU1MTIzNDoxMjAzNjM0MDQ0NjM1NDI4OTU=); group \
                         messages are not handled by this inbox"
                    .to_owned()
            }]
        );
    }

    #[test]
    fn numeric_timestamps_and_missing_type_are_tolerated() {
        let parsed = parse_modified("text", |value| {
            let message = first_message(value);
            message.insert("timestamp".to_owned(), json!(1_749_416_383));
            message.remove("type");
        });
        assert_eq!(
            only_message(parsed),
            message(
                WAMID_A,
                sheena(),
                "Does it come in another color?",
                1_749_416_383
            )
        );
        let parsed = parse_modified("text", |value| {
            first_message(value).remove("timestamp");
        });
        assert_eq!(only_message(parsed).provider_at, None);
    }

    // ---- statuses and errors ----------------------------------------------------------

    fn first_status(name: &str, index: usize) -> Value {
        fixture_value(name)["entry"][0]["changes"][0]["value"]["statuses"][index].clone()
    }

    fn status(external_id: &str, state: DeliveryState, seconds: i64, raw: Value) -> InboundEvent {
        InboundEvent::Status(StatusUpdate {
            external_id: external_id.to_owned(),
            status: state,
            error: None,
            at: at(seconds),
            raw,
        })
    }

    #[test]
    fn sent_delivered_and_read_statuses() {
        assert_eq!(
            parse("status_sent"),
            vec![status(
                WAMID_B,
                DeliveryState::Sent,
                1_750_030_073,
                first_status("status_sent", 0)
            )]
        );
        assert_eq!(
            parse("status_delivered"),
            vec![status(
                WAMID_B,
                DeliveryState::Delivered,
                1_750_030_073,
                first_status("status_delivered", 0)
            )]
        );
        assert_eq!(
            parse("status_read"),
            vec![status(
                WAMID_B,
                DeliveryState::Read,
                1_750_030_080,
                first_status("status_read", 0)
            )]
        );
    }

    #[test]
    fn failed_status_carries_the_reason() {
        assert_eq!(
            parse("status_failed"),
            vec![InboundEvent::Status(StatusUpdate {
                external_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"
                    .to_owned(),
                status: DeliveryState::Failed,
                error: Some(ProviderError {
                    code: Some("131049".to_owned()),
                    reason: "This message was not delivered to maintain healthy ecosystem \
                             engagement: In order to maintain a healthy ecosystem engagement, \
                             the message failed to be delivered."
                        .to_owned(),
                }),
                at: at(1_751_142_888),
                raw: first_status("status_failed", 0),
            })]
        );
    }

    #[test]
    fn failed_status_falls_back_to_the_message() {
        let parsed = parse_modified("status_failed", |value| {
            value["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
                json!([{ "code": 131047, "message": "Re-engagement message" }]);
        });
        assert!(matches!(
            parsed.as_slice(),
            [InboundEvent::Status(StatusUpdate { error: Some(ProviderError { code, reason }), .. })]
                if code.as_deref() == Some("131047") && reason == "Re-engagement message"
        ));
        let parsed = parse_modified("status_failed", |value| {
            value["entry"][0]["changes"][0]["value"]["statuses"][0]
                .as_object_mut()
                .expect("status")
                .remove("errors");
        });
        assert!(matches!(
            parsed.as_slice(),
            [InboundEvent::Status(StatusUpdate {
                error: Some(ProviderError { code: None, .. }),
                ..
            })]
        ));
    }

    #[test]
    fn out_of_order_statuses_keep_document_order() {
        let id = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA";
        assert_eq!(
            parse("statuses_out_of_order"),
            vec![
                status(
                    id,
                    DeliveryState::Read,
                    1_750_030_090,
                    first_status("statuses_out_of_order", 0)
                ),
                status(
                    id,
                    DeliveryState::Sent,
                    1_750_030_073,
                    first_status("statuses_out_of_order", 1)
                ),
                status(
                    id,
                    DeliveryState::Delivered,
                    1_750_030_081,
                    first_status("statuses_out_of_order", 2)
                ),
            ]
        );
    }

    #[test]
    fn untracked_and_broken_statuses() {
        let parsed = parse_modified("status_read", |value| {
            value["entry"][0]["changes"][0]["value"]["statuses"] = json!([
                { "id": "wamid.X", "status": "deleted", "timestamp": "1" },
                { "id": "wamid.Y", "status": "played", "timestamp": "2" },
                { "id": "wamid.Z", "timestamp": "3" },
                { "status": "read" }
            ]);
        });
        let reasons: Vec<String> = parsed
            .iter()
            .map(|event| match event {
                InboundEvent::Skipped { reason } => format!("skipped: {reason}"),
                InboundEvent::Unreadable { reason, .. } => format!("unreadable: {reason}"),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "skipped: `deleted` statuses are not tracked (message wamid.X)",
                "skipped: `played` statuses are not tracked (message wamid.Y)",
                "unreadable: the status of message wamid.Z has no `status`",
                "unreadable: a status has no message id (`id`)",
            ]
        );
    }

    #[test]
    fn value_level_errors_are_unreadable() {
        let raw = fixture_value("value_errors");
        assert_eq!(
            parse("value_errors"),
            vec![InboundEvent::Unreadable {
                reason: "WhatsApp reported an error: 130429 Rate limit hit: Message failed to \
                         send because there were too many messages sent from this phone number \
                         in a short period of time"
                    .to_owned(),
                raw,
            }]
        );
    }

    #[test]
    fn a_change_with_nothing_known_is_skipped() {
        let parsed = parse_modified("text", |value| {
            let change_value = value["entry"][0]["changes"][0]["value"]
                .as_object_mut()
                .expect("value");
            change_value.remove("messages");
            change_value.insert("message_echoes".to_owned(), json!([]));
        });
        assert_eq!(
            parsed,
            vec![InboundEvent::Skipped {
                reason: "a change carries no messages, statuses or errors (only \
                         `message_echoes`)"
                    .to_owned()
            }]
        );
    }

    #[test]
    fn a_change_without_field_is_read_as_messages() {
        let parsed = parse_modified("text", |value| {
            value["entry"][0]["changes"][0]
                .as_object_mut()
                .expect("change")
                .remove("field");
        });
        assert_eq!(
            only_message(parsed).content,
            "Does it come in another color?"
        );
    }

    // ---- batches, order, replay -------------------------------------------------------

    #[test]
    fn batch_keeps_document_order_across_entries_and_changes() {
        let pablo = person("16505550000", Some("Pablo Morales"));
        let statuses =
            fixture_value("batch")["entry"][0]["changes"][1]["value"]["statuses"].clone();
        assert_eq!(
            parse("batch"),
            vec![
                InboundEvent::Message(message(
                    "wamid.BATCH.1",
                    sheena(),
                    "Hi, I ordered the aloe.",
                    1_750_300_001
                )),
                InboundEvent::Message(InboundMessage {
                    attachments: vec![attachment(
                        "1003383421387256?sha256=SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                        None,
                        "image/jpeg",
                    )],
                    ..message("wamid.BATCH.2", pablo.clone(), "", 1_750_300_002)
                }),
                InboundEvent::Message(message(
                    "wamid.BATCH.3",
                    sheena(),
                    "It arrived broken.",
                    1_750_300_003
                )),
                status(
                    "wamid.OUT.1",
                    DeliveryState::Delivered,
                    1_750_300_004,
                    statuses[0].clone()
                ),
                status(
                    "wamid.OUT.2",
                    DeliveryState::Read,
                    1_750_300_005,
                    statuses[1].clone()
                ),
                InboundEvent::Skipped {
                    reason: "`message_template_status_update` webhooks are not handled by this \
                             inbox"
                        .to_owned()
                },
                InboundEvent::Reaction(Reaction {
                    external_id: "wamid.BATCH.4".to_owned(),
                    target_external_id: "wamid.OUT.2".to_owned(),
                    sender: pablo,
                    emoji: Some("❤️".to_owned()),
                    at: at(1_750_300_006),
                }),
            ]
        );
    }

    #[test]
    fn key_order_is_not_assumed() {
        let expected = InboundMessage {
            attachments: vec![attachment(
                "1003383421387256?sha256=SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                None,
                "image/jpeg",
            )],
            reply_to_external_id: Some(
                "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA".to_owned(),
            ),
            ..message(WAMID_A, sheena(), "Taj Mahal", 1_744_344_496)
        };
        // The fixture really is written backwards: `entry` before `object`, `type` last...
        let text = fixture("reversed_keys");
        let entry_at = text.find("\"entry\"").expect("entry key");
        let object_at = text.find("\"object\"").expect("object key");
        assert!(entry_at < object_at);
        assert_eq!(
            parse("reversed_keys"),
            vec![InboundEvent::Message(expected)]
        );
    }

    #[test]
    fn an_unreadable_message_replays_and_can_be_fixed() {
        // Without an id the message cannot be stored, but it is kept whole.
        let events = parse_modified("text", |value| {
            first_message(value).remove("id");
        });
        let [InboundEvent::Unreadable { reason, raw }] = events.as_slice() else {
            panic!("expected one unreadable event, got {events:?}");
        };
        assert_eq!(reason, "a message has no id (`id`), so it cannot be stored");
        let mut expected_raw = fixture_value("text");
        first_message(&mut expected_raw).remove("id");
        assert_eq!(raw, &expected_raw);
        // Replaying it yields the same event…
        assert_eq!(parse_value(raw, NUMBER), Ok(events.clone()));
        // …and once the id is known, the message.
        let mut fixed = raw.clone();
        first_message(&mut fixed).insert("id".to_owned(), Value::from(WAMID_A));
        assert_eq!(parse_value(&fixed, NUMBER), Ok(parse("text")));
    }

    #[test]
    fn an_unreadable_message_in_a_batch_keeps_only_its_own_parts() {
        let events = parse_modified("batch", |value| {
            value["entry"][0]["changes"][0]["value"]["messages"][1]
                .as_object_mut()
                .expect("message")
                .remove("from");
        });
        let InboundEvent::Unreadable { reason, raw } = &events[1] else {
            panic!("expected the second event unreadable, got {:?}", events[1]);
        };
        assert_eq!(
            reason,
            "message wamid.BATCH.2 has no sender (`from` or `from_user_id`)"
        );
        let batch = fixture_value("batch");
        let mut lone = batch["entry"][0]["changes"][0]["value"]["messages"][1].clone();
        lone.as_object_mut().expect("message").remove("from");
        assert_eq!(
            raw,
            &json!({
                "object": "whatsapp_business_account",
                "entry": [{
                    "id": "102290129340398",
                    "changes": [{
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": batch["entry"][0]["changes"][0]["value"]["metadata"],
                            "messages": [lone]
                        }
                    }]
                }]
            })
        );
        assert_eq!(parse_value(raw, NUMBER), Ok(vec![events[1].clone()]));
        let mut fixed = raw.clone();
        first_message(&mut fixed).insert("from".to_owned(), Value::from("16505550000"));
        let message = only_message(parse_value(&fixed, NUMBER).expect("parses"));
        assert_eq!(message.external_id, "wamid.BATCH.2");
        assert_eq!(message.sender, person("16505550000", None));
        // The other events are untouched.
        assert_eq!(events.len(), 7);
        assert!(matches!(&events[0], InboundEvent::Message(m) if m.external_id == "wamid.BATCH.1"));
    }

    #[test]
    fn a_thousand_messages_in_one_body_in_order() {
        let messages: Vec<Value> = (0..1000)
            .map(|index| {
                json!({
                    "from": "16505551234",
                    "id": format!("wamid.BULK.{index:04}"),
                    "timestamp": (1_750_000_000 + index).to_string(),
                    "type": "text",
                    "text": { "body": format!("message {index}") }
                })
            })
            .collect();
        let envelope = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "102290129340398",
                "changes": [{
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550783881", "phone_number_id": NUMBER },
                        "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": "16505551234" }],
                        "messages": messages
                    },
                    "field": "messages"
                }]
            }]
        });
        let body = serde_json::to_vec(&envelope).expect("serializes");
        let events = parse_webhook(&body, NUMBER).expect("parses");
        assert_eq!(events.len(), 1000);
        for (index, event) in events.into_iter().enumerate() {
            let expected = message(
                &format!("wamid.BULK.{index:04}"),
                sheena(),
                &format!("message {index}"),
                1_750_000_000 + i64::try_from(index).expect("small"),
            );
            assert_eq!(event, InboundEvent::Message(expected));
        }
    }
}
