//! Shared proptest strategies for fuzzing the parsers that read outside input (issue #17).
//!
//! Not a test target of its own (cargo only builds `tests/*.rs`): each adapter's
//! `tests/fuzz.rs` and the hub's `tests/api/fuzz.rs` include it with `#[path]`, so every
//! parser is fed the same hostile material:
//!
//! - [`json_value`]: arbitrary JSON trees of bounded depth and size, whose object keys are
//!   mostly the parser's own vocabulary (so generated values reach past the first checks);
//! - [`nasty_string`], [`nasty_number`], [`extreme_value`]: empty and blank strings, NUL and
//!   other control characters, strings past every size limit, numbers at the edges of i64,
//!   u64 and f64, deep nesting;
//! - [`Mutation`] and [`mutated`]: the recorded fixtures (the corpus) with fields deleted,
//!   retyped (string ↔ number ↔ null ↔ array ↔ object), replaced by extreme or random values,
//!   added, or wrapped in deep nesting;
//! - [`ByteEdit`]: the same fixtures' JSON text with bits flipped, bytes inserted or removed,
//!   or cut short.

#![allow(dead_code)]

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Map, Number, Value};

/// Longer than every size limit of the parsers (64 KiB content, 64 KiB frames).
pub const LONG: usize = 70_000;

/// The proptest configuration of one property: `cases` cases unless `PROPTEST_CASES` asks for
/// more or fewer, failures persisted in `regressions` (a path under the test's folder, given
/// as a `concat!(env!("CARGO_MANIFEST_DIR"), …)` literal so it is found from any directory).
pub fn config(cases: u32, regressions: &'static str) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        // Big corpora values make each shrink step slow; a few hundred steps find the cause.
        max_shrink_iters: 512,
        ..Config::default()
    }
}

/// Strings that break parsers: arbitrary Unicode, blanks, NUL and control characters,
/// over-long text, bidi overrides, astral characters, numbers and URLs written as text.
pub fn nasty_string() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        6 => any::<String>(),
        4 => "\\PC{0,24}",
        1 => Just(String::new()),
        1 => Just(" \t\r\n ".to_owned()),
        1 => Just("\0".to_owned()),
        1 => Just("a\0b".to_owned()),
        1 => prop::collection::vec(prop_oneof![0u32..0x20, Just(0x7f), 0x80u32..0xa0], 1..6)
            .prop_map(|codes| codes.into_iter().filter_map(char::from_u32).collect()),
        1 => Just("x".repeat(LONG)),
        1 => Just("é".repeat(LONG / 2 + 1)),
        1 => Just("😀".repeat(1_100)),
        1 => select(vec![
            "\u{202E}fdp.exe",
            "\u{200B}",
            "\u{FEFF}",
            "\u{FFFD}",
            "0",
            "-1",
            "42",
            " 42 ",
            "1e400",
            "-0",
            "9223372036854775808",
            "18446744073709551616",
            "NaN",
            "inf",
            "true",
            "null",
            "+",
            "+16505551234",
            "sha256=",
            "https://",
            "http://[::1",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "../../etc/passwd",
            "<script>alert(1)</script>",
            "%00",
            "\\u0000",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Numbers at the edges: every i64 and u64, finite floats, and the values parsers trip on.
pub fn nasty_number() -> impl Strategy<Value = Value> + Clone {
    use proptest::num::f64 as float;
    prop_oneof![
        3 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        2 => (float::NORMAL | float::SUBNORMAL | float::ZERO | float::POSITIVE | float::NEGATIVE)
            .prop_map(float_value),
        2 => select(vec![
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            -1,
            0,
            1,
            i64::from(i32::MAX) + 1,
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            9_007_199_254_740_993,
        ])
        .prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
        1 => select(vec![
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            -0.0,
            0.5,
            -0.5,
            1e300,
            -1e300,
            9.0e15,
            1.0e16,
            4_294_967_296.0,
            42.0,
        ])
        .prop_map(float_value),
    ]
}

fn float_value(number: f64) -> Value {
    Number::from_f64(number).map_or(Value::Null, Value::Number)
}

/// A scalar: null, a boolean, a nasty number or a nasty string.
pub fn scalar() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => nasty_number(),
        5 => nasty_string().prop_map(Value::String),
    ]
}

/// `depth` arrays and objects inside each other around `inner`.
pub fn deep(depth: usize, inner: Value) -> Value {
    (0..depth).fold(inner, |value, level| {
        if level % 2 == 0 {
            Value::Array(vec![value])
        } else {
            let mut object = Map::new();
            object.insert("a".to_owned(), value);
            Value::Object(object)
        }
    })
}

