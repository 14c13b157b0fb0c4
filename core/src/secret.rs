//! Secret values: never shown by `Debug` or `Display`.
//!
//! Each secret is a newtype with a redacted `Debug`, no `Display`, and an explicit `secret()`
//! accessor, so that printing a struct that holds one never leaks it. Values the protocol
//! compares (`State`) compare in constant time. Single-use values (`AuthorizationCode`) are not
//! `Clone`. Values that must persist (tokens, client secrets, the pending PKCE verifier and state)
//! are written in clear by the codec (`codec.rs`): the adapters' stores encrypt them at rest.
//!
//! With the feature `zeroize`, each secret's bytes are overwritten when the value is dropped
//! (the `zeroize` crate, so the compiler cannot elide the writes). This covers the values held
//! in these types only: copies a host makes (a request body, a JS string, an HTTP client's
//! buffers) are outside its reach.

use std::fmt;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$meta])*
        #[derive($($derive),*)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret itself. Every call site is a place where it may leave the process.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        // Feature `zeroize`: the value's bytes are overwritten when it is dropped.
        #[cfg(feature = "zeroize")]
        impl Drop for $name {
            fn drop(&mut self) {
                zeroize::Zeroize::zeroize(&mut self.0);
            }
        }
    };
}

secret_type!(
    /// An OAuth access token (RFC 6749 §1.4).
    AccessToken,
    Clone
);
secret_type!(
    /// An OAuth refresh token (RFC 6749 §1.5). Confidential in transit and at rest.
    RefreshToken,
    Clone
);
secret_type!(
    /// A client secret issued by registration or configured by the user.
    ClientSecret,
    Clone
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2): single use, so not `Clone`.
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    PkceVerifier,
    Clone
);
secret_type!(
    /// The `state` value of one authorization request (RFC 6749 §10.12).
    State,
    Clone
);
secret_type!(
    /// An OpenID Connect ID token, kept when the server returns one.
    IdToken,
    Clone
);
secret_type!(
    /// A signed JWT assertion used as an authorization grant (RFC 7523 §2.1), such as the
    /// Identity Assertion JWT Authorization Grant (ID-JAG) an identity provider issues.
    GrantAssertion,
    Clone
);

secret_type!(
    /// The host's DPoP private key (RFC 9449) in the host's own encoding (the native adapter:
    /// PKCS#8, base64url), kept in the entry with the tokens bound to it. The core never reads
    /// it; a browser host keeps a non-extractable WebCrypto key elsewhere and leaves it unset.
    DpopPrivateKey,
    Clone
);

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Avoid an early exit the optimiser could introduce on `diff == 0` by reading it once.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = AccessToken::new("eyJ-secret");
        assert_eq!(format!("{t:?}"), "AccessToken(<redacted>)");
        assert_eq!(t.secret(), "eyJ-secret");
        let c = AuthorizationCode::new("abc");
        assert_eq!(format!("{c:?}"), "AuthorizationCode(<redacted>)");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(State::new("abc"), State::new("abc"));
        assert_ne!(State::new("abc"), State::new("abd"));
        assert_ne!(State::new("abc"), State::new("abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
