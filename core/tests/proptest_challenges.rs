//! Property tests over the core's `WWW-Authenticate` parser and the redirect-URI callback
//! (`process_callback`).
//!
//! Two kinds of properties:
//! - robustness: a parser never panics on arbitrary input, and whatever it accepts satisfies
//!   cheap invariants;
//! - round trips and laws on generated valid input: a rendered challenge parses back to what was
//!   generated, and a callback yields a code exactly when it answers the pending authorization.
//!
//! Cases per property: proptest's default of 256, a few seconds in a debug build;
//! `PROPTEST_CASES=10000 cargo test -p mcp-oauth-core --test proptest_challenges` for a longer
//! run. The cargo-fuzz targets in `fuzz/` cover the same parsers with coverage guidance.
//!
//! The other property tests are in `proptest_urls.rs` and `proptest_processors.rs`; the shared
//! configuration and URL generators are in `common/strategies.rs`.

mod common;

use common::strategies::{config, query_text, url_like, ISSUER};
use mcp_oauth_core::__private::encoding::form_encode;
use mcp_oauth_core::authorize::{
    authorization_request, process_callback, AuthorizationParams, CallbackError,
    PendingAuthorization,
};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::server_metadata::{self, ServerMetadata};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, Url};
use mcp_oauth_core::www_authenticate::{self, Challenge};
use proptest::prelude::*;
use proptest::sample::select;

// ---------------------------------------------------------------------------------------------
// Properties: WWW-Authenticate
// ---------------------------------------------------------------------------------------------

const TCHARS: &str = "[!#$%&'*+.^_`|~0-9A-Za-z-]";

fn token() -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!("{TCHARS}{{1,10}}")).expect("valid regex")
}

#[derive(Clone, Debug)]
enum ParamValue {
    Token(String),
    /// A quoted-string, and whether to escape every printable ASCII character (as quoted-pairs)
    /// rather than only `"` and `\`.
    Quoted(String, bool),
}

impl ParamValue {
    fn value(&self) -> &str {
        match self {
            ParamValue::Token(s) | ParamValue::Quoted(s, _) => s,
        }
    }

