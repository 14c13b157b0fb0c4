//! JSON (RFC 8259), small on purpose: a strict parser into [`Json`], a writer, and the checks
//! every `process_*` function starts with (status, content type, JSON object, required members).
//!
//! Why not serde/serde_json: in the browser build they cost about 90 KB of wasm before
//! optimisation (derive visitors, float formatting and parsing, `BTreeMap`), more than the whole
//! protocol (measured with twiggy; see `BENCHMARKS.md`). The protocol needs objects, strings,
//! booleans, arrays and non-negative integers; numbers are kept as their text and read as
//! integers where the protocol wants integers, so no float code is linked at all.
//!
//! Strictness: duplicate member names are an error (RFC 8259 §4 says they SHOULD be unique;
//! parsers disagree on which one wins, which makes duplicates a way to smuggle values past a
//! check), and so is anything after the value.
//!
//! Hostile input: parsing is linear in the input (duplicate names are found by sorting, not by
//! comparing every pair), and RFC 8259 §9 lets a parser limit sizes, which these caps do. Each
//! is far above what real servers send (metadata documents are a few KB with a few dozen
//! members; tokens a few KB):
//!
//! | cap | value | error reason names |
//! |---|---|---|
//! | whole input | [`MAX_INPUT_LEN`] = 1 MiB | `MAX_INPUT_LEN` |
//! | members of one object | [`MAX_MEMBERS`] = 1,024 | `MAX_MEMBERS` |
//! | items of one array | [`MAX_ITEMS`] = 4,096 | `MAX_ITEMS` |
//! | bytes of one string | [`MAX_STRING_LEN`] = 256 KiB | `MAX_STRING_LEN` |
//! | nesting | [`MAX_DEPTH`] = 64 | `MAX_DEPTH` |

use crate::http::HttpResponse;

/// A JSON value. Numbers keep their text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written (validated against the RFC 8259 grammar).
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in document order (names unique).
    Object(Vec<(String, Json)>),
}

/// Why a text is not JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {position}: {reason}")]
pub struct JsonError {
    /// Byte offset.
    pub position: usize,
    /// What was wrong.
    pub reason: &'static str,
}

/// Largest JSON text [`parse`] reads, in bytes (RFC 8259 §9: "An implementation may set limits
/// on the size of texts that it accepts").
pub const MAX_INPUT_LEN: usize = 1 << 20;
/// Most members one object may have.
pub const MAX_MEMBERS: usize = 1024;
/// Most items one array may have.
pub const MAX_ITEMS: usize = 4096;
/// Longest string, in bytes after unescaping (RFC 8259 §9: limits on "the length and character
/// contents of strings").
pub const MAX_STRING_LEN: usize = 256 << 10;
/// Deepest nesting of arrays and objects (RFC 8259 §9: "the maximum depth of nesting").
pub const MAX_DEPTH: usize = 64;

/// Marks each name that repeats an earlier one, in O(n log n) (comparing each name with every
/// earlier one was quadratic): a heapsort of the indices by (name, index), after which repeats
/// are neighbours. Hand-written because std's sort costs several KB of wasm.
pub(crate) fn repeats<'a>(len: usize, name: &dyn Fn(usize) -> &'a str) -> Vec<bool> {
    let less = |a: usize, b: usize| (name(a), a) < (name(b), b);
    let sift = |order: &mut [usize], mut root: usize| loop {
        let mut child = 2 * root + 1;
        if child >= order.len() {
            break;
        }
        if child + 1 < order.len() && less(order[child], order[child + 1]) {
            child += 1;
        }
        if !less(order[root], order[child]) {
            break;
        }
        order.swap(root, child);
        root = child;
    };
    let mut order: Vec<usize> = Vec::with_capacity(len);
    for i in 0..len {
        order.push(i);
    }
    for root in (0..len / 2).rev() {
        sift(&mut order, root);
    }
    for end in (1..len).rev() {
        order.swap(0, end);
        sift(&mut order[..end], 0);
    }
    let mut out = vec![false; len];
    for w in order.windows(2) {
        if name(w[0]) == name(w[1]) {
            out[w[1]] = true;
        }
    }
    out
}

