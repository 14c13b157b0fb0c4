//! Scenario tests: the flow driven through whole journeys against the in-memory world.

mod harness;
mod scenarios;
mod security;
