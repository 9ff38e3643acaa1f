//! A JWKS endpoint as a key source: fetched over HTTPS, cached, refreshed in the
//! background, and refreshed on demand for a `kid` not in the cache.
//!
//! On-demand fetches run one at a time, at most one per
//! [`JwksConfig::unknown_kid_min_interval`] (500 ms by default), and every request with
//! an unknown `kid` waits for the next fetch that *starts* after it looked (one already
//! running may predate the key). So a flood of made-up kids costs the issuer at most two
//! fetches a second, shared by every waiting request, and a real new key is accepted on
//! first sight, at most one interval plus one fetch later. (A long cooldown instead
//! let anyone who sends a made-up kid delay the next real rotation by that long.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::keys::keys_of;
use super::{KeyError, KeySource, ValidatorConfigError, VerificationKey};

/// Where and how often to fetch a JWKS.
#[derive(Clone, Debug)]
pub struct JwksConfig {
    /// The JWKS URL. Must be `https://`, except on a loopback host (tests, sidecars).
    pub url: String,
    /// Refresh interval when the response has no usable `Cache-Control: max-age`. Default 5 min.
    pub default_ttl: Duration,
    /// The shortest refresh interval honoured from `max-age`. Default 1 min.
    pub min_ttl: Duration,
    /// The longest refresh interval honoured from `max-age`. Default 1 day.
    pub max_ttl: Duration,
    /// Unknown `kid`s trigger at most one fetch per this interval (one at a time;
    /// every request waiting shares it), so a flood of made-up kids cannot hammer the
    /// issuer, while a real new key waits at most this long plus one fetch. Default
    /// 500 ms.
    pub unknown_kid_min_interval: Duration,
    /// Timeout of one fetch. Default 5 s.
    pub fetch_timeout: Duration,
}

impl JwksConfig {
    /// Defaults for `url`.
    pub fn new(url: &str) -> JwksConfig {
        JwksConfig {
            url: url.to_owned(),
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(86_400),
            unknown_kid_min_interval: Duration::from_millis(500),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

type KeyMap = HashMap<String, Arc<VerificationKey>>;

#[derive(Debug)]
struct JwksState {
    config: JwksConfig,
    http: reqwest::Client,
    keys: ArcSwap<KeyMap>,
    /// Held during every fetch (background and on demand: one at a time); holds when
    /// the last on-demand fetch started. Background refreshes do not count against the
    /// interval, so a rotation right after one is still picked up at once.
    last_on_demand_fetch: Mutex<Option<Instant>>,
    /// Fetches started (under the lock above): a request that looked for its kid when
    /// this was `n` waits for fetch `n + 1`.
    fetches: AtomicU64,
    last_error: ArcSwap<Option<String>>,
}

/// Keys from a JWKS endpoint. Cheap to clone; the background refresh stops when the
/// last clone is dropped.
#[derive(Clone, Debug)]
pub struct JwksSource {
    inner: Arc<JwksState>,
}

impl JwksSource {
    /// Starts fetching in the background (the first fetch begins at once). Must be
    /// called within a tokio runtime.
    pub fn start(config: JwksConfig) -> Result<JwksSource, ValidatorConfigError> {
        check_url(&config.url)?;
        let http = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .build()
            .map_err(|error| ValidatorConfigError(error.to_string()))?;
        let inner = Arc::new(JwksState {
            config,
            http,
            keys: ArcSwap::from_pointee(HashMap::new()),
            last_on_demand_fetch: Mutex::new(None),
            fetches: AtomicU64::new(0),
            last_error: ArcSwap::from_pointee(None),
        });
        tokio::spawn(refresh_loop(Arc::downgrade(&inner)));
        Ok(JwksSource { inner })
    }

    /// How many fetches were attempted (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// How many keys are cached.
    pub fn key_count(&self) -> usize {
        self.inner.keys.load().len()
    }

    /// Fetches now (no sooner than `unknown_kid_min_interval` after the last on-demand
    /// fetch), and returns how it went.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let mut last_on_demand = self.inner.last_on_demand_fetch.lock().await;
        fetch_on_demand(&self.inner, &mut last_on_demand)
            .await
            .map(|_| ())
    }
}

impl KeySource for JwksSource {
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerificationKey>, KeyError>> {
        Box::pin(async move {
            if let Some(key) = self.inner.keys.load().get(kid) {
                return Ok(Arc::clone(key));
            }
            // Unknown kid: perhaps the issuer rotated. (A failed fetch is answered below,
            // after one more look at the set.)
            refresh_for(&self.inner, kid).await;
            if let Some(key) = self.inner.keys.load().get(kid) {
                return Ok(Arc::clone(key));
            }
            // Not in the set: unknown, if the set is current. If the last fetch failed,
            // the issuer may well have published the kid since: we cannot tell, and that
            // is our failure (answered 503), not the token's.
            if let Some(error) = (**self.inner.last_error.load()).clone() {
                return Err(KeyError::Unavailable(error));
            }
            if self.inner.keys.load().is_empty() {
                return Err(KeyError::Unavailable("not fetched yet".into()));
            }
            Err(KeyError::UnknownKid)
        })
    }
}

/// A JWKS URL must be `https://`, or `http://` on a loopback host, and carry no
/// credentials (the URL is logged). Parsed, not prefix-matched: `http://localhost:@evil.example/`
/// starts like a loopback URL, and its host is `evil.example`.
fn check_url(url: &str) -> Result<(), ValidatorConfigError> {
    let refused = |why: String| ValidatorConfigError(format!("JWKS URL {url:?} {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|error| refused(format!("is not a URL ({error})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused(
            "must not carry credentials (the URL is logged)".to_owned(),
        ));
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        _ => Err(refused(
            "must use https:// (plain http only on a loopback host)".to_owned(),
        )),
    }
}

/// Whether the URL's host is `localhost` or a loopback address.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback()),
        None => false,
    }
}

