//! The console's live feed: every change the daemon's replica applies (a rule, a lift,
//! a rule that arrived expired), as the overview shows it, fanned out to the open
//! event streams over a `tokio::sync::broadcast` channel and kept in a short ring for
//! the next page load.
//!
//! It is an [`Observer`] next to the listing index (see [`crate::fanout`]), so it sees
//! exactly what services see, in stream order. Observers run on the list's writer
//! task, so `observe` only formats a line, pushes it on the ring and sends it; a slow
//! browser lags its own receiver (and is told to reload), never the list.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use veto_client::{Change, Observer};
use veto_proto::{RuleKind, UnixSeconds};

/// How many changes a new page load shows.
pub const RECENT_CHANGES: usize = 20;
/// How many changes a slow event stream may fall behind before it is told it lagged.
const CHANNEL_CAPACITY: usize = 256;

/// One applied change, ready to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveChange {
    /// Its stream sequence.
    pub sequence: u64,
    /// `revoked`, `lifted` or `expired`.
    pub action: &'static str,
    /// The rule kind.
    pub kind: RuleKind,
    /// The claim value (none for `all`, and unknown for an expired arrival).
    pub value: Option<String>,
    /// The issuer scope.
    pub iss: Option<String>,
    /// Who did it, as the event says.
    pub by: Option<String>,
    /// One line for people: what the overview lists.
    pub text: String,
}

impl LiveChange {
    fn new(
        sequence: u64,
        action: &'static str,
        kind: RuleKind,
        value: Option<&str>,
        iss: Option<&str>,
        by: Option<&str>,
    ) -> LiveChange {
        let mut text = format!("#{sequence} {action} {kind}");
        if let Some(value) = value {
            text.push_str(&format!(" “{value}”"));
        }
        if let Some(iss) = iss {
            text.push_str(&format!(" at issuer {iss}"));
        }
        if let Some(by) = by {
            text.push_str(&format!(" by {by}"));
        }
        LiveChange {
            sequence,
            action,
            kind,
            value: value.map(str::to_owned),
            iss: iss.map(str::to_owned),
            by: by.map(str::to_owned),
            text,
        }
    }

    /// The line for a change that changed what is held; none for the rest (an event
    /// out of place, a message that was not applied).
    fn of(change: &Change<'_>) -> Option<LiveChange> {
        Some(match *change {
            Change::Rule { applied, .. } | Change::Lift { applied, .. } if !applied.changed() => return None,
            Change::Ignored { .. } => return None,
            Change::Rule { rule, sequence, .. } => LiveChange::new(
                sequence,
                "revoked",
                rule.kind,
                rule.value.as_deref(),
                rule.iss.as_deref(),
                rule.revoked_by.as_deref(),
            ),
            Change::Lift { lift, sequence, .. } => LiveChange::new(
                sequence,
                "lifted",
                lift.kind,
                lift.value.as_deref(),
                lift.iss.as_deref(),
                lift.lifted_by.as_deref(),
            ),
            Change::Expired { kind, sequence, .. } => {
                LiveChange::new(sequence, "expired", kind, None, None, None)
            }
        })
    }
}

/// Fans applied changes out to the console's event streams.
#[derive(Debug)]
pub struct ChangeFeed {
    sender: broadcast::Sender<LiveChange>,
    recent: Mutex<VecDeque<LiveChange>>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed::new()
    }
}

impl ChangeFeed {
    /// A feed nobody listens to yet.
    pub fn new() -> ChangeFeed {
        ChangeFeed {
            sender: broadcast::Sender::new(CHANNEL_CAPACITY),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_CHANGES)),
        }
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveChange> {
        self.sender.subscribe()
    }

    /// The last [`RECENT_CHANGES`] changes, newest first.
    pub fn recent(&self) -> Vec<LiveChange> {
        let recent = self.recent.lock().unwrap_or_else(|poison| poison.into_inner());
        recent.iter().rev().cloned().collect()
    }
}

impl Observer for ChangeFeed {
    fn observe(&self, change: &Change<'_>) {
        let Some(line) = LiveChange::of(change) else {
            return;
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|poison| poison.into_inner());
            if recent.len() == RECENT_CHANGES {
                recent.pop_front();
            }
            recent.push_back(line.clone());
        }
        // No receiver (no overview open) is the common case, not an error.
        let _ = self.sender.send(line);
    }

    fn sweep(&self, _now: UnixSeconds) {}
}

#[cfg(test)]
mod tests {
    use veto_proto::{Lift, RevocationRule};

    use super::*;

    #[test]
    fn changes_reach_subscribers_and_the_ring_keeps_the_newest() {
        let feed = ChangeFeed::new();
        let mut receiver = feed.subscribe();
        for sequence in 1..=30u64 {
            let rule = RevocationRule::jti(
                &format!("t-{sequence}"),
                Some("https://idp"),
                UnixSeconds(i64::MAX),
            )
            .revoked(UnixSeconds::now(), Some("key:admin"), None);
            feed.observe(&Change::Rule {
                rule: &rule,
                digest: rule.digest(),
                sequence,
                applied: veto_proto::Applied::New,
            });
        }
        let lift = Lift {
            kind: RuleKind::Jti,
            value: Some("t-30".into()),
            iss: None,
            reason: None,
            lifted_by: Some("key:admin".into()),
            lifted_at: UnixSeconds::now(),
            rule_expires_at: Some(UnixSeconds(i64::MAX)),
        };
        feed.observe(&Change::Lift {
            lift: &lift,
            digest: lift.digest(),
            sequence: 31,
            applied: veto_proto::Applied::Lifted,
        });
        let first = receiver.try_recv().unwrap();
        assert_eq!(
            first.text,
            "#1 revoked jti “t-1” at issuer https://idp by key:admin"
        );
        let recent = feed.recent();
        assert_eq!(recent.len(), RECENT_CHANGES);
        assert_eq!(recent[0].text, "#31 lifted jti “t-30” by key:admin");
        assert_eq!(recent[RECENT_CHANGES - 1].sequence, 12);
    }
}
