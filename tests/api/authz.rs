//! The authorization matrix (issue #17): every route the router registers, called by six
//! callers, each answer checked against the table in `authz_matrix.txt`.
//!
//! Callers: `anon` (no credentials), `other` (an agent who is a member of inbox B only),
//! `member` (an agent who is a member of inbox A), `admin` — these three with personal API
//! tokens (Bearer) — and the admin's signed-in browser session, `nocsrf` without its
//! `X-CSRF-Token` header and `cookie` with it.
//!
//! Where the routes come from: actix-web cannot list what an `App` registered, so the test
//! reads the router's own declarations — the `configure` functions under `src/routes/`,
//! followed from `routes::configure` through every `.configure(…)` call, with the prefixes
//! of the `web::scope`s around them. A declaration it cannot read (a `web::resource`, a route
//! guard, a `.service` of anything but a scope, a route macro, a route outside `src/routes/`
//! or in a function `routes::configure` never reaches) fails the test, so a new route cannot
//! slip past it. After the run, the hub's request metrics (labelled with the pattern actix
//! itself matched) must name every (method, pattern) of the table: what the test read is
//! what the router serves.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fake_telegram::FakeBotApi;
use crate::helpers::{
    ApiInbox, CallbackServer, TestApp, eventually, message_event, spawn_app_with,
};

/// The checked-in table, next to this file.
const TABLE: &str = include_str!("authz_matrix.txt");
const TABLE_PATH: &str = "tests/api/authz_matrix.txt";

/// Statuses that mean "the authorization check let the caller through": what a handler
/// answers after it (success, or a refusal of the request's content or state).
const ALLOWED: [u16; 6] = [200, 201, 204, 400, 409, 422];

/// What the table's `auth=` column may say: how a route authenticates its callers.
const AUTH_KINDS: [&str; 6] = ["agent", "page", "public", "webhook", "widget", "signed"];

/// The origin the test widget allows.
const SITE: &str = "http://shop.example";
/// A bot token the fake Bot API accepts.
const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

// ---------------------------------------------------------------------------------------
// The routes, read from the router's declarations
// ---------------------------------------------------------------------------------------

/// One registered route.
#[derive(Debug, Clone)]
struct Route {
    method: String,
    pattern: String,
    /// Where it is declared (`src/routes/inboxes.rs:25`).
    at: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Rust source as identifiers, string literals and punctuation (comments, numbers, char
/// literals and lifetimes dropped): enough to read `configure` functions reliably.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br"…"
            let start_line = line;
            let mut j = i;
            while chars[j] != '"' {
                j += 1;
            }
            j += 1;
            let mut text = String::new();
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                if chars[j] == '\n' {
                    line += 1;
                }
                text.push(chars[j]);
                j += 1;
            }
            out.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
            i = j;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let start_line = line;
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut text = String::new();
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    text.push(at(j + 1));
                    j += 2;
                    continue;
                }
                if chars[j] == '\n' {
                    line += 1;
                }
                text.push(chars[j]);
                j += 1;
            }
            out.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
            i = j + 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let q = if c == 'b' { i + 1 } else { i };
            if at(q + 1) == '\\' {
                // An escaped char literal: '\n', '\'', '\u{…}'.
                let mut j = q + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                // A lifetime or label: the name follows as an identifier.
                i = q + 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[i..j].iter().collect()),
                line,
            });
            i = j;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The number of `#`s if a raw string literal starts at `i`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    // Not the tail of an identifier (`for"` cannot occur, but `bar#` could in macros).
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some(hashes)
}

/// One source file of the routes module.
struct SourceFile {
    /// `src/routes/inboxes.rs`
    path: String,
    tokens: Vec<Token>,
    /// Function name → its body's tokens (between the braces).
    functions: HashMap<String, (usize, usize)>,
}

