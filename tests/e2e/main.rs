//! End-to-end scenarios: the real daemon, real NATS (single node and a 3-node cluster)
//! and many clients. Each scenario is bounded in time, asserts exact sets, and prints a
//! report line (run with `tests/run` to see them).

mod attacker;
mod cluster;
mod cut_off;
mod daemon_sigkill;
mod deploy;
mod fleet;
mod idp_logout;
mod layer;
mod lifts_and_expiry;
mod nats_restarts;
mod propagation;
mod regions;
mod storm;
