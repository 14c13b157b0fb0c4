//! Any replica answers: a request that waits for consent is recorded in the
//! shared store ([`crate::store::PendingStore::put_result`]) under (user, request id) — waiting, with its
//! consent's `state`, then finished, with its reply, for [`ServerConfig::result_ttl`] — so that
//! `GET /v1/chat/{request_id}`, a WebSocket `resume` after a reconnect and a `cancel` work on
//! whichever replica the user reaches.
//!
//! A replica that does not run the request polls the store every [`POLL_EVERY`] while the
//! request waits (no pub/sub: every store has get, and a consent takes seconds to minutes).
//!
//! Cancel (the page's popup closed, or the client gave up): the replica that takes the pending
//! authorization from the store ends the consent as `oauth_cancelled` by recording that outcome
//! for its `state`; the replica waiting for it wakes through its store watcher
//! (native/src/server/waiting.rs). When the callback took the pending authorization first, the
//! consent ends as the callback says. Every request waiting for that consent (a user's
//! concurrent requests share one) ends with it.
//!
//! [`ServerConfig::result_ttl`]: super::ServerConfig::result_ttl

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::messages::{ChatCode, ChatReply, ChatRequest, Control};
use super::waiting::publish;
use super::{ConsentRequired, MultiUserServer};
use crate::store::{ConsentOutcome, RequestRecord, RequestStatus};
use crate::Error;

/// How often a replica that does not run a request looks for its reply in the store.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// The error code of a cancelled consent.
pub const CANCELLED: &str = "oauth_cancelled";

/// How long a cancel waits for the request to end (the waiting replica's watcher looks every
/// 250 ms; the reply is written to the store when the request ends).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

fn unknown(request_id: &str) -> ChatReply {
    ChatReply::error(
        None,
        ChatCode::UnknownRequest,
        format!("no request {request_id} of this user (never sent, or its reply expired)"),
    )
}

impl MultiUserServer {
    /// [`MultiUserServer::run`] for a request a client may look for later by `request_id`:
    /// when it waits for consent, it is recorded in the shared store, waiting and then with its
    /// reply, so that any replica answers for it (module docs).
    pub async fn run_tracked(
        &self,
        user: &str,
        request: &ChatRequest,
        request_id: &str,
        on_consent: impl FnOnce(ConsentRequired),
    ) -> ChatReply {
        let asked = AtomicBool::new(false);
        let id = request.id.clone();
        let outcome = self
            .run_inner(user, request, Some(request_id), |c| {
                asked.store(true, Ordering::Relaxed);
                on_consent(c);
            })
            .await;
        let reply = match outcome {
            Ok(result) => ChatReply::Result { id, result },
            Err(e) => e.into_reply(id),
        };
        if asked.load(Ordering::Relaxed) {
            let record = RequestRecord {
                user: user.to_owned(),
                status: RequestStatus::Finished {
                    reply: serde_json::to_string(&reply).unwrap_or_default(),
                },
            };
            let ttl = self.config().result_ttl;
            // Should the store fail now, this replica still answers from memory, and the
            // others see the request waiting until its record expires.
            let _ = self.config().pending.put_result(request_id, &record, ttl).await;
        }
        reply
    }

    /// Records request `request_id` of `user` as waiting for the consent of `state`, for the
    /// consent's time plus the result's.
    pub(super) async fn put_waiting(
        &self,
        user: &str,
        request_id: &str,
        state: &str,
    ) -> Result<(), Error> {
        let record = RequestRecord {
            user: user.to_owned(),
            status: RequestStatus::Waiting { state: state.to_owned() },
        };
        let ttl = self.config().consent_timeout + self.config().result_ttl;
        self.config().pending.put_result(request_id, &record, ttl).await.map_err(Error::Store)
    }

    /// The reply of request `request_id` of `user` from the shared store, waiting up to `wait`
    /// while it is still waiting for consent (on any replica).
    pub(super) async fn poll_shared(
        &self,
        user: &str,
        request_id: &str,
        wait: Duration,
    ) -> ChatReply {
        let deadline = Instant::now() + wait;
        loop {
            let record = match self.config().pending.result(user, request_id).await {
                Ok(Some(record)) if record.user == user => record,
                // The key is the user's own; a record naming another user is as unknown.
                Ok(_) => return unknown(request_id),
                Err(e) => return ChatReply::error(None, ChatCode::StoreUnavailable, e.to_string()),
            };
            if let RequestStatus::Finished { reply } = record.status {
                return serde_json::from_str(&reply).unwrap_or_else(|e| {
                    let m = format!("the stored reply of request {request_id} does not parse: {e}");
                    ChatReply::error(None, ChatCode::Internal, m)
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return ChatReply::Pending { id: None, request_id: request_id.to_owned() };
            }
            tokio::time::sleep(left.min(POLL_EVERY)).await;
        }
    }

    /// Cancels the consent request `request_id` of `user` waits for (module docs), and answers
    /// with how the request ended: `oauth_cancelled`, or its reply when it had finished already
    /// (or the callback came first). Another user's request id is unknown.
    pub async fn cancel(&self, user: &str, request_id: &str) -> ChatReply {
        let pending = &self.config().pending;
        let state = match pending.result(user, request_id).await {
            Ok(Some(record)) if record.user == user => match record.status {
                RequestStatus::Waiting { state } => state,
                RequestStatus::Finished { .. } => {
                    return self.poll(user, request_id, Duration::ZERO).await
                }
            },
            Ok(_) => return unknown(request_id),
            Err(e) => return ChatReply::error(None, ChatCode::StoreUnavailable, e.to_string()),
        };
        match pending.take_pending(&state).await {
            Ok(Some(record)) => {
                let outcome = ConsentOutcome::Failed {
                    code: CANCELLED.to_owned(),
                    message: "the consent was cancelled (its window was closed); send the \
                              request again to get a new link"
                        .to_owned(),
                };
                let ttl = self.config().consent_timeout;
                let stored = pending.put_outcome(&state, &outcome, ttl).await;
                crate::log::server::consent_ended(user, &record.server, &state, &outcome);
                publish(&self.inner, &state, outcome);
                if let Err(e) = stored {
                    return ChatReply::error(None, ChatCode::StoreUnavailable, e.to_string());
                }
            }
            // The callback took it first (or it expired): the consent ends as that says.
            Ok(None) => {}
            Err(e) => return ChatReply::error(None, ChatCode::StoreUnavailable, e.to_string()),
        }
        self.poll(user, request_id, CANCEL_WAIT).await
    }

    /// Answers a WebSocket [`Control`] message of `user`: `resume` waits for the request's
    /// reply (as long as it waits for consent), `cancel` cancels it. The answer carries the
    /// message's `id` when it has one, else the request's.
    pub async fn control(&self, user: &str, control: Control) -> ChatReply {
        let (id, reply) = match control {
            Control::Resume { id, request_id } => {
                let reply = loop {
                    let wait = self.config().consent_timeout.max(Duration::from_secs(1));
                    match self.poll(user, &request_id, wait).await {
                        ChatReply::Pending { .. } => continue,
                        done => break done,
                    }
                };
                (id, reply)
            }
            Control::Cancel { id, request_id } => (id, self.cancel(user, &request_id).await),
        };
        match id {
            Some(id) => reply.with_id(Some(id)),
            None => reply,
        }
    }
}