/// The index of the first name that repeats an earlier one.
pub(crate) fn first_duplicate<'a>(len: usize, name: &dyn Fn(usize) -> &'a str) -> Option<usize> {
    repeats(len, name).iter().position(|&r| r)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err<T>(&self, reason: &'static str) -> Result<T, JsonError> {
        Err(JsonError { position: self.pos, reason })
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Json) -> Result<Json, JsonError> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            self.err("unexpected character")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        // RFC 8259 §9: a parser may limit the depth of nesting.
        if depth > MAX_DEPTH {
            return self.err("nested too deeply (more than MAX_DEPTH = 64 levels)");
        }
        self.ws();
        match self.s.get(self.pos) {
            None => self.err("unexpected end"),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    // RFC 8259 §9: a parser may limit sizes; this one, the items of an array.
                    if items.len() == MAX_ITEMS {
                        return self.err("more than MAX_ITEMS = 4096 items in one array");
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return self.err("expected `,` or `]`"),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members: Vec<(String, Json)> = Vec::new();
                let mut starts: Vec<usize> = Vec::new();
                self.ws();
                if self.s.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.ws();
                    if self.s.get(self.pos) != Some(&b'"') {
                        return self.err("expected a member name");
                    }
                    // RFC 8259 §9: a parser may limit sizes; this one, the members of an object.
                    if members.len() == MAX_MEMBERS {
                        return self.err("more than MAX_MEMBERS = 1024 members in one object");
                    }
                    starts.push(self.pos);
                    let name = self.string()?;
                    self.ws();
                    if self.s.get(self.pos) != Some(&b':') {
                        return self.err("expected `:`");
                    }
                    self.pos += 1;
                    let v = self.value(depth + 1)?;
                    members.push((name, v));
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            // RFC 8259 §4: names SHOULD be unique; a duplicate is refused.
                            let name = |i: usize| members[i].0.as_str();
                            if let Some(i) = first_duplicate(members.len(), &name) {
                                let reason = "duplicate member name";
                                return Err(JsonError { position: starts[i], reason });
                            }
                            return Ok(Json::Object(members));
                        }
                        _ => return self.err("expected `,` or `}`"),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        // RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
        let start = self.pos;
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.s.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("0");
        Ok(Json::Number(text.to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.s.get(self.pos) {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return self.err("invalid \\u escape"),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            // RFC 8259 §9: a parser may limit the length of strings.
            if out.len() > MAX_STRING_LEN {
                return self.err("string longer than MAX_STRING_LEN = 256 KiB");
            }
            match self.s.get(self.pos) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).or_else(|_| self.err("invalid UTF-8 in string"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.s.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by `\u` and a low surrogate.
                                if !self.s[self.pos..].starts_with(b"\\u") {
                                    return self.err("unpaired surrogate");
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("unpaired surrogate");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let Some(ch) = char::from_u32(code) else {
                                return self.err("unpaired surrogate");
                            };
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return self.err("invalid escape"),
                    };
                    self.pos += 1;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(&c) if c < 0x20 => return self.err("control character in string"),
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Parses a complete JSON text.
pub fn parse(text: &[u8]) -> Result<Json, JsonError> {
    // RFC 8259 §9: a parser may limit the size of texts it accepts.
    if text.len() > MAX_INPUT_LEN {
        return Err(JsonError { position: 0, reason: "input longer than MAX_INPUT_LEN = 1 MiB" });
    }
    let mut p = Parser { s: text, pos: 0 };
    // RFC 8259 §8.1: a leading byte order mark may be ignored.
    if text.starts_with(&[0xEF, 0xBB, 0xBF]) {
        p.pos = 3;
    }
    let v = p.value(0)?;
    p.ws();
    if p.pos != text.len() {
        return p.err("unexpected data after the value");
    }
    Ok(v)
}

impl Json {
    /// A member of an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a non-negative integer: a number without fraction, or with a fraction of
    /// zeros (`3600.0`), or such a number in a string (`"3599"`, Entra v1).
    pub fn as_u64_lenient(&self) -> Option<u64> {
        let text = match self {
            Json::Number(t) => t.as_str(),
            Json::String(s) => s.trim(),
            _ => return None,
        };
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b == b'0') {
            return None;
        }
        int.parse().ok()
    }

    /// Writes compact JSON text.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Compact JSON text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::String(s.into())
    }

    /// A number from an integer.
    pub fn uint(n: u64) -> Json {
        Json::Number(n.to_string())
    }

    /// An array of strings.
    pub fn str_array<S: AsRef<str>>(items: &[S]) -> Json {
        Json::Array(items.iter().map(|s| Json::str(s.as_ref())).collect())
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An object's members.
pub(crate) type Object = Vec<(String, Json)>;

/// Why a body could not be read as a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyProblem {
    /// The `Content-Type` is not JSON (the value, or empty when absent).
    NotJson(String),
    /// The body is not valid JSON, or not an object.
    Malformed(String),
}

/// Parses the body as a JSON object, requiring a JSON content type.
pub(crate) fn object(resp: &HttpResponse) -> Result<Object, BodyProblem> {
    if !resp.is_json() {
        return Err(BodyProblem::NotJson(resp.header("content-type").unwrap_or("").to_owned()));
    }
    object_any_type(resp)
}

/// Parses the body as a JSON object whatever the content type says (used for error bodies, which
/// servers label carelessly).
pub(crate) fn object_any_type(resp: &HttpResponse) -> Result<Object, BodyProblem> {
    match parse(&resp.body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(BodyProblem::Malformed("the body is JSON but not an object".into())),
        Err(e) => Err(BodyProblem::Malformed(e.to_string())),
    }
}

/// What is wrong with one member of a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FieldProblem {
    Missing(&'static str),
    WrongType { field: &'static str, expected: &'static str },
}

fn member<'a>(obj: &'a [(String, Json)], field: &str) -> Option<&'a Json> {
    obj.iter().find(|(n, _)| n == field).map(|(_, v)| v).filter(|v| **v != Json::Null)
}

pub(crate) fn opt_str<'a>(
    obj: &'a [(String, Json)],
    field: &'static str,
) -> Result<Option<&'a str>, FieldProblem> {
    match member(obj, field) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldProblem::WrongType { field, expected: "a string" }),
    }
}

