//! `mcp-oauth-wasm`: the WebAssembly build of mcp-oauth for browsers and Node, published as the
//! npm package `mcp-oauth` (see `pkg/`).
//!
//! A thin, sans-IO layer over `mcp-oauth-core`: every protocol decision is the core's, and this
//! crate imports nothing from the package's JavaScript. The JS host (`pkg/src/`: `McpOAuth`,
//! `McpOAuthHeadless`, fetch, storage, windows, the clock, `crypto.getRandomValues`) imports
//! this module's bindings and drives [`Flow`] with one drain loop.
//!
//! - [`Flow`] and the step functions in [`steps`]: the core's sans-IO API; `Flow` takes only the
//!   core's configuration, and random bytes as arguments.
//! - `dpop` (feature `dpop`, on by default; the npm package's Node build): `Flow`'s side of the
//!   DPoP proofs (RFC 9449) `McpOAuth` signs with a WebCrypto key (the core's asynchronous proof
//!   channel, core/src/flow/dpop/host.rs).
//! - `headless` (feature `headless`, on by default; the npm package's Node build): the core's
//!   `HeadlessFlow` (client credentials, cross-app access, service accounts), driven by
//!   `McpOAuthHeadless` (`pkg/src/headless.js`: one drain loop, WebCrypto signing, fetch).
//! - Errors are JS `Error`s named `McpOAuthError` whose `code` is the Rust error code
//!   ([`mcp_oauth_core::Error::code`], or one of [`error::BINDING_CODES`]); the package's
//!   `McpOAuthError` class recognises them.
//!
//! ## Dependencies, and what was chosen instead
//! The design card lists `web-sys`, `gloo-net`, `serde-wasm-bindgen` and `getrandom`. They are
//! not used: every platform call is in the package's hand-written ES modules (`pkg/src/`), and
//! Rust uses only `js-sys`, which keeps the bundle smaller (`web-sys` bindings and `serde` add
//! generated glue and code for each type; serde alone cost 37 KB gzipped in the first
//! measurement, see BENCHMARKS.md) and keeps the DOM code readable JavaScript. `getrandom`
//! would call `crypto.getRandomValues` through its own glue; the host passes the bytes instead.
#![deny(missing_docs)]

#[cfg(feature = "dpop")]
mod dpop;
pub mod error;
#[cfg(feature = "headless")]
pub mod headless;
mod io;
mod options;
pub mod steps;

pub use mcp_oauth_core as core;
pub use steps::Flow;

/// The allocator of the wasm build: a free list (`lol_alloc`, coalescing adjacent free blocks;
/// allocation and freeing are linear in the free list's length) instead of the standard
/// library's dlmalloc, for size: 3.3 KB less gzipped wasm (BENCHMARKS.md). The flows here make a
/// few thousand small, short-lived allocations per HTTP exchange, so the list stays short;
/// `tests/common/mod.rs` checks it under a mixed load.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());