    fn render(&self) -> String {
        match self {
            ParamValue::Token(t) => t.clone(),
            ParamValue::Quoted(s, escape_more) => {
                let mut out = String::from("\"");
                for c in s.chars() {
                    if c == '"' || c == '\\' || (*escape_more && c.is_ascii_graphic()) {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
                out
            }
        }
    }
}

#[derive(Clone, Debug)]
enum ChallengeBody {
    Nothing,
    Token68(String),
    Params(Vec<(String, ParamValue)>),
}

#[derive(Clone, Debug)]
struct GenChallenge {
    scheme: String,
    body: ChallengeBody,
}

fn param_value() -> impl Strategy<Value = ParamValue> {
    // Quoted-string content: anything but controls (HTAB allowed), with `"` and `\` frequent.
    let qtext = prop_oneof![
        "[^\\x00-\\x08\\x0a-\\x1f\\x7f]{0,12}",
        prop::collection::vec(
            select(vec!["\"", "\\", "a", " ", "\t", ",", "=", "é", "€", "😀"]),
            0..8
        )
        .prop_map(|v| v.concat()),
    ];
    prop_oneof![
        token().prop_map(ParamValue::Token),
        (qtext, any::<bool>()).prop_map(|(s, e)| ParamValue::Quoted(s, e)),
    ]
}

fn gen_challenge() -> impl Strategy<Value = GenChallenge> {
    let params = prop::collection::vec((token(), param_value()), 1..5).prop_map(|ps| {
        // RFC 9110 §11.2: names are unique (case-insensitively) within a challenge.
        let mut seen = Vec::new();
        ps.into_iter()
            .filter(|(n, _)| {
                let l = n.to_ascii_lowercase();
                let fresh = !seen.contains(&l);
                seen.push(l);
                fresh
            })
            .collect::<Vec<_>>()
    });
    let body = prop_oneof![
        1 => Just(ChallengeBody::Nothing),
        1 => "[A-Za-z0-9._~+/-]{1,12}={0,2}".prop_map(ChallengeBody::Token68),
        4 => params.prop_map(ChallengeBody::Params),
    ];
    (token(), body).prop_map(|(scheme, body)| GenChallenge { scheme, body })
}

/// Optional whitespace.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// Renders challenges with random (grammatical) whitespace and empty list elements.
fn render_challenges(chs: &[GenChallenge], ws: &[(String, String, String, bool)]) -> String {
    let mut out = String::new();
    let mut w = ws.iter().cycle();
    let mut next_ws = || w.next().cloned().unwrap_or_default();
    for (i, ch) in chs.iter().enumerate() {
        let (a, b, c, extra_comma) = next_ws();
        if i > 0 {
            out.push_str(&a);
            out.push(',');
            if extra_comma {
                out.push_str(" ,");
            }
            out.push_str(&b);
        }
        out.push_str(&ch.scheme);
        match &ch.body {
            ChallengeBody::Nothing => {}
            ChallengeBody::Token68(t) => {
                out.push(' ');
                out.push_str(&c);
                out.push_str(t);
            }
            ChallengeBody::Params(ps) => {
                out.push(' ');
                for (j, (name, value)) in ps.iter().enumerate() {
                    let (a, b, c, extra_comma) = next_ws();
                    if j > 0 {
                        out.push_str(&a);
                        out.push(',');
                        if extra_comma {
                            out.push(',');
                        }
                        out.push_str(&b);
                    }
                    out.push_str(name);
                    out.push_str(&c);
                    out.push('=');
                    out.push_str(&b);
                    out.push_str(&value.render());
                }
            }
        }
    }
    out
}

fn expected_challenge(g: &GenChallenge) -> Challenge {
    let (token68, params) = match &g.body {
        ChallengeBody::Nothing => (None, Vec::new()),
        ChallengeBody::Token68(t) => (Some(t.clone()), Vec::new()),
        ChallengeBody::Params(ps) => {
            (None, ps.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.value().to_owned())).collect())
        }
    };
    Challenge { scheme: g.scheme.clone(), token68, params }
}

