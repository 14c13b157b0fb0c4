//! The authorization callback (`process_callback`) against fixed pending authorizations built
//! by `authorization_request`: no panic; a code is returned only with this authorization's
//! `state` (and `iss`, when given or promised) at its redirect URI.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::__private::encoding::form_encode;
use mcp_oauth_core::authorize::process_callback;
use mcp_oauth_core::url::Url;
use mcp_oauth_core_fuzz::{pending, Input};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.byte();
    let p = &pending()[usize::from(mode & 1)];
    let Ok(tail) = std::str::from_utf8(input.rest()) else { return };
    let redirect = p.redirect_uri.url();
    let base = redirect.with_path(redirect.path()).to_string();
    // Mode 0: the input is the whole URL. Otherwise it is the query (or its end) at the redirect
    // URI, after the right `state` (and `iss`) in mode 2.
    let url = match (mode >> 1) % 3 {
        0 => tail.to_owned(),
        1 => format!("{base}?{tail}"),
        _ => {
            let known = form_encode(&[("state", p.state.secret()), ("iss", &p.issuer)]);
            format!("{base}?{known}&{tail}")
        }
    };
    if let Ok(code) = process_callback(p, &url) {
        let u = Url::parse(&url).expect("an accepted callback URL parses");
        assert_eq!(u.origin(), redirect.origin());
        assert_eq!(u.path(), redirect.path());
        let own = redirect.query_pairs().unwrap_or_default();
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .expect("an accepted query decodes")
            .into_iter()
            .filter(|pair| !own.contains(pair))
            .collect();
        let all = |name: &str| -> Vec<&str> {
            pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
        };
        assert_eq!(all("state"), [p.state.secret()], "accepted {url:?}");
        assert_eq!(all("code"), [code.secret()], "accepted {url:?}");
        assert!(all("error").is_empty(), "accepted {url:?}");
        match all("iss").as_slice() {
            [] => assert!(!p.iss_parameter_supported, "accepted {url:?} without iss"),
            [iss] => assert_eq!(*iss, p.issuer, "accepted {url:?}"),
            more => panic!("accepted {url:?} with iss {more:?}"),
        }
    }
});
