//! The in-memory store (`switchboard simulate`, `switchboard dev` without Redis, unit tests):
//! the Redis layout's contents in maps, for one process. Alerts go into a
//! [`MemoryQueue`] as they go into Redis's due set, for a dispatcher on the same queue
//! (`Store::alert_queue`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use switchboard_routing::queue::MemoryQueue;
use switchboard_routing::{Alert, AlertKind, RoutingTable};

use super::{Commit, MAX_EVENTS, Retention};

/// The in-memory store's contents.
#[derive(Debug, Default)]
pub struct Memory {
    pub(super) tables: HashMap<String, Arc<RoutingTable>>,
    pub(super) calls: HashMap<String, MemoryCall>,
    pub(super) texts: HashMap<String, (String, String)>,
    pub(super) log: VecDeque<String>,
    pub(super) text_log: VecDeque<String>,
    pub(super) alerts: MemoryQueue,
}

#[derive(Debug, Default)]
pub(super) struct MemoryCall {
    pub(super) version: u64,
    pub(super) state: String,
    pub(super) responses: HashMap<String, String>,
    pub(super) events: VecDeque<String>,
}

impl Memory {
    /// `Store::apply` in memory.
    pub(super) fn apply(
        &mut self,
        commit: &Commit<'_>,
        state: &str,
        events: Vec<String>,
        revision_of: Option<&str>,
        retention: Retention,
    ) -> Result<(bool, Option<String>), serde_json::Error> {
        let sid = &commit.state.call_sid;
        let mem = self;
        let revision = revision_of.and_then(|n| mem.tables.get(n).map(|t| t.revision.clone()));
        let call = mem.calls.entry(sid.clone()).or_default();
        if call.version != commit.expected_version {
            return Ok((false, revision));
        }
        call.version += 1;
        call.state = state.to_string();
        call.responses
            .insert(commit.key.to_string(), commit.response.to_string());
        if commit.replace {
            call.events.clear();
        }
        call.events.extend(events);
        while call.events.len() > MAX_EVENTS {
            call.events.pop_front();
        }
        if commit.expected_version == 0 {
            mem.log_call(sid, retention.log_size);
        }
        // As the commit script does: a new snapshot is stored and due; a replaced first
        // decision without one takes the stored one away.
        match commit.alert {
            Some(alert) => mem.put_alert(AlertKind::Call, sid, alert)?,
            None if commit.replace => mem.alerts.remove(AlertKind::Call, sid),
            None => {}
        }
        Ok((true, revision))
    }

    /// `Store::text` in memory.
    pub(super) fn text(
        &mut self,
        sid: &str,
        response: &str,
        record_json: String,
        alert: Option<&Alert>,
        log_size: usize,
    ) -> Result<Option<String>, serde_json::Error> {
        let mem = self;
        if let Some((r, _)) = mem.texts.get(sid) {
            return Ok(Some(r.clone()));
        }
        if let Some(alert) = alert {
            mem.put_alert(AlertKind::Text, sid, alert)?;
        }
        mem.texts
            .insert(sid.to_string(), (response.to_string(), record_json));
        mem.text_log.push_front(sid.to_string());
        while mem.text_log.len() > log_size {
            if let Some(old) = mem.text_log.pop_back() {
                mem.texts.remove(&old);
            }
        }
        Ok(None)
    }

    /// Stores `alert` as the alert of `kind` `sid` and marks it due.
    fn put_alert(
        &mut self,
        kind: AlertKind,
        sid: &str,
        alert: &Alert,
    ) -> Result<(), serde_json::Error> {
        let started = alert.started_at.as_millisecond().max(0) as u64;
        self.alerts
            .put(kind, sid, serde_json::to_string(alert)?, started);
        Ok(())
    }

    fn log_call(&mut self, sid: &str, size: usize) {
        let mem = self;
        mem.log.push_front(sid.to_string());
        while mem.log.len() > size {
            if let Some(old) = mem.log.pop_back() {
                mem.calls.remove(&old);
            }
        }
    }
}
