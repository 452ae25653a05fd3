//! Satisfaction surveys on a channel: what the hub asks after a conversation is resolved,
//! how each channel may show the choices, and the customer's answer coming back.
//!
//! Channels with buttons (Telegram's inline keyboard, WhatsApp's interactive messages) put
//! [`choice_id`] on each button, so the tap names the survey and the rating without the
//! channel keeping any state; the hub checks that the survey belongs to the sender before
//! it takes the answer. Mail has no buttons: the hub fills [`SurveyRequest::links`] with a
//! signed web page per answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ContactProfile;

/// How a customer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurveyScale {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    #[default]
    Five,
    /// Thumbs up (stored as 5) or down (stored as 1), so averages mix with the five points.
    Thumbs,
}

/// One answer a customer can pick, as channels label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyChoice {
    /// What is stored: 1 to 5.
    pub rating: i64,
    /// A short label (a WhatsApp list row takes 24 characters).
    pub label: &'static str,
    /// The face or thumb shown beside the label.
    pub emoji: &'static str,
}

const FIVE: [SurveyChoice; 5] = [
    SurveyChoice {
        rating: 5,
        label: "Very satisfied",
        emoji: "😀",
    },
    SurveyChoice {
        rating: 4,
        label: "Satisfied",
        emoji: "🙂",
    },
    SurveyChoice {
        rating: 3,
        label: "Neutral",
        emoji: "😐",
    },
    SurveyChoice {
        rating: 2,
        label: "Dissatisfied",
        emoji: "🙁",
    },
    SurveyChoice {
        rating: 1,
        label: "Very dissatisfied",
        emoji: "😞",
    },
];

const THUMBS: [SurveyChoice; 2] = [
    SurveyChoice {
        rating: 5,
        label: "Yes, thanks",
        emoji: "👍",
    },
    SurveyChoice {
        rating: 1,
        label: "Not really",
        emoji: "👎",
    },
];

impl SurveyScale {
    /// The answers, best first (the order buttons and list rows show them).
    pub fn choices(self) -> &'static [SurveyChoice] {
        match self {
            Self::Five => &FIVE,
            Self::Thumbs => &THUMBS,
        }
    }

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Five => "five",
            Self::Thumbs => "thumbs",
        }
    }

    /// Reads a stored or API name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "five" => Some(Self::Five),
            "thumbs" => Some(Self::Thumbs),
            _ => None,
        }
    }

    /// Whether `rating` is an answer on this scale.
    pub fn accepts(self, rating: i64) -> bool {
        self.choices().iter().any(|c| c.rating == rating)
    }

    /// The choice of `rating`, if it is on this scale.
    pub fn choice(self, rating: i64) -> Option<SurveyChoice> {
        self.choices().iter().copied().find(|c| c.rating == rating)
    }
}

/// A signed page where the customer gives one answer (and may add a comment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyLink {
    /// The answer this link preselects.
    pub rating: i64,
    /// The page's absolute URL.
    pub url: String,
}

/// A satisfaction survey to put to the customer: sent as a message
/// ([`crate::OutboundMessage::survey`]) whose `content` is the question, for channels that
/// show it as text only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SurveyRequest {
    /// The hub's survey id: answers carry it back.
    pub survey_id: String,
    /// What the customer is asked.
    pub question: String,
    /// How they answer.
    pub scale: SurveyScale,
    /// A signed page per answer, best first, for channels whose customers answer in a
    /// browser (mail); filled by the hub when it sends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SurveyLink>,
}

/// A customer's answer, as their channel brought it (a tapped button, an integrator's event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    /// Who answered: the hub takes the answer only from the survey's own customer.
    pub sender: ContactProfile,
    /// The survey, as [`SurveyRequest::survey_id`] named it.
    pub survey_id: String,
    /// 1 to 5 (the hub checks it against the survey's scale).
    pub rating: i64,
    /// What they added in words, if the channel lets them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The channel's handle for telling the customer the answer was taken (a Telegram
    /// callback query id), see [`crate::Channel::confirm_answer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// When the customer answered, by the provider's clock: a redelivered older answer
    /// never overwrites a newer one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// Prefix of a button's id that answers a survey.
const CHOICE_PREFIX: &str = "csat:";

/// The id a button or list row carries: `csat:{survey_id}:{rating}` (short enough for
/// Telegram's 64-byte callback data).
pub fn choice_id(survey_id: &str, rating: i64) -> String {
    format!("{CHOICE_PREFIX}{survey_id}:{rating}")
}

/// Reads a button's id made by [`choice_id`]: the survey id and the rating; `None` for any
/// other id (a button of something else).
pub fn parse_choice_id(id: &str) -> Option<(String, i64)> {
    let rest = id.strip_prefix(CHOICE_PREFIX)?;
    let (survey, rating) = rest.rsplit_once(':')?;
    let valid_survey =
        !survey.is_empty() && survey.len() <= 20 && survey.bytes().all(|b| b.is_ascii_digit());
    let rating: i64 = rating.parse().ok()?;
    (valid_survey && (1..=5).contains(&rating)).then(|| (survey.to_owned(), rating))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_ids_round_trip_and_refuse_others() {
        assert_eq!(choice_id("42", 5), "csat:42:5");
        assert_eq!(parse_choice_id("csat:42:5"), Some(("42".into(), 5)));
        for other in [
            "yes",
            "csat:",
            "csat:42",
            "csat::5",
            "csat:42:6",
            "csat:42:0",
            "csat:4a:3",
            "csat:42:3:1",
            "CSAT:42:3",
        ] {
            assert_eq!(parse_choice_id(other), None, "{other}");
        }
    }

    #[test]
    fn scales_list_their_answers_best_first() {
        let five: Vec<i64> = SurveyScale::Five
            .choices()
            .iter()
            .map(|c| c.rating)
            .collect();
        assert_eq!(five, [5, 4, 3, 2, 1]);
        let thumbs: Vec<i64> = SurveyScale::Thumbs
            .choices()
            .iter()
            .map(|c| c.rating)
            .collect();
        assert_eq!(thumbs, [5, 1]);
        assert!(SurveyScale::Thumbs.accepts(1) && !SurveyScale::Thumbs.accepts(3));
        assert!(
            SurveyScale::Five
                .choices()
                .iter()
                .all(|c| c.label.chars().count() <= 24)
        );
        assert_eq!(SurveyScale::parse("thumbs"), Some(SurveyScale::Thumbs));
        assert_eq!(SurveyScale::parse("stars"), None);
    }
}
