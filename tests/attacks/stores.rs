//! Attack tests: stores.
