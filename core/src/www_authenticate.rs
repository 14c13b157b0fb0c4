//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1 grammar, RFC 6750 §3 Bearer parameters,
//! RFC 9728 §5.1 `resource_metadata`).
//!
//! ```text
//! WWW-Authenticate = 1#challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! ```
//! Commas separate both challenges and parameters; a list element that is `token =` is a
//! parameter, any other token starts the next challenge. Scheme and parameter names are
//! case-insensitive (RFC 9110 §11.1, §11.2); names are lowercased here, values kept as sent.
//!
//! Deviation, on purpose: a parameter that appears twice in one challenge is an error
//! (RFC 9110 §11.2 says it MUST NOT), not "last wins".
//!
//! Hostile input: parsing is linear. A header value longer than [`MAX_HEADER_LEN`] (16 KiB) is
//! refused before it is read, and so is one with more than [`MAX_PARAMETERS`] (64) parameters
//! in all its challenges, which also bounds the duplicate check. RFC 9110 §5.4 lets a recipient
//! refuse header fields larger than it wishes to process; real challenges are a few hundred
//! bytes with at most six parameters (RFC 6750 §3, RFC 9728 §5.1).

use crate::http::HttpResponse;

/// Longest `WWW-Authenticate` value [`parse`] reads, in bytes.
pub const MAX_HEADER_LEN: usize = 16 << 10;
/// Most parameters one `WWW-Authenticate` value may carry, all challenges together.
pub const MAX_PARAMETERS: usize = 64;

/// Why a `WWW-Authenticate` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The value breaks the grammar at a byte offset.
    #[error("malformed WWW-Authenticate header at byte {position}: {reason} (header: `{header}`)")]
    Malformed {
        /// The header value.
        header: String,
        /// Byte offset of the problem.
        position: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A parameter named twice in one challenge (RFC 9110 §11.2).
    #[error("WWW-Authenticate parameter `{0}` appears twice in one challenge")]
    DuplicateParameter(String),
    /// The value is longer than [`MAX_HEADER_LEN`] (the value itself is not kept).
    #[error("WWW-Authenticate header of {length} bytes is longer than MAX_HEADER_LEN ({max})")]
    TooLong {
        /// Its length in bytes.
        length: usize,
        /// [`MAX_HEADER_LEN`].
        max: usize,
    },
    /// The value has more than [`MAX_PARAMETERS`] parameters.
    #[error("WWW-Authenticate header has more than MAX_PARAMETERS ({max}) parameters")]
    TooManyParameters {
        /// [`MAX_PARAMETERS`].
        max: usize,
    },
}

impl ChallengeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ChallengeError::Malformed { .. } => "challenge_malformed",
            ChallengeError::DuplicateParameter(_) => "challenge_duplicate_parameter",
            ChallengeError::TooLong { .. } => "challenge_too_long",
            ChallengeError::TooManyParameters { .. } => "challenge_too_many_parameters",
        }
    }
}

/// One challenge: a scheme with a token68 or parameters.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Challenge {
    /// The scheme as sent (`Bearer`, `bearer`, `DPoP`, ...).
    pub scheme: String,
    /// A token68 value, when the challenge has one instead of parameters.
    pub token68: Option<String>,
    /// Parameters with lowercased names, in order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter by name (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the client uses from a `Bearer` challenge.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// RFC 9728 §5.1: where the protected-resource metadata is.
    pub resource_metadata: Option<String>,
    /// RFC 6750 §3: the scopes the resource asks for (space-delimited).
    pub scope: Option<String>,
    /// RFC 6750 §3.1: `invalid_request`, `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
    /// Human-readable text.
    pub error_description: Option<String>,
    /// The realm, when given.
    pub realm: Option<String>,
}