/// Renders parsed challenges back into a header, every parameter value as a quoted-string.
fn render_parsed(chs: &[Challenge]) -> String {
    let quote = |v: &str| {
        let mut out = String::from("\"");
        for c in v.chars() {
            if c == '"' || c == '\\' || c.is_ascii_control() {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    };
    let rendered: Vec<String> = chs
        .iter()
        .map(|ch| match (&ch.token68, ch.params.is_empty()) {
            (Some(t), _) => format!("{} {t}", ch.scheme),
            (None, true) => ch.scheme.clone(),
            (None, false) => {
                let ps: Vec<String> =
                    ch.params.iter().map(|(n, v)| format!("{n}={}", quote(v))).collect();
                format!("{} {}", ch.scheme, ps.join(", "))
            }
        })
        .collect();
    rendered.join(", ")
}

fn header_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9 \t,=\"\\\\/+._~-]{0,30}",
        "(Bearer|Basic|DPoP)( [a-z_]{1,8} ?= ?(\"[^\"]{0,6}\"?|[a-z0-9]{0,4}) ?,?){0,4}",
    ]
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn www_authenticate_never_panics(s in header_like()) {
        if let Ok(chs) = www_authenticate::parse(&s) {
            for ch in &chs {
                prop_assert!(!ch.scheme.is_empty());
                prop_assert!(ch.token68.is_none() || ch.params.is_empty());
                for (i, (n, _)) in ch.params.iter().enumerate() {
                    prop_assert_eq!(n.clone(), n.to_ascii_lowercase());
                    prop_assert!(!ch.params[..i].iter().any(|(m, _)| m == n), "duplicate {}", n);
                }
            }
            // Whatever is accepted renders back to a header with the same meaning.
            let rendered = render_parsed(&chs);
            let again = www_authenticate::parse(&rendered);
            prop_assert_eq!(again, Ok(chs), "re-rendered as {:?}", rendered);
        }
        let headers = vec![
            ("WWW-Authenticate".to_owned(), s.clone()),
            ("www-authenticate".to_owned(), "Bearer".to_owned()),
        ];
        let resp = HttpResponse::new(401, headers, Vec::new());
        let _ = www_authenticate::bearer_challenge(&resp);
    }

    /// Rendered challenges parse back to the same schemes, token68 values and parameters.
    #[test]
    fn www_authenticate_round_trips(
        chs in prop::collection::vec(gen_challenge(), 1..4),
        ws in prop::collection::vec((ows(), ows(), ows(), any::<bool>()), 1..8),
        leading in ows(),
        trailing in ows(),
    ) {
        let header = format!("{leading}{}{trailing}", render_challenges(&chs, &ws));
        let parsed = www_authenticate::parse(&header)
            .map_err(|e| TestCaseError::fail(format!("{header:?}: {e}")))?;
        let expected: Vec<Challenge> = chs.iter().map(expected_challenge).collect();
        prop_assert_eq!(parsed, expected, "header {:?}", header);
    }

    /// The Bearer view finds the first Bearer challenge's parameters, whatever the case.
    #[test]
    fn bearer_challenge_reads_the_first_bearer(
        before in prop::collection::vec(gen_challenge(), 0..3),
        scheme in select(vec!["Bearer", "bearer", "BEARER"]),
        rm in param_value(),
        scope in param_value(),
    ) {
        prop_assume!(before.iter().all(|c| !c.scheme.eq_ignore_ascii_case("bearer")));
        let mut chs = before;
        chs.push(GenChallenge {
            scheme: scheme.to_owned(),
            body: ChallengeBody::Params(vec![
                ("Resource_Metadata".into(), rm.clone()),
                ("scope".into(), scope.clone()),
            ]),
        });
        let header = render_challenges(&chs, &[(String::new(), " ".into(), String::new(), false)]);
        let headers = vec![("www-authenticate".to_owned(), header.clone())];
        let resp = HttpResponse::new(401, headers, Vec::new());
        let b = www_authenticate::bearer_challenge(&resp)
            .map_err(|e| TestCaseError::fail(format!("{header:?}: {e}")))?
            .ok_or_else(|| TestCaseError::fail(format!("no bearer in {header:?}")))?;
        prop_assert_eq!(b.resource_metadata.as_deref(), Some(rm.value()));
        prop_assert_eq!(b.scope.as_deref(), Some(scope.value()));
        prop_assert_eq!(b.error, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: the authorization callback
// ---------------------------------------------------------------------------------------------

fn server_metadata(iss_supported: bool) -> ServerMetadata {
    let body = serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": iss_supported,
    });
    server_metadata::process_metadata_response(
        &IssuerUrl::parse(ISSUER).expect("valid issuer"),
        &EndpointUrl::parse("https://as.example/.well-known/oauth-authorization-server/tenant")
            .expect("valid URL"),
        &HttpResponse::json(200, &body.to_string()),
        &ServerPolicy::default(),
    )
    .expect("valid metadata")
}

/// The redirect URIs the callback properties use: one with a query of its own.
const REDIRECTS: [&str; 3] =
    ["http://127.0.0.1:8765/cb", "https://app.example/oauth/callback?x=1", "http://localhost/"];

fn pending(redirect: &str, iss_supported: bool) -> PendingAuthorization {
    let md = server_metadata(iss_supported);
    let redirect = RedirectUri::parse(redirect).expect("valid redirect URI");
    let resource = ResourceUrl::parse("https://mcp.example.com/mcp").expect("valid resource");
    authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "client-1",
            redirect_uri: &redirect,
            resource: Some(&resource),
            scope: Some("files:read"),
            extra_params: &[],
        },
        &Entropy { verifier: [1; 32], state: [2; 32] },
        UnixTime(1_700_000_000),
    )
    .expect("valid authorization request")
}

