//! Attack tests: server.
