//! Attack tests: client.