/// How a generated callback value relates to the pending authorization.
#[derive(Clone, Debug)]
enum Val {
    /// The pending state (or the recorded issuer, for `iss`).
    Right,
    /// The right value with one character changed.
    Mutated(prop::sample::Index, char),
    /// The right value truncated.
    Truncated(prop::sample::Index),
    /// Anything.
    Other(String),
}

impl Val {
    fn resolve(&self, right: &str) -> String {
        match self {
            Val::Right => right.to_owned(),
            Val::Mutated(i, c) => {
                let mut chars: Vec<char> = right.chars().collect();
                if !chars.is_empty() {
                    let i = i.index(chars.len());
                    chars[i] = *c;
                }
                chars.into_iter().collect()
            }
            Val::Truncated(i) => {
                right.chars().take(i.index(right.chars().count().max(1))).collect()
            }
            Val::Other(s) => s.clone(),
        }
    }
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        4 => Just(Val::Right),
        1 => (any::<prop::sample::Index>(), any::<char>()).prop_map(|(i, c)| Val::Mutated(i, c)),
        1 => any::<prop::sample::Index>().prop_map(Val::Truncated),
        1 => prop_oneof![any::<String>(), "[a-zA-Z0-9_-]{0,44}"].prop_map(Val::Other),
    ]
}

#[derive(Clone, Debug)]
struct GenCallback {
    redirect: usize,
    iss_supported: bool,
    /// Replaces the redirect URI's origin and path when set.
    other_base: Option<String>,
    params: Vec<(String, Val)>,
    /// Percent-encode every byte of the values, not just the reserved ones.
    encode_all: bool,
    fragment: Option<String>,
}

fn gen_callback() -> impl Strategy<Value = GenCallback> {
    let other_base = prop::option::weighted(
        0.15,
        select(vec![
            "http://127.0.0.1:8766/cb",
            "http://127.0.0.1:8765/cb/",
            "http://127.0.0.2:8765/cb",
            "https://127.0.0.1:8765/cb",
            "https://app.example/oauth/callback/x",
            "https://APP.example:443/oauth/callback",
            "http://localhost:80",
        ])
        .prop_map(String::from),
    );
    let code = prop_oneof![
        4 => "[A-Za-z0-9._~-]{1,24}",
        1 => Just(String::new()),
        1 => any::<String>(),
    ]
    .prop_map(Val::Other);
    let extra_name = select(vec![
        "state",
        "code",
        "iss",
        "error",
        "error_description",
        "x",
        "STATE",
        "session_state",
    ]);
    let error = select(vec!["access_denied", "invalid_scope", "server_error"]);
    // Usually one each of state, code and iss, sometimes missing, plus rarer extras (which may
    // repeat a name), in any order.
    let params = (
        prop::option::weighted(0.9, val()),
        prop::option::weighted(0.9, code),
        prop::option::weighted(0.7, val()),
        prop::option::weighted(0.1, error),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec((extra_name, val()), 1..3),
        ],
    )
        .prop_map(|(state, code, iss, error, extras)| {
            let mut ps = Vec::new();
            ps.extend(state.map(|v| ("state".to_owned(), v)));
            ps.extend(code.map(|v| ("code".to_owned(), v)));
            ps.extend(iss.map(|v| ("iss".to_owned(), v)));
            ps.extend(error.map(|e| ("error".to_owned(), Val::Other(e.to_owned()))));
            ps.extend(extras.into_iter().map(|(k, v)| (k.to_owned(), v)));
            ps
        })
        .prop_shuffle();
    (
        0..REDIRECTS.len(),
        any::<bool>(),
        other_base,
        params,
        any::<bool>(),
        prop::option::weighted(0.1, "[a-z=&]{0,6}"),
    )
        .prop_map(|(redirect, iss_supported, other_base, params, encode_all, fragment)| {
            GenCallback { redirect, iss_supported, other_base, params, encode_all, fragment }
        })
}

