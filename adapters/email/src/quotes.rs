//! Quoted history and signatures, stripped so the inbox shows what the customer wrote now.
//!
//! Mail clients append the whole conversation to every reply, each in its own way; an agent
//! reading a thread needs only the new words (the full text stays one click away in
//! `ParsedMail::full_text`). [`strip`] recognises, line by line:
//!
//! - attribution lines, in the forms of Gmail (`On Tue, Mar 5, 2024 at 9:41 AM Jane <jane@…>
//!   wrote:`, wrapped over up to three lines), Apple Mail and iOS (`On Mar 5, 2024, at 09:41,
//!   Jane <jane@…> wrote:`), Yahoo (`On Tuesday, March 5, 2024, 09:41:00 CET, Jane <…>
//!   wrote:`), Thunderbird (`On 3/5/24 09:41, Jane wrote:`, `Am 05.03.24 um 09:41 schrieb
//!   Jane:`), and their German, French, Spanish, Italian, Portuguese, Dutch and Scandinavian
//!   forms (`schrieb`, `a écrit`, `escribió`, `ha scritto`, `escreveu`, `schreef`, `skrev`);
//! - Outlook's header blocks (`From:` / `Sent:` / `To:` / `Subject:`, also localized: `Von:` /
//!   `Gesendet:`, `De :` / `Envoyé :`, `De:` / `Enviado:`), with or without the underscore line
//!   above them, and `-----Original Message-----` lines in several languages;
//! - `>` quoting: a trailing quoted block is dropped; a quote answered below it (bottom
//!   posting) gives way to the answer; answers written between quoted lines keep the quotes
//!   around them, which they need to be understood;
//! - signatures after the `-- ` delimiter (when short enough to be one) and mobile footers
//!   such as "Sent from my iPhone" or "Von meinem iPhone gesendet".
//!
//! Forward markers (`---------- Forwarded message ---------`, `Begin forwarded message:`)
//! are not quotes: what follows them is what the customer wants the agent to read.

/// Longest attribution line (joined over its wrapped lines) taken for one; longer text is a
/// paragraph that happens to end in "wrote:".
const MAX_ATTRIBUTION_CHARS: usize = 400;

/// A signature longer than this many non-empty lines is more likely text after a `--`.
const MAX_SIGNATURE_LINES: usize = 15;

/// What a line is, for finding where the quoted history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Quoted,
    Text,
}

fn kind(line: &str) -> Kind {
    let trimmed = line.trim_start();
    if trimmed.trim_end().is_empty() {
        Kind::Empty
    } else if trimmed.starts_with('>') {
        Kind::Quoted
    } else {
        Kind::Text
    }
}

/// The customer's new words: `text` without quoted history, signature and mobile footer.
/// When nothing would be left (a mail that is only a quote), `text` is returned trimmed, so
/// the inbox never shows an empty message for a mail that had text.
pub fn strip(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = strip_quotes(&lines);
    strip_signature(&mut kept);
    strip_mobile_footer(&mut kept);
    let joined = join(&kept);
    if joined.is_empty() {
        text.trim().to_owned()
    } else {
        joined
    }
}

/// Only the signature and mobile footer removed: for forwarded mail, whose quoted part is
/// the message.
pub fn strip_signature_only(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    strip_signature(&mut lines);
    strip_mobile_footer(&mut lines);
    let joined = join(&lines);
    if joined.is_empty() {
        text.trim().to_owned()
    } else {
        joined
    }
}

fn join(lines: &[&str]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_matches(|c: char| c == '\n' || c == '\r')
        .trim_end()
        .to_owned()
}

fn strip_quotes<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut splitter = None;
    for index in 0..lines.len() {
        if kind(lines[index]) != Kind::Text {
            continue;
        }
        if is_forward_marker(lines[index]) {
            // Everything from here on is what the customer forwarded.
            break;
        }
        if let Some(length) = splitter_at(lines, index) {
            splitter = Some((index, length));
            break;
        }
    }
    match splitter {
        Some((index, length)) => {
            let head = &lines[..index];
            let tail = &lines[(index + length).min(lines.len())..];
            let mut kept: Vec<&str> = head.to_vec();
            kept.extend(answers_after_quote(tail));
            kept
        }
        None => drop_trailing_quote(lines),
    }
}

