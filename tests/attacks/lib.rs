//! Shared support of the attack tests (`tests/attacks/*.rs`).
//!
//! Every attack test reads as: the exploit (what an attacker sends or does), then the assertion
//! that it did not work on this code. The table of attacks, with what happened before and after,
//! is in `tests/attacks/README.md`.