fn is_tchar(b: u8) -> bool {
    // RFC 9110 §5.6.2
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    // RFC 9110 §11.2
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Parser<'a> {
    s: &'a [u8],
    header: &'a str,
    pos: usize,
    /// Parameters read so far, in all challenges.
    params: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> ChallengeError {
        ChallengeError::Malformed { header: self.header.to_owned(), position: self.pos, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.slice(start))
    }

    fn slice(&self, start: usize) -> &'a str {
        // Only ASCII bytes were consumed between `start` and `pos`, so this is a char boundary.
        self.header.get(start..self.pos).unwrap_or("")
    }

    /// A token68 is only one when it is followed by the end of the element.
    fn try_token68(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_token68_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        let value = self.slice(start).to_owned();
        let save = self.pos;
        self.skip_ws();
        if matches!(self.peek(), None | Some(b',')) {
            self.pos = save;
            Some(value)
        } else {
            self.pos = start;
            None
        }
    }

    fn quoted_string(&mut self) -> Result<String, ChallengeError> {
        // RFC 9110 §5.6.4: quoted-string with quoted-pair escapes.
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                    out.push(c);
                    self.pos += 1;
                }
                Some(c) if c == b'\t' || c >= 0x20 && c != 0x7f => {
                    out.push(c);
                    self.pos += 1;
                }
                Some(_) => return Err(self.err("control character in quoted string")),
            }
        }
    }

    fn param(&mut self, ch: &mut Challenge) -> Result<(), ChallengeError> {
        if self.params == MAX_PARAMETERS {
            return Err(ChallengeError::TooManyParameters { max: MAX_PARAMETERS });
        }
        self.params += 1;
        let name = self.token().ok_or_else(|| self.err("expected a parameter name"))?;
        self.skip_ws();
        if self.peek() != Some(b'=') {
            return Err(self.err("expected `=` after the parameter name"));
        }
        self.pos += 1;
        self.skip_ws();
        let value = match self.peek() {
            Some(b'"') => self.quoted_string()?,
            _ => self
                .token()
                .ok_or_else(|| self.err("expected a token or quoted string"))?
                .to_owned(),
        };
        let name = name.to_ascii_lowercase();
        // RFC 9110 §11.2: each parameter name MUST only occur once per challenge (a scan of at
        // most MAX_PARAMETERS names).
        if ch.params.iter().any(|(n, _)| *n == name) {
            return Err(ChallengeError::DuplicateParameter(name));
        }
        ch.params.push((name, value));
        Ok(())
    }

    /// After a comma: does a parameter (`token BWS =`) follow, rather than a new challenge?
    fn param_follows(&mut self) -> bool {
        let save = self.pos;
        let is_param = self.token().is_some() && {
            self.skip_ws();
            self.peek() == Some(b'=')
        };
        self.pos = save;
        is_param
    }
}

/// Parses one `WWW-Authenticate` header value into its challenges.
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    // RFC 9110 §5.4: a recipient may refuse a field larger than it wishes to process.
    if header.len() > MAX_HEADER_LEN {
        return Err(ChallengeError::TooLong { length: header.len(), max: MAX_HEADER_LEN });
    }
    let mut p = Parser { s: header.as_bytes(), header, pos: 0, params: 0 };
    let mut out = Vec::new();
    loop {
        p.skip_ws_and_commas();
        if p.peek().is_none() {
            break;
        }
        let scheme = p.token().ok_or_else(|| p.err("expected an auth scheme"))?;
        let mut ch = Challenge { scheme: scheme.to_owned(), ..Challenge::default() };
        match p.peek() {
            None | Some(b',') => {}
            Some(b' ' | b'\t') => {
                p.skip_ws();
                if !matches!(p.peek(), None | Some(b',')) {
                    match p.try_token68() {
                        Some(t) => ch.token68 = Some(t),
                        None => p.param(&mut ch)?,
                    }
                }
            }
            Some(_) => return Err(p.err("expected a space after the auth scheme")),
        }
        loop {
            p.skip_ws();
            match p.peek() {
                None => break,
                Some(b',') => {}
                Some(_) => return Err(p.err("expected `,` between parameters")),
            }
            p.skip_ws_and_commas();
            if p.peek().is_none() || !p.param_follows() {
                break;
            }
            if ch.token68.is_some() {
                return Err(p.err("a token68 challenge cannot also have parameters"));
            }
            p.param(&mut ch)?;
        }
        out.push(ch);
    }
    Ok(out)
}

/// Parses every `WWW-Authenticate` header of a response (there may be several, each with several
/// challenges) and returns the first `Bearer` challenge, if any (with feature `dpop`, a header
/// with only a `DPoP` challenge gives that one, RFC 9449 §7.1). A header that does not parse
/// is an error only when no other header carries a `Bearer` challenge, so the result does not
/// depend on the order of unrelated headers.
pub fn bearer_challenge(resp: &HttpResponse) -> Result<Option<BearerChallenge>, ChallengeError> {
    let mut first_error = None;
    for value in resp.header_values("www-authenticate") {
        let challenges = match parse(value) {
            Ok(c) => c,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        // RFC 9449 §7.1: a resource that takes only DPoP-bound tokens challenges with `DPoP`,
        // with the same parameters (RFC 9728 §5.1 `resource_metadata` included).
        let bearer = challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case("bearer"));
        #[cfg(feature = "dpop")]
        let bearer =
            bearer.or_else(|| challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case("dpop")));
        if let Some(ch) = bearer {
            let get = |n: &str| ch.param(n).map(str::to_owned);
            return Ok(Some(BearerChallenge {
                resource_metadata: get("resource_metadata"),
                scope: get("scope"),
                error: get("error"),
                error_description: get("error_description"),
                realm: get("realm"),
            }));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
