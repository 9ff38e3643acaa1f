//! Console sessions: a credential (API key or admin JWT) is checked once, at sign-in,
//! and exchanged for a random session id in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure`, with the `__Host-` prefix, behind TLS). The credential itself is never
//! kept, so it cannot leak from here; what a session holds is the principal it signed
//! in as, its CSRF token, and (for an admin JWT) the claims a revocation would match,
//! so that revoking the admin's token ends the session too.
//!
//! The store is in memory, bounded (`ui.max_sessions`: signing in beyond it ends the
//! least recently used session) and keyed by the SHA-256 of the session id, so even a
//! dump of the map holds nothing a browser could present. A session ends after
//! `ui.session_idle_timeout` without a request, `ui.session_max_lifetime` after sign-in,
//! or when its admin JWT expires, whichever comes first. A restart signs everyone out,
//! which is the safe direction for an admin console. A `std` mutex guards the map: it
//! is held for one lookup or insert, never across an `.await`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tracing::info;
use veto_proto::UnixSeconds;

use super::settings::UiSettings;
use crate::auth::{Credential, Principal};

/// The session cookie's name over HTTPS: `__Host-` makes the browser refuse it unless
/// it is `Secure`, has `Path=/` and no `Domain`, so no sibling host can plant one.
pub const SESSION_COOKIE_SECURE: &str = "__Host-veto_session";
/// The session cookie's name over plain HTTP (loopback development).
pub const SESSION_COOKIE_PLAIN: &str = "veto_session";
/// The sign-in form's CSRF cookie over HTTPS (double submit: cookie and form field).
pub const SIGNIN_COOKIE_SECURE: &str = "__Host-veto_signin";
/// The sign-in form's CSRF cookie over plain HTTP.
pub const SIGNIN_COOKIE_PLAIN: &str = "veto_signin";

/// 32 random bytes, hex: a session id or a CSRF token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // aws-lc's generator only fails if the operating system's does; then no session
    // may be opened with a guessable id.
    aws_lc_rs::rand::fill(&mut bytes).unwrap_or_else(|_| panic!("the system random generator failed"));
    hex::encode(bytes)
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let (presented, expected) = (presented.as_bytes(), expected.as_bytes());
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The SHA-256 of a session id: what the store is keyed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    fn of(session_id: &str) -> SessionKey {
        SessionKey(Sha256::digest(session_id.as_bytes()).into())
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// A one-shot message shown on the next page (after a redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// Whether it reports success.
    pub success: bool,
    /// The text.
    pub message: String,
}

impl Flash {
    /// A success message.
    pub fn success(message: impl Into<String>) -> Flash {
        Flash {
            success: true,
            message: message.into(),
        }
    }
}

#[derive(Debug)]
struct Session {
    principal: Principal,
    csrf: String,
    credential: Credential,
    last_seen: Instant,
    ends_at: Instant,
    flash: Option<Flash>,
}

/// What a handler learns about its session.
#[derive(Clone, Debug)]
pub struct SessionView {
    /// The store's key for it.
    pub key: SessionKey,
    /// Who signed in.
    pub principal: Principal,
    /// The token every form of this session carries.
    pub csrf: String,
    /// What it was opened with, checked again on every request.
    pub credential: Credential,
}

/// Every open session.
#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<SessionKey, Session>>,
    idle_timeout: Duration,
    max_lifetime: Duration,
    max_sessions: usize,
}

