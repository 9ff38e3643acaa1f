//! Signatures this process already knows to be good: each (public key, signature,
//! signed bytes) it verified, or made itself, remembered by a BLAKE3 hash of the three
//! (so a hit is exactly a triple that verified: another payload, key or signature is
//! another hash), for a while.
//!
//! Why: an Ed25519 verification costs about 40 µs here (`benches/run`), and the same
//! event is verified again by every list of a process (a gateway serving many tenants,
//! a test or a benchmark with a thousand lists: 1,000 × 40 µs per revocation on two
//! cores, 40 ms), and by the daemon's own replica, which applies every event the
//! daemon just signed. A hit costs one hash of about 400 bytes (0.4 µs) and a lock.
//! The first verification of a triple is never skipped.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Triples remembered: a few seconds of the fastest ingest; older ones are verified
/// again if they come back (a reload).
const CAPACITY: usize = 16_384;

#[derive(Default)]
struct Memo {
    known: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

fn memo() -> &'static Mutex<Memo> {
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    MEMO.get_or_init(Mutex::default)
}

fn hash(public_key: &[u8; 32], signature: &[u8], input: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"veto.v1.known-good-signature\0");
    hasher.update(public_key);
    hasher.update(&(signature.len() as u64).to_le_bytes());
    hasher.update(signature);
    hasher.update(input);
    *hasher.finalize().as_bytes()
}

/// Whether `signature` by `public_key` over `input` is known good.
pub(crate) fn is_known(public_key: &[u8; 32], signature: &[u8], input: &[u8]) -> bool {
    let hash = hash(public_key, signature, input);
    memo()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .known
        .contains(&hash)
}

/// Remembers that `signature` by `public_key` over `input` is good (it verified, or
/// this process made it with the key's seed).
pub fn remember(public_key: &[u8; 32], signature: &[u8], input: &[u8]) {
    let hash = hash(public_key, signature, input);
    let mut memo = memo().lock().unwrap_or_else(PoisonError::into_inner);
    if memo.known.insert(hash) {
        memo.order.push_back(hash);
    }
    while memo.order.len() > CAPACITY {
        if let Some(oldest) = memo.order.pop_front() {
            memo.known.remove(&oldest);
        }
    }
}
