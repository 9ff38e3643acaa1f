//! veto-client against a real nats-server: one test binary, a module per concern.

mod agreement;
mod history;
mod jwks;
mod layer;
mod model;
mod options;
mod outages;
mod presence;
mod signing;
mod snapshot;
mod support;
