//! Scenario tests: the flow driven through whole journeys against the in-memory world.

pub(crate) mod harness;
mod migration;
mod scenarios;
mod security;
