//! Where the server's "now" comes from: the system clock, or a clock a simulation moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// The server's clock.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Real time.
    #[default]
    System,
    /// A clock that only moves when told (milliseconds since the Unix epoch); the simulator
    /// shares it with the server so that a whole call plays out in virtual time.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock showing `at`.
    pub fn manual(at: Timestamp) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(at.as_millisecond())))
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Manual(ms) => Timestamp::from_millisecond(ms.load(Ordering::SeqCst))
                .unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }

    /// Moves a manual clock forward by `seconds` (the system clock moves by itself).
    pub fn advance(&self, seconds: f64) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add((seconds * 1000.0).round() as i64, Ordering::SeqCst);
        }
    }
}