impl SourceFile {
    fn read(path: &std::path::Path, shown: String) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("authz: cannot read {}: {e}", path.display()));
        Self::parse(&text, shown)
    }

    fn parse(text: &str, shown: String) -> Self {
        let tokens = tokenize(text);
        let mut functions = HashMap::new();
        for k in 0..tokens.len().saturating_sub(1) {
            if let (Tok::Ident(kw), Tok::Ident(name)) = (&tokens[k].tok, &tokens[k + 1].tok)
                && kw == "fn"
            {
                let Some(open) =
                    (k + 2..tokens.len()).find(|&j| matches!(tokens[j].tok, Tok::Punct('{' | ';')))
                else {
                    continue;
                };
                if tokens[open].tok != Tok::Punct('{') {
                    continue;
                }
                let close = matching(&tokens, open, '{', '}');
                functions.insert(name.clone(), (open + 1, close));
            }
        }
        Self {
            path: shown,
            tokens,
            functions,
        }
    }

    fn at(&self, k: usize) -> String {
        format!("{}:{}", self.path, self.tokens[k].line)
    }

    fn ident(&self, k: usize, name: &str) -> bool {
        matches!(self.tokens.get(k), Some(Token { tok: Tok::Ident(i), .. }) if i == name)
    }

    fn punct(&self, k: usize, c: char) -> bool {
        matches!(self.tokens.get(k), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    fn string(&self, k: usize) -> Option<&str> {
        match self.tokens.get(k) {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => Some(s),
            _ => None,
        }
    }

    fn name(&self, k: usize) -> Option<&str> {
        match self.tokens.get(k) {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => Some(s),
            _ => None,
        }
    }

    /// `web::<name>` at `k`.
    fn web_call(&self, k: usize) -> Option<&str> {
        (self.ident(k, "web") && self.punct(k + 1, ':') && self.punct(k + 2, ':'))
            .then(|| self.name(k + 3))
            .flatten()
    }

    /// `.<name>(` at `k`.
    fn method_call(&self, k: usize) -> Option<&str> {
        (self.punct(k, '.') && self.punct(k + 2, '('))
            .then(|| self.name(k + 1))
            .flatten()
    }

    /// Every place in the file that declares routes, as token indexes: `.route(`,
    /// `.service(`, `.default_service(`, `.external_resource(`, `web::scope(`,
    /// `web::resource(` and route attribute macros (`#[get("…")]`).
    fn declarations(&self) -> Vec<usize> {
        const MACROS: [&str; 9] = [
            "get", "post", "put", "patch", "delete", "head", "options", "trace", "route",
        ];
        (0..self.tokens.len())
            .filter(|&k| {
                matches!(
                    self.method_call(k),
                    Some("route" | "service" | "default_service" | "external_resource")
                ) || (matches!(self.web_call(k), Some("scope" | "resource"))
                    && self.punct(k + 4, '('))
                    || (self.punct(k, '#')
                        && self.punct(k + 1, '[')
                        && self.name(k + 2).is_some_and(|n| MACROS.contains(&n))
                        && self.punct(k + 3, '('))
            })
            .collect()
    }
}

/// The index of the bracket closing the one at `open`.
fn matching(tokens: &[Token], open: usize, left: char, right: char) -> usize {
    let mut depth = 0;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        if token.tok == Tok::Punct(left) {
            depth += 1;
        } else if token.tok == Tok::Punct(right) {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    panic!("authz: unbalanced {left}{right} in a source file");
}

/// Reads the routes the router registers, from `routes::configure` down.
struct RouteReader {
    files: HashMap<String, SourceFile>,
    routes: Vec<Route>,
    /// Declarations read, as (module, token index).
    read: HashSet<(String, usize)>,
    /// Configure functions being read (a loop would never end).
    active: Vec<(String, String)>,
}

impl RouteReader {
    fn fail(&self, module: &str, k: usize, what: &str) -> ! {
        panic!(
            "authz: cannot read the route declaration at {}: {what}. The authorization matrix \
             test (tests/api/authz.rs) reads routes from the `configure` functions; declare \
             routes as `.route(\"/path\", web::<method>().to(handler))`, optionally inside \
             `.service(web::scope(\"/prefix\")…)`, or teach `RouteReader` the new form.",
            self.files[module].at(k)
        );
    }

    fn read_function(&mut self, module: &str, function: &str, prefix: &str) {
        let key = (module.to_owned(), function.to_owned());
        assert!(
            !self.active.contains(&key),
            "authz: configure functions call each other in a loop at {module}::{function}"
        );
        let Some(file) = self.files.get(module) else {
            panic!("authz: `.configure({module}::{function})`: no src/routes/{module}.rs");
        };
        let Some(&(start, end)) = file.functions.get(function) else {
            panic!(
                "authz: `.configure({module}::{function})`: no fn {function} in {}",
                file.path
            );
        };
        self.active.push(key);
        // (prefix, paren depth of the `.service(` argument the scope is in)
        let mut scopes: Vec<(String, i32)> = Vec::new();
        let mut depth = 0;
        let mut k = start;
        while k < end {
            let file = &self.files[module];
            let here = scopes
                .last()
                .map_or_else(|| prefix.to_owned(), |s| s.0.clone());
            if file.punct(k, '(') {
                depth += 1;
            } else if file.punct(k, ')') {
                depth -= 1;
                while scopes.last().is_some_and(|s| s.1 > depth) {
                    scopes.pop();
                }
            } else if let Some(what) = file.web_call(k)
                && file.punct(k + 4, '(')
            {
                match what {
                    "scope" => {
                        let Some(path) = file.string(k + 5).map(str::to_owned) else {
                            self.fail(module, k, "web::scope without a string literal")
                        };
                        if !file.punct(k + 6, ')') {
                            self.fail(module, k, "web::scope(…) with more than a literal");
                        }
                        self.read.insert((module.to_owned(), k));
                        scopes.push((format!("{here}{path}"), depth));
                        k += 7;
                        continue;
                    }
                    "resource" => self.fail(module, k, "web::resource is not read"),
                    _ => {}
                }
            } else if let Some(call) = file.method_call(k) {
                match call {
                    "route" => {
                        let route = self.read_route(module, k, &here);
                        self.routes.push(route);
                        self.read.insert((module.to_owned(), k));
                        // The arguments are walked on as usual (their parens count).
                        k += 2;
                        continue;
                    }
                    "service" => {
                        if file.web_call(k + 3) != Some("scope") {
                            self.fail(module, k, ".service(…) of something other than web::scope");
                        }
                        self.read.insert((module.to_owned(), k));
                    }
                    "configure" => {
                        let close = matching(&file.tokens, k + 2, '(', ')');
                        let mut path = Vec::new();
                        for j in k + 3..close {
                            match &file.tokens[j].tok {
                                Tok::Ident(name) => path.push(name.clone()),
                                Tok::Punct(':') => {}
                                _ => self.fail(
                                    module,
                                    k,
                                    ".configure(…) of something other than a function path",
                                ),
                            }
                        }
                        let (target_module, function) = match path.as_slice() {
                            [function] => (module.to_owned(), function.clone()),
                            [.., m, function] if m == "self" => {
                                (module.to_owned(), function.clone())
                            }
                            [.., m, function] => (m.clone(), function.clone()),
                            [] => self.fail(module, k, "empty .configure()"),
                        };
                        self.read_function(&target_module, &function, &here);
                        k = close + 1;
                        continue;
                    }
                    "default_service" => {
                        // The JSON 404/405 fallback is not a route; anything else would be.
                        let f = &self.files[module];
                        let fallback = f.web_call(k + 3) == Some("to")
                            && f.punct(k + 7, '(')
                            && f.ident(k + 8, "api_not_found")
                            && f.punct(k + 9, ')')
                            && f.punct(k + 10, ')');
                        if !fallback {
                            self.fail(module, k, "a default_service other than api_not_found");
                        }
                        self.read.insert((module.to_owned(), k));
                        k += 11;
                        continue;
                    }
                    "external_resource" => self.fail(module, k, "external resources are not read"),
                    _ => {}
                }
            }
            k += 1;
        }
        self.active.pop();
    }

    /// `.route("/path", web::get()…)` at `k`.
    fn read_route(&self, module: &str, k: usize, prefix: &str) -> Route {
        let file = &self.files[module];
        let Some(path) = file.string(k + 3) else {
            self.fail(module, k, ".route(…) whose path is not a string literal")
        };
        if !file.punct(k + 4, ',') {
            self.fail(
                module,
                k,
                ".route(…) whose path is not a plain string literal",
            );
        }
        let close = matching(&file.tokens, k + 2, '(', ')');
        let m = k + 5;
        let method = match file.web_call(m) {
            Some(
                name @ ("get" | "post" | "put" | "patch" | "delete" | "head" | "trace" | "connect"),
            ) if file.punct(m + 4, '(') && file.punct(m + 5, ')') => name.to_uppercase(),
            Some("method") if file.punct(m + 4, '(') => {
                let end = matching(&file.tokens, m + 4, '(', ')');
                match file.name(end - 1) {
                    Some(name) if name.chars().all(|c| c.is_ascii_uppercase()) => name.to_owned(),
                    _ => self.fail(module, k, "web::method(…) without a Method::NAME"),
                }
            }
            _ => self.fail(module, k, "a route whose method is not web::<method>()"),
        };
        if (m..close).any(|j| file.ident(j, "guard")) {
            self.fail(
                module,
                k,
                "a route guard (the test cannot tell whom it admits)",
            );
        }
        Route {
            method,
            pattern: format!("{prefix}{path}"),
            at: file.at(k),
        }
    }
}

/// Every route `routes::configure` registers, in declaration order.
fn registered_routes() -> Vec<Route> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("src/routes");
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/routes") {
        let path = entry.expect("dir entry").path();
        assert!(
            !path.is_dir(),
            "authz: {} is a folder; the route reader in tests/api/authz.rs reads the files \
             of src/routes/ only: teach it the folder's modules",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "rs") {
            let module = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("file name")
                .to_owned();
            let shown = format!("src/routes/{module}.rs");
            files.insert(module, SourceFile::read(&path, shown));
        }
    }
    let routes = read_routes(files);

    // And nothing outside src/routes/ registers routes: the app is routes::configure.
    let mut outside = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("src folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                if path != dir {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let shown = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let file = SourceFile::read(&path, shown);
                outside.extend(file.declarations().into_iter().map(|k| file.at(k)));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "authz: routes registered outside src/routes/ ({outside:?}); the authorization \
         matrix only reads routes::configure — register them there"
    );
    let startup = std::fs::read_to_string(root.join("src/startup.rs")).expect("startup.rs");
    assert!(
        startup.contains("routes::configure(cfg"),
        "authz: src/startup.rs no longer builds the app with routes::configure"
    );

    routes
}

