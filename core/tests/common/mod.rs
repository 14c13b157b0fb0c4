//! Support code shared by the integration tests in `tests/`. Cargo builds every file directly in
//! `tests/` as its own test crate; this directory is not a test crate: each test file includes it
//! with `mod common;`.
//!
//! - [`real_world`]: the `fixture!` macro and the helpers of the `real_world_*` tests.
//! - [`strategies`]: the proptest configuration and the URL generators of the `proptest_*`
//!   tests.

// Each test crate uses only part of this module.
#![allow(dead_code)]

pub mod real_world;
pub mod strategies;
