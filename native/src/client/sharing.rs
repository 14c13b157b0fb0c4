//! Dynamic registrations shared by every user of one [`ClientOptions`](super::ClientOptions)
//! ([`ClientOptions::shared_registrations`](super::ClientOptions::shared_registrations)): read from and written to the store under the
//! owner's user name, and a gate so that users arriving together register once.

use mcp_oauth_core::flow::AuthFlow;
use mcp_oauth_core::registration::{ClientRegistration, IdentitySource};

use super::OAuthClient;
use crate::store::{StoreKey, StoredEntry};
use crate::Error;

impl OAuthClient {
    /// Adds the dynamic registrations shared by every user ([`ClientOptions::shared_registrations`](super::ClientOptions::shared_registrations))
    /// for the issuers this user has none of (a user's own registration stays: their tokens
    /// were issued to it).
    pub(super) async fn adopt_shared_registrations(
        &self,
        flow: &mut AuthFlow,
    ) -> Result<(), Error> {
        let Some(owner) = &self.opts.shared_registrations else {
            return Ok(());
        };
        for key in self.opts.store.list(owner).await? {
            let Some(entry) = self.opts.store.load(&key).await? else { continue };
            let Some(reg) = entry.registration.filter(|r| r.source == IdentitySource::Dynamic)
            else {
                continue;
            };
            self.sharing.known.store(true, std::sync::atomic::Ordering::Relaxed);
            if flow.registration_for(&reg.issuer).is_none() {
                flow.add_registration(reg);
            }
        }
        Ok(())
    }

    /// With shared registrations, while none is known in this process: the gate that makes
    /// steps that may register run one user at a time, and the flow re-reads the store after
    /// waiting (another user may have registered meanwhile).
    pub(super) async fn registration_gate(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let sharing = self.opts.shared_registrations.is_some()
            && !self.sharing.known.load(std::sync::atomic::Ordering::Relaxed);
        if sharing {
            Some(self.sharing.gate.lock().await)
        } else {
            None
        }
    }

    /// Keeps a new dynamic registration for every user ([`ClientOptions::shared_registrations`](super::ClientOptions::shared_registrations)):
    /// an entry holding only the registration, under (owner, issuer, issuer).
    pub(super) async fn share_registration(
        &self,
        registration: &ClientRegistration,
    ) -> Result<(), Error> {
        let Some(owner) = &self.opts.shared_registrations else {
            return Ok(());
        };
        if registration.source != IdentitySource::Dynamic {
            return Ok(());
        }
        let key = StoreKey {
            user: owner.clone(),
            resource: registration.issuer.clone(),
            issuer: registration.issuer.clone(),
        };
        let entry = StoredEntry { registration: Some(registration.clone()), ..Default::default() };
        self.opts.store.save(&key, &entry).await?;
        self.sharing.known.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
