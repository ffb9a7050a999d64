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
use switchboard_routing::publish::{self, Document};
use tokio::sync::Mutex;
use tracing::warn;

use super::Context;

/// How often the remembered tables are checked against Redis. The folder operator checks as
/// often ([`crate::folder::REPUBLISH`]).
pub const CHECK_EVERY: Duration = crate::folder::REPUBLISH;

/// The tables live in Redis, by number, with the PhoneNumber that published each.
#[derive(Debug, Default)]
pub struct LiveTables(Mutex<Tables>);

#[derive(Debug, Default)]
struct Tables {
    by_number: BTreeMap<String, Live>,
    /// The number each PhoneNumber (namespace, name) has a table for.
    by_owner: BTreeMap<(String, String), String>,
}

/// A table as it is written (its JSON, not the parsed table: about a third of the memory,
/// and what a restore writes), with its owner.
#[derive(Debug)]
struct Live {
    owner: ObjectReference,
    revision: String,
    json: String,
}

fn owner_key(owner: &ObjectReference) -> (String, String) {
    (
        owner.namespace.clone().unwrap_or_default(),
        owner.name.clone().unwrap_or_default(),
    )
}

impl Tables {
    fn insert(&mut self, owner: ObjectReference, number: &str, revision: &str, json: String) {
        let key = owner_key(&owner);
        // The owner's number changed: its old table is no longer this owner's to keep.
        if let Some(previous) = self.by_owner.insert(key.clone(), number.to_string())
            && previous != number
            && self
                .by_number
                .get(&previous)
                .is_some_and(|l| owner_key(&l.owner) == key)
        {
            self.by_number.remove(&previous);
        }
        let replaced = self.by_number.insert(
            number.to_string(),
            Live {
                owner,
                revision: revision.to_string(),
                json,
            },
        );
        // Another owner had this number: it no longer has a table here.
        if let Some(other) = replaced.map(|l| owner_key(&l.owner))
            && other != key
            && self.by_owner.get(&other).is_some_and(|n| n == number)
        {
            self.by_owner.remove(&other);
        }
    }

    fn remove(&mut self, number: &str) {
        if let Some(l) = self.by_number.remove(number) {
            let key = owner_key(&l.owner);
            if self.by_owner.get(&key).is_some_and(|n| n == number) {
                self.by_owner.remove(&key);
            }
        }
    }
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
        let json = table.to_json();
        self.0
            .lock()
            .await
            .insert(owner, &table.number, &table.revision, json);
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
        if self.0.lock().await.by_number.contains_key(number) {
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
        let Some(json) = json else {
            return false;
        };
        match RoutingTable::from_json(&json) {
            Ok(t) if t.revision == revision => {}
            _ => return false,
        }
        let mut live = self.0.lock().await;
        if live.by_number.contains_key(number) {
            return false;
        }
        live.insert(owner, number, revision, json);
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
        let tables: Vec<Document<'_>> = live
            .by_number
            .iter()
            .map(|(number, l)| Document {
                number,
                revision: &l.revision,
                json: &l.json,
            })
            .collect();
        let written = publish::restore(c, &tables).await?;
        Ok(written
            .into_iter()
            .filter_map(|n| {
                live.by_number.get(&n).map(|l| Restored {
                    owner: l.owner.clone(),
                    revision: l.revision.clone(),
                    number: n,
                })
            })
            .collect())
    }

    /// The numbers remembered, in order.
    pub async fn numbers(&self) -> Vec<String> {
        self.0.lock().await.by_number.keys().cloned().collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str) -> ObjectReference {
        ObjectReference {
            namespace: Some("oncall".into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_phone_number_keeps_one_table_and_loses_its_old_number_when_it_changes() {
        let mut t = Tables::default();
        t.insert(owner("a"), "+1555", "r1", "{}".into());
        t.insert(owner("a"), "+1555", "r2", "{}".into());
        assert_eq!(t.by_number["+1555"].revision, "r2");
        t.insert(owner("a"), "+1666", "r3", "{}".into());
        assert_eq!(t.by_number.keys().collect::<Vec<_>>(), ["+1666"]);
        // Another PhoneNumber takes +1666: a's later change must not remove b's table.
        t.insert(owner("b"), "+1666", "r4", "{}".into());
        t.insert(owner("a"), "+1777", "r5", "{}".into());
        assert_eq!(t.by_number.keys().collect::<Vec<_>>(), ["+1666", "+1777"]);
        assert_eq!(t.by_number["+1666"].revision, "r4");
        t.remove("+1666");
        assert_eq!(t.by_number.keys().collect::<Vec<_>>(), ["+1777"]);
        assert_eq!(t.by_owner.len(), 1);
    }
}
