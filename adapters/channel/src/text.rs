//! Text rules every adapter needs alike: splitting a reply too long for one provider message,
//! and describing an error with its causes.

/// Splits a text too long for one message into pieces of at most `max` units, where `units`
/// says how many a character counts as the provider measures length (`|_| 1` for providers that
/// count characters, [`char::len_utf16`] for Telegram's UTF-16 code units).
///
/// Pieces never split a character, and concatenated they give back `text` exactly. A piece
/// preferably ends after a paragraph break (`"\n\n"`), then a line break, then a space, as long
/// as that break lies in the second half of the piece (so no tiny fragments are sent);
/// otherwise it is cut hard at the limit. Empty text gives no pieces. A `max` of 0 counts as 1,
/// and a character counting more than `max` units still forms its own piece.
pub fn split_text(text: &str, max: usize, units: impl Fn(char) -> usize) -> Vec<String> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // Byte index where the longest prefix of at most `max` units ends.
        let mut used = 0;
        let mut end = rest.len();
        for (index, ch) in rest.char_indices() {
            if used + units(ch) > max {
                end = index;
                break;
            }
            used += units(ch);
        }
        if end == rest.len() {
            pieces.push(rest.to_owned());
            break;
        }
        if end == 0 {
            // The first character alone is over the limit: send it alone rather than loop.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let cut = break_point(&rest[..end]).unwrap_or(end);
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece.to_owned());
        rest = tail;
    }
    pieces
}

/// The preferred place to end `window` (a byte index just after the separator), if any lies in
/// its second half.
fn break_point(window: &str) -> Option<usize> {
    let half = window.len() / 2;
    ["\n\n", "\n", " "].into_iter().find_map(|separator| {
        window
            .rfind(separator)
            .map(|index| index + separator.len())
            .filter(|&cut| cut > half)
    })
}