impl SessionStore {
    /// An empty store with the `[ui]` limits.
    pub fn new(settings: &UiSettings) -> SessionStore {
        SessionStore {
            sessions: Mutex::new(HashMap::new()),
            idle_timeout: settings.session_idle_timeout,
            max_lifetime: settings.session_max_lifetime,
            max_sessions: settings.max_sessions,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Session>> {
        self.sessions.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Opens a session for `principal`, signed in with `credential` (an admin JWT's
    /// session ends no later than the token); returns the session id for the cookie.
    pub fn open(&self, principal: Principal, credential: Credential) -> String {
        let ends_within = match &credential {
            Credential::AdminJwt(claims) => Some(Duration::from_secs(
                u64::try_from(claims.exp.0.saturating_sub(UnixSeconds::now().0)).unwrap_or(0),
            )),
            Credential::ApiKey(_) => None,
        };
        self.open_at(Instant::now(), principal, credential, ends_within)
    }

    fn open_at(
        &self,
        now: Instant,
        principal: Principal,
        credential: Credential,
        ends_within: Option<Duration>,
    ) -> String {
        let session_id = random_token();
        let lifetime = ends_within.map_or(self.max_lifetime, |left| left.min(self.max_lifetime));
        let mut sessions = self.lock();
        sessions.retain(|_, session| self.alive(session, now));
        if sessions.len() >= self.max_sessions {
            let least_recent = sessions
                .iter()
                .min_by_key(|(_, session)| session.last_seen)
                .map(|(key, _)| *key);
            if let Some(key) = least_recent {
                sessions.remove(&key);
                info!(
                    max_sessions = self.max_sessions,
                    "console session store full: ended the least recently used session"
                );
            }
        }
        sessions.insert(
            SessionKey::of(&session_id),
            Session {
                principal,
                csrf: random_token(),
                credential,
                last_seen: now,
                ends_at: now + lifetime,
                flash: None,
            },
        );
        session_id
    }

    fn alive(&self, session: &Session, now: Instant) -> bool {
        now < session.ends_at && now.duration_since(session.last_seen) < self.idle_timeout
    }

    /// The session with this id, if it is alive; counts as activity (the idle timeout
    /// starts again). An ended session is forgotten here.
    pub fn touch(&self, session_id: &str) -> Option<SessionView> {
        self.touch_at(Instant::now(), session_id)
    }

    fn touch_at(&self, now: Instant, session_id: &str) -> Option<SessionView> {
        let key = SessionKey::of(session_id);
        let mut sessions = self.lock();
        let session = sessions.get_mut(&key)?;
        if !self.alive(session, now) {
            sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(SessionView {
            key,
            principal: session.principal.clone(),
            csrf: session.csrf.clone(),
            credential: session.credential.clone(),
        })
    }

    /// The session, if it is still alive, without counting as activity (a live event
    /// stream asks this: an open page is not a person at the keyboard).
    pub fn peek(&self, key: SessionKey) -> Option<SessionView> {
        let now = Instant::now();
        self.lock()
            .get(&key)
            .filter(|session| self.alive(session, now))
            .map(|session| SessionView {
                key,
                principal: session.principal.clone(),
                csrf: session.csrf.clone(),
                credential: session.credential.clone(),
            })
    }

    /// Ends a session.
    pub fn close(&self, key: SessionKey) {
        self.lock().remove(&key);
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, key: SessionKey, flash: Flash) {
        if let Some(session) = self.lock().get_mut(&key) {
            session.flash = Some(flash);
        }
    }

    /// Takes the message left for this page, if any.
    pub fn take_flash(&self, key: SessionKey) -> Option<Flash> {
        self.lock().get_mut(&key).and_then(|session| session.flash.take())
    }

    /// How many sessions are held (ended ones may still count until the next sign-in).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;
    use crate::auth::{ApiKeyEntry, Authenticator, Permission, hash_api_key};

    async fn principal(name: &str) -> Principal {
        let key = format!("veto_{name}_key");
        let authenticator = Authenticator::new(
            &[ApiKeyEntry {
                name: name.into(),
                sha256: hash_api_key(&key),
                permissions: vec![Permission::Read],
            }],
            None,
            None,
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
        authenticator.authenticate(&headers).await.unwrap()
    }

    fn store(max_sessions: usize) -> SessionStore {
        SessionStore::new(&UiSettings {
            session_idle_timeout: Duration::from_secs(60),
            session_max_lifetime: Duration::from_secs(600),
            max_sessions,
            ..UiSettings::default()
        })
    }

    #[tokio::test]
    async fn a_session_ends_when_idle_or_old_whichever_comes_first() {
        let store = store(10);
        let start = Instant::now();
        let id = store.open_at(start, principal("a").await, Credential::ApiKey([0; 32]), None);
        let view = store.touch_at(start + Duration::from_secs(59), &id).unwrap();
        assert_eq!(view.principal.name, "key:a");
        assert_eq!(view.csrf.len(), 64);
        // Active every 50 s: alive until the lifetime ends.
        let mut at = start + Duration::from_secs(59);
        while at + Duration::from_secs(50) < start + Duration::from_secs(600) {
            at += Duration::from_secs(50);
            assert!(store.touch_at(at, &id).is_some(), "alive at {:?}", at - start);
        }
        assert!(store.touch_at(start + Duration::from_secs(600), &id).is_none());
        assert!(store.is_empty(), "an ended session is forgotten");

        let id = store.open_at(start, principal("b").await, Credential::ApiKey([0; 32]), None);
        assert!(
            store.touch_at(start + Duration::from_secs(61), &id).is_none(),
            "idle"
        );
    }

    #[tokio::test]
    async fn an_admin_jwt_session_ends_with_the_token() {
        let store = store(10);
        let start = Instant::now();
        let id = store.open_at(
            start,
            principal("a").await,
            Credential::ApiKey([0; 32]),
            Some(Duration::from_secs(30)),
        );
        assert!(store.touch_at(start + Duration::from_secs(29), &id).is_some());
        assert!(store.touch_at(start + Duration::from_secs(31), &id).is_none());
    }

    #[tokio::test]
    async fn the_store_is_bounded_and_ends_the_least_recently_used() {
        let store = store(2);
        let start = Instant::now();
        let first = store.open_at(start, principal("a").await, Credential::ApiKey([0; 32]), None);
        let second = store.open_at(
            start + Duration::from_secs(1),
            principal("b").await,
            Credential::ApiKey([0; 32]),
            None,
        );
        assert!(store.touch_at(start + Duration::from_secs(2), &first).is_some());
        let third = store.open_at(
            start + Duration::from_secs(3),
            principal("c").await,
            Credential::ApiKey([0; 32]),
            None,
        );
        assert_eq!(store.len(), 2);
        let now = start + Duration::from_secs(4);
        assert!(store.touch_at(now, &second).is_none(), "least recently used");
        assert!(store.touch_at(now, &first).is_some());
        assert!(store.touch_at(now, &third).is_some());
        assert!(store.touch_at(now, "not-a-session").is_none());
    }

    #[tokio::test]
    async fn a_flash_is_shown_once_and_secrets_compare_whole() {
        let store = store(2);
        let id = store.open(principal("a").await, Credential::ApiKey([0; 32]));
        let key = store.touch(&id).unwrap().key;
        store.set_flash(key, Flash::success("done"));
        assert_eq!(store.take_flash(key), Some(Flash::success("done")));
        assert_eq!(store.take_flash(key), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd") && !same_secret("ab", "abc") && !same_secret("", "abc"));
        assert_ne!(random_token(), random_token());
    }
}
