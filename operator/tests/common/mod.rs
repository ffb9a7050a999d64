pub mod fake_twilio;
