//! What agents learn about a web visitor who did not say who they are: a generated name that
//! stays the same for them, the page they are on and where they came from, their browser.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

const ADJECTIVES: [&str; 32] = [
    "Amber", "Azure", "Blue", "Bold", "Brave", "Bright", "Calm", "Clever", "Coral", "Crimson",
    "Eager", "Gentle", "Golden", "Green", "Happy", "Indigo", "Jade", "Kind", "Lively", "Lucky",
    "Mellow", "Misty", "Noble", "Olive", "Quiet", "Rapid", "Ruby", "Silver", "Sunny", "Swift",
    "Teal", "Witty",
];

const ANIMALS: [&str; 48] = [
    "Badger", "Bear", "Beaver", "Bison", "Crane", "Dolphin", "Eagle", "Falcon", "Ferret", "Finch",
    "Fox", "Gazelle", "Gecko", "Heron", "Ibis", "Jaguar", "Koala", "Lark", "Lemur", "Lion", "Lynx",
    "Marten", "Moose", "Newt", "Ocelot", "Otter", "Owl", "Panda", "Panther", "Parrot", "Pelican",
    "Puffin", "Quail", "Rabbit", "Raven", "Robin", "Salmon", "Seal", "Sparrow", "Swan", "Tiger",
    "Toucan", "Turtle", "Walrus", "Whale", "Wolf", "Wren", "Yak",
];

/// A name for a visitor who gave none ("Blue Falcon"): the same for a visitor id every time
/// (FNV-1a of the id, finalized), so the inbox shows one name live and after reloads. 1,536 names: two
/// visitors may share one, which only the name shows, never their conversations.
pub fn visitor_name(visitor_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in visitor_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // MurmurHash3's finalizer: every input bit reaches the high bits the animal is read from.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    let adjective = ADJECTIVES[(hash % ADJECTIVES.len() as u64) as usize];
    let animal = ANIMALS[((hash >> 32) % ANIMALS.len() as u64) as usize];
    format!("{adjective} {animal}")
}

/// The browser and operating system a `User-Agent` header names, in words an agent reads
/// ("Firefox 133", "Windows"); `None` for what it does not say. Order matters: Edge and Opera
/// also say Chrome, Chrome also says Safari, Android also says Linux.
pub fn browser_and_os(user_agent: &str) -> (Option<String>, Option<String>) {
    let version = |marker: &str| -> Option<String> {
        let rest = &user_agent[user_agent.find(marker)? + marker.len()..];
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some(major).filter(|m| !m.is_empty())
    };
    let named = |name: &str, marker: &str| -> Option<String> {
        user_agent.contains(marker).then(|| match version(marker) {
            Some(v) => format!("{name} {v}"),
            None => name.to_owned(),
        })
    };
    let browser = named("Edge", "Edg/")
        .or_else(|| named("Opera", "OPR/"))
        .or_else(|| named("Samsung Internet", "SamsungBrowser/"))
        .or_else(|| named("Firefox", "Firefox/"))
        .or_else(|| named("Firefox", "FxiOS/"))
        .or_else(|| named("Chrome", "CriOS/"))
        .or_else(|| named("Chrome", "Chrome/"))
        .or_else(|| {
            user_agent
                .contains("Safari/")
                .then(|| match version("Version/") {
                    Some(v) => format!("Safari {v}"),
                    None => "Safari".to_owned(),
                })
        });
    let os = if user_agent.contains("iPhone") || user_agent.contains("iPad") {
        Some("iOS")
    } else if user_agent.contains("Android") {
        Some("Android")
    } else if user_agent.contains("Windows") {
        Some("Windows")
    } else if user_agent.contains("Mac OS X") || user_agent.contains("Macintosh") {
        Some("macOS")
    } else if user_agent.contains("CrOS") {
        Some("ChromeOS")
    } else if user_agent.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    (browser, os.map(str::to_owned))
}

/// One page the visitor opened in this browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageVisit {
    /// The page's address.
    pub url: String,
    /// The page's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When, as the browser said it (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// Where the visitor is, as the widget tells it on each page (`context` frame).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VisitorContext {
    /// The page the visitor is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// That page's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The page that linked to the first page of the visit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// IANA zone of the browser (`Europe/Berlin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The browser's language tag (`de-DE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Pages of this browser session, oldest first, at most [`MAX_PAGES`].
    pub pages: Vec<PageVisit>,
}

/// Pages kept per session (the latest).
pub const MAX_PAGES: usize = 20;
/// Longest URL kept, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 300;

/// An address without its query and fragment (they can hold what only the visitor may see: a
/// reset token, an email, `#access_token`); agents need the page, not its state. Nothing left
/// (`#top`, `?q=1`) reads as no address, so a frame read twice reads the same.
fn page_address(url: String) -> Option<String> {
    let page = match url.find(['?', '#']) {
        Some(at) => &url[..at],
        None => &url,
    }
    .trim();
    (!page.is_empty()).then(|| page.to_owned())
}

