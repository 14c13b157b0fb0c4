//! Attack tests: parsers.
