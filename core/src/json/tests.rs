use super::*;

fn obj(text: &str) -> Object {
    match parse(text.as_bytes()).unwrap() {
        Json::Object(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc8259_section13_examples() {
    let image = r#"{
      "Image": {
          "Width":  800,
          "Height": 600,
          "Title":  "View from 15th Floor",
          "Thumbnail": {
              "Url":    "http://www.example.com/image/481989943",
              "Height": 125,
              "Width":  100
          },
          "Animated" : false,
          "IDs": [116, 943, 234, 38793]
        }
    }"#;
    let v = parse(image.as_bytes()).unwrap();
    let img = v.get("Image").unwrap();
    assert_eq!(img.get("Width"), Some(&Json::Number("800".into())));
    assert_eq!(img.get("Title").and_then(Json::as_str), Some("View from 15th Floor"));
    assert_eq!(img.get("Animated"), Some(&Json::Bool(false)));
    let coords =
        r#"[{"precision": "zip", "Latitude": 37.7668, "Longitude": -122.3959, "Zip": "94107"}]"#;
    let v = parse(coords.as_bytes()).unwrap();
    let Json::Array(items) = v else { panic!() };
    assert_eq!(items[0].get("Longitude"), Some(&Json::Number("-122.3959".into())));
    for scalar in ["\"Hello world!\"", "42", "true", "null"] {
        assert!(parse(scalar.as_bytes()).is_ok(), "{scalar}");
    }
}

#[test]
fn strings_and_escapes_round_trip() {
    let v = parse(br#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap();
    assert_eq!(v, Json::String("a\"b\\c/d\u{8}\u{c}\n\r\té😀".into()));
    let text = v.to_text();
    assert_eq!(parse(text.as_bytes()).unwrap(), v);
    assert_eq!(Json::str("\u{1}").to_text(), "\"\\u0001\"");
}

#[test]
fn rejects_invalid_json_with_position() {
    for (text, reason) in [
        ("", "unexpected end"),
        ("{", "expected a member name"),
        ("{\"a\":1,}", "expected a member name"),
        ("[1,]", "unexpected character"),
        ("01", "unexpected data after the value"),
        ("1.", "invalid number"),
        ("-", "invalid number"),
        ("1e", "invalid number"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\ud83d\"", "unpaired surrogate"),
        ("\"\\udc00\"", "unpaired surrogate"),
        ("\"a\nb\"", "control character in string"),
        ("\"abc", "unterminated string"),
        ("tru", "unexpected character"),
        ("{\"a\":1,\"a\":2}", "duplicate member name"),
        ("{} x", "unexpected data after the value"),
    ] {
        let e = parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.reason, reason, "{text:?}");
    }
    assert_eq!(parse(b"\"\xff\"").unwrap_err().reason, "invalid UTF-8 in string");
    let deep = "[".repeat(100) + &"]".repeat(100);
    let e = parse(deep.as_bytes()).unwrap_err();
    assert_eq!((e.position, e.reason), (65, "nested too deeply (more than MAX_DEPTH = 64 levels)"));
    assert!(parse(b"\xEF\xBB\xBF{}").is_ok(), "a BOM is ignored");
}

#[test]
fn lenient_integers() {
    let o = obj(r#"{"a":3600,"b":"3599","c":-1,"d":"x","e":3600.0,"f":1.5,"g":1e3,"h":null}"#);
    assert_eq!(opt_u64_lenient(&o, "a"), Ok(Some(3600)));
    assert_eq!(opt_u64_lenient(&o, "b"), Ok(Some(3599)));
    assert!(opt_u64_lenient(&o, "c").is_err());
    assert!(opt_u64_lenient(&o, "d").is_err());
    assert_eq!(opt_u64_lenient(&o, "e"), Ok(Some(3600)));
    assert!(opt_u64_lenient(&o, "f").is_err());
    assert!(opt_u64_lenient(&o, "g").is_err(), "exponents are not integers here");
    assert_eq!(opt_u64_lenient(&o, "h"), Ok(None));
    assert_eq!(opt_u64_lenient(&o, "zz"), Ok(None));
}

#[test]
fn typed_member_access() {
    let o = obj(r#"{"s":"x","b":true,"a":["p","q"],"n":1,"bad":[1]}"#);
    assert_eq!(req_str(&o, "s"), Ok("x"));
    assert_eq!(req_str(&o, "zz"), Err(FieldProblem::Missing("zz")));
    assert_eq!(opt_str(&o, "n"), Err(FieldProblem::WrongType { field: "n", expected: "a string" }));
    assert_eq!(opt_bool(&o, "b"), Ok(Some(true)));
    assert_eq!(opt_str_array(&o, "a"), Ok(Some(vec!["p".into(), "q".into()])));
    assert!(opt_str_array(&o, "bad").is_err());
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

#[test]
fn duplicates_are_found_wherever_they_are() {
    let first = |names: &[&str]| first_duplicate(names.len(), &|i| names[i]);
    assert_eq!(first(&[]), None);
    assert_eq!(first(&["a", "b", "c"]), None);
    assert_eq!(first(&["b", "a", "c", "a", "b"]), Some(3), "the first repeat in order");
    let e = parse(br#"{"z":1,"a":2,"m":3,"a":4,"z":5}"#).unwrap_err();
    assert_eq!((e.position, e.reason), (19, "duplicate member name"));
    assert_eq!(parse(br#"{"a":{"a":1},"b":[{"a":2}]}"#).map(|_| ()), Ok(()), "per object");
}

/// Each cap's error reason names the constant and states its value.
#[test]
fn caps_are_enforced_and_named() {
    let cases = [
        ("MAX_MEMBERS", MAX_MEMBERS, {
            let members: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("\"m{i}\":0")).collect();
            format!("{{{}}}", members.join(","))
        }),
        ("MAX_ITEMS", MAX_ITEMS, format!("[{}0]", "0,".repeat(MAX_ITEMS))),
        ("MAX_STRING_LEN", MAX_STRING_LEN >> 10, format!("\"{}\"", "a".repeat(MAX_STRING_LEN + 1))),
        ("MAX_INPUT_LEN", MAX_INPUT_LEN >> 20, " ".repeat(MAX_INPUT_LEN + 1)),
        ("MAX_DEPTH", MAX_DEPTH, "[".repeat(MAX_DEPTH + 1)),
    ];
    for (name, value, text) in cases {
        let reason = parse(text.as_bytes()).unwrap_err().reason;
        assert!(reason.contains(&format!("{name} = {value}")), "{name}: {reason}");
    }
    // At the caps, documents still parse.
    let members: Vec<String> = (0..MAX_MEMBERS).map(|i| format!("\"m{i}\":0")).collect();
    assert!(parse(format!("{{{}}}", members.join(",")).as_bytes()).is_ok());
    assert!(parse(format!("[{}0]", "0,".repeat(MAX_ITEMS - 1)).as_bytes()).is_ok());
    assert!(parse(format!("\"{}\"", "a".repeat(MAX_STRING_LEN)).as_bytes()).is_ok());
    let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse(deep.as_bytes()).is_ok());
}

#[test]
fn repeats_matches_a_quadratic_scan() {
    // Names from a small alphabet, so that there are many repeats, in many orders and lengths.
    let mut seed = 7u32;
    for len in 0..200 {
        let names: Vec<String> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                format!("n{}", (seed >> 16) % 23)
            })
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let expected: Vec<bool> = (0..len).map(|i| names[..i].contains(&names[i])).collect();
        assert_eq!(repeats(names.len(), &|i| names[i]), expected, "{names:?}");
    }
}
