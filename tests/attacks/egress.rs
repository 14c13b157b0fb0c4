//! Attack tests: egress.