/// A replacement value for a mutation: a scalar at the edges, an empty container, or deep
/// nesting (below and above serde_json's parse limit of 128 levels).
pub fn extreme_value() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        6 => scalar(),
        1 => Just(Value::Array(Vec::new())),
        1 => Just(Value::Object(Map::new())),
        1 => select(vec![20usize, 100, 130, 300]).prop_map(|depth| deep(depth, Value::Null)),
    ]
}

/// An object key: mostly from `keys` (the parser's vocabulary), sometimes anything.
pub fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        6 => select(keys).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
        1 => any::<String>(),
    ]
}

/// Arbitrary JSON trees: at most `depth` levels of arrays and objects and about `size` nodes,
/// object keys mostly from `keys`.
pub fn json_value(
    keys: &'static [&'static str],
    depth: u32,
    size: u32,
) -> impl Strategy<Value = Value> + Clone {
    scalar().prop_recursive(depth, size, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(keys), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// One step of a path into a JSON tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    At(usize),
}

/// Every node's path, root first, in document order.
pub fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match value {
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    here.push(Step::At(index));
                    walk(item, here, out);
                    here.pop();
                }
            }
            Value::Object(fields) => {
                for (key, item) in fields {
                    here.push(Step::Key(key.clone()));
                    walk(item, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// The node at `path`, if it is still there.
pub fn node_mut<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter()
        .try_fold(value, |node, step| match (node, step) {
            (Value::Object(fields), Step::Key(key)) => fields.get_mut(key),
            (Value::Array(items), Step::At(index)) => items.get_mut(*index),
            _ => None,
        })
}

/// How a node is retyped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retype {
    /// Its JSON text as a string (`42` → `"42"`; a string stays itself).
    ToString,
    /// A number: the string's number when it is one, else its length; `true` → 1.
    ToNumber,
    ToNull,
    /// `[node]`.
    ToArray,
    /// `{"value": node}`.
    ToObject,
    ToBool,
    /// The empty value of its type: `""`, `0`, `[]`, `{}`.
    Emptied,
}

impl Retype {
    fn apply(self, node: &mut Value) {
        let old = node.take();
        *node = match self {
            Self::ToString => match old {
                Value::String(text) => Value::String(text),
                other => Value::String(other.to_string()),
            },
            Self::ToNumber => match old {
                Value::Number(number) => Value::Number(number),
                Value::String(text) => serde_json::from_str::<Number>(text.trim())
                    .map(Value::Number)
                    .unwrap_or_else(|_| Value::from(text.len())),
                Value::Bool(flag) => Value::from(u8::from(flag)),
                Value::Array(items) => Value::from(items.len()),
                Value::Object(fields) => Value::from(fields.len()),
                Value::Null => Value::from(0),
            },
            Self::ToNull => Value::Null,
            Self::ToArray => Value::Array(vec![old]),
            Self::ToObject => {
                let mut object = Map::new();
                object.insert("value".to_owned(), old);
                Value::Object(object)
            }
            Self::ToBool => Value::Bool(!matches!(
                old,
                Value::Null | Value::Bool(false) | Value::String(_)
            )),
            Self::Emptied => match old {
                Value::String(_) => Value::String(String::new()),
                Value::Number(_) => Value::from(0),
                Value::Array(_) => Value::Array(Vec::new()),
                Value::Object(_) => Value::Object(Map::new()),
                other => other,
            },
        };
    }
}

/// One change to a corpus value; the target is chosen among all its nodes (root included).
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Removes the node from its object or array (the root becomes `null`).
    Delete(Index),
    Retype(Index, Retype),
    /// Replaces the node by an extreme or random value.
    Replace(Index, Value),
    /// Adds (or overwrites) a field of an object node, or appends to an array node.
    Insert(Index, String, Value),
    /// Wraps the node in this many levels of arrays and objects.
    Wrap(Index, usize),
    /// Replaces a string (chosen among the string nodes only) by this text, keeping the
    /// shape: the body stays well-formed and its text reaches past the parser.
    Text(Index, String),
}

