//! Twilio number configuration: the REST client (`client.rs`, I/O) and the steps that make a
//! PhoneNumber's Twilio number what the object asks for (`number.rs`).

pub mod client;
pub mod number;

pub use client::{Client, Credentials, IncomingNumber, NumberSettings, TwilioError};
