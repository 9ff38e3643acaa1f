//! vetod against a real nats-server over real HTTP: one test binary, a module per concern.

mod api;
mod auth;
mod bad_input;
mod browser;
mod connections;
mod console;
mod fleet;
mod idp;
mod logging;
mod oauth;
mod openapi;
mod outage;
mod shutdown;
mod snapshot;
mod support;
mod trust;
