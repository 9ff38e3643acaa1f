//! The built `veto` binary against a real nats-server and the real daemon (in process,
//! port 0), over real HTTP: one test binary, a module per group of commands.

mod check;
mod failures;
mod fleet;
mod inspect;
mod readme;
mod rules;
mod status;
mod support;