impl Mutation {
    pub fn apply(&self, value: &mut Value) {
        if let Self::Text(index, text) = self {
            let strings: Vec<Vec<Step>> = paths(value)
                .into_iter()
                .filter(|path| node_mut(value, path).is_some_and(|node| node.is_string()))
                .collect();
            if !strings.is_empty()
                && let Some(node) = node_mut(value, &strings[index.index(strings.len())])
            {
                *node = Value::String(text.clone());
            }
            return;
        }
        let all = paths(value);
        let pick = |index: &Index| all[index.index(all.len())].clone();
        match self {
            Self::Delete(index) => {
                let path = pick(index);
                let Some((last, parent)) = path.split_last() else {
                    *value = Value::Null;
                    return;
                };
                match (node_mut(value, parent), last) {
                    (Some(Value::Object(fields)), Step::Key(key)) => {
                        fields.remove(key);
                    }
                    (Some(Value::Array(items)), Step::At(at)) if *at < items.len() => {
                        items.remove(*at);
                    }
                    _ => {}
                }
            }
            Self::Retype(index, retype) => {
                if let Some(node) = node_mut(value, &pick(index)) {
                    retype.apply(node);
                }
            }
            Self::Replace(index, replacement) => {
                if let Some(node) = node_mut(value, &pick(index)) {
                    *node = replacement.clone();
                }
            }
            Self::Insert(index, key, added) => match node_mut(value, &pick(index)) {
                Some(Value::Object(fields)) => {
                    fields.insert(key.clone(), added.clone());
                }
                Some(Value::Array(items)) => items.push(added.clone()),
                _ => {}
            },
            Self::Wrap(index, depth) => {
                if let Some(node) = node_mut(value, &pick(index)) {
                    *node = deep(*depth, node.take());
                }
            }
            Self::Text(..) => {}
        }
    }
}

pub fn retype() -> impl Strategy<Value = Retype> + Clone {
    select(vec![
        Retype::ToString,
        Retype::ToNumber,
        Retype::ToNull,
        Retype::ToArray,
        Retype::ToObject,
        Retype::ToBool,
        Retype::Emptied,
    ])
}

/// One mutation, with added keys and random subtrees drawn from `keys`.
pub fn mutation(keys: &'static [&'static str]) -> impl Strategy<Value = Mutation> + Clone {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Delete),
        3 => (any::<Index>(), retype()).prop_map(|(at, how)| Mutation::Retype(at, how)),
        3 => (any::<Index>(), extreme_value()).prop_map(|(at, with)| Mutation::Replace(at, with)),
        1 => (any::<Index>(), json_value(keys, 3, 12))
            .prop_map(|(at, with)| Mutation::Replace(at, with)),
        2 => (any::<Index>(), key(keys), extreme_value())
            .prop_map(|(at, key, with)| Mutation::Insert(at, key, with)),
        1 => (any::<Index>(), select(vec![1usize, 8, 100, 130]))
            .prop_map(|(at, depth)| Mutation::Wrap(at, depth)),
        2 => (any::<Index>(), nasty_string()).prop_map(|(at, text)| Mutation::Text(at, text)),
    ]
}

/// Text for [`Mutation::Text`]: mostly printable (so more of it is accepted), sometimes
/// anything.
pub fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => "\\PC{0,40}",
        2 => any::<String>(),
        1 => nasty_string(),
    ]
}

/// A corpus entry with only its texts changed (1 or 2 strings replaced), except the values
/// of the `keep` keys (types, statuses: the words the parser dispatches on): well-formed
/// bodies with arbitrary text, to reach what comes after parsing (storage, rendering).
pub fn text_edited(
    corpus: Vec<(String, Value)>,
    keep: &'static [&'static str],
) -> impl Strategy<Value = (String, Value)> {
    assert!(!corpus.is_empty(), "the corpus is empty");
    (
        select(corpus),
        prop::collection::vec((any::<Index>(), text()), 1..3),
    )
        .prop_map(move |((name, mut value), edits)| {
            for (at, text) in edits {
                let strings: Vec<Vec<Step>> = paths(&value)
                    .into_iter()
                    .filter(|path| !matches!(path.last(), Some(Step::Key(key)) if keep.contains(&key.as_str())))
                    .filter(|path| node_mut(&mut value, path).is_some_and(|node| node.is_string()))
                    .collect();
                if strings.is_empty() {
                    break;
                }
                if let Some(node) = node_mut(&mut value, &strings[at.index(strings.len())]) {
                    *node = Value::String(text);
                }
            }
            (name, value)
        })
}

