//! The routing tables the PhoneNumber controller published, kept in memory so that a Redis
//! that lost them (restarted without persistence, as the chart's embedded Redis does, or
//! flushed) gets them back within [`CHECK_EVERY`], rather than at each number's resync (5
//! minutes by default) while its callers hear "not in service".
//!
//! ```text
//!   apply, valid:     remember(table) ─► publish
//!   apply, invalid:   adopt(the table Redis holds, if it is status.publishedRevision)
//!   cleanup, policy gone:   forget + unpublish      (under the lock)
//!   every CHECK_EVERY:      restore(remembered)     (under the lock: one EXISTS round trip,
//!                           a write only where the revision key is gone) ─► event, metric
//! ```
//!
//! A table is remembered before it is published, so a check that runs in between writes the
//! new table, never an older one; and the restore script writes nothing where any revision
//! exists, so it never replaces what a reconcile wrote. A number is forgotten and unpublished
//! under the lock a check holds, so a check never writes back a table just removed. An invalid
//! PhoneNumber keeps its last valid table remembered, as it stays live in Redis.
//!
//! Only this process's memory: a restarted operator remembers a number again at its first
//! reconcile, which the controller runs for every PhoneNumber at start; for an invalid one it
//! adopts the table Redis holds when that is the revision its status says was published.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use redis::RedisResult;
use redis::aio::ConnectionLike;
use switchboard_routing::RoutingTable;
use switchboard_routing::publish;
use tokio::sync::Mutex;
use tracing::warn;

use super::Context;

/// How often the remembered tables are checked against Redis. The folder operator checks as
/// often ([`crate::folder::REPUBLISH`]).
pub const CHECK_EVERY: Duration = crate::folder::REPUBLISH;

/// The tables live in Redis, by number, with the PhoneNumber that published each.
#[derive(Debug, Default)]
pub struct LiveTables(Mutex<BTreeMap<String, Live>>);

#[derive(Debug)]
struct Live {
    owner: ObjectReference,
    table: RoutingTable,
}

/// A table written again: whose, which number, which revision.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    /// The PhoneNumber that published it.
    pub owner: ObjectReference,
    /// The number.
    pub number: String,
    /// The revision written.
    pub revision: String,
}

impl LiveTables {
    /// `table` is about to be published by `owner`: from now on it is what Redis must hold for
    /// its number. Another number `owner` published before (its number changed) is forgotten.
    pub async fn remember(&self, owner: ObjectReference, table: &RoutingTable) {
        let mut live = self.0.lock().await;
        live.retain(|n, l| *n == table.number || !same_object(&l.owner, &owner));
        live.insert(
            table.number.clone(),
            Live {
                owner,
                table: table.clone(),
            },
        );
    }

    /// Remembers the table Redis holds for `number` when it is `revision` and nothing is
    /// remembered for the number yet: the last valid table of an invalid PhoneNumber, published
    /// by an earlier operator process, which stays live and so must come back too if Redis
    /// loses it. Whether it was remembered; a Redis that cannot be read now is tried again at
    /// the object's next reconcile.
    pub async fn adopt<C: ConnectionLike + Send + Sync>(
        &self,
        c: &mut C,
        owner: ObjectReference,
        number: &str,
        revision: &str,
    ) -> bool {
        if self.0.lock().await.contains_key(number) {
            return false;
        }
        let json: Option<String> = match redis::cmd("GET")
            .arg(switchboard_routing::keys::route(number))
            .query_async(c)
            .await
        {
            Ok(j) => j,
            Err(_) => return false,
        };
        let Some(table) = json.and_then(|j| RoutingTable::from_json(&j).ok()) else {
            return false;
        };
        if table.revision != revision {
            return false;
        }
        let mut live = self.0.lock().await;
        live.entry(number.to_string())
            .or_insert(Live { owner, table });
        true
    }

    /// Forgets `number` and removes its table from Redis.
    pub async fn unpublish<C: ConnectionLike + Send + Sync>(
        &self,
        c: &mut C,
        number: &str,
    ) -> RedisResult<()> {
        let mut live = self.0.lock().await;
        live.remove(number);
        publish::unpublish(c, number).await
    }

    /// Writes again every remembered table whose number Redis has no table for; returns them.
    pub async fn restore<C: ConnectionLike + Send + Sync>(
        &self,
        c: &mut C,
    ) -> RedisResult<Vec<Restored>> {
        let live = self.0.lock().await;
        let tables: Vec<&RoutingTable> = live.values().map(|l| &l.table).collect();
        let written = publish::restore(c, &tables).await?;
        Ok(written
            .into_iter()
            .filter_map(|n| {
                live.get(&n).map(|l| Restored {
                    owner: l.owner.clone(),
                    revision: l.table.revision.clone(),
                    number: n,
                })
            })
            .collect())
    }

    /// The numbers remembered, in order.
    pub async fn numbers(&self) -> Vec<String> {
        self.0.lock().await.keys().cloned().collect()
    }
}

fn same_object(a: &ObjectReference, b: &ObjectReference) -> bool {
    a.namespace == b.namespace && a.name == b.name
}

/// Checks the remembered tables every [`CHECK_EVERY`] until the process ends.
pub async fn guard(ctx: Arc<Context>) {
    let mut conn = ctx.redis.clone();
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if let Err(e) = check(&ctx, &mut conn).await {
            warn!(error = %e, "cannot check the routing tables in Redis; trying again");
        }
    }
}

/// One check: each table written again is logged, counted and told on its PhoneNumber as a
/// `RoutesRestored` event. Returns how many were written.
pub async fn check<C: ConnectionLike + Send + Sync>(
    ctx: &Context,
    conn: &mut C,
) -> RedisResult<usize> {
    let restored = ctx.live.restore(conn).await?;
    for r in &restored {
        ctx.metrics.restored.inc();
        ctx.metrics.published.inc();
        warn!(
            number = %r.number,
            revision = %r.revision,
            "Redis had lost this routing table (restarted without persistence?): published it again"
        );
        let ev = Event {
            type_: EventType::Warning,
            reason: "RoutesRestored".into(),
            note: Some(format!(
                "Redis had lost routing table {} of {} (restarted without persistence, or flushed); it was written again",
                r.revision, r.number
            )),
            action: "Restore".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &r.owner).await {
            warn!(error = %e, "cannot publish an event");
        }
    }
    Ok(restored.len())
}
