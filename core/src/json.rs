//! Reading JSON response bodies: one place for the checks every `process_*` function starts with
//! (HOUSE_STYLE §8: status, content type, JSON object, required members).

use serde_json::{Map, Value};

use crate::http::HttpResponse;

/// Why a body could not be read as a JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyProblem {
    /// The `Content-Type` is not JSON (the value, or empty when absent).
    NotJson(String),
    /// The body is not valid JSON, or not an object.
    Malformed(String),
}

/// Parses the body as a JSON object, requiring a JSON content type.
pub(crate) fn object(resp: &HttpResponse) -> Result<Map<String, Value>, BodyProblem> {
    if !resp.is_json() {
        return Err(BodyProblem::NotJson(resp.header("content-type").unwrap_or("").to_owned()));
    }
    object_any_type(resp)
}

/// Parses the body as a JSON object whatever the content type says (used for error bodies, which
/// servers label carelessly).
pub(crate) fn object_any_type(resp: &HttpResponse) -> Result<Map<String, Value>, BodyProblem> {
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(Value::Object(map)) => Ok(map),
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

pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, FieldProblem> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldProblem::WrongType { field, expected: "a string" }),
    }
}

pub(crate) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, FieldProblem> {
    match opt_str(obj, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(FieldProblem::Missing(field)),
    }
}

pub(crate) fn opt_bool(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<bool>, FieldProblem> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(FieldProblem::WrongType { field, expected: "a boolean" }),
    }
}

pub(crate) fn opt_str_array(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, FieldProblem> {
    let wrong = FieldProblem::WrongType { field, expected: "an array of strings" };
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(wrong.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong),
    }
}

/// A non-negative integer given as a JSON number or a numeric string (Entra v1 sends
/// `"expires_in": "3599"`).
pub(crate) fn opt_u64_lenient(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<u64>, FieldProblem> {
    let wrong = FieldProblem::WrongType { field, expected: "a non-negative integer" };
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else {
                // Some servers send 3600.0; accept a float that is a whole, non-negative number.
                match n.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e15 => Ok(Some(f as u64)),
                    _ => Err(wrong),
                }
            }
        }
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| wrong),
        Some(_) => Err(wrong),
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
mod tests {
    use super::*;

    #[test]
    fn lenient_integers() {
        let obj: Map<String, Value> =
            serde_json::from_str(r#"{"a":3600,"b":"3599","c":-1,"d":"x","e":3600.0,"f":1.5}"#)
                .unwrap();
        assert_eq!(opt_u64_lenient(&obj, "a"), Ok(Some(3600)));
        assert_eq!(opt_u64_lenient(&obj, "b"), Ok(Some(3599)));
        assert!(opt_u64_lenient(&obj, "c").is_err());
        assert!(opt_u64_lenient(&obj, "d").is_err());
        assert_eq!(opt_u64_lenient(&obj, "e"), Ok(Some(3600)));
        assert!(opt_u64_lenient(&obj, "f").is_err());
        assert_eq!(opt_u64_lenient(&obj, "zz"), Ok(None));
    }

    #[test]
    fn cache_control() {
        let mut r = HttpResponse::json(200, "{}");
        assert_eq!(cache_max_age(&r), None);
        r.headers.push(("Cache-Control".into(), "public, max-age=3600".into()));
        assert_eq!(cache_max_age(&r), Some(3600));
        r.headers.push(("cache-control".into(), "no-store".into()));
        assert_eq!(cache_max_age(&r), Some(0));
    }
}
