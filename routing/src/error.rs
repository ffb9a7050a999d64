//! Errors of the routing contract.

/// Evaluating a compiled schedule failed. Compiled schedules are checked when they are built,
/// so these only appear for a table written by hand or by a newer operator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// The time zone is not in the bundled tz database.
    #[error(
        "schedule {schedule}: unknown time zone {time_zone:?}: use an IANA name such as Europe/Berlin"
    )]
    UnknownTimeZone {
        /// The schedule.
        schedule: String,
        /// The name that was not found.
        time_zone: String,
    },
    /// A date or time went outside the range the calendar supports (years -9999 to 9999).
    #[error("schedule {schedule}: date out of range while evaluating layer {layer}")]
    OutOfRange {
        /// The schedule.
        schedule: String,
        /// The layer.
        layer: String,
    },
}

/// A routing table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The stored document is not a routing table.
    #[error("routing table is not valid JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The table was written by a newer operator than this reader understands.
    #[error(
        "routing table has schema version {found}; this build reads up to {supported}: upgrade the webhook server"
    )]
    UnsupportedSchema {
        /// Version in the document.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
}