/// What the customer wrote below an attribution line: nothing when the history follows it
/// (top posting), the answer when it follows a quoted block (bottom posting), the whole
/// exchange without its last quote when answers sit between quotes.
fn answers_after_quote<'a>(tail: &[&'a str]) -> Vec<&'a str> {
    let first = tail.iter().position(|line| kind(line) != Kind::Empty);
    let Some(first) = first else {
        return Vec::new();
    };
    if kind(tail[first]) != Kind::Quoted {
        // An Outlook header block or unquoted history: all of it is the old conversation.
        return Vec::new();
    }
    let after_quote = tail[first..]
        .iter()
        .position(|line| kind(line) == Kind::Text)
        .map(|offset| first + offset);
    let Some(answer) = after_quote else {
        return Vec::new();
    };
    let quoted_again = tail[answer..].iter().any(|line| kind(line) == Kind::Quoted);
    if quoted_again {
        drop_trailing_quote(&tail[first..])
    } else {
        tail[answer..].to_vec()
    }
}

/// `lines` without a final run of quoted (and empty) lines, when text comes before it.
fn drop_trailing_quote<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut end = lines.len();
    let mut saw_quote = false;
    while end > 0 {
        match kind(lines[end - 1]) {
            Kind::Empty => end -= 1,
            Kind::Quoted => {
                saw_quote = true;
                end -= 1;
            }
            Kind::Text => break,
        }
    }
    if saw_quote && end > 0 {
        lines[..end].to_vec()
    } else {
        lines.to_vec()
    }
}

/// Lines that start a forwarded message rather than a quote.
fn is_forward_marker(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    let core = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
    (lower.starts_with("--") && core.ends_with("forwarded message"))
        || (lower.starts_with("--") && core == "original message follows")
        || lower == "begin forwarded message:"
        || (lower.starts_with("--") && core.starts_with("weitergeleitete nachricht"))
        || (lower.starts_with("--") && core.starts_with("message transféré"))
        || (lower.starts_with("--") && core.starts_with("mensaje reenviado"))
}

/// The number of lines the quote splitter starting at `index` spans, if one does.
fn splitter_at(lines: &[&str], index: usize) -> Option<usize> {
    let line = lines[index].trim();
    if is_original_message_line(line) {
        return Some(1);
    }
    if is_underscore_line(line) {
        let next = lines[index + 1..]
            .iter()
            .position(|line| kind(line) != Kind::Empty)
            .map(|offset| index + 1 + offset)?;
        return header_block_at(lines, next).map(|_| 1);
    }
    if header_block_at(lines, index).is_some() {
        return Some(1);
    }
    attribution_at(lines, index)
}

/// `-----Original Message-----` and its spaced and translated forms.
fn is_original_message_line(line: &str) -> bool {
    if !line.starts_with("--") {
        return false;
    }
    let core: String = line
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    matches!(
        core.as_str(),
        "originalmessage"
            | "replymessage"
            | "ursprünglichenachricht"
            | "originalnachricht"
            | "messaged'origine"
            | "messaged’origine"
            | "mensajeoriginal"
            | "mensagemoriginal"
            | "messaggiooriginale"
            | "oorspronkelijkbericht"
            | "oprindeligmeddelelse"
            | "opprinneligmelding"
            | "ursprungligtmeddelande"
    )
}

/// Outlook's separator above its header block: a line of underscores.
fn is_underscore_line(line: &str) -> bool {
    line.len() >= 10 && line.chars().all(|c| c == '_')
}

/// A header field name at the start of `line` (`From:`, `*Sent:*`, `Envoyé :`), lower-cased.
fn field_name(line: &str) -> Option<String> {
    let line = line.trim().trim_start_matches('*').trim_start();
    let colon = line.find(':')?;
    let name = line.get(..colon)?.trim().trim_end_matches('*').trim();
    if name.is_empty() || name.chars().count() > 20 {
        return None;
    }
    Some(name.to_lowercase())
}

const FROM_FIELDS: &[&str] = &["from", "von", "de", "van", "da", "fra", "från", "od"];
const DATE_FIELDS: &[&str] = &[
    "sent",
    "date",
    "gesendet",
    "datum",
    "envoyé",
    "envoye",
    "enviado",
    "enviada",
    "fecha",
    "inviato",
    "data",
    "verzonden",
    "skickat",
    "sendt",
];
const TO_OR_SUBJECT_FIELDS: &[&str] = &[
    "to",
    "an",
    "à",
    "a",
    "para",
    "aan",
    "til",
    "till",
    "subject",
    "betreff",
    "objet",
    "asunto",
    "oggetto",
    "onderwerp",
    "assunto",
    "emne",
    "ämne",
];

