//! The public rating page of a satisfaction survey (`/csat/{token}`): what a mail's answer
//! buttons open (and integrations may link to). The signed token is the only key, so there is
//! no session and no CSRF token; opening the page never records anything (mail scanners
//! open links), the customer's click on "Send" does. Every answer passes
//! `store::csat::answer`, like the widget's and the channels' buttons.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use switchboard_email::html::escape;

use crate::domain::csat::CsatScale;
use crate::state::AppState;
use crate::store::csat::{AnswerRefusal, Survey};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/csat/{token}", web::get().to(show))
        .route("/csat/{token}", web::post().to(take));
}

/// Largest form body read: a rating and a comment of [`MAX_COMMENT_CHARS`].
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Longest comment taken, in characters (the widget's limit too).
const MAX_COMMENT_CHARS: usize = 2_000;

/// `GET /csat/{token}?rating=N`: the question with the answer `N` preselected (or the one
/// given before), a comment box and a Send button.
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    let survey = match open(&state, &token).await {
        Ok(survey) => survey,
        Err(page) => return page,
    };
    let scale = CsatScale::parse(&survey.scale).unwrap_or_default();
    // Read by hand: a mangled link still opens the page (with nothing chosen).
    let chosen = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == "rating")
        .and_then(|(_, r)| r.trim().parse::<i64>().ok())
        .filter(|r| scale.accepts(*r))
        .or(survey.rating);
    form_page(
        StatusCode::OK,
        &token,
        &survey,
        chosen,
        survey.comment.as_deref(),
        None,
    )
}

/// `POST /csat/{token}` (`rating`, `comment`): records the answer, or shows the form again
/// with what to change.
async fn take(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let survey = match open(&state, &token).await {
        Ok(survey) => survey,
        Err(page) => return page,
    };
    // Only the page's own small form is read.
    let Some(body) = read_form(payload).await else {
        return message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too long",
            "The answer is too long or did not arrive whole. Please shorten the comment and \
             send it again.",
        );
    };
    let scale = CsatScale::parse(&survey.scale).unwrap_or_default();
    let mut rating = None;
    let mut comment = String::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "rating" => rating = value.trim().parse::<i64>().ok(),
            "comment" => comment = value.into_owned(),
            _ => {}
        }
    }
    let comment = comment.trim();
    let comment = (!comment.is_empty()).then_some(comment);
    let refuse = |rating: Option<i64>, problem: &str| {
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            &survey,
            rating,
            comment,
            Some(problem),
        )
    };
    let Some(rating) = rating.filter(|r| scale.accepts(*r)) else {
        return refuse(None, "Choose one of the answers.");
    };
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return refuse(
            Some(rating),
            &format!("Please keep the comment to {MAX_COMMENT_CHARS} characters."),
        );
    }
    let comment = comment.map(|c| {
        c.chars()
            .filter(|ch| !ch.is_control() || matches!(ch, '\n' | '\t'))
            .collect::<String>()
    });
    let ip = super::extract::client_ip(&req, state.settings.server.trust_proxy_headers)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    if !state
        .hub
        .widget_limits
        .csat(&format!("page:{}", survey.id), &ip)
    {
        return message_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many answers",
            "Too many answers were sent from here. Wait a moment and try again.",
        );
    }
    let actor = crate::store::Actor {
        ip: Some(ip),
        ..crate::store::Actor::system()
    };
    let answered = async {
        let conn = &mut state.db.writer().await?;
        crate::store::csat::answer(
            conn,
            survey.conversation_id,
            survey.id,
            rating,
            crate::store::csat::Comment::Given(comment.as_deref()),
            crate::store::now(),
            None,
            &actor,
        )
        .await
    }
    .await;
    match answered {
        Ok(Ok(saved)) => {
            // Agents see the answer at once.
            if let Ok(mut conn) = state.db.reader().await
                && let Ok(Some(conversation)) =
                    crate::store::conversations::find(&mut conn, saved.conversation_id).await
            {
                state.hub.events.conversation(&conversation, false);
            }
            thanks_page(&token, &saved)
        }
        Ok(Err(AnswerRefusal::Closed)) => closed_page(),
        Ok(Err(refusal)) => refuse(Some(rating), refusal.describe()),
        Err(error) => {
            tracing::warn!(%error, "cannot store a survey answer from the rating page");
            message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "Your answer could not be saved just now. Please try again in a moment.",
            )
        }
    }
}

