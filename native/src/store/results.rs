//! The requests of a multi-user server that waited for consent, as the shared store keeps them
//! by (user, request id), so that whichever replica a user reaches answers
//! `GET /v1/chat/{request_id}` or a WebSocket `resume` (native/src/server/results.rs).
//!
//! Keys are the SHA-256 of `user \n request id`: a user asking for another user's request id
//! looks under another key. The record also names its user, and readers check it. Stores seal
//! the record like a [`super::PendingRecord`]: it holds the consent's `state` while waiting, and
//! the tool's result when finished.

use sha2::{Digest, Sha256};

/// One request: whose it is and where it stands.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The user who sent the request; only they may read or cancel it.
    pub user: String,
    /// Waiting or finished.
    pub status: RequestStatus,
}

/// Where a request stands.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestStatus {
    /// Running on some replica, waiting for the consent of `state` (a secret: never logged).
    Waiting {
        /// The pending authorization's `state` (to cancel the consent from any replica).
        state: String,
    },
    /// Finished: the reply (a `ChatReply` of native/src/server/messages.rs) as JSON text.
    Finished {
        /// The reply's JSON text.
        reply: String,
    },
}

impl std::fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = match self.status {
            RequestStatus::Waiting { .. } => "waiting",
            RequestStatus::Finished { .. } => "finished",
        };
        f.debug_struct("RequestRecord")
            .field("user", &self.user)
            .field("status", &status)
            .finish_non_exhaustive()
    }
}

impl RequestRecord {
    /// The store key of request `request_id` of `user` (hex SHA-256 of `user \n request_id`;
    /// user names hold no control character, native/src/server/identity.rs `valid_user`).
    pub fn key(user: &str, request_id: &str) -> String {
        let digest = Sha256::digest(format!("{user}\n{request_id}").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The JSON text of the record.
    pub fn to_json(&self) -> String {
        match &self.status {
            RequestStatus::Waiting { state } => {
                serde_json::json!({ "user": self.user, "status": "waiting", "state": state })
            }
            RequestStatus::Finished { reply } => {
                serde_json::json!({ "user": self.user, "status": "finished", "reply": reply })
            }
        }
        .to_string()
    }

    /// Reads [`RequestRecord::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<RequestRecord, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("request record: {e}"))?;
        let s = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("request record.{name}: missing"))
        };
        let status = match s("status")?.as_str() {
            "waiting" => RequestStatus::Waiting { state: s("state")? },
            "finished" => RequestStatus::Finished { reply: s("reply")? },
            other => return Err(format!("request record.status: unknown status {other:?}")),
        };
        Ok(RequestRecord { user: s("user")?, status })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keys_separate_users() {
        for status in [
            RequestStatus::Waiting { state: "st".into() },
            RequestStatus::Finished { reply: r#"{"type":"result"}"#.into() },
        ] {
            let r = RequestRecord { user: "Alice".into(), status };
            assert_eq!(RequestRecord::from_json(&r.to_json()).unwrap(), r);
        }
        assert_ne!(RequestRecord::key("Alice", "1"), RequestRecord::key("Hatter", "1"));
        let err = RequestRecord::from_json(r#"{"user":"A","status":"gone"}"#).unwrap_err();
        assert!(err.contains("unknown status"), "{err}");
        let err = RequestRecord::from_json(r#"{"user":"A","status":"waiting"}"#).unwrap_err();
        assert!(err.contains("state"), "{err}");
        // The state never shows in Debug.
        let r = RequestRecord {
            user: "A".into(),
            status: RequestStatus::Waiting { state: "secret-st".into() },
        };
        assert!(!format!("{r:?}").contains("secret-st"));
    }
}