/// An Outlook-style header block starting at `index`: a From field followed, within the
/// next five lines, by a date field and a To or Subject field.
fn header_block_at(lines: &[&str], index: usize) -> Option<()> {
    let first = field_name(lines.get(index)?)?;
    if !FROM_FIELDS.contains(&first.as_str()) {
        return None;
    }
    let mut date = false;
    let mut to_or_subject = false;
    for line in lines.iter().skip(index + 1).take(5) {
        let Some(name) = field_name(line) else {
            continue;
        };
        date |= DATE_FIELDS.contains(&name.as_str());
        to_or_subject |= TO_OR_SUBJECT_FIELDS.contains(&name.as_str());
    }
    (date && to_or_subject).then_some(())
}

/// Words that open an attribution line ("On", "Am", "Le", "El"…), lower-cased.
const ATTRIBUTION_OPENERS: &[&str] = &[
    "on", "am", "le", "el", "op", "il", "em", "den", "på", "w dniu",
];

/// The verbs that close one, before the final colon.
const ATTRIBUTION_VERBS: &[&str] = &[
    "wrote",
    "writes",
    "schrieb",
    "a écrit",
    "escribió",
    "escribio",
    "ha scritto",
    "escreveu",
    "schreef",
    "skrev",
    "napisał",
];

/// An attribution line ("On … wrote:"), possibly wrapped over up to three lines; returns how
/// many lines it spans.
fn attribution_at(lines: &[&str], index: usize) -> Option<usize> {
    let first = lines[index].trim();
    let lower_first = first.to_lowercase();
    let opened = ATTRIBUTION_OPENERS.iter().any(|opener| {
        lower_first
            .strip_prefix(opener)
            .is_some_and(|rest| rest.starts_with(' '))
    });
    let mut joined = String::new();
    for span in 1..=3 {
        let Some(line) = lines.get(index + span - 1) else {
            break;
        };
        if span > 1 && kind(line) != Kind::Text {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line.trim());
        if joined.chars().count() > MAX_ATTRIBUTION_CHARS {
            return None;
        }
        if !joined.ends_with(':') {
            continue;
        }
        let lower = joined.to_lowercase();
        let body = lower.trim_end_matches(':').trim_end();
        let has_verb = ATTRIBUTION_VERBS
            .iter()
            .any(|verb| body.ends_with(verb) || lower.contains(&format!(" {verb} ")));
        if !has_verb {
            return None;
        }
        // "Jane Doe wrote:" without a date counts only when a quote follows it.
        if opened || quote_follows(lines, index + span) {
            return Some(span);
        }
        return None;
    }
    None
}

fn quote_follows(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from)
        .find(|line| kind(line) != Kind::Empty)
        .is_some_and(|line| kind(line) == Kind::Quoted)
}

/// Cuts a signature introduced by the `-- ` delimiter line.
fn strip_signature(lines: &mut Vec<&str>) {
    let delimiter = lines
        .iter()
        .rposition(|line| *line == "-- " || line.trim_end() == "--");
    if let Some(index) = delimiter {
        let signature_lines = lines[index + 1..]
            .iter()
            .filter(|line| !line.trim().is_empty())
            .count();
        if signature_lines <= MAX_SIGNATURE_LINES {
            lines.truncate(index);
        }
    }
}

/// Lines mobile mail apps append by default, lower-cased starts.
const MOBILE_FOOTERS: &[&str] = &[
    "sent from my ",
    "sent from outlook",
    "sent from yahoo mail",
    "sent from mail for windows",
    "sent from the all new aol app",
    "sent from samsung",
    "sent via the samsung",
    "sent with proton mail",
    "get outlook for ",
    "von meinem ",
    "gesendet von ",
    "gesendet mit ",
    "envoyé de mon ",
    "envoyé depuis ",
    "enviado desde mi ",
    "enviado desde ",
    "enviado do meu ",
    "inviato da ",
    "verzonden met ",
    "verstuurd vanaf mijn ",
];

