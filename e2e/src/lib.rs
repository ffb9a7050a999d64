#![forbid(unsafe_code)]
//! The end-to-end suites live in `tests/` (local) and `cluster.sh` (a real cluster); see
//! the README beside this crate.