/// Waits for the next fetch that starts after the caller looked for `kid`, starting it
/// if none does. Runs under the fetch lock, so concurrent callers queue, and each finds
/// on its turn either a fetch that started after it looked (done: nothing to do) or its
/// own to make.
async fn refresh_for(inner: &JwksState, kid: &str) {
    let looked = inner.fetches.load(Ordering::Acquire);
    let mut last_on_demand = inner.last_on_demand_fetch.lock().await;
    if inner.fetches.load(Ordering::Acquire) > looked || inner.keys.load().contains_key(kid) {
        return;
    }
    let _ = fetch_on_demand(inner, &mut last_on_demand).await;
}

/// An on-demand fetch, no sooner than `unknown_kid_min_interval` after the last one;
/// the caller holds the fetch lock (`last_on_demand` is its guard).
async fn fetch_on_demand(
    inner: &JwksState,
    last_on_demand: &mut Option<Instant>,
) -> Result<Duration, KeyError> {
    if let Some(at) = *last_on_demand {
        tokio::time::sleep_until(at + inner.config.unknown_kid_min_interval).await;
    }
    *last_on_demand = Some(Instant::now());
    fetch(inner).await
}

/// One fetch. On success the key set is replaced and the refresh interval returned;
/// on failure the last good set stays.
async fn fetch(inner: &JwksState) -> Result<Duration, KeyError> {
    inner.fetches.fetch_add(1, Ordering::AcqRel);
    let result = async {
        let response = inner
            .http
            .get(&inner.config.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| error.to_string())?;
        let ttl = max_age(response.headers()).map_or(inner.config.default_ttl, |max_age| {
            max_age.clamp(inner.config.min_ttl, inner.config.max_ttl)
        });
        let set: JwkSet = response.json().await.map_err(|error| error.to_string())?;
        let keys = keys_of(&set);
        if keys.is_empty() {
            return Err("the key set has no usable key with a kid".to_owned());
        }
        Ok((keys, ttl))
    }
    .await;
    match result {
        Ok((keys, ttl)) => {
            debug!(url = %inner.config.url, keys = keys.len(), ttl_s = ttl.as_secs(), "fetched JWKS");
            inner.keys.store(Arc::new(keys));
            inner.last_error.store(Arc::new(None));
            Ok(ttl)
        }
        Err(error) => {
            warn!(url = %inner.config.url, %error, cached_keys = inner.keys.load().len(), "JWKS fetch failed; keeping the last good set");
            inner.last_error.store(Arc::new(Some(error.clone())));
            Err(KeyError::Unavailable(error))
        }
    }
}

/// `max-age` of a `Cache-Control` header.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value.split(',').find_map(|directive| {
        let seconds = directive.trim().strip_prefix("max-age=")?;
        seconds.trim_matches('"').parse().ok().map(Duration::from_secs)
    })
}

async fn refresh_loop(inner: Weak<JwksState>) {
    let mut failures = 0u32;
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let wait = {
            // Held only to serialize with on-demand fetches.
            let _serialized = strong.last_on_demand_fetch.lock().await;
            match fetch(&strong).await {
                Ok(ttl) => {
                    failures = 0;
                    ttl
                }
                Err(_) => {
                    // Retry sooner while failing, but never faster than once a second.
                    failures = failures.saturating_add(1);
                    Duration::from_secs(1u64 << failures.min(6)).min(strong.config.default_ttl)
                }
            }
        };
        drop(strong);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_urls() {
        assert!(check_url("https://idp.example/.well-known/jwks.json").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("http://localhost:1/jwks").is_ok());
        assert!(check_url("http://idp.example/jwks").is_err());
        assert!(check_url("http://127.0.0.1.evil.example/jwks").is_err());
        assert!(check_url("http://[::1]:8080/jwks").is_ok());
    }

    #[test]
    fn a_loopback_look_alike_is_parsed_for_its_real_host() {
        for url in [
            "http://localhost:@evil.example/jwks",
            "http://127.0.0.1:@evil.example/jwks",
            "http://localhost@evil.example/jwks",
            "http://[::1]@evil.example/jwks",
            "https://user:secret@idp.example/jwks",
            "file:///etc/jwks.json",
            "localhost/jwks",
        ] {
            assert!(check_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CACHE_CONTROL,
            "public, max-age=600, must-revalidate".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(600)));
        headers.insert(reqwest::header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), None);
    }
}