/// The form's body, up to [`MAX_FORM_BYTES`]; `None` beyond it or when the body breaks off.
async fn read_form(mut payload: web::Payload) -> Option<Vec<u8>> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// The survey a token opens while it may be answered, or the page that says why not.
async fn open(state: &AppState, token: &str) -> Result<Survey, HttpResponse> {
    let not_found = || {
        message_page(
            StatusCode::NOT_FOUND,
            "Survey not found",
            "This survey link is not valid. Please use the link from the message you received.",
        )
    };
    let survey_id = state
        .hub
        .files
        .survey_pages()
        .survey_of(token)
        .ok_or_else(not_found)?;
    let found = async {
        let conn = &mut state.db.reader().await?;
        crate::store::csat::find(conn, survey_id).await
    }
    .await;
    let survey = match found {
        Ok(Some(survey)) if survey.sent_at.is_some() => survey,
        Ok(_) => return Err(not_found()),
        Err(error) => {
            tracing::warn!(%error, "cannot read a survey for its rating page");
            return Err(message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "This page cannot be shown just now. Please try again in a moment.",
            ));
        }
    };
    if !survey.open_at(crate::store::now()) {
        return Err(closed_page());
    }
    Ok(survey)
}

fn closed_page() -> HttpResponse {
    message_page(
        StatusCode::GONE,
        "Survey closed",
        "This survey was asked more than a week ago and is closed. Thank you all the same!",
    )
}

/// The question, the answers (one preselected), the comment and a Send button.
fn form_page(
    status: StatusCode,
    token: &str,
    survey: &Survey,
    chosen: Option<i64>,
    comment: Option<&str>,
    problem: Option<&str>,
) -> HttpResponse {
    let scale = CsatScale::parse(&survey.scale).unwrap_or_default();
    let mut main = format!(
        "<h1 id=\"survey-question\" data-testid=\"survey-question\">{}</h1>\n\
         <form method=\"post\" action=\"/csat/{}\" data-testid=\"survey-form\">\n\
         <fieldset><legend>Your answer</legend>\n",
        escape(&survey.question),
        escape(token)
    );
    for choice in scale.choices() {
        let checked = if chosen == Some(choice.rating) {
            " checked"
        } else {
            ""
        };
        main.push_str(&format!(
            "<label class=\"survey-choice\"><input type=\"radio\" name=\"rating\" value=\"{}\" \
             data-testid=\"survey-rating-{}\" required{checked}> {} {}</label>\n",
            choice.rating,
            choice.rating,
            escape(choice.emoji),
            escape(choice.label)
        ));
    }
    main.push_str("</fieldset>\n");
    if let Some(problem) = problem {
        main.push_str(&format!(
            "<p class=\"error\" role=\"alert\" data-testid=\"survey-error\">{}</p>\n",
            escape(problem)
        ));
    }
    main.push_str(&format!(
        "<div class=\"form-row\"><label for=\"survey-comment\">Anything you would like to add? \
         (optional)</label>\n<textarea id=\"survey-comment\" name=\"comment\" rows=\"4\" \
         maxlength=\"{MAX_COMMENT_CHARS}\" data-testid=\"survey-comment\">{}</textarea></div>\n\
         <div class=\"form-row\"><button type=\"submit\" class=\"primary\" \
         data-testid=\"survey-send\">Send my answer</button></div>\n</form>",
        escape(comment.unwrap_or_default())
    ));
    page(status, "How did we do?", &main)
}

/// After an answer: what was taken, and how to change it within the week.
fn thanks_page(token: &str, survey: &Survey) -> HttpResponse {
    let scale = CsatScale::parse(&survey.scale).unwrap_or_default();
    let answer = survey
        .rating
        .and_then(|r| scale.choice(r))
        .map(|c| format!("{} {}", c.emoji, c.label))
        .unwrap_or_default();
    let mut main = format!(
        "<h1>Thank you!</h1>\n<p data-testid=\"survey-thanks\">Your answer: <strong>{}</strong></p>\n",
        escape(&answer)
    );
    if let Some(comment) = &survey.comment {
        main.push_str(&format!(
            "<p class=\"muted\">Your comment: {}</p>\n",
            escape(comment)
        ));
    }
    main.push_str(&format!(
        "<p><a href=\"/csat/{}\">Change my answer</a></p>",
        escape(token)
    ));
    page(StatusCode::OK, "Thank you", &main)
}

fn message_page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1>\n<p data-testid=\"survey-message\">{}</p>",
            escape(title),
            escape(text)
        ),
    )
}

fn page(status: StatusCode, title: &str, main: &str) -> HttpResponse {
    let body = include_str!("../../templates/csat.html")
        .replace("{{title}}", &escape(title))
        .replace("{{main}}", main);
    super::pages::html(status, body)
}