/// A string field of `fields`, trimmed and cut to `max` characters; absent, empty or not a
/// string reads as none (a visitor's odd page is not a reason to refuse the frame).
fn text(fields: &Map<String, Value>, name: &str, max: usize) -> Option<String> {
    let value = fields.get(name)?.as_str()?.trim();
    (!value.is_empty()).then(|| value.chars().take(max).collect())
}

impl VisitorContext {
    /// Reads a `context` frame's fields tolerantly: long values are cut, odd ones dropped.
    pub fn from_fields(fields: &Map<String, Value>) -> Self {
        let mut pages: Vec<PageVisit> = fields
            .get("pages")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .filter_map(Value::as_object)
                    .filter_map(|page| {
                        Some(PageVisit {
                            url: text(page, "url", MAX_URL_CHARS).and_then(page_address)?,
                            title: text(page, "title", MAX_TITLE_CHARS),
                            at: text(page, "at", 40),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if pages.len() > MAX_PAGES {
            pages.drain(..pages.len() - MAX_PAGES);
        }
        Self {
            url: text(fields, "url", MAX_URL_CHARS).and_then(page_address),
            title: text(fields, "title", MAX_TITLE_CHARS),
            referrer: text(fields, "referrer", MAX_URL_CHARS).and_then(page_address),
            time_zone: text(fields, "time_zone", 64),
            language: text(fields, "language", 35),
            pages,
        }
    }

    /// What the hub keeps on the visitor's identity (`profile.visitor`), with the browser
    /// and system read from the socket's `User-Agent` and the visitor's generated `name`
    /// (shown while their contact has no name of its own; never stored as one, so canned
    /// responses, merges and search only see names people gave).
    pub fn to_profile(&self, user_agent: Option<&str>, name: &str) -> Map<String, Value> {
        let (browser, os) = user_agent.map(browser_and_os).unwrap_or_default();
        let mut visitor = json!({
            "name": name, "page_url": self.url, "page_title": self.title, "referrer": self.referrer,
            "time_zone": self.time_zone, "language": self.language,
            "browser": browser, "os": os, "pages": self.pages,
        });
        if let Value::Object(fields) = &mut visitor {
            fields.retain(|_, v| !v.is_null());
        }
        let mut profile = Map::new();
        profile.insert("visitor".into(), visitor);
        profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_keeps_one_generated_name() {
        let name = visitor_name("v_8d6fa0c1b2e34f5a9b7c");
        assert_eq!(name, visitor_name("v_8d6fa0c1b2e34f5a9b7c"));
        let (adjective, animal) = name.split_once(' ').unwrap_or_default();
        assert!(
            ADJECTIVES.contains(&adjective) && ANIMALS.contains(&animal),
            "{name}"
        );
        // Different visitors mostly get different names.
        let names: std::collections::HashSet<String> = (0..200)
            .map(|n| visitor_name(&format!("v_{n:020}")))
            .collect();
        assert!(names.len() > 150, "{} distinct of 200", names.len());
    }

    #[test]
    fn user_agents_of_the_common_browsers_read_as_words() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
                ("Edge 131", "Windows"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                ("Safari 18", "macOS"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                ("Firefox 133", "Linux"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.104 Mobile Safari/537.36",
                ("Chrome 131", "Android"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
                ("Chrome 131", "iOS"),
            ),
        ];
        for (ua, (browser, os)) in cases {
            assert_eq!(
                browser_and_os(ua),
                (Some(browser.to_owned()), Some(os.to_owned())),
                "{ua}"
            );
        }
        assert_eq!(browser_and_os("curl/8.5.0"), (None, None));
    }

    #[test]
    fn context_frames_are_read_tolerantly() {
        let fields = json!({
            "url": " https://shop.example/cart?token=s3cret#x ", "title": "x".repeat(400), "referrer": "#top",
            "time_zone": "Europe/Berlin", "language": "",
            "pages": (0..25).map(|n| json!({"url": format!("https://shop.example/{n}")}))
                .chain([json!({"title": "no url"}), json!({"url": "?q=1"}), json!("junk")])
                .collect::<Vec<_>>(),
        });
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        let context = VisitorContext::from_fields(&fields);
        assert_eq!(context.url.as_deref(), Some("https://shop.example/cart"));
        assert_eq!(context.title.map(|t| t.chars().count()), Some(300));
        assert_eq!((context.referrer, context.language), (None, None));
        assert_eq!(context.pages.len(), MAX_PAGES);
        assert_eq!(
            context.pages[0].url, "https://shop.example/5",
            "the latest 20 kept"
        );
        let profile = VisitorContext::default().to_profile(
            Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
            "Blue Falcon",
        );
        assert_eq!(
            profile["visitor"],
            json!({"name": "Blue Falcon", "browser": "Firefox 133", "os": "Linux", "pages": []})
        );
    }
}
