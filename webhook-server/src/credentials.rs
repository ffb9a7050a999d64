//! Twilio auth tokens, by account SID, for checking request signatures.
//!
//! The tokens come from a Kubernetes Secret mounted as a directory: one file per account, named
//! by the AccountSid, holding that account's auth token (`kubectl create secret generic
//! twilio-auth --from-literal=AC0123...=<token>`). They are read from disk, kept in memory,
//! never written to Redis and never logged (`AuthToken`'s `Debug` prints a redaction).
//! When a request names an account not loaded yet, the directory is read again (at most every
//! few seconds), so a rotated or added Secret is picked up without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A Twilio auth token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> AuthToken {
        AuthToken(token.into())
    }

    /// The token, for signing or checking a signature.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Inner {
    tokens: HashMap<String, AuthToken>,
    loaded_at: Option<Instant>,
}

/// The auth tokens the server knows.
#[derive(Clone, Debug)]
pub struct Credentials {
    dir: Option<PathBuf>,
    inner: Arc<RwLock<Inner>>,
}

impl Credentials {
    /// Fixed tokens (tests, the simulator).
    pub fn fixed(tokens: impl IntoIterator<Item = (String, AuthToken)>) -> Credentials {
        Credentials {
            dir: None,
            inner: Arc::new(RwLock::new(Inner {
                tokens: tokens.into_iter().collect(),
                loaded_at: None,
            })),
        }
    }

    /// Tokens read from `dir` (a mounted Secret), now and again when an account is missing.
    pub fn from_dir(dir: &Path) -> std::io::Result<Credentials> {
        let tokens = read_dir(dir)?;
        Ok(Credentials {
            dir: Some(dir.to_path_buf()),
            inner: Arc::new(RwLock::new(Inner {
                tokens,
                loaded_at: Some(Instant::now()),
            })),
        })
    }

    /// Replaces fixed tokens (`switchboard dev` does when the Secrets among its manifests
    /// change).
    pub fn replace(&self, tokens: impl IntoIterator<Item = (String, AuthToken)>) {
        if let Ok(mut inner) = self.inner.write() {
            inner.tokens = tokens.into_iter().collect();
        }
    }

    /// How many accounts have a token.
    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.tokens.len()).unwrap_or(0)
    }

    /// Whether no account has a token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token of `account_sid`, reading the directory again when it is not known yet.
    pub fn token(&self, account_sid: &str) -> Option<AuthToken> {
        if let Some(t) = self
            .inner
            .read()
            .ok()
            .and_then(|i| i.tokens.get(account_sid).cloned())
        {
            return Some(t);
        }
        let dir = self.dir.as_ref()?;
        let mut inner = self.inner.write().ok()?;
        if inner
            .loaded_at
            .is_some_and(|at| at.elapsed() < RELOAD_AT_MOST_EVERY)
        {
            return inner.tokens.get(account_sid).cloned();
        }
        inner.loaded_at = Some(Instant::now());
        match read_dir(dir) {
            Ok(tokens) => inner.tokens = tokens,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the Twilio credentials")
            }
        }
        inner.tokens.get(account_sid).cloned()
    }
}

/// Reads `<dir>/<AccountSid>` files. Kubernetes' own entries (`..data`, `..2026_...`) and
/// anything not named like an account SID are skipped.
fn read_dir(dir: &Path) -> std::io::Result<HashMap<String, AuthToken>> {
    let mut tokens = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("AC") || name.starts_with("..") {
            continue;
        }
        let token = std::fs::read_to_string(entry.path())?;
        let token = token.trim();
        if !token.is_empty() {
            tokens.insert(name, AuthToken::new(token));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_mounted_secret_and_never_prints_a_token() {
        let dir = std::env::temp_dir().join(format!("sb-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("AC123"), "s3cret\n").unwrap();
        std::fs::write(dir.join("..data"), "ignored").unwrap();
        let creds = Credentials::from_dir(&dir).unwrap();
        assert_eq!(creds.len(), 1);
        let token = creds.token("AC123").unwrap();
        assert_eq!(token.expose(), "s3cret");
        assert!(!format!("{token:?} {creds:?}").contains("s3cret"));
        assert!(creds.token("AC999").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
