//! Waiting: the requests running per user (capped) and the consents waited for, woken by one
//! store watcher per replica (or at once by a callback on the same replica).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::messages::{ChatCode, ChatReply};
use super::{MultiUserServer, RunError, Shared};
use crate::store::ConsentOutcome;

/// The states waited for (outcome channel, number of waiters) and whether the watcher runs.
#[derive(Default)]
pub(super) struct Watched {
    states: HashMap<String, (watch::Sender<Option<ConsentOutcome>>, usize)>,
    running: bool,
}

/// A running request of a user, counted until dropped.
pub(crate) struct Slot {
    shared: Weak<Shared>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else { return };
        let mut running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
        running.1 = running.1.saturating_sub(1);
        if let Some(n) = running.0.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.0.remove(&self.user);
            }
        }
    }
}

/// One waiter of a state, unregistered when dropped.
struct WaitGuard<'a> {
    shared: &'a Shared,
    state: &'a str,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut watched = self.shared.watched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, n)) = watched.states.get_mut(self.state) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                watched.states.remove(self.state);
            }
        }
    }
}

impl MultiUserServer {
    /// Waits for the outcome of `state`'s consent, recorded by whichever replica got the
    /// callback: woken at once by a callback on this replica, otherwise by the one store watcher
    /// of this replica ([`MultiUserServer::watch_store`]).
    pub(super) async fn wait_outcome(&self, state: &str) -> Result<(), RunError> {
        let timeout = self.inner.config.consent_timeout;
        let mut rx = {
            let mut watched = self.inner.watched.lock().unwrap_or_else(|p| p.into_inner());
            let entry = watched
                .states
                .entry(state.to_owned())
                .or_insert_with(|| (watch::channel(None).0, 0));
            entry.1 += 1;
            let rx = entry.0.subscribe();
            if !watched.running {
                watched.running = true;
                tokio::spawn(Self::watch_store(Arc::downgrade(&self.inner)));
            }
            rx
        };
        let _guard = WaitGuard { shared: &self.inner, state };
        let outcome = match tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => outcome.clone(),
            Ok(Err(_)) | Err(_) => None,
        };
        match outcome {
            Some(ConsentOutcome::Authorized) => Ok(()),
            Some(ConsentOutcome::Failed { code, message }) => {
                let code = match code.as_str() {
                    "access_denied" => ChatCode::OauthDenied,
                    super::results::CANCELLED => ChatCode::OauthCancelled,
                    _ => ChatCode::OauthFailed,
                };
                Err(RunError::Consent { code, message })
            }
            None => Err(RunError::Timeout(timeout)),
        }
    }

    /// The store watcher of this replica: every 250 ms, one look per state waited for (however
    /// many requests wait for it); stops when nothing is waited for.
    async fn watch_store(shared: Weak<Shared>) {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Some(inner) = shared.upgrade() else { return };
            let states: Vec<String> = {
                let mut watched = inner.watched.lock().unwrap_or_else(|p| p.into_inner());
                if watched.states.is_empty() {
                    watched.running = false;
                    return;
                }
                watched.states.keys().cloned().collect()
            };
            for state in states {
                // Redis away for a moment: the waiters keep waiting until their deadline.
                if let Ok(Some(outcome)) = inner.config.pending.outcome(&state).await {
                    publish(&inner, &state, outcome);
                }
            }
        }
    }

    /// Counts a running request of `user`; `too_many_requests` past the caps.
    pub(crate) fn slot(&self, user: &str) -> Result<Slot, Box<ChatReply>> {
        let cfg = &self.inner.config;
        let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.1 >= cfg.max_requests_total {
            return Err(Box::new(ChatReply::error(
                None,
                ChatCode::TooManyRequests,
                format!("the server runs {} requests already; retry later", running.1),
            )));
        }
        let mine = running.0.get(user).copied().unwrap_or(0);
        if mine >= cfg.max_requests_per_user {
            return Err(Box::new(ChatReply::error(
                None,
                ChatCode::TooManyRequests,
                format!(
                    "{mine} of your requests are running or waiting for consent (at most {}); \
                     consent or wait for them first",
                    cfg.max_requests_per_user
                ),
            )));
        }
        running.1 += 1;
        *running.0.entry(user.to_owned()).or_insert(0) += 1;
        Ok(Slot { shared: Arc::downgrade(&self.inner), user: user.to_owned() })
    }
}

/// Wakes the waiters of `state` on this replica.
pub(super) fn publish(shared: &Shared, state: &str, outcome: ConsentOutcome) {
    let watched = shared.watched.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((tx, _)) = watched.states.get(state) {
        tx.send_replace(Some(outcome));
    }
}
