//! Time as an argument: the core reads no clock.
//!
//! The core has no clock. Every call that needs the time takes `now: UnixTime`; expiries are
//! stored as absolute [`UnixTime`] values so that they survive restarts and serialisation.

/// Seconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// This time plus `secs` seconds (saturating).
    pub fn plus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }

    /// This time minus `secs` seconds (saturating at the epoch).
    pub fn minus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(secs))
    }

    /// The seconds as a number.
    pub fn secs(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(UnixTime(u64::MAX).plus(1), UnixTime(u64::MAX));
        assert_eq!(UnixTime(3).minus(5), UnixTime(0));
        assert_eq!(UnixTime(3).plus(5).secs(), 8);
    }
}
