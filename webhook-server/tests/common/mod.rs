//! Test harness: a throwaway `redis-server` on a free port, webhook server replicas on
//! loopback sharing a virtual clock, and a simulator wired to them.
#![allow(dead_code)]

pub mod failover;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use jiff::Timestamp;
use switchboard_routing::RoutingTable;
use switchboard_sim::Simulator;
use switchboard_webhook::store::{RedisStore, Retention};
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

pub const ACCOUNT: &str = "AC0000000000000000000000000000test";
pub const TOKEN: &str = "test-auth-token";
pub const PUBLIC_URL: &str = "https://switchboard.example.com";
pub use switchboard_testkit::fixtures::{
    CALLER, HOTLINE, monday_10am, support_hotline_table as table,
};
pub const FALLBACK_NUMBER: &str = "+15005550006";

/// The hotline's table compiled from `examples/`.
/// A throwaway redis-server (see `switchboard_testkit`).
pub use switchboard_testkit::RedisServer as Redis;

/// A store on `redis`.
pub fn store_on(redis: &Redis) -> Store {
    Store::redis(
        RedisStore::connect(&redis.url, Duration::from_millis(500)).unwrap(),
        Retention::default(),
    )
}

/// Running replicas and what drives them.
pub struct Cluster {
    pub redis: Redis,
    pub clock: Arc<AtomicI64>,
    pub replicas: Vec<AppState>,
    pub targets: Vec<String>,
}

impl Cluster {
    /// `replicas` servers on one fresh Redis holding the hotline table, clocks at `at`.
    pub async fn start(replicas: usize, at: Timestamp) -> Cluster {
        Self::with_table(replicas, at, table()).await
    }

    pub async fn with_table(replicas: usize, at: Timestamp, table: RoutingTable) -> Cluster {
        let redis = Redis::start();
        store_on(&redis).put_table(&table).await.unwrap();
        let clock = Clock::manual(at);
        let Clock::Manual(ms) = &clock else {
            unreachable!()
        };
        let ms = ms.clone();
        let mut states = Vec::new();
        let mut targets = Vec::new();
        for _ in 0..replicas {
            let state = AppState::new(
                store_on(&redis),
                Credentials::fixed([(ACCOUNT.to_string(), AuthToken::new(TOKEN))]),
                PUBLIC_URL,
                Fallback {
                    number: Some(FALLBACK_NUMBER.to_string()),
                    ..Fallback::default()
                },
                clock.clone(),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            targets.push(format!("http://{}", listener.local_addr().unwrap()));
            let router = app(state.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            states.push(state);
        }
        Cluster {
            redis,
            clock: ms,
            replicas: states,
            targets,
        }
    }

    pub fn simulator(&self) -> Simulator {
        let mut sim = Simulator::new(
            PUBLIC_URL,
            self.targets.clone(),
            ACCOUNT,
            TOKEN,
            self.clock.clone(),
        );
        sim.fallback_path = Some("/twilio/voice/fallback".into());
        sim
    }

    pub fn store(&self) -> Store {
        store_on(&self.redis)
    }
}
