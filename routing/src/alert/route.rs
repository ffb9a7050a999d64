//! Where a call's alert goes, fixed when the call comes in, and its shared serialized form.

use super::*;

/// Where a call's alert goes, fixed when the call comes in (a policy edited mid-call does not
/// move an alert that was already raised).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AlertRoute {
    /// The targets.
    pub targets: Vec<NotificationTarget>,
    /// When to trigger and resolve.
    #[serde(default)]
    pub alerting: Alerting,
    /// The PhoneNumber that owns the hotline (its Twilio credentials forward texts).
    pub owner: ObjectName,
    /// The Twilio account of the hotline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
}

impl AlertRoute {
    /// The route of alerts raised through `table`'s hotline: its policy's targets and
    /// alerting settings, and the number's owner and account. `RoutingTable::alert_route`
    /// builds it once per table.
    pub fn of(table: &RoutingTable) -> AlertRoute {
        AlertRoute {
            targets: table.policy.notifications.clone(),
            alerting: table.policy.alerting.clone(),
            owner: table.owner.clone(),
            account_sid: table.account_sid.clone(),
        }
    }
}

/// An alert route shared by everything that carries it, with its JSON written once. A call's
/// state and its alert snapshot both hold the route, and every call of one table revision has
/// the same one: serialized each time, the targets were the largest part of writing a call.
/// It serializes as the route itself (serde_json writes the stored text), so the documents
/// are the same as with a plain [`AlertRoute`].
#[derive(Clone)]
pub struct SharedRoute(pub(crate) Arc<(AlertRoute, Box<RawValue>)>);

impl SharedRoute {
    /// Wraps `route`, writing its JSON.
    pub fn new(route: AlertRoute) -> SharedRoute {
        let json = serde_json::value::to_raw_value(&route).expect("a route always serializes");
        SharedRoute(Arc::new((route, json)))
    }
}

impl From<AlertRoute> for SharedRoute {
    fn from(route: AlertRoute) -> SharedRoute {
        SharedRoute::new(route)
    }
}

impl std::ops::Deref for SharedRoute {
    type Target = AlertRoute;
    fn deref(&self) -> &AlertRoute {
        &self.0.0
    }
}

impl PartialEq for SharedRoute {
    fn eq(&self, other: &SharedRoute) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.0 == other.0.0
    }
}

impl Eq for SharedRoute {}

impl std::fmt::Debug for SharedRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.0.fmt(f)
    }
}

impl Serialize for SharedRoute {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.1.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedRoute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SharedRoute, D::Error> {
        AlertRoute::deserialize(d).map(SharedRoute::new)
    }
}