/// The routes of the `routes` module's files (by module name; the root is `mod`), from
/// `mod::configure` down; fails on any declaration not reached or not understood.
fn read_routes(files: HashMap<String, SourceFile>) -> Vec<Route> {
    assert!(
        files.contains_key("mod"),
        "authz: no src/routes/mod.rs (the route reader starts at routes::configure)"
    );
    let mut reader = RouteReader {
        files,
        routes: Vec::new(),
        read: HashSet::new(),
        active: Vec::new(),
    };
    reader.read_function("mod", "configure", "");

    // Every declaration in src/routes/ was read from routes::configure down.
    let mut unread = Vec::new();
    for (module, file) in &reader.files {
        for k in file.declarations() {
            if !reader.read.contains(&(module.clone(), k)) {
                unread.push(file.at(k));
            }
        }
    }
    unread.sort();
    assert!(
        unread.is_empty(),
        "authz: route declarations the test did not reach from routes::configure (a \
         configure function not followed, a route macro, or routes built outside \
         `configure*`): {unread:?}. Register them through routes::configure, or teach \
         RouteReader (tests/api/authz.rs) how they are reached."
    );

    let mut seen = HashSet::new();
    for route in &reader.routes {
        assert!(
            seen.insert((route.method.clone(), route.pattern.clone())),
            "authz: {} {} is registered twice (again at {})",
            route.method,
            route.pattern,
            route.at
        );
    }
    reader.routes
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/// The six callers, in the order each row calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anon,
    Other,
    Member,
    Admin,
    NoCsrf,
    Cookie,
}

const CALLERS: [Caller; 6] = [
    Caller::Anon,
    Caller::Other,
    Caller::Member,
    Caller::Admin,
    Caller::NoCsrf,
    Caller::Cookie,
];

