//! How a [`crate::RevocationList`] follows the stream and what it does when stale.

use std::sync::Arc;
use std::time::Duration;

use veto_proto::{StreamSettings, VerificationKeys};

use crate::observer::Observer;

/// Which events a list applies.
#[derive(Clone, Debug, Default)]
pub enum EventTrust {
    /// Apply unsigned events (and ignore signatures): development only. The list says
    /// so in its log when it starts.
    #[default]
    AcceptUnsigned,
    /// Apply only events signed by one of these daemon keys; ignore and count the rest
    /// (`veto_client_events_rejected_total{reason="unsigned"|"unknown_key"|"forged"}`).
    SignedBy(VerificationKeys),
}

impl EventTrust {
    /// Verifies (when keys are configured) and decodes one event as the stream holds
    /// it; why not as the stable code the list counts it under
    /// (`veto_client_events_rejected_total{reason}`).
    pub fn open(
        &self,
        subject: &str,
        payload: &[u8],
        key_id: Option<&str>,
        signature: Option<&str>,
    ) -> Result<veto_proto::KeyedEvent, &'static str> {
        if let EventTrust::SignedBy(keys) = self {
            keys.verify(subject, payload, key_id, signature)
                .map_err(|rejection| rejection.code())?;
        }
        veto_proto::Event::decode_keyed(subject, payload).map_err(|error| error.code())
    }
}

/// Where a list loads from when it starts (and when it rebuilds its filters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bootstrap {
    /// The newest snapshot it can verify, then the stream after it; every stored
    /// message when there is none. The default.
    #[default]
    Snapshot,
    /// Every stored message (the daemon's own replica: its index needs every rule in
    /// full, which a snapshot does not carry).
    Replay,
}

/// What [`crate::RevocationList::check`] answers while the list is stale (no daemon
/// tick applied for longer than [`ListConfig::max_staleness`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StalePolicy {
    /// Answer from the list as it is (Allowed or Revoked), count it in
    /// `veto_client_checks_total{verdict="stale_open"}` and log a warning when the
    /// list goes stale. Availability first; the default.
    #[default]
    FailOpen,
    /// Answer [`crate::Verdict::Stale`], which a service should turn into a 503:
    /// revocation first.
    FailClosed,
}

/// Configuration of a [`crate::RevocationList`].
#[derive(Clone, Debug)]
pub struct ListConfig {
    /// The JetStream stream holding the list. Default `VETO`.
    pub stream_name: String,
    /// How old the last applied daemon tick may be before the list counts as stale.
    /// Daemons tick every second. Default 10 s.
    pub max_staleness: Duration,
    /// What checks answer while stale. Default [`StalePolicy::FailOpen`].
    pub stale_policy: StalePolicy,
    /// Told of every change the list applies (the daemon keeps its listing index
    /// this way); services need none. Default none.
    pub observer: Option<Arc<dyn Observer>>,
    /// How often expired rules are dropped from memory. Default 10 s. (A check never
    /// matches an expired rule, swept or not.)
    pub sweep_interval: Duration,
    /// Which events to apply. Default [`EventTrust::AcceptUnsigned`] (development).
    pub trust: EventTrust,
    /// Where to load from. Default [`Bootstrap::Snapshot`].
    pub bootstrap: Bootstrap,
    /// The Object Store bucket holding snapshots. Default `<stream>_SNAPSHOTS`.
    pub snapshot_bucket: Option<String>,
    /// The JetStream domain to read from (a leaf node's own, for a service in a
    /// region); none: the account's.
    pub js_domain: Option<String>,
    /// Who this list reports as on its presence subject ([`crate::presence`]); `None`:
    /// it reports nothing. Default none.
    pub presence: Option<PresenceIdentity>,
    /// How often a reporting list reports when nothing changes (it also reports within
    /// milliseconds of applying a new stream sequence). Default 5 s; 100 ms to 1 h.
    pub presence_heartbeat: Duration,
}

/// Who a list reports as: its service, and this instance of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceIdentity {
    /// The service's name (its NATS user may publish only this service's presence).
    pub service: String,
    /// This instance's id, unique within the service (a pod or host name); a restart
    /// with the same id is the same instance to the daemons.
    pub instance: String,
}

impl Default for ListConfig {
    fn default() -> Self {
        ListConfig {
            stream_name: StreamSettings::DEFAULT_NAME.to_owned(),
            max_staleness: Duration::from_secs(10),
            stale_policy: StalePolicy::FailOpen,
            observer: None,
            sweep_interval: Duration::from_secs(10),
            trust: EventTrust::AcceptUnsigned,
            bootstrap: Bootstrap::Snapshot,
            snapshot_bucket: None,
            js_domain: None,
            presence: None,
            presence_heartbeat: ListConfig::DEFAULT_PRESENCE_HEARTBEAT,
        }
    }
}

impl ListConfig {
    /// The default [`ListConfig::presence_heartbeat`].
    pub const DEFAULT_PRESENCE_HEARTBEAT: Duration = Duration::from_secs(5);

    /// The same configuration, reporting presence as `instance` of `service` on
    /// `veto.presence.v1.<service>.<instance>` (names: 1 to 64 ASCII letters, digits,
    /// `-` or `_`; checked by [`crate::RevocationList::start`]).
    pub fn reporting_as(mut self, service: &str, instance: &str) -> Self {
        self.presence = Some(PresenceIdentity {
            service: service.to_owned(),
            instance: instance.to_owned(),
        });
        self
    }

    /// The same configuration with another presence heartbeat.
    pub fn presence_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.presence_heartbeat = heartbeat;
        self
    }

    /// The same configuration with another stream name.
    pub fn stream_name(mut self, name: &str) -> Self {
        self.stream_name = name.to_owned();
        self
    }

    /// The same configuration with another staleness bound.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// The same configuration with another stale policy.
    pub fn stale_policy(mut self, policy: StalePolicy) -> Self {
        self.stale_policy = policy;
        self
    }

    /// The same configuration, telling `observer` of every change applied.
    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same configuration, applying only events signed by `keys`.
    pub fn signed_by(mut self, keys: VerificationKeys) -> Self {
        self.trust = EventTrust::SignedBy(keys);
        self
    }

    /// The same configuration, loading from `bootstrap`.
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// The same configuration, reading snapshots from `bucket`.
    pub fn snapshot_bucket(mut self, bucket: &str) -> Self {
        self.snapshot_bucket = Some(bucket.to_owned());
        self
    }

    /// The same configuration, reading the stream in JetStream domain `domain`.
    pub fn js_domain(mut self, domain: &str) -> Self {
        self.js_domain = Some(domain.to_owned());
        self
    }

    /// The snapshot bucket's name.
    pub fn snapshot_bucket_name(&self) -> String {
        self.snapshot_bucket
            .clone()
            .unwrap_or_else(|| format!("{}_SNAPSHOTS", self.stream_name))
    }

    /// The same configuration with another sweep interval.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }
}