/// Removes mobile apps' "Sent from my iPhone" lines at the end.
fn strip_mobile_footer(lines: &mut Vec<&str>) {
    loop {
        while lines.last().is_some_and(|line| line.trim().is_empty()) {
            lines.pop();
        }
        let Some(last) = lines.last() else {
            return;
        };
        let lower = last.trim().to_lowercase();
        let footer = lower.chars().count() <= 100
            && MOBILE_FOOTERS.iter().any(|start| lower.starts_with(start));
        if !footer {
            return;
        }
        lines.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_top_post_with_wrapped_attribution() {
        let text = "Thanks, that fixed it!\n\nOn Tue, Mar 5, 2024 at 9:41 AM Acme Support <\nsupport@acme.example> wrote:\n\n> Hi Jane,\n> please restart the router.\n>\n";
        assert_eq!(strip(text), "Thanks, that fixed it!");
    }

    #[test]
    fn apple_mail_and_iphone() {
        let text = "Still broken.\n\nSent from my iPhone\n\n> On Mar 5, 2024, at 09:41, Acme Support <support@acme.example> wrote:\n>\n> Hi\n";
        assert_eq!(strip(text), "Still broken.");
        let text = "Yes please.\n\nOn Mar 5, 2024, at 09:41, Acme Support <support@acme.example> wrote:\n\n> Hi\n";
        assert_eq!(strip(text), "Yes please.");
    }

    #[test]
    fn outlook_blocks_in_several_languages() {
        for text in [
            "Hello\n\n________________________________\nFrom: Acme Support <support@acme.example>\nSent: Tuesday, March 5, 2024 9:41 AM\nTo: Jane <jane@example.com>\nSubject: RE: Router\n\nHi Jane",
            "Hello\n\n-----Original Message-----\nFrom: Acme\nSent: Tuesday\nTo: Jane\nSubject: Router\n\nold",
            "Hello\n\nVon: Acme Support <support@acme.example>\nGesendet: Dienstag, 5. März 2024 09:41\nAn: Jane\nBetreff: AW: Router\n\nalt",
            "Hello\n\nDe : Acme Support <support@acme.example>\nEnvoyé : mardi 5 mars 2024 09:41\nÀ : Jane\nObjet : RE: Router\n\nancien",
            "Hello\n\n*From:* Acme <support@acme.example>\n*Sent:* Tuesday\n*To:* Jane\n*Subject:* Router\n\nold",
            "Hello\n\n----- Original Message -----\nold",
            "Hello\n\n-----Ursprüngliche Nachricht-----\nalt",
        ] {
            assert_eq!(strip(text), "Hello", "{text}");
        }
    }

    #[test]
    fn localized_attributions() {
        for text in [
            "Danke\n\nAm Di., 5. März 2024 um 09:41 Uhr schrieb Acme Support <support@acme.example>:\n> Hallo",
            "Danke\n\nAm 05.03.24 um 09:41 schrieb Acme Support:\n> Hallo",
            "Merci\n\nLe mar. 5 mars 2024 à 09:41, Acme Support <support@acme.example> a écrit :\n> Bonjour",
            "Gracias\n\nEl mar, 5 mar 2024 a las 9:41, Acme Support (<support@acme.example>) escribió:\n> Hola",
            "Thanks\n\nOn 3/5/24 09:41, Acme Support wrote:\n> Hi",
            "Thanks\n\nOn Tuesday, March 5, 2024, 09:41:00 AM GMT+1, Acme Support <support@acme.example> wrote:\n\n\nHi",
        ] {
            let first = text.lines().next().unwrap_or_default();
            assert_eq!(strip(text), first, "{text}");
        }
    }

    #[test]
    fn trailing_quote_without_attribution() {
        assert_eq!(strip("Answer\n\n> old\n> older\n"), "Answer");
    }

    #[test]
    fn bottom_posting_keeps_the_answer() {
        let text = "On Tue, Mar 5, 2024 at 9:41 AM Acme <support@acme.example> wrote:\n> Which model?\n\nThe X200.\n";
        assert_eq!(strip(text), "The X200.");
    }

    #[test]
    fn interleaved_answers_keep_their_quotes() {
        let text = "Hi,\n\nOn Tue, Mar 5, 2024 at 9:41 AM Acme <support@acme.example> wrote:\n> Which model?\nX200\n> Since when?\nMonday\n> Thanks\n";
        assert_eq!(
            strip(text),
            "Hi,\n\n> Which model?\nX200\n> Since when?\nMonday"
        );
    }

    #[test]
    fn signature_and_mobile_footers() {
        assert_eq!(
            strip("Works now.\n\n-- \nJane Doe\nACME Corp\n"),
            "Works now."
        );
        assert_eq!(
            strip("Works now.\n\nVon meinem iPhone gesendet"),
            "Works now."
        );
        assert_eq!(strip("Works now.\n\nGet Outlook for iOS"), "Works now.");
        assert_eq!(strip("Works now.\nEnviado desde mi iPhone"), "Works now.");
    }

    #[test]
    fn prose_mentioning_wrote_is_kept() {
        let text = "My colleague wrote:\nthe router is fine.\nOn balance I agree.";
        assert_eq!(strip(text), text);
    }

    #[test]
    fn forwarded_content_is_kept() {
        let text = "FYI\n\n---------- Forwarded message ---------\nFrom: Bank <noreply@bank.example>\nDate: Tue, Mar 5, 2024\nSubject: Invoice\nTo: <jane@example.com>\n\nYour invoice";
        assert_eq!(strip(text), text);
    }

    #[test]
    fn a_mail_that_is_only_a_quote_stays_visible() {
        assert_eq!(strip("> only a quote\n"), "> only a quote");
    }
}