fn render_callback(g: &GenCallback, p: &PendingAuthorization) -> String {
    let redirect = p.redirect_uri.url();
    let mut url = match &g.other_base {
        Some(b) => b.clone(),
        None => redirect.with_path(redirect.path()).to_string(),
    };
    let mut pairs: Vec<(String, String)> = redirect.query_pairs().unwrap_or_default();
    for (k, v) in &g.params {
        let right = if k == "iss" { p.issuer.as_str() } else { p.state.secret() };
        pairs.push((k.clone(), v.resolve(right)));
    }
    let mut query = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            query.push('&');
        }
        if g.encode_all {
            let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
            query.push_str(&enc(k));
            query.push('=');
            query.push_str(&enc(v));
        } else {
            query.push_str(&form_encode(&[(k, v)]));
        }
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    if let Some(f) = &g.fragment {
        url.push('#');
        url.push_str(f);
    }
    url
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn callback_never_panics(
        s in prop_oneof![
            any::<String>(),
            url_like(),
            query_text().prop_map(|q| format!("http://127.0.0.1:8765/cb?{q}")),
        ],
        redirect in 0..REDIRECTS.len(),
        iss_supported in any::<bool>(),
    ) {
        let p = pending(REDIRECTS[redirect], iss_supported);
        if let Ok(code) = process_callback(&p, &s) {
            let url = Url::parse(&s).unwrap();
            let pairs = url.query_pairs().unwrap();
            prop_assert!(pairs.iter().any(|(k, v)| k == "state" && v == p.state.secret()));
            prop_assert!(pairs.iter().any(|(k, v)| k == "code" && v == code.secret()));
        }
    }

    /// `process_callback` returns a code only for this authorization's state and issuer, at the
    /// redirect URI, with no error and no repeated parameter; and it does return one then.
    #[test]
    fn callback_accepts_only_the_pending_state(g in gen_callback()) {
        let p = pending(REDIRECTS[g.redirect], g.iss_supported);
        let url = render_callback(&g, &p);
        let result = process_callback(&p, &url);

        // The model: the server's parameters as decoded, without the redirect URI's own.
        let redirect = p.redirect_uri.url();
        let own = redirect.query_pairs().unwrap_or_default();
        let params: Vec<(String, String)> = g
            .params
            .iter()
            .map(|(k, v)| {
                let right = if k == "iss" { p.issuer.as_str() } else { p.state.secret() };
                (k.clone(), v.resolve(right))
            })
            .filter(|(k, v)| !own.iter().any(|(ok, ov)| ok == k && ov == v))
            .collect();
        let count = |name: &str| params.iter().filter(|(k, _)| k == name).count();
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let parsed = Url::parse(&url).ok();
        let right_place = parsed.as_ref().is_some_and(|u| {
            u.origin() == redirect.origin() && u.path() == redirect.path()
        });
        let state_ok = count("state") == 1 && get("state") == Some(p.state.secret());
        let iss_ok = match get("iss") {
            Some(iss) => count("iss") == 1 && iss == p.issuer,
            None => !p.iss_parameter_supported,
        };
        let no_duplicates =
            params.iter().enumerate().all(|(i, (k, _))| params[..i].iter().all(|(m, _)| m != k));

        match &result {
            Ok(code) => {
                prop_assert!(right_place, "accepted at the wrong URL {}", url);
                prop_assert!(state_ok, "accepted state {:?} for {}", get("state"), url);
                prop_assert!(iss_ok, "accepted iss {:?} for {}", get("iss"), url);
                prop_assert!(no_duplicates, "accepted repeated parameters in {}", url);
                prop_assert_eq!(count("error"), 0);
                prop_assert_eq!(Some(code.secret()), get("code"));
                prop_assert!(!code.secret().is_empty());
            }
            Err(e) => {
                let expect_ok = right_place
                    && no_duplicates
                    && state_ok
                    && iss_ok
                    && count("error") == 0
                    && get("code").is_some_and(|c| !c.is_empty());
                prop_assert!(!expect_ok, "rejected a valid callback {} with {:?}", url, e);
                if right_place && no_duplicates && !state_ok {
                    prop_assert!(
                        matches!(e, CallbackError::MissingState | CallbackError::StateMismatch),
                        "a wrong state must be reported as such, got {:?} for {}", e, url
                    );
                }
            }
        }
    }
}
