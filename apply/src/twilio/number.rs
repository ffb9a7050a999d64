//! Making a PhoneNumber's Twilio number what the object asks for, and letting it go.
//!
//! ```text
//!   spec.number ─► find it ─► drift? configure (an event names the corrected fields)
//!   spec.purchase ─► status.sid? ─► get it ─► drift? configure
//!                 └► no intent in status? ─► RecordIntent (status is written first)
//!                 └► intent recorded ─► a number already marked with it? adopt it
//!                                     └► search ─► buy the first, marked with the intent
//!   delete ─► ours and releaseOnDelete? release : still pointing at us? detach (Twilio's defaults)
//! ```
//!
//! The purchase intent (a friendly name unique to the object) is written to status before the
//! purchase and put on the number as it is bought, so an operator that crashes between buying
//! and recording the result finds the number again instead of buying a second one.

use switchboard_crds::phone_number::{NumberType, Purchase};

use super::client::{Client, IncomingNumber, NumberSettings, Search, TwilioError};

/// The webhook settings that point a number at the webhook server at `public_url`.
pub fn settings_for(public_url: &str) -> NumberSettings {
    let base = public_url.trim_end_matches('/');
    NumberSettings {
        voice_url: format!("{base}/twilio/voice"),
        voice_fallback_url: format!("{base}/twilio/voice/fallback"),
        status_callback: format!("{base}/twilio/voice/status"),
        sms_url: format!("{base}/twilio/sms"),
    }
}

/// The purchase intent (friendly name) of an object: unique per object, readable in the console.
pub fn purchase_marker(namespace: &str, name: &str, uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(12).collect();
    format!("switchboard {namespace}/{name} {short}")
}

/// What the status records of the number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// Twilio's SID of the number.
    pub sid: Option<String>,
    /// Whether Switchboard bought it.
    pub purchased: bool,
    /// The recorded purchase intent.
    pub purchase_intent: Option<String>,
}

/// The result of [`ensure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ensured {
    /// Record this purchase intent in status, then reconcile again; nothing was bought.
    RecordIntent(String),
    /// The number exists and points at Switchboard.
    Ready {
        /// The number, as configured.
        number: IncomingNumber,
        /// Switchboard bought it (now or before).
        purchased: bool,
        /// Bought in this call.
        bought: bool,
        /// Webhook fields that were changed (empty when already right).
        changed: Vec<&'static str>,
    },
}

/// Why a number cannot be made ready.
#[derive(Debug, thiserror::Error)]
pub enum NumberError {
    /// Twilio failed.
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    /// `spec.number` is not in the account.
    #[error(
        "the Twilio account has no number {0}: set spec.number to a number the account owns, or use spec.purchase"
    )]
    NotInAccount(String),
    /// Nothing for sale matches the filters.
    #[error(
        "Twilio has no {kind} numbers for sale in {country}{filters}: loosen spec.purchase (areaCode, contains)"
    )]
    NoneAvailable {
        /// Number type.
        kind: &'static str,
        /// Country.
        country: String,
        /// The filters, readable.
        filters: String,
    },
}

impl NumberError {
    /// Whether to retry with backoff rather than wait for a change to the object.
    pub fn is_transient(&self) -> bool {
        match self {
            NumberError::Twilio(e) => e.is_transient(),
            NumberError::NotInAccount(_) | NumberError::NoneAvailable { .. } => false,
        }
    }
}

fn kind(t: NumberType) -> &'static str {
    match t {
        NumberType::Local => "Local",
        NumberType::TollFree => "TollFree",
        NumberType::Mobile => "Mobile",
    }
}

async fn configured(
    client: &Client,
    n: IncomingNumber,
    settings: &NumberSettings,
) -> Result<(IncomingNumber, Vec<&'static str>), TwilioError> {
    let changed = settings.drift(&n);
    if changed.is_empty() {
        return Ok((n, changed));
    }
    let n = client.configure(&n.sid, settings).await?;
    Ok((n, changed))
}

/// Makes the number exist and point at Switchboard (see the module notes).
pub async fn ensure(
    client: &Client,
    number: Option<&str>,
    purchase: Option<&Purchase>,
    known: &Known,
    marker: &str,
    settings: &NumberSettings,
) -> Result<Ensured, NumberError> {
    if let Some(e164) = number {
        let n = client
            .find_number(e164)
            .await?
            .ok_or_else(|| NumberError::NotInAccount(e164.to_string()))?;
        let (n, changed) = configured(client, n, settings).await?;
        return Ok(Ensured::Ready {
            number: n,
            purchased: false,
            bought: false,
            changed,
        });
    }
    let Some(purchase) = purchase else {
        // The CRD's CEL rule makes this impossible; treat it like a missing number.
        return Err(NumberError::NotInAccount("(none given)".into()));
    };
    if let Some(sid) = &known.sid
        && let Some(n) = client.get_number(sid).await?
    {
        let (n, changed) = configured(client, n, settings).await?;
        return Ok(Ensured::Ready {
            number: n,
            purchased: known.purchased,
            bought: false,
            changed,
        });
    }
    let Some(intent) = &known.purchase_intent else {
        return Ok(Ensured::RecordIntent(marker.to_string()));
    };
    if let Some(n) = client
        .find_by_friendly_name(intent)
        .await?
        .into_iter()
        .next()
    {
        // Bought before a crash (or a lost status write): adopt it, never buy again.
        let (n, changed) = configured(client, n, settings).await?;
        return Ok(Ensured::Ready {
            number: n,
            purchased: true,
            bought: false,
            changed,
        });
    }
    let search = Search {
        country: purchase.country.clone(),
        kind: kind(purchase.number_type),
        area_code: purchase.area_code,
        contains: purchase.contains.clone(),
    };
    let Some(candidate) = client.search(&search).await?.into_iter().next() else {
        let mut filters = String::new();
        if let Some(a) = search.area_code {
            filters.push_str(&format!(" with area code {a}"));
        }
        if let Some(c) = &search.contains {
            filters.push_str(&format!(" containing {c}"));
        }
        return Err(NumberError::NoneAvailable {
            kind: search.kind,
            country: search.country,
            filters,
        });
    };
    let n = client
        .buy(&candidate.phone_number, intent, settings)
        .await?;
    Ok(Ensured::Ready {
        number: n,
        purchased: true,
        bought: true,
        changed: vec![],
    })
}

/// What [`release_or_detach`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LetGo {
    /// Released back to Twilio.
    Released,
    /// Kept, with Twilio's default webhooks put back.
    Detached,
    /// Kept unchanged: it no longer points at Switchboard, or it is gone already.
    Untouched,
}

/// On delete: release a number Switchboard bought when asked to, otherwise point it away
/// from Switchboard if it still points here.
pub async fn release_or_detach(
    client: &Client,
    number: Option<&str>,
    known: &Known,
    release_on_delete: bool,
    settings: &NumberSettings,
) -> Result<LetGo, TwilioError> {
    let n = match (&known.sid, number) {
        (Some(sid), _) => client.get_number(sid).await?,
        (None, Some(e164)) => client.find_number(e164).await?,
        (None, None) => None,
    };
    let Some(n) = n else {
        return Ok(LetGo::Untouched);
    };
    if release_on_delete && known.purchased {
        client.release(&n.sid).await?;
        return Ok(LetGo::Released);
    }
    if n.voice_url.as_deref() != Some(settings.voice_url.as_str()) {
        return Ok(LetGo::Untouched);
    }
    client
        .configure(&n.sid, &NumberSettings::detached())
        .await?;
    Ok(LetGo::Detached)
}
