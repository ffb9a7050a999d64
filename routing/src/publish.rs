//! Writing routing tables to Redis, the one writer-side use of the key schema (`keys.rs`),
//! shared by the operator and by tests. Behind the `redis` feature; the rest of the crate is pure.
//!
//! ```text
//!   publish:   GET rev ─ same? done
//!              MULTI  SET route:{n} <json>  SET route:{n}:rev <revision>  EXEC   (one slot, atomic)
//!              SADD routes n
//!   unpublish: MULTI DEL route:{n}  SET route:{n}:rev "-" EX 7d EXEC;  SREM routes n
//!              (the "-" tells readers the number is out of service, not that Redis lost it)
//!   restore:   EXISTS route:{n}:rev for every table, in one round trip
//!              for each missing: a script writes the table and its revision only while the
//!              revision is still missing;  SADD routes n
//! ```
//!
//! The table is written whole and becomes current together with its revision in one
//! transaction, so a reader never sees half a table or a table with another's revision.

use redis::aio::ConnectionLike;
use redis::{AsyncCommands, RedisResult};

use crate::{RoutingTable, keys};

/// What `publish` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The table was written (new or changed).
    Written,
    /// Redis already held this revision; nothing was written.
    Unchanged,
}

/// Where routing tables are written: every writer of tables (the controllers and the folder
/// operator through [`Conn`](crate::connect::Conn), `switchboard dev` into the webhook
/// server's in-memory store, tests into a map) goes through this.
pub trait RouteStore: Send {
    /// Makes `table` the live table of its number; `true` when something was written.
    fn publish(
        &mut self,
        table: &RoutingTable,
    ) -> impl Future<Output = Result<bool, String>> + Send;
    /// Removes the table of `number`.
    fn unpublish(&mut self, number: &str) -> impl Future<Output = Result<(), String>> + Send;
}

impl RouteStore for crate::connect::Conn {
    async fn publish(&mut self, table: &RoutingTable) -> Result<bool, String> {
        publish(self, table)
            .await
            .map(|p| p == Published::Written)
            .map_err(|e| e.to_string())
    }

    async fn unpublish(&mut self, number: &str) -> Result<(), String> {
        unpublish(self, number).await.map_err(|e| e.to_string())
    }
}

/// Makes `table` the current table of its number.
pub async fn publish<C: ConnectionLike + Send + Sync>(
    c: &mut C,
    table: &RoutingTable,
) -> RedisResult<Published> {
    let current: Option<String> = c.get(keys::route_revision(&table.number)).await?;
    if current.as_deref() == Some(table.revision.as_str()) {
        // Still make sure the number is in the index (it may have been removed by hand).
        let _: () = c.sadd(keys::routes_index(), &table.number).await?;
        return Ok(Published::Unchanged);
    }
    let _: () = redis::pipe()
        .atomic()
        .set(keys::route(&table.number), table.to_json())
        .ignore()
        .set(keys::route_revision(&table.number), &table.revision)
        .ignore()
        .query_async(c)
        .await?;
    let _: () = c.sadd(keys::routes_index(), &table.number).await?;
    Ok(Published::Written)
}

/// Removes the table of `number`: its calls then hear "not in service".
pub async fn unpublish<C: ConnectionLike + Send + Sync>(
    c: &mut C,
    number: &str,
) -> RedisResult<()> {
    let _: () = redis::pipe()
        .atomic()
        .del(keys::route(number))
        .ignore()
        .set_ex(
            keys::route_revision(number),
            keys::UNPUBLISHED,
            keys::UNPUBLISHED_TTL_SECONDS,
        )
        .ignore()
        .query_async(c)
        .await?;
    let _: () = c.srem(keys::routes_index(), number).await?;
    Ok(())
}

/// A routing table as it is written: its number, its revision and its JSON document
/// ([`RoutingTable::to_json`]), as kept by a writer that may have to write it again.
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    /// The number.
    pub number: &'a str,
    /// The table's revision.
    pub revision: &'a str,
    /// The table's JSON.
    pub json: &'a str,
}

/// Writes again each of `tables` whose number has no table in Redis at all (Redis restarted
/// without persistence, or was flushed), and returns the numbers written. A number whose
/// revision key exists is left alone, whatever revision it names: the table was not lost, and a
/// newer one written meanwhile by a reconcile must not be replaced by an older copy. The check
/// is one round trip for all the tables; the write is a script, so that a table published
/// between the check and the write is not overwritten either.
pub async fn restore<C: ConnectionLike + Send + Sync>(
    c: &mut C,
    tables: &[Document<'_>],
) -> RedisResult<Vec<String>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let mut check = redis::pipe();
    for t in tables {
        check.exists(keys::route_revision(t.number));
    }
    let present: Vec<bool> = check.query_async(c).await?;
    let write_if_missing = redis::Script::new(crate::scripts::RESTORE);
    let mut restored = Vec::new();
    for (t, present) in tables.iter().zip(present) {
        if present {
            continue;
        }
        let written: i64 = write_if_missing
            .key(keys::route(t.number))
            .key(keys::route_revision(t.number))
            .arg(t.json)
            .arg(t.revision)
            .invoke_async(c)
            .await?;
        let _: () = c.sadd(keys::routes_index(), t.number).await?;
        if written == 1 {
            restored.push(t.number.to_string());
        }
    }
    Ok(restored)
}

/// Every number with a published table.
pub async fn published<C: ConnectionLike + Send + Sync>(c: &mut C) -> RedisResult<Vec<String>> {
    let mut numbers: Vec<String> = c.smembers(keys::routes_index()).await?;
    numbers.sort();
    Ok(numbers)
}
