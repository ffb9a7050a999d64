#![forbid(unsafe_code)]
//! `switchboard-operator`: parses its configuration, sets up logs, runs.

use clap::Parser;
use switchboard_operator::run::{Config, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    switchboard_process::logging(config.common.log_format);
    switchboard_process::install_tls_provider();
    run(config).await
}
