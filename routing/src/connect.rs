//! Opening a Redis client the same way in every binary: the URL, and the credentials from
//! the environment rather than spliced into it.
//!
//! ```text
//!   SWITCHBOARD_REDIS_URL  redis://host:6379/0  or  rediss://host:6380/0 (TLS, system roots)
//!   SWITCHBOARD_REDIS_PASSWORD, SWITCHBOARD_REDIS_USERNAME (ACL user): any characters
//! ```
//!
//! NB: a password inside a URL must be percent-encoded (`p@ss/word` is `p%40ss%2Fword`), which
//! a Secret mounted into an environment variable is not; so the password comes in a variable
//! of its own and is set on the connection, never written into a URL (and never logged).

/// The variable holding the Redis password (`AUTH`).
pub const PASSWORD_ENV: &str = "SWITCHBOARD_REDIS_PASSWORD";
/// The variable holding the Redis ACL user name, with [`PASSWORD_ENV`].
pub const USERNAME_ENV: &str = "SWITCHBOARD_REDIS_USERNAME";

/// A client for `url`, with the password and user name from the environment when they are set
/// (they take precedence over any in the URL).
pub fn client(url: &str) -> redis::RedisResult<redis::Client> {
    with_credentials(
        url,
        std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()),
        std::env::var(USERNAME_ENV).ok().filter(|u| !u.is_empty()),
    )
}

/// A client for `url` authenticating with `password` (and `username`) when given.
pub fn with_credentials(
    url: &str,
    password: Option<String>,
    username: Option<String>,
) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo;
    let mut info = url.into_connection_info()?;
    if password.is_some() || username.is_some() {
        let mut settings = info.redis_settings().clone();
        if let Some(p) = password {
            settings = settings.set_password(p);
        }
        if let Some(u) = username {
            settings = settings.set_username(u);
        }
        info = info.set_redis_settings(settings);
    }
    redis::Client::open(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_with_url_characters_is_set_as_it_is() {
        let c = with_credentials(
            "redis://redis.example:6379/2",
            Some("p@ss/w:rd#%".into()),
            Some("switchboard".into()),
        )
        .unwrap();
        let s = c.get_connection_info().redis_settings();
        assert_eq!(s.password(), Some("p@ss/w:rd#%"));
        assert_eq!(s.username(), Some("switchboard"));
        assert_eq!(s.db(), 2);
    }

    #[test]
    fn a_tls_url_is_accepted() {
        assert!(with_credentials("rediss://redis.example:6380/0", None, None).is_ok());
    }
}