/// An error and its causes, `outer: inner: innermost`, skipping causes already in the text, so
/// a failure's reason names the real problem (a refused connection, a TLS error) however deeply
/// the HTTP client wrapped it.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Providers that count characters (WhatsApp).
    fn chars(text: &str, max: usize) -> Vec<String> {
        split_text(text, max, |_| 1)
    }

    /// Telegram: UTF-16 code units.
    fn utf16(text: &str, max: usize) -> Vec<String> {
        split_text(text, max, char::len_utf16)
    }

    fn utf16_len(text: &str) -> usize {
        text.encode_utf16().count()
    }

    /// Splits in UTF-16 units and checks the pieces reassemble the text within the limit.
    fn assert_split(text: &str, max: usize) -> Vec<String> {
        let pieces = utf16(text, max);
        assert_eq!(pieces.concat(), text, "pieces must reassemble the text");
        for piece in &pieces {
            assert!(!piece.is_empty());
            assert!(utf16_len(piece) <= max, "{piece:?} is longer than {max}");
        }
        pieces
    }

    #[test]
    fn short_text_is_one_piece_and_empty_text_none() {
        assert_eq!(chars("hello", 4096), vec!["hello"]);
        assert!(chars("", 4096).is_empty());
        let exact = "a".repeat(4096);
        assert_eq!(chars(&exact, 4096), vec![exact.clone()]);

        assert!(utf16("", 4096).is_empty());
        assert_eq!(utf16("Hallo", 4096), vec!["Hallo"]);
        let exact = "x".repeat(4096);
        assert_eq!(utf16(&exact, 4096), vec![exact.clone()]);
    }

    #[test]
    fn splits_prefer_paragraphs_then_lines_then_spaces() {
        let text = format!(
            "{}\n\n{}\n{}",
            "a".repeat(30),
            "b".repeat(10),
            "c".repeat(5)
        );
        let pieces = chars(&text, 40);
        assert_eq!(pieces[0], format!("{}\n\n", "a".repeat(30)));
        assert_eq!(pieces.concat(), text);

        let lines = format!("{}\n{} {}", "a".repeat(25), "b".repeat(5), "c".repeat(20));
        assert_eq!(chars(&lines, 30)[0], format!("{}\n", "a".repeat(25)));

        let words = "word ".repeat(20);
        let pieces = chars(&words, 12);
        assert!(pieces.iter().all(|p| p.chars().count() <= 12));
        assert_eq!(pieces[0], "word word ");
        assert_eq!(pieces.concat(), words);

        let text = "aaaa bbbb\ncccc\n\ndddd eeee";
        assert_eq!(
            assert_split(text, 20),
            vec!["aaaa bbbb\ncccc\n\n", "dddd eeee"]
        );
        let text = "aaaa bbbb cc\ncccc dddd eeee";
        assert_eq!(
            assert_split(text, 20),
            vec!["aaaa bbbb cc\n", "cccc dddd eeee"]
        );
        let text = "aaaa bbbb cccc dddd eeee";
        assert_eq!(
            assert_split(text, 12),
            vec!["aaaa bbbb ", "cccc dddd ", "eeee"]
        );
        // A paragraph break in the first half would leave a tiny piece: take the later line break.
        let text = "a\n\nbbbbbbbbbbb\ncccc";
        assert_eq!(assert_split(text, 16), vec!["a\n\nbbbbbbbbbbb\n", "cccc"]);
    }

    #[test]
    fn splits_hard_when_no_break_in_the_second_half() {
        let text = format!("ab {}", "x".repeat(20));
        let pieces = chars(&text, 10);
        assert_eq!(pieces[0], format!("ab {}", "x".repeat(7)));
        assert_eq!(pieces.concat(), text);
        assert_eq!(assert_split("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn long_replies_fit_the_limit() {
        let text = "Lorem ipsum dolor sit amet, consectetur.\n".repeat(400);
        let pieces = chars(&text, 4096);
        assert!(pieces.len() >= 4);
        assert!(pieces.iter().all(|p| p.chars().count() <= 4096));
        assert!(pieces.iter().all(|p| p.ends_with('\n')));
        assert_eq!(pieces.concat(), text);

        let text = "a".repeat(10_000);
        let pieces = assert_split(&text, 4096);
        assert_eq!(pieces.len(), 3);
        assert_eq!(utf16_len(&pieces[0]), 4096);
        assert_eq!(utf16_len(&pieces[1]), 4096);
        assert_eq!(utf16_len(&pieces[2]), 10_000 - 2 * 4096);

        let words = "Lorem ipsum dolor sit amet, ".repeat(358); // 10,024 chars
        let pieces = assert_split(&words, 4096);
        assert_eq!(pieces.len(), 3);
        assert!(pieces[0].ends_with(' ') && pieces[1].ends_with(' '));
    }

    #[test]
    fn splits_count_characters_and_never_cut_one() {
        let text = "é😀".repeat(3000);
        let pieces = chars(&text, 4096);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].chars().count(), 4096);
        assert_eq!(pieces.concat(), text);
        assert_eq!(chars("😀😀", 0), vec!["😀", "😀"]);
    }

    #[test]
    fn splits_count_utf16_units_and_never_cut_a_character() {
        // Umlauts are two bytes but one unit each.
        assert_eq!(assert_split("äöüäöü", 4), vec!["äöüä", "öü"]);
        // An emoji (two units) that would straddle the limit moves to the next piece.
        assert_eq!(assert_split("abc😀def", 4), vec!["abc", "😀de", "f"]);
        assert_eq!(assert_split("😀😀😀", 5), vec!["😀😀", "😀"]);
        // Around a real limit.
        let text = format!("{}😀{}", "x".repeat(4095), "y".repeat(10));
        let pieces = assert_split(&text, 4096);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0], "x".repeat(4095));
        assert!(pieces[1].starts_with('😀'));
        let emoji = "😀".repeat(3000);
        let pieces = assert_split(&emoji, 4096);
        assert_eq!(pieces.len(), 2);
        assert_eq!(utf16_len(&pieces[0]), 4096);
    }

    #[test]
    fn split_degenerate_limits_still_progress() {
        assert_eq!(utf16("ab", 0), vec!["a", "b"]);
        let pieces = utf16("a😀b", 1);
        assert_eq!(pieces, vec!["a", "😀", "b"]);
        assert_eq!(pieces.concat(), "a😀b");
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|inner| inner as _)
        }
    }

    #[test]
    fn error_chains_name_new_causes_once() {
        let error = Layer(
            "request failed: connection refused",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer(
                    "",
                    Some(Box::new(Layer("os error 111", None))),
                ))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "request failed: connection refused: os error 111"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