impl Caller {
    fn key(self) -> &'static str {
        match self {
            Caller::Anon => "anon",
            Caller::Other => "other",
            Caller::Member => "member",
            Caller::Admin => "admin",
            Caller::NoCsrf => "nocsrf",
            Caller::Cookie => "cookie",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Caller::Anon => "anonymous",
            Caller::Other => "an agent of inbox B only (Bearer)",
            Caller::Member => "an agent, member of inbox A (Bearer)",
            Caller::Admin => "an admin (Bearer)",
            Caller::NoCsrf => "the admin's session cookie without X-CSRF-Token",
            Caller::Cookie => "the admin's session cookie with X-CSRF-Token",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
struct Row {
    method: String,
    pattern: String,
    auth: String,
    /// Expected class per caller (`ok` or a status code), in `CALLERS` order.
    expected: Vec<String>,
    line: usize,
}

fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

fn parse_table() -> Vec<Row> {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (n, text) in TABLE.lines().enumerate() {
        let line = n + 1;
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut words = text.split_whitespace();
        let (Some(method), Some(pattern)) = (words.next(), words.next()) else {
            problems.push(format!(
                "line {line}: expected `METHOD /pattern key=value…`"
            ));
            continue;
        };
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        for word in words {
            match word.split_once('=') {
                Some((key, value)) if values.insert(key, value).is_none() => {}
                _ => problems.push(format!("line {line}: bad or repeated `{word}`")),
            }
        }
        let auth = values.remove("auth").unwrap_or_default().to_owned();
        if !AUTH_KINDS.contains(&auth.as_str()) {
            problems.push(format!(
                "line {line}: auth={auth:?}: must be one of {AUTH_KINDS:?}"
            ));
        }
        let mut expected = Vec::new();
        for caller in CALLERS {
            match values.remove(caller.key()) {
                Some(v) if v == "ok" || (v.len() == 3 && v.parse::<u16>().is_ok()) => {
                    if v.parse::<u16>().is_ok_and(|code| ALLOWED.contains(&code)) {
                        problems.push(format!(
                            "line {line}: {}={v}: write `ok` for an allowed answer",
                            caller.key()
                        ));
                    }
                    expected.push(v.to_owned());
                }
                Some(v) => problems.push(format!(
                    "line {line}: {}={v}: expected `ok` or a status code",
                    caller.key()
                )),
                None => problems.push(format!("line {line}: no {}=", caller.key())),
            }
        }
        if let Some(key) = values.keys().next() {
            problems.push(format!("line {line}: unknown column {key}="));
        }
        if expected.len() != CALLERS.len() {
            continue;
        }
        // The rules every agent route keeps, so no line can quietly loosen them.
        if auth == "agent" {
            if expected[0] != "401" {
                problems.push(format!(
                    "line {line}: {method} {pattern}: an auth=agent route answers anon=401"
                ));
            }
            if !is_safe(method) && expected[4] != "403" {
                problems.push(format!(
                    "line {line}: {method} {pattern}: an unsafe auth=agent route refuses a \
                     cookie without CSRF header (nocsrf=403)"
                ));
            }
        }
        rows.push(Row {
            method: method.to_owned(),
            pattern: pattern.to_owned(),
            auth,
            expected,
            line,
        });
    }
    assert!(
        problems.is_empty(),
        "{TABLE_PATH} is not well-formed:\n  {}",
        problems.join("\n  ")
    );
    rows
}

/// `ok` for an allowed answer, else the status code.
fn class(status: StatusCode) -> String {
    if ALLOWED.contains(&status.as_u16()) {
        "ok".to_owned()
    } else {
        status.as_u16().to_string()
    }
}

// ---------------------------------------------------------------------------------------
// The world the requests run in
// ---------------------------------------------------------------------------------------

/// A request's body.
enum Body {
    None,
    Json(Value),
    /// A multipart form with one small PNG as `file`.
    File,
    /// A widget message form (`content`).
    WidgetMessage,
}

/// A request ready to send for one caller.
struct Call {
    path: String,
    body: Body,
}

/// What every row's requests refer to: two API inboxes (A: the member's, with a
/// conversation from a signed webhook and an image with thumbnails; B: the other agent's),
/// a Telegram inbox with a kept unreadable update, a widget inbox, a team, a canned
/// response, and the admin's browser session.
struct World {
    app: TestApp,
    /// No cookie jar (a login answer must not sign the anonymous caller in), no redirects.
    http: reqwest::Client,
    admin: String,
    member: String,
    other: String,
    member_id: String,
    session: String,
    csrf: String,
    inbox_a: ApiInbox,
    telegram: String,
    unreadable: String,
    widget_key: String,
    conversation: String,
    message: String,
    contact: String,
    attachment: String,
    team: String,
    canned: String,
    schedule: String,
    policy: String,
    notification: String,
    label: String,
    view: String,
    attribute: String,
    login_email: String,
    login_password: String,
    counter: Cell<usize>,
    _callback: CallbackServer,
    bot_api: FakeBotApi,
}

/// A PNG of `size`×`size` pixels.
fn png(size: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(size, size, |x, y| {
        image::Rgb([(x * 4 % 256) as u8, (y * 4 % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

fn id_of(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned()
}

impl World {
    async fn build() -> Self {
        // The sign-in limits answer 429 after a few attempts per account and address; the
        // matrix signs in and checks passwords dozens of times, and is not about them.
        let app = spawn_app_with(|env| {
            env.insert("SWITCHBOARD_LOGIN_ATTEMPTS_PER_IP".into(), "1000".into());
            env.insert(
                "SWITCHBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT".into(),
                "1000".into(),
            );
        })
        .await;
        let admin = app.admin_token().await;
        let (member_id, password) = app
            .create_agent(&admin, "member@example.com", "agent")
            .await;
        let member = app.token_for("member@example.com", &password).await;
        let (other_id, password) = app.create_agent(&admin, "other@example.com", "agent").await;
        let other = app.token_for("other@example.com", &password).await;
        let (_, login_password) = app.create_agent(&admin, "login@example.com", "agent").await;

        let callback = CallbackServer::start().await;
        let inbox_a = app.create_api_inbox(&admin, Some(&callback.url)).await;
        callback.expect_secret(&inbox_a.secret);
        let inbox_b = app.create_api_inbox(&admin, None).await;
        app.add_member(&admin, &inbox_a.id, &member_id).await;
        app.add_member(&admin, &inbox_b.id, &other_id).await;

        let stored = app
            .inbound(&inbox_a, "authz-1", "customer-a", "hello from A")
            .await;
        let conversation = stored["stored"][0]["conversation_id"]
            .as_str()
            .expect("conversation id")
            .to_owned();
        let message = stored["stored"][0]["message_id"]
            .as_str()
            .expect("message id")
            .to_owned();
        app.inbound(&inbox_b, "authz-2", "customer-b", "hello from B")
            .await;
        let shown = app
            .get_json(&admin, &format!("/api/v1/conversations/{conversation}"))
            .await;
        let contact = shown["contact_id"].as_str().expect("contact id").to_owned();

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut world = Self {
            app,
            http,
            admin,
            member,
            other,
            member_id,
            session: String::new(),
            csrf: String::new(),
            inbox_a,
            telegram: String::new(),
            unreadable: String::new(),
            widget_key: String::new(),
            conversation,
            message,
            contact,
            attachment: String::new(),
            team: String::new(),
            canned: String::new(),
            schedule: String::new(),
            policy: String::new(),
            notification: String::new(),
            label: String::new(),
            view: String::new(),
            attribute: String::new(),
            login_email: "login@example.com".to_owned(),
            login_password,
            counter: Cell::new(0),
            _callback: callback,
            bot_api: FakeBotApi::start(BOT_TOKEN).await,
        };
        world.sign_in_admin_browser().await;
        world.attachment = world.image_with_thumbnails().await;
        world.team = world.team_with_member().await;
        world.canned = world.fresh_canned().await;
        world.schedule = world.fresh_schedule().await;
        world.policy = world.fresh_policy().await;
        world.notification = world.admin_notification().await;
        world.label = world.fresh_label().await;
        world.view = world.fresh_view().await;
        world.attribute = world.fresh_attribute().await;
        (world.telegram, world.unreadable) = world.telegram_with_unreadable().await;
        world.widget_key = world.widget().await;
        world
    }

    fn next(&self) -> usize {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }

    /// Sends an admin request that must answer `expected`; returns the JSON body.
    async fn admin_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let response = self.app.api(&self.admin, method.clone(), path, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status.as_u16(), expected, "setup: {method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The admin's browser: its session cookie and CSRF token, sent by hand per request.
    async fn sign_in_admin_browser(&mut self) {
        let response = self
            .http
            .post(self.app.url("/api/v1/auth/login"))
            .json(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK, "admin login");
        self.session = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("sb_session="))
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_owned();
        let body: Value = response.json().await.expect("login body");
        self.csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
    }

    /// An image sent in conversation A, once its thumbnails exist.
    async fn image_with_thumbnails(&self) -> String {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(png(64))
                .file_name("picture.png")
                .mime_str("image/png")
                .expect("mime"),
        );
        let response = self
            .app
            .client
            .post(self.app.url(&format!(
                "/api/v1/conversations/{}/attachments",
                self.conversation
            )))
            .bearer_auth(&self.admin)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(response.status(), StatusCode::CREATED, "upload");
        let body: Value = response.json().await.expect("upload body");
        let attachment = id_of(&body["data"][0]);
        let sent = self
            .admin_call(
                Method::POST,
                &format!("/api/v1/conversations/{}/messages", self.conversation),
                Some(json!({"content": "a picture", "attachment_ids": [attachment]})),
                201,
            )
            .await;
        let message = id_of(&sent);
        let path = format!(
            "/api/v1/conversations/{}/messages?limit=200",
            self.conversation
        );
        eventually(&self.app, &self.admin, &path, |list| {
            list["data"].as_array().is_some_and(|messages| {
                messages.iter().any(|m| {
                    m["id"] == message.as_str() && m["attachments"][0]["thumbnail_url"].is_string()
                })
            })
        })
        .await;
        attachment
    }

    async fn team_with_member(&self) -> String {
        let team = self
            .admin_call(
                Method::POST,
                "/api/v1/teams",
                Some(json!({"name": "Support"})),
                201,
            )
            .await;
        let team = id_of(&team);
        let response = self
            .app
            .api(
                &self.admin,
                Method::POST,
                &format!("/api/v1/teams/{team}/members"),
                Some(json!({"agent_id": self.member_id})),
            )
            .await;
        assert!(response.status().is_success(), "add team member");
        team
    }

    /// A Telegram inbox (member: the member agent) with one kept unreadable update.
    async fn telegram_with_unreadable(&self) -> (String, String) {
        let inbox = self
            .admin_call(
                Method::POST,
                "/api/v1/inboxes",
                Some(json!({"name": "Telegram", "channel_type": "telegram", "settings": {
                    "mode": "webhook", "bot_token": self.bot_api.token, "api_url": self.bot_api.url,
                }})),
                201,
            )
            .await;
        let id = id_of(&inbox);
        self.app.add_member(&self.admin, &id, &self.member_id).await;
        let broken = json!({"update_id": 20, "message": {"message_id": 7, "date": 1_764_230_400,
            "text": "a message without its chat"}});
        let response = self
            .http
            .post(inbox["webhook_url"].as_str().expect("webhook url"))
            .header(
                "X-Telegram-Bot-Api-Secret-Token",
                inbox["secret"].as_str().expect("secret"),
            )
            .json(&broken)
            .send()
            .await
            .expect("telegram update");
        assert_eq!(response.status(), StatusCode::OK, "telegram update");
        let body: Value = response.json().await.expect("webhook answer");
        let unreadable = body["stored"][0]["unreadable_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no unreadable id in {body}"))
            .to_owned();
        (id, unreadable)
    }

    /// A widget inbox for `SITE`; its public key.
    async fn widget(&self) -> String {
        let inbox = self
            .admin_call(
                Method::POST,
                "/api/v1/inboxes",
                Some(json!({"name": "Website", "channel_type": "widget",
                    "settings": {"allowed_origins": [SITE]}})),
                201,
            )
            .await;
        inbox["settings"]["public_key"]
            .as_str()
            .expect("public key")
            .to_owned()
    }

    // Throwaway resources for the rows that destroy what they name.

    async fn fresh_agent(&self) -> String {
        let n = self.next();
        let (id, _) = self
            .app
            .create_agent(&self.admin, &format!("spare{n}@example.com"), "agent")
            .await;
        id
    }

    /// A notification of the admin's: the member assigns inbox A's conversation to them.
    async fn admin_notification(&self) -> String {
        let me = self.admin_call(Method::GET, "/api/v1/me", None, 200).await;
        let admin_id = me["agent"]["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/api/v1/conversations/{}/assign", self.conversation);
        let response = self
            .app
            .api(
                &self.member,
                Method::POST,
                &path,
                Some(json!({"assignee_id": admin_id})),
            )
            .await;
        assert!(response.status().is_success(), "assign to the admin");
        let list = eventually(&self.app, &self.admin, "/api/v1/notifications", |l| {
            l["data"][0]["id"].is_string()
        })
        .await;
        // Back to nobody, as the other rows expect.
        self.admin_call(Method::POST, &path, Some(json!({"assignee_id": null})), 200)
            .await;
        list["data"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn fresh_schedule(&self) -> String {
        let n = self.next();
        let body = json!({"name": format!("Hours {n}"), "time_zone": "UTC",
            "hours": {"mon": [["09:00", "17:00"]]}});
        id_of(
            &self
                .admin_call(Method::POST, "/api/v1/business-hours", Some(body), 201)
                .await,
        )
    }

    async fn fresh_policy(&self) -> String {
        let n = self.next();
        let body = json!({"name": format!("Policy {n}"), "resolution_secs": 86_400});
        id_of(
            &self
                .admin_call(Method::POST, "/api/v1/sla-policies", Some(body), 201)
                .await,
        )
    }

    async fn fresh_attribute(&self) -> String {
        let n = self.next();
        let attribute = self
            .admin_call(
                Method::POST,
                "/api/v1/contact-attributes",
                Some(json!({"key": format!("spare_{n}"), "label": format!("Spare {n}"), "kind": "text"})),
                201,
            )
            .await;
        id_of(&attribute)
    }

    /// A note by the admin on contact A (so the member, not its author, may not delete it).
    async fn fresh_note(&self) -> String {
        let note = self
            .admin_call(
                Method::POST,
                &format!("/api/v1/contacts/{}/notes", self.contact),
                Some(json!({"body": "spare note"})),
                201,
            )
            .await;
        id_of(&note)
    }

    async fn fresh_label(&self) -> String {
        let n = self.next();
        let label = self
            .admin_call(
                Method::POST,
                "/api/v1/labels",
                Some(json!({"name": format!("spare {n}"), "color": "#1f6feb"})),
                201,
            )
            .await;
        id_of(&label)
    }

    /// A saved view of the admin's (nobody else's: theirs answer 404).
    async fn fresh_view(&self) -> String {
        let n = self.next();
        let view = self
            .admin_call(
                Method::POST,
                "/api/v1/me/views",
                Some(json!({"name": format!("View {n}"), "filters": {"assignee": "me"}})),
                201,
            )
            .await;
        id_of(&view)
    }

    async fn fresh_team(&self) -> String {
        let n = self.next();
        let team = self
            .admin_call(
                Method::POST,
                "/api/v1/teams",
                Some(json!({"name": format!("Spare team {n}")})),
                201,
            )
            .await;
        id_of(&team)
    }

    async fn fresh_canned(&self) -> String {
        let n = self.next();
        let canned = self
            .admin_call(
                Method::POST,
                "/api/v1/canned-responses",
                Some(json!({"short_code": format!("spare-{n}"), "content": "Hello!"})),
                201,
            )
            .await;
        id_of(&canned)
    }

    /// An API inbox whose member is the member agent.
    async fn fresh_inbox(&self) -> String {
        let inbox = self.app.create_api_inbox(&self.admin, None).await;
        self.app
            .add_member(&self.admin, &inbox.id, &self.member_id)
            .await;
        inbox.id
    }

    /// A new contact in inbox A (from its own signed webhook).
    async fn fresh_contact(&self) -> String {
        let n = self.next();
        let stored = self
            .app
            .inbound(
                &self.inbox_a,
                &format!("spare-{n}"),
                &format!("spare-customer-{n}"),
                "hi",
            )
            .await;
        let conversation = stored["stored"][0]["conversation_id"]
            .as_str()
            .expect("conversation id");
        let shown = self
            .app
            .get_json(
                &self.admin,
                &format!("/api/v1/conversations/{conversation}"),
            )
            .await;
        shown["contact_id"].as_str().expect("contact id").to_owned()
    }

    /// A personal token of the admin's, made from the admin's browser session.
    async fn fresh_admin_token(&self) -> String {
        let response = self
            .http
            .post(self.app.url("/api/v1/me/tokens"))
            .header(
                reqwest::header::COOKIE,
                format!("sb_session={}", self.session),
            )
            .header("X-CSRF-Token", &self.csrf)
            .json(&json!({"name": "spare"}))
            .send()
            .await
            .expect("token");
        assert_eq!(response.status(), StatusCode::CREATED, "spare token");
        id_of(&response.json::<Value>().await.expect("token body"))
    }

    /// Rows that destroy or replace what they name get a throwaway resource per request.
    fn is_destructive(row: &Row) -> bool {
        row.method == "DELETE"
            || matches!(
                (row.method.as_str(), row.pattern.as_str()),
                ("POST", "/api/v1/inboxes/{id}/rotate-secret")
                    | ("POST", "/api/v1/contacts/{id}/merge")
            )
    }

    /// The request `row` sends, with fresh throwaway resources where it destroys them.
    async fn prepare(&self, row: &Row) -> Call {
        let fresh = match (row.method.as_str(), row.pattern.as_str()) {
            ("DELETE", "/api/v1/me/tokens/{id}") => Some(format!(
                "/api/v1/me/tokens/{}",
                self.fresh_admin_token().await
            )),
            ("DELETE", "/api/v1/agents/{id}") => {
                Some(format!("/api/v1/agents/{}", self.fresh_agent().await))
            }
            ("DELETE", "/api/v1/business-hours/{id}") => Some(format!(
                "/api/v1/business-hours/{}",
                self.fresh_schedule().await
            )),
            ("DELETE", "/api/v1/sla-policies/{id}") => Some(format!(
                "/api/v1/sla-policies/{}",
                self.fresh_policy().await
            )),
            ("DELETE", "/api/v1/teams/{id}") => {
                Some(format!("/api/v1/teams/{}", self.fresh_team().await))
            }
            ("DELETE", "/api/v1/labels/{id}") => {
                Some(format!("/api/v1/labels/{}", self.fresh_label().await))
            }
            ("DELETE", "/api/v1/contact-attributes/{id}") => Some(format!(
                "/api/v1/contact-attributes/{}",
                self.fresh_attribute().await
            )),
            ("DELETE", "/api/v1/contacts/{id}/notes/{note_id}") => Some(format!(
                "/api/v1/contacts/{}/notes/{}",
                self.contact,
                self.fresh_note().await
            )),
            ("DELETE", "/api/v1/me/views/{id}") => {
                Some(format!("/api/v1/me/views/{}", self.fresh_view().await))
            }
            ("DELETE", "/api/v1/teams/{id}/members/{agent_id}") => {
                let agent = self.fresh_agent().await;
                let path = format!("/api/v1/teams/{}/members", self.team);
                self.admin_call(Method::POST, &path, Some(json!({"agent_id": agent})), 201)
                    .await;
                Some(format!("{path}/{agent}"))
            }
            ("DELETE", "/api/v1/canned-responses/{id}") => Some(format!(
                "/api/v1/canned-responses/{}",
                self.fresh_canned().await
            )),
            ("DELETE", "/api/v1/inboxes/{id}") => {
                Some(format!("/api/v1/inboxes/{}", self.fresh_inbox().await))
            }
            ("POST", "/api/v1/inboxes/{id}/rotate-secret") => Some(format!(
                "/api/v1/inboxes/{}/rotate-secret",
                self.fresh_inbox().await
            )),
            ("DELETE", "/api/v1/inboxes/{id}/members/{agent_id}") => {
                let agent = self.fresh_agent().await;
                self.app
                    .add_member(&self.admin, &self.inbox_a.id, &agent)
                    .await;
                Some(format!(
                    "/api/v1/inboxes/{}/members/{agent}",
                    self.inbox_a.id
                ))
            }
            ("POST", "/api/v1/contacts/{id}/merge") => {
                let (target, source) = (self.fresh_contact().await, self.fresh_contact().await);
                return Call {
                    path: format!("/api/v1/contacts/{target}/merge"),
                    body: Body::Json(json!({"contact_id": source})),
                };
            }
            _ => None,
        };
        assert!(
            fresh.is_some() || !Self::is_destructive(row),
            "authz: {} {} destroys what it names: give it a throwaway resource in \
             World::prepare (tests/api/authz.rs), so the other rows keep theirs",
            row.method,
            row.pattern
        );
        let mut path = match fresh {
            Some(path) => path,
            None => self.fill(&row.pattern),
        };
        if row.pattern.starts_with("/widget/") {
            path = format!("{path}?key={}", self.widget_key);
        }
        Call {
            path,
            body: self.body(row),
        }
    }

    /// The pattern with each `{parameter}` replaced by a real id of the world.
    fn fill(&self, pattern: &str) -> String {
        let segments: Vec<&str> = pattern.split('/').collect();
        let mut out = Vec::new();
        for (n, segment) in segments.iter().enumerate() {
            let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                assert!(
                    !segment.contains('{'),
                    "authz: {pattern}: a parameter inside a segment; teach World::fill"
                );
                out.push((*segment).to_owned());
                continue;
            };
            let name = inner.split(':').next().unwrap_or(inner);
            let before = if n > 0 { segments[n - 1] } else { "" };
            let value: &str = match (before, name) {
                (_, "channel_type") => "api",
                (_, "inbox_id") => &self.inbox_a.id,
                (_, "route") => "status",
                ("admin", "page") => "inboxes",
                ("{page}", "id") => &self.inbox_a.id,
                ("assets", "name") => "core.js",
                ("api", "path") if pattern.starts_with("/widget/") => "session",
                ("files", "id") | ("attachments", "id") => &self.attachment,
                (_, "variant") => "original",
                // Signed by no hub: the page must not open.
                ("csat", "token") => "1.00000000000000000000000000000000",
                ("inboxes", "id") if pattern.contains("/unreadable") => &self.telegram,
                ("inboxes", "id") => &self.inbox_a.id,
                ("unreadable", "event_id") => &self.unreadable,
                ("conversations", "id") => &self.conversation,
                ("messages", "message_id") => &self.message,
                ("contacts", "id") => &self.contact,
                ("agents", "id") => &self.member_id,
                ("teams", "id") => &self.team,
                ("labels", "id") => &self.label,
                ("views", "id") => &self.view,
                ("contact-attributes", "id") => &self.attribute,
                ("business-hours", "id") => &self.schedule,
                ("sla-policies", "id") => &self.policy,
                ("notifications", "id") => &self.notification,
                ("members", "agent_id") => &self.member_id,
                ("canned-responses", "id") => &self.canned,
                _ => panic!(
                    "authz: no value for {{{name}}} in {pattern}: add one to World::fill \
                     (tests/api/authz.rs), a real id whose owner the callers relate to"
                ),
            };
            out.push(value.to_owned());
        }
        out.join("/")
    }

    /// A minimal valid body, so the answer is about who calls, not what they send.
    fn body(&self, row: &Row) -> Body {
        let n = self.next();
        let json = match (row.method.as_str(), row.pattern.as_str()) {
            ("POST", "/api/v1/conversations/{id}/attachments") => return Body::File,
            ("POST", "/widget/api/messages") => return Body::WidgetMessage,
            ("POST", "/api/v1/auth/login") => {
                json!({"email": self.login_email, "password": self.login_password})
            }
            ("PUT", "/api/v1/me/password") => {
                json!({"current_password": "not the password", "new_password": "another password 123"})
            }
            ("POST", "/api/v1/me/tokens") => json!({"name": format!("authz {n}")}),
            ("POST", "/api/v1/agents") => json!({"email": format!("new{n}@example.com"),
                "name": "New Agent", "role": "agent", "password": "agent password 123"}),
            ("PATCH", "/api/v1/agents/{id}") => json!({"name": "Member Agent"}),
            ("POST", "/api/v1/teams") => json!({"name": format!("Team {n}")}),
            ("PATCH", "/api/v1/teams/{id}") => json!({"description": "checked"}),
            ("POST", "/api/v1/labels") => json!({"name": format!("label {n}")}),
            ("PATCH", "/api/v1/labels/{id}") => json!({"color": "#2da44e"}),
            ("POST", "/api/v1/contact-attributes") => {
                json!({"key": format!("attr_{n}"), "label": format!("Attr {n}"), "kind": "number"})
            }
            ("PATCH", "/api/v1/contact-attributes/{id}") => json!({"label": "Relabelled"}),
            ("POST", "/api/v1/contacts/{id}/notes") => json!({"body": format!("note {n}")}),
            ("POST", "/api/v1/me/views") => {
                json!({"name": format!("View {n}"), "filters": {"sort": "waiting"}})
            }
            ("PATCH", "/api/v1/me/views/{id}") => json!({"filters": {"status": "open"}}),
            ("POST", "/api/v1/business-hours") => json!({"name": format!("Hours {n}"),
                "time_zone": "UTC", "hours": {"mon": [["09:00", "17:00"]]}}),
            ("PATCH", "/api/v1/business-hours/{id}") => json!({"closed_dates": ["2026-12-25"]}),
            ("PUT", "/api/v1/inboxes/{id}/business-hours") => json!({"business_hours_id": null}),
            ("POST", "/api/v1/sla-policies") => {
                json!({"name": format!("Policy {n}"), "resolution_secs": 3600})
            }
            ("PATCH", "/api/v1/sla-policies/{id}") => json!({"warn_percent": 75}),
            ("POST", "/api/v1/teams/{id}/members") | ("POST", "/api/v1/inboxes/{id}/members") => {
                json!({"agent_id": self.member_id})
            }
            ("POST", "/api/v1/canned-responses") => {
                json!({"short_code": format!("authz-{n}"), "content": "Hello"})
            }
            ("PATCH", "/api/v1/canned-responses/{id}") => json!({"content": "Hello again"}),
            ("POST", "/api/v1/inboxes") => {
                json!({"name": format!("Inbox {n}"), "channel_type": "api", "settings": {}})
            }
            ("PATCH", "/api/v1/inboxes/{id}") => json!({"name": "API inbox"}),
            ("POST", "/api/v1/conversations/{id}/messages") => {
                json!({"content": "an authz note", "private": true})
            }
            ("POST", "/api/v1/conversations/{id}/assign") => json!({"assignee_id": "me"}),
            ("POST", "/api/v1/conversations/{id}/status") => json!({"status": "open"}),
            ("POST", "/api/v1/conversations/{id}/priority") => json!({"priority": "high"}),
            ("PUT", "/api/v1/conversations/{id}/labels") => json!({"labels": ["authz"]}),
            ("POST", "/api/v1/conversations/{id}/read") => json!({}),
            ("PUT", "/api/v1/me/availability") => json!({"availability": "online"}),
            // Inbox A's conversation: others cannot see it (404).
            ("POST", "/api/v1/conversations/bulk") => {
                json!({"conversation_ids": [self.conversation], "priority": "low"})
            }
            ("PUT", "/api/v1/me/notification-settings") => json!({"email": {"enabled": true}}),
            ("POST", "/api/v1/conversations/{id}/typing") => json!({"on": true}),
            ("PATCH", "/api/v1/contacts/{id}") => json!({"name": "Ann"}),
            ("POST", "/widget/api/session") => json!({"token": null}),
            ("POST", "/widget/api/identify") => json!({"name": "Ann"}),
            ("POST", "/widget/api/transcript") => json!({"email": "ann@example.com"}),
            // Unsigned: the signature is what these routes check.
            ("POST", "/webhooks/{channel_type}/{inbox_id}") => {
                message_event(&format!("unsigned-{n}"), "intruder", "let me in")
            }
            ("POST", "/webhooks/{channel_type}/{inbox_id}/{route}") => {
                json!({"type": "status", "external_id": "x", "status": "read"})
            }
            _ => return Body::None,
        };
        Body::Json(json)
    }

    async fn send(&self, caller: Caller, row: &Row, call: Call) -> (StatusCode, String) {
        let method = Method::from_bytes(row.method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.app.url(&call.path));
        request = match caller {
            Caller::Anon => request,
            Caller::Other => request.bearer_auth(&self.other),
            Caller::Member => request.bearer_auth(&self.member),
            Caller::Admin => request.bearer_auth(&self.admin),
            Caller::NoCsrf => request.header(
                reqwest::header::COOKIE,
                format!("sb_session={}", self.session),
            ),
            Caller::Cookie => request
                .header(
                    reqwest::header::COOKIE,
                    format!("sb_session={}", self.session),
                )
                .header("X-CSRF-Token", &self.csrf),
        };
        if row.pattern.starts_with("/widget/") {
            request = request.header(reqwest::header::ORIGIN, SITE);
        }
        request = match call.body {
            Body::None => request,
            Body::Json(body) => request.json(&body),
            Body::File => request.multipart(
                reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(png(8))
                        .file_name("tiny.png")
                        .mime_str("image/png")
                        .expect("mime"),
                ),
            ),
            Body::WidgetMessage => {
                request.multipart(reqwest::multipart::Form::new().text("content", "hello"))
            }
        };
        let response = request.send().await.expect("request");
        let status = response.status();
        let mut text = response.text().await.unwrap_or_default();
        if text.len() > 300 {
            let mut end = 300;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        (status, text)
    }
}

/// The line the table would need to say what the hub answered.
fn table_line(row: &Row, got: &[String]) -> String {
    let mut line = format!("{} {} auth={}", row.method, row.pattern, row.auth);
    for (caller, class) in CALLERS.iter().zip(got) {
        line.push_str(&format!(" {}={class}", caller.key()));
    }
    line
}

#[actix_web::test]
async fn every_route_answers_each_caller_as_the_matrix_says() {
    // 1. The router's routes and the table name the same (method, pattern) pairs.
    let routes = registered_routes();
    let rows = parse_table();
    let mut by_key: HashMap<(String, String), &Row> = HashMap::new();
    let mut problems = Vec::new();
    for row in &rows {
        if by_key
            .insert((row.method.clone(), row.pattern.clone()), row)
            .is_some()
        {
            problems.push(format!(
                "{TABLE_PATH}:{}: {} {} is listed twice",
                row.line, row.method, row.pattern
            ));
        }
    }
    let registered: HashSet<(String, String)> = routes
        .iter()
        .map(|r| (r.method.clone(), r.pattern.clone()))
        .collect();
    for route in &routes {
        if !by_key.contains_key(&(route.method.clone(), route.pattern.clone())) {
            problems.push(format!(
                "{} {} (declared at {}) is registered but has no line in {TABLE_PATH}: add \
                 `{} {} auth=… anon=… other=… member=… admin=… nocsrf=… cookie=…` with the \
                 answer each caller must get (`ok` = let through), and a value for its path \
                 parameters in World::fill if it has new ones",
                route.method, route.pattern, route.at, route.method, route.pattern
            ));
        }
    }
    for row in &rows {
        if !registered.contains(&(row.method.clone(), row.pattern.clone())) {
            problems.push(format!(
                "{TABLE_PATH}:{}: {} {} is not a registered route (renamed or removed?): \
                 update or remove the line",
                row.line, row.method, row.pattern
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the authorization matrix does not match the router:\n  {}",
        problems.join("\n  ")
    );

    // 2. Every row, every caller: the ones that keep what they name first, then those
    //    that destroy (each on throwaway resources), and logout (which ends the admin's
    //    browser session) last of all.
    let world = World::build().await;
    let mut order: Vec<&Row> = rows.iter().collect();
    order.sort_by_key(|row| {
        if row.pattern == "/api/v1/auth/logout" {
            2
        } else if World::is_destructive(row) {
            1
        } else {
            0
        }
    });
    let mut mismatches = Vec::new();
    let mut observed = Vec::new();
    let mut checks = 0;
    for row in order {
        let mut got = Vec::new();
        let mut differs = false;
        for (caller, expected) in CALLERS.iter().zip(&row.expected) {
            let call = world.prepare(row).await;
            let path = call.path.clone();
            let (status, body) = world.send(*caller, row, call).await;
            let class = class(status);
            checks += 1;
            if &class != expected {
                differs = true;
                mismatches.push(format!(
                    "{} {} as {} ({}): expected {expected}, got {status} — {} {path} answered {body}",
                    row.method,
                    row.pattern,
                    caller.key(),
                    caller.describe(),
                    row.method,
                ));
            }
            got.push(class);
        }
        if differs {
            observed.push(table_line(row, &got));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checks} answers differ from {TABLE_PATH}:\n  {}\n\nWhat the hub answered, \
         as table lines (change the table only if the hub's answer is the intended rule; an \
         agent let into another inbox's things or an admin route is a bug to fix):\n  {}",
        mismatches.len(),
        mismatches.join("\n  "),
        observed.join("\n  ")
    );

    // 3. The router itself matched every (method, pattern) the test read from the source.
    let metrics = world
        .http
        .get(world.app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let mut unmatched = Vec::new();
    for row in &rows {
        let label = format!(
            "switchboard_http_requests_total{{method=\"{}\",route=\"{}\",",
            row.method, row.pattern
        );
        if !metrics.lines().any(|line| line.starts_with(&label)) {
            unmatched.push(format!("{} {}", row.method, row.pattern));
        }
    }
    assert!(
        unmatched.is_empty(),
        "the hub never matched these routes as the test read them from src/routes/ (the \
         reader in tests/api/authz.rs and the router disagree): {unmatched:?}"
    );
    assert_eq!(checks, rows.len() * CALLERS.len());
}

// ---------------------------------------------------------------------------------------
// The route reader on made-up sources
// ---------------------------------------------------------------------------------------

fn sources(files: &[(&str, &str)]) -> HashMap<String, SourceFile> {
    files
        .iter()
        .map(|(module, text)| {
            (
                (*module).to_owned(),
                SourceFile::parse(text, format!("{module}.rs")),
            )
        })
        .collect()
}

/// A root that hands everything to `items::configure` under `/api`.
const ROOT: &str = r#"
pub(crate) fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.app_data(web::PathConfig::default().error_handler(|_err, req| {
        ApiError::not_found(format!("nothing at {}", req.path())).into()
    }))
    .configure(ops::configure)
    .service(
        web::scope("/api")
            .wrap(Headers::new().add((CACHE_CONTROL, "no-store")))
            .configure(self::items::configure)
            .default_service(web::to(api_not_found)),
    )
    .default_service(web::to(api_not_found));
}
"#;

#[test]
fn the_route_reader_follows_configure_calls_scopes_and_methods() {
    let routes = read_routes(sources(&[
        ("mod", ROOT),
        (
            "ops",
            r#"
            // .route("/commented", web::get().to(nothing))
            /* .route("/block", web::get().to(nothing)) */
            pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
                cfg.route("/health", web::get().to(health)).service(
                    web::scope("/hooks").route("/{kind}/{id}", web::post().to(receive)),
                );
                cfg.route("/after", web::put().to(after));
            }
            fn quote() -> (char, &'static str) {
                ('"', ".route(\"/in-a-string\", web::get().to(no))")
            }
            "#,
        ),
        (
            "items",
            r#"
            pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
                cfg.route(
                    "/items/{name:.*}",
                    web::method(actix_web::http::Method::OPTIONS).to(preflight),
                )
                .configure(more);
            }
            fn more(cfg: &mut web::ServiceConfig) {
                cfg.route("/more/{id}", web::delete().to(gone));
            }
            "#,
        ),
    ]));
    let read: Vec<String> = routes
        .iter()
        .map(|r| format!("{} {} ({})", r.method, r.pattern, r.at))
        .collect();
    assert_eq!(
        read,
        [
            "GET /health (ops.rs:5)",
            "POST /hooks/{kind}/{id} (ops.rs:6)",
            "PUT /after (ops.rs:8)",
            "OPTIONS /api/items/{name:.*} (items.rs:3)",
            "DELETE /api/more/{id} (items.rs:10)",
        ]
    );
}

#[test]
#[should_panic(expected = "did not reach from routes::configure")]
fn the_route_reader_refuses_routes_it_does_not_reach() {
    read_routes(sources(&[
        ("mod", ROOT),
        (
            "ops",
            "pub(crate) fn configure(cfg: &mut web::ServiceConfig) {}",
        ),
        (
            "items",
            r#"pub(crate) fn configure(cfg: &mut web::ServiceConfig) {}
            pub(crate) fn configure_uploads(cfg: &mut web::ServiceConfig) {
                cfg.route("/uploads", web::post().to(upload));
            }"#,
        ),
    ]));
}

#[test]
#[should_panic(expected = "did not reach from routes::configure")]
fn the_route_reader_refuses_route_macros() {
    read_routes(sources(&[
        ("mod", ROOT),
        (
            "ops",
            "pub(crate) fn configure(cfg: &mut web::ServiceConfig) {}",
        ),
        (
            "items",
            r#"pub(crate) fn configure(cfg: &mut web::ServiceConfig) {}
            #[get("/sneaky")]
            async fn sneaky() -> HttpResponse { HttpResponse::Ok().finish() }"#,
        ),
    ]));
}

#[test]
#[should_panic(expected = ".service(…) of something other than web::scope")]
fn the_route_reader_refuses_resources() {
    read_routes(sources(&[
        ("mod", ROOT),
        (
            "ops",
            r#"pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
                cfg.service(web::resource("/x").route(web::get().to(x)));
            }"#,
        ),
        (
            "items",
            "pub(crate) fn configure(cfg: &mut web::ServiceConfig) {}",
        ),
    ]));
}

#[test]
#[should_panic(expected = "a route guard")]
fn the_route_reader_refuses_guards() {
    read_routes(sources(&[
        ("mod", ROOT),
        (
            "ops",
            r#"pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
                cfg.route("/x", web::get().guard(guard::Header("x", "y")).to(x));
            }"#,
        ),
        (
            "items",
            "pub(crate) fn configure(cfg: &mut web::ServiceConfig) {}",
        ),
    ]));
}

/// An anonymous caller is refused before anything about the request is looked at: a
/// malformed body or path answers 401, not a validation error that describes the format.
#[actix_web::test]
async fn anonymous_callers_learn_nothing_from_validation() {
    let app = crate::helpers::spawn_app().await;
    for (method, path, body) in [
        (Method::POST, "/api/v1/agents", Some("{}")),
        (Method::POST, "/api/v1/agents", Some("not json")),
        (Method::PATCH, "/api/v1/inboxes/abc", Some("{\"name\": 5}")),
        (Method::GET, "/api/v1/conversations?limit=-4", None),
    ] {
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request");
        crate::helpers::assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // Signing in stays open to everyone.
    let login = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}
