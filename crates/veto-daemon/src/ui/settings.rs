//! The `[ui]` section: whether the console is served, and how its sessions live.

use std::time::Duration;

use serde::Deserialize;

/// When the session cookie carries `Secure`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookie {
    /// When the request came over TLS, as a reverse proxy tells with
    /// `X-Forwarded-Proto: https` or `Forwarded: proto=https` (vetod itself speaks
    /// plain HTTP). The default.
    #[default]
    Auto,
    /// Always (the console is only ever reached over HTTPS): set this in production.
    Always,
    /// Never (plain HTTP on loopback only).
    Never,
}

/// `[ui]`: the admin console under `/ui`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// Serve the console. Default `true`; `false` leaves `/ui` unrouted (404).
    pub enabled: bool,
    /// A session unused this long ends. Default 15 min.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in however busy it is (and never after the
    /// admin JWT it was opened with expires). Default 8 h.
    #[serde(with = "humantime_serde")]
    pub session_max_lifetime: Duration,
    /// Most sessions held at once; signing in beyond that ends the least recently used
    /// one. Default 1000.
    pub max_sessions: usize,
    /// `Secure` on the session cookie: `auto`, `always` or `never`. Default `auto`.
    pub secure_cookie: SecureCookie,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            enabled: true,
            session_idle_timeout: Duration::from_secs(15 * 60),
            session_max_lifetime: Duration::from_secs(8 * 3600),
            max_sessions: 1000,
            secure_cookie: SecureCookie::Auto,
        }
    }
}

impl UiSettings {
    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.session_idle_timeout.is_zero() && !self.session_max_lifetime.is_zero(),
            "ui.session_idle_timeout and ui.session_max_lifetime must be positive"
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.max_sessions),
            "ui.max_sessions must be between 1 and 1000000"
        );
        Ok(())
    }
}