pub(crate) fn req_str<'a>(
    obj: &'a [(String, Json)],
    field: &'static str,
) -> Result<&'a str, FieldProblem> {
    match opt_str(obj, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(FieldProblem::Missing(field)),
    }
}

pub(crate) fn opt_bool(
    obj: &[(String, Json)],
    field: &'static str,
) -> Result<Option<bool>, FieldProblem> {
    match member(obj, field) {
        None => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(FieldProblem::WrongType { field, expected: "a boolean" }),
    }
}

pub(crate) fn opt_str_array(
    obj: &[(String, Json)],
    field: &'static str,
) -> Result<Option<Vec<String>>, FieldProblem> {
    let wrong = || FieldProblem::WrongType { field, expected: "an array of strings" };
    match member(obj, field) {
        None => Ok(None),
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// A non-negative integer given as a JSON number or a numeric string (Entra v1 sends
/// `"expires_in": "3599"`).
pub(crate) fn opt_u64_lenient(
    obj: &[(String, Json)],
    field: &'static str,
) -> Result<Option<u64>, FieldProblem> {
    match member(obj, field) {
        None => Ok(None),
        Some(v) => v
            .as_u64_lenient()
            .map(Some)
            .ok_or(FieldProblem::WrongType { field, expected: "a non-negative integer" }),
    }
}

/// Reads the `max-age` of a `Cache-Control` header; `Some(0)` for `no-store`/`no-cache`;
/// `None` when the header says nothing about freshness.
pub fn cache_max_age(resp: &HttpResponse) -> Option<u64> {
    let mut max_age = None;
    for value in resp.header_values("cache-control") {
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(0);
            }
            if name.eq_ignore_ascii_case("max-age") {
                max_age = arg.and_then(|a| a.parse::<u64>().ok());
            }
        }
    }
    max_age
}

#[cfg(test)]
mod tests;
