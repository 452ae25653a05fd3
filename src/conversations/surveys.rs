//! Satisfaction surveys after they come due (issue #19): resolving schedules one per
//! resolution (`store::conversations::change`); [`hand_out`] asks each on the customer's
//! channel once its delay has passed, and [`PageLinks`] signs the public rating page
//! (`/csat/{token}`) that mail (and integrations that prefer a link) answer on. Answers come
//! back through the widget socket, the inbound door (buttons, `csat` events) or that page,
//! and all end in `store::csat::answer`.

use std::sync::Arc;

use actix::Addr;
use switchboard_channel::{SurveyDelivery, SurveyLink, SurveyScale};

use crate::actors::channel::{ChannelSupervisor, Wake};
use crate::db::Database;
use crate::realtime::EventHub;
use crate::realtime::visitors::VisitorEvent;
use crate::secrets::SecretKey;
use crate::store::csat::{Asked, AskedOn};

/// How often due surveys are looked for.
const EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Most surveys asked in one round.
const ROUND: i64 = 500;

/// Asks every due survey, every [`EVERY`]: widget surveys go to the visitor's sockets (and
/// are shown again on each connection while open); every other channel gets an outgoing
/// message with the survey, queued in the outbox (so it is retried and its ticks tracked
/// like a reply), shown in the agents' thread, and the channel is woken to send it.
pub(crate) async fn hand_out(
    events: Arc<EventHub>,
    db: Database,
    channels: Addr<ChannelSupervisor>,
) {
    loop {
        tokio::time::sleep(EVERY).await;
        let now = crate::store::now();
        let due = async {
            if !crate::store::csat::any_due(&mut db.reader().await?, now).await? {
                return Ok(Vec::new());
            }
            crate::store::csat::claim_due(&mut db.writer().await?, now, ROUND, asked_on).await
        };
        match due.await {
            Ok(claimed) => {
                for claim in claimed {
                    publish(&events, &channels, claim);
                }
            }
            Err::<_, crate::db::StoreError>(error) => {
                tracing::warn!(%error, "cannot hand out due satisfaction surveys");
            }
        }
    }
}

/// How a channel type asks, from its capabilities.
fn asked_on(channel_type: crate::db::types::ChannelType) -> AskedOn {
    match crate::channels::kind(channel_type).map(|k| k.capabilities()) {
        Some(capabilities) => AskedOn {
            delivery: capabilities.surveys,
            reply_window_secs: capabilities.reply_window_secs,
        },
        None => AskedOn {
            delivery: SurveyDelivery::None,
            reply_window_secs: None,
        },
    }
}

/// Tells whoever needs to know about one asked survey, after its commit.
fn publish(
    events: &EventHub,
    channels: &Addr<ChannelSupervisor>,
    claim: crate::store::csat::Claimed,
) {
    let conversation_id = claim.survey.conversation_id;
    match claim.asked {
        Asked::Live => events.visitors.to_conversation(
            conversation_id,
            VisitorEvent::Csat {
                survey: Arc::new(claim.survey),
            },
        ),
        Asked::Message {
            message,
            conversation,
        } => {
            events.message(&message, true);
            events.conversation(&conversation, false);
            if let Err(error) = channels.try_send(Wake {
                inbox_id: claim.survey.inbox_id,
            }) {
                // The channel's own timer drains the outbox within a second anyway.
                tracing::debug!(%error, "channel supervisor busy");
            }
        }
        Asked::NotAsked { note } => {
            tracing::info!(
                conversation_id,
                survey_id = claim.survey.id,
                "satisfaction survey not asked: the channel cannot deliver it now"
            );
            if let Some(note) = note {
                events.message(&note, true);
            }
        }
    }
}

/// Signs and reads the public rating page's address: `/csat/{survey_id}.{signature}`. The
/// token is the customer's only key to the page (no session), so it is an HMAC under the
/// hub's key, 128 bits, bound to its purpose; the survey's own window (a week after asking)
/// limits how long it works.
#[derive(Clone)]
pub(crate) struct PageLinks {
    secret: SecretKey,
    /// The hub's public URL without a trailing slash.
    public_base: String,
}

/// Domain separation for the page tokens' HMAC.
const PAGE_PURPOSE: &str = "csat-page";

/// Bytes of the HMAC kept in a token.
const TOKEN_SIGNATURE_BYTES: usize = 16;

impl PageLinks {
    /// Links under `public_url` (the hub's public URL), signed with `secret`.
    pub(crate) fn new(secret: SecretKey, public_url: &str) -> Self {
        Self {
            secret,
            public_base: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The token of a survey's page.
    pub(crate) fn token(&self, survey_id: i64) -> String {
        let signature = self
            .secret
            .sign(PAGE_PURPOSE, survey_id.to_string().as_bytes());
        format!(
            "{survey_id}.{}",
            hex::encode(&signature[..TOKEN_SIGNATURE_BYTES])
        )
    }

    /// The survey a token opens; `None` for anything this hub did not sign.
    pub(crate) fn survey_of(&self, token: &str) -> Option<i64> {
        let (id, signature) = token.split_once('.')?;
        if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        if signature.len() != TOKEN_SIGNATURE_BYTES {
            return None;
        }
        let full = self.secret.sign(PAGE_PURPOSE, id.as_bytes());
        // Constant time: compare every byte whatever the first difference.
        let same = full[..TOKEN_SIGNATURE_BYTES]
            .iter()
            .zip(&signature)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        same.then(|| id.parse().ok()).flatten()
    }

    /// The page's absolute address with one answer preselected, for each answer of the
    /// scale, best first.
    pub(crate) fn links(&self, survey_id: i64, scale: SurveyScale) -> Vec<SurveyLink> {
        let token = self.token(survey_id);
        scale
            .choices()
            .iter()
            .map(|choice| SurveyLink {
                rating: choice.rating,
                url: format!("{}/csat/{token}?rating={}", self.public_base, choice.rating),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: &str) -> SecretKey {
        SecretKey::load_or_generate(std::path::Path::new("/nonexistent"), Some(&fill.repeat(32)))
            .expect("a configured key")
    }

    fn links() -> PageLinks {
        PageLinks::new(key("a"), "https://help.example.com/")
    }

    #[test]
    fn page_tokens_open_their_survey_only() {
        let pages = links();
        let token = pages.token(42);
        assert_eq!(pages.survey_of(&token), Some(42));
        let (_, signature) = token.split_once('.').expect("dot");
        for forged in [
            format!("43.{signature}"),
            "42".to_owned(),
            "42.".to_owned(),
            format!("42.{}", &signature[2..]),
            format!("x.{signature}"),
            format!("42.{}", "0".repeat(32)),
            format!("{token}00"),
        ] {
            assert_eq!(pages.survey_of(&forged), None, "{forged}");
        }
        let other = PageLinks::new(key("b"), "https://help.example.com");
        assert_eq!(other.survey_of(&token), None);
    }

    #[test]
    fn links_preselect_each_answer() {
        let pages = links();
        let made = pages.links(42, SurveyScale::Thumbs);
        let token = pages.token(42);
        assert_eq!(
            made,
            vec![
                SurveyLink {
                    rating: 5,
                    url: format!("https://help.example.com/csat/{token}?rating=5"),
                },
                SurveyLink {
                    rating: 1,
                    url: format!("https://help.example.com/csat/{token}?rating=1"),
                },
            ]
        );
        assert_eq!(pages.links(42, SurveyScale::Five).len(), 5);
    }
}