/// A corpus entry with 1 to 4 mutations applied: `(name of the seed, mutated value)`.
pub fn mutated(
    corpus: Vec<(String, Value)>,
    keys: &'static [&'static str],
) -> impl Strategy<Value = (String, Value)> {
    assert!(!corpus.is_empty(), "the corpus is empty");
    (select(corpus), prop::collection::vec(mutation(keys), 1..5)).prop_map(
        |((name, mut value), mutations)| {
            for mutation in &mutations {
                mutation.apply(&mut value);
            }
            (name, value)
        },
    )
}

/// One edit of a serialized body.
#[derive(Debug, Clone)]
pub enum ByteEdit {
    /// Flips one bit of the byte at the index.
    Flip(Index, u8),
    /// Inserts these bytes before the index.
    Insert(Index, Vec<u8>),
    /// Removes up to this many bytes from the index.
    Remove(Index, usize),
    /// Cuts the body at the index.
    Truncate(Index),
}

impl ByteEdit {
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |index: &Index, len: usize| if len == 0 { 0 } else { index.index(len) };
        match self {
            Self::Flip(index, bit) => {
                if !bytes.is_empty() {
                    let at = at(index, bytes.len());
                    bytes[at] ^= 1 << (bit % 8);
                }
            }
            Self::Insert(index, inserted) => {
                let at = at(index, bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Self::Remove(index, count) => {
                if !bytes.is_empty() {
                    let at = at(index, bytes.len());
                    let end = at.saturating_add(*count).min(bytes.len());
                    bytes.drain(at..end);
                }
            }
            Self::Truncate(index) => {
                let at = at(index, bytes.len() + 1);
                bytes.truncate(at);
            }
        }
    }
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> + Clone {
    let inserted = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        select(vec![
            b"\"".to_vec(),
            b"{".to_vec(),
            b"[".to_vec(),
            b"}".to_vec(),
            b",".to_vec(),
            b"\\u0000".to_vec(),
            b"\\ud800".to_vec(),
            b"\xff\xfe".to_vec(),
            b"\xc3".to_vec(),
            b"1e999999".to_vec(),
            b"-".to_vec(),
        ]),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip(at, bit)),
        2 => (any::<Index>(), inserted).prop_map(|(at, bytes)| ByteEdit::Insert(at, bytes)),
        2 => (any::<Index>(), 1usize..16).prop_map(|(at, count)| ByteEdit::Remove(at, count)),
        1 => any::<Index>().prop_map(ByteEdit::Truncate),
    ]
}

/// A corpus entry's JSON text (pretty or compact) with 1 to 4 byte edits.
pub fn edited_bytes(corpus: Vec<(String, Value)>) -> impl Strategy<Value = (String, Vec<u8>)> {
    assert!(!corpus.is_empty(), "the corpus is empty");
    (
        select(corpus),
        any::<bool>(),
        prop::collection::vec(byte_edit(), 1..5),
    )
        .prop_map(|((name, value), pretty, edits)| {
            let mut bytes = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }
            .expect("a JSON value serializes");
            for edit in &edits {
                edit.apply(&mut bytes);
            }
            (name, bytes)
        })
}

/// Arbitrary bytes: mostly short, sometimes past the size limits.
pub fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..256),
        // Past the size limits: a random run repeated (generating 70 KB byte by byte is slow).
        1 => prop::collection::vec(any::<u8>(), 1..64)
            .prop_map(|run| run.repeat(LONG / run.len() + 1)),
        1 => "\\PC{0,200}".prop_map(String::into_bytes),
    ]
}

/// The `.json` files of a folder as `(file name, value)`, sorted by name: the corpus.
pub fn load_corpus(dir: &Path) -> Vec<(String, Value)> {
    let mut corpus: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, value)
        })
        .collect();
    corpus.sort_by(|a, b| a.0.cmp(&b.0));
    corpus
}

/// Every object key used anywhere in the corpus, for [`json_value`]'s vocabulary.
pub fn corpus_keys(corpus: &[(String, Value)]) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            Value::Object(fields) => {
                for (key, item) in fields {
                    if !out.contains(key) {
                        out.push(key.clone());
                    }
                    walk(item, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, value) in corpus {
        walk(value, &mut out);
    }
    out.sort();
    out
}

/// Leaks the corpus vocabulary into `'static` keys for the strategies (once per test binary).
pub fn leak_keys(keys: Vec<String>) -> &'static [&'static str] {
    let keys: Vec<&'static str> = keys
        .into_iter()
        .map(|key| &*Box::leak(key.into_boxed_str()))
        .collect();
    Box::leak(keys.into_boxed_slice())
}
