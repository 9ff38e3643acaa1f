//! One module per group of subcommands; each returns a [`crate::Report`].

pub mod check;
pub mod fleet;
pub mod inspect;
pub mod revoke;
pub mod rules;
pub mod status;
