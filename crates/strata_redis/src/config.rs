//! The store URL: `redis+cluster://host:port[,host:port…]/?param=value&…`.

use std::time::Duration;

/// Errors parsing a store URL. Every one names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not start with `redis+cluster://`.
    #[error("store URL must start with `redis+cluster://`, got {0:?}")]
    Scheme(String),
    /// No seed node was given.
    #[error("store URL names no node (expected `redis+cluster://host:port[,host:port…]/`)")]
    NoNodes,
    /// A seed node is not `host:port`.
    #[error("bad node {0:?} in store URL (expected `host:port`)")]
    BadNode(String),
    /// A query parameter this store does not know.
    #[error("unknown store URL parameter {0:?}")]
    UnknownParam(String),
    /// A query parameter with a value out of range or of the wrong type.
    #[error("bad value {value:?} for store URL parameter {param:?}: {why}")]
    BadValue {
        /// The parameter.
        param: String,
        /// Its value.
        value: String,
        /// What it must be.
        why: &'static str,
    },
}

/// Configuration of a [`RedisClusterStore`](crate::RedisClusterStore), usually parsed from a URL
/// with [`RedisClusterConfig::from_url`].
///
/// | URL parameter | field | default |
/// | --- | --- | --- |
/// | `world` | [`world`](Self::world) | `default` |
/// | `region_level` | [`region_level`](Self::region_level) | `3` (8³ chunks = 256³ voxels per shard unit) |
/// | `wait_replicas` | [`wait_replicas`](Self::wait_replicas) | `1` |
/// | `wait_timeout_ms` | [`wait_timeout`](Self::wait_timeout) | `2000` |
/// | `read_from_replicas` | [`read_from_replicas`](Self::read_from_replicas) | `false` |
/// | `retries` | [`retries`](Self::retries) | `5` |
/// | `connect_timeout_ms` | [`connect_timeout`](Self::connect_timeout) | `1000` |
/// | `response_timeout_ms` | [`response_timeout`](Self::response_timeout) | `3000` |
/// | `op_timeout_ms` | [`op_timeout`](Self::op_timeout) | `10000` |
/// | `wait_aof` | [`wait_aof`](Self::wait_aof) | `false` |
///
/// Credentials go before the nodes, percent-encoded like any URL's:
/// `redis+cluster://user:password@host:port,…/` (ACL user) or `redis+cluster://:password@…`
/// (`requirepass`). Every connection authenticates with them (`AUTH`) before anything else;
/// credentials a node refuses make [`open`](crate::open) fail with
/// [`StoreError::InvalidConfig`](strata_core::StoreError::InvalidConfig). The password never
/// appears in `Debug` output. TLS (`rediss://`) is not supported: reach a cluster over an
/// untrusted network through a tunnel or a TLS proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisClusterConfig {
    /// Seed nodes (`host`, `port`); any reachable one gives the slot map.
    pub seeds: Vec<(String, u16)>,
    /// Name of the world: part of every key's hash tag, so several worlds share a cluster.
    /// Letters, digits, `_`, `-` and `.`; at most 64 bytes.
    pub world: String,
    /// Shard unit: aligned cubes of 2^`region_level` chunks per side share one hash slot
    /// (0..=26). Fixed per world: [`open`](crate::open) refuses a different level than the one
    /// the world was created with.
    pub region_level: u32,
    /// Replicas that must confirm (Redis `WAIT`) every master's writes before a commit is
    /// acknowledged. 0 = no confirmation (a failover may lose acknowledged commits).
    pub wait_replicas: u32,
    /// How long `WAIT` may block.
    pub wait_timeout: Duration,
    /// Serve reads from replicas (`READONLY`); they may lag the primary by a few milliseconds.
    pub read_from_replicas: bool,
    /// Retries of an operation after a redirection (`MOVED`/`ASK`), `TRYAGAIN`, `CLUSTERDOWN` or a
    /// lost connection, each after a refreshed slot map and an exponential backoff.
    pub retries: u32,
    /// TCP connect timeout per node.
    pub connect_timeout: Duration,
    /// Read / write timeout per request (a commit's includes `wait_timeout`).
    pub response_timeout: Duration,
    /// Upper bound on one store call including its retries: no call blocks much longer.
    pub op_timeout: Duration,
    /// ACL user name (`AUTH user password`); `None` with a password: the default user.
    pub username: Option<String>,
    /// Password sent with `AUTH` on every connection.
    pub password: Option<Secret>,
    /// Acknowledge a commit only once it is **on disk**: `WAITAOF 1 <wait_replicas>` instead
    /// of `WAIT` — the primary and `wait_replicas` replicas have fsynced it to their append-only
    /// files (needs Redis ≥ 7.2 with `appendonly yes`; [`open`](crate::open) checks that the
    /// cluster knows the command). Without it an acknowledged commit is in the memory of the
    /// primary and `wait_replicas` replicas (and on disk only as their `appendfsync` policy
    /// says).
    pub wait_aof: bool,
}

/// A password: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Decodes `%XX` escapes (UTF-8 result); `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes everything but unreserved URL characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Default for RedisClusterConfig {
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            world: "default".into(),
            region_level: 3,
            wait_replicas: 1,
            wait_timeout: Duration::from_millis(2000),
            read_from_replicas: false,
            retries: 5,
            connect_timeout: Duration::from_millis(1000),
            response_timeout: Duration::from_millis(3000),
            op_timeout: Duration::from_millis(10_000),
            username: None,
            password: None,
            wait_aof: false,
        }
    }
}

/// The URL scheme.
pub const SCHEME: &str = "redis+cluster://";

/// `url` with everything between its scheme and its last `@` (the credentials) replaced by
/// `***`, for error messages.
fn redacted(url: &str) -> String {
    let Some((before, after)) = url.rsplit_once('@') else { return url.into() };
    // The scheme is kept only when it is one (letters, digits, `+`, `-`, `.`): a `://` after
    // the password must not keep the password as a "scheme".
    let scheme = before
        .split_once("://")
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
    match scheme {
        Some(scheme) => format!("{scheme}://***@{after}"),
        None => format!("***@{after}"),
    }
}

impl RedisClusterConfig {
    /// Parses `redis+cluster://host:port[,host:port…][/][?param=value&…]` (parameters in the
    /// type's table; unknown parameters are errors, not ignored).
    pub fn from_url(url: &str) -> Result<Self, UrlError> {
        let rest = url.strip_prefix(SCHEME).ok_or_else(|| UrlError::Scheme(redacted(url)))?;
        // Credentials end at the last `@` of the URL (no other part may hold one), so nothing
        // after it, which is all that errors quote, holds the password — even a password with
        // `/`, `?` or `@` in it that was not percent-encoded.
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (nodes, query) = match rest.find(['/', '?']) {
            Some(i) => {
                let (n, q) = rest.split_at(i);
                (n, q.trim_start_matches('/').trim_start_matches('?'))
            }
            None => (rest, ""),
        };
        let mut cfg = Self::default();
        if let Some(userinfo) = userinfo {
            let bad = |why| UrlError::BadValue { param: "credentials".into(), value: "***".into(), why };
            let (user, password) = userinfo.split_once(':').ok_or_else(|| bad("`user:password@` or `:password@`"))?;
            let user = percent_decode(user).ok_or_else(|| bad("valid percent-encoding"))?;
            let password = percent_decode(password).ok_or_else(|| bad("valid percent-encoding"))?;
            if password.is_empty() {
                return Err(bad("a non-empty password"));
            }
            cfg.username = (!user.is_empty()).then_some(user);
            cfg.password = Some(Secret(password));
        }
        for node in nodes.split(',').filter(|n| !n.is_empty()) {
            let (host, port) = node.rsplit_once(':').ok_or_else(|| UrlError::BadNode(node.into()))?;
            let port: u16 = port.parse().map_err(|_| UrlError::BadNode(node.into()))?;
            if host.is_empty() || port == 0 {
                return Err(UrlError::BadNode(node.into()));
            }
            cfg.seeds.push((host.into(), port));
        }
        if cfg.seeds.is_empty() {
            return Err(UrlError::NoNodes);
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = |why| UrlError::BadValue { param: k.into(), value: v.into(), why };
            let ms = |v: &str| v.parse::<u64>().map(Duration::from_millis).map_err(|_| bad("milliseconds"));
            match k {
                "world" => {
                    let ok = !v.is_empty()
                        && v.len() <= 64
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                    if !ok {
                        return Err(bad("1–64 letters, digits, `_`, `-` or `.`"));
                    }
                    cfg.world = v.into();
                }
                "region_level" => {
                    cfg.region_level = v.parse().ok().filter(|l| *l <= 26).ok_or_else(|| bad("0..=26"))?;
                }
                "wait_replicas" => cfg.wait_replicas = v.parse().map_err(|_| bad("a replica count"))?,
                "wait_timeout_ms" => cfg.wait_timeout = ms(v)?,
                "read_from_replicas" => {
                    cfg.read_from_replicas = match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                "retries" => cfg.retries = v.parse().ok().filter(|r| *r <= 100).ok_or_else(|| bad("0..=100"))?,
                "connect_timeout_ms" => cfg.connect_timeout = ms(v)?.max(Duration::from_millis(1)),
                "response_timeout_ms" => cfg.response_timeout = ms(v)?.max(Duration::from_millis(1)),
                "op_timeout_ms" => cfg.op_timeout = ms(v)?,
                "wait_aof" => {
                    cfg.wait_aof = match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                _ => return Err(UrlError::UnknownParam(k.into())),
            }
        }
        Ok(cfg)
    }

    /// The URL of this configuration (parses back to an equal configuration). It holds the
    /// password, if any: do not log it.
    pub fn to_url(&self) -> String {
        let nodes: Vec<String> = self.seeds.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        let credentials = match &self.password {
            Some(p) => {
                format!("{}:{}@", percent_encode(self.username.as_deref().unwrap_or("")), percent_encode(p.reveal()))
            }
            None => String::new(),
        };
        format!(
            "{SCHEME}{credentials}{}/?world={}&region_level={}&wait_replicas={}&wait_timeout_ms={}&read_from_replicas={}\
             &retries={}&connect_timeout_ms={}&response_timeout_ms={}&op_timeout_ms={}&wait_aof={}",
            nodes.join(","),
            self.world,
            self.region_level,
            self.wait_replicas,
            self.wait_timeout.as_millis(),
            self.read_from_replicas,
            self.retries,
            self.connect_timeout.as_millis(),
            self.response_timeout.as_millis(),
            self.op_timeout.as_millis(),
            self.wait_aof,
        )
    }
}

/// `base` (a cluster URL) naming the world `world`: `world=<world>` appended to its query,
/// which (the last value of a parameter wins) replaces a `world` the URL already names.
pub fn url_with_world(base: &str, world: &str) -> String {
    let sep = if base.contains('?') {
        "&"
    } else if base.ends_with('/') {
        "?"
    } else {
        "/?"
    };
    format!("{base}{sep}world={world}")
}

/// A world name no other process or moment uses: `<prefix>-<process id>-<nanoseconds since
/// 1970>`, so tests and benchmarks on a shared cluster never see each other's data.
pub fn unique_world_name(prefix: &str) -> String {
    let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{ns}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No error of a URL with credentials quotes the password, whatever is wrong with it and
    /// whatever the password holds (it once appeared in the error for `rediss://`).
    #[test]
    fn no_url_error_quotes_the_password() {
        for password in ["hunter2secret", "pa/ss?word", "p@ss@word", "pa,ss:word"] {
            for shape in [
                "rediss://user:{p}@10.0.0.1:7000/",
                "redis://:{p}@h:1",
                "u:{p}@h:1",
                "redis+cluster://u:{p}@",
                "redis+cluster://u:{p}@h",
                "redis+cluster://u:{p}@h:0/",
                "redis+cluster://u:{p}@h:1/?bogus=1",
                "redis+cluster://u:{p}@h:1/?world=bad!",
                "redis+cluster://u:{p}@h:1,h:x/",
                "redis+cluster://u:%zz{p}@h:1/",
                "redis+cluster:/:{p}://@",
            ] {
                let url = shape.replace("{p}", password);
                let Err(e) = RedisClusterConfig::from_url(&url) else { continue };
                for text in [e.to_string(), format!("{e:?}")] {
                    for part in password.split(['/', '?', '@', ',', ':']).filter(|p| p.len() >= 3) {
                        assert!(!text.contains(part), "{url}: {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_world_name_joins_any_url_shape_and_wins_over_the_one_it_names() {
        assert_eq!(url_with_world("redis+cluster://h:1", "w"), "redis+cluster://h:1/?world=w");
        assert_eq!(url_with_world("redis+cluster://h:1/", "w"), "redis+cluster://h:1/?world=w");
        assert_eq!(url_with_world("redis+cluster://h:1/?retries=2", "w"), "redis+cluster://h:1/?retries=2&world=w");
        let c = RedisClusterConfig::from_url(&url_with_world("redis+cluster://h:1/?world=old", "new")).unwrap();
        assert_eq!(c.world, "new");
        assert_ne!(unique_world_name("t"), unique_world_name("t"));
    }

    #[test]
    fn defaults_and_params() {
        let c = RedisClusterConfig::from_url("redis+cluster://127.0.0.1:7100,127.0.0.1:7101/").unwrap();
        assert_eq!(c.seeds, vec![("127.0.0.1".into(), 7100), ("127.0.0.1".into(), 7101)]);
        assert_eq!((c.world.as_str(), c.region_level, c.wait_replicas), ("default", 3, 1));
        let c = RedisClusterConfig::from_url(
            "redis+cluster://h:1/?region_level=4&wait_replicas=0&wait_timeout_ms=50&read_from_replicas=true&retries=2&world=w-1",
        )
        .unwrap();
        assert_eq!((c.region_level, c.wait_replicas, c.retries), (4, 0, 2));
        assert_eq!(c.wait_timeout, Duration::from_millis(50));
        assert!(c.read_from_replicas);
        assert_eq!(c.world, "w-1");
        assert_eq!(RedisClusterConfig::from_url(&c.to_url()).unwrap(), c);
        // No slash before the query, no query.
        assert!(RedisClusterConfig::from_url("redis+cluster://h:1?world=x").is_ok());
        assert!(RedisClusterConfig::from_url("redis+cluster://h:1").is_ok());
        assert!(!c.wait_aof && RedisClusterConfig::from_url("redis+cluster://h:1/?wait_aof=true").unwrap().wait_aof);
    }

    #[test]
    fn credentials_are_parsed_decoded_and_never_printed() {
        let c = RedisClusterConfig::from_url("redis+cluster://game%40srv:p%3As%2Fw%40rd@h:1,h:2/?world=w").unwrap();
        assert_eq!(c.username.as_deref(), Some("game@srv"));
        assert_eq!(c.password.as_ref().map(Secret::reveal), Some("p:s/w@rd"));
        assert_eq!(c.seeds.len(), 2);
        assert!(!format!("{c:?}").contains("p:s/w@rd"), "Debug hides the password");
        assert_eq!(RedisClusterConfig::from_url(&c.to_url()).unwrap(), c, "round trip");
        let c = RedisClusterConfig::from_url("redis+cluster://:secret@h:1/").unwrap();
        assert_eq!((c.username, c.password.map(|p| p.reveal().to_owned())), (None, Some("secret".into())));
        let e = |u: &str| RedisClusterConfig::from_url(u).unwrap_err();
        for bad in ["redis+cluster://user@h:1/", "redis+cluster://u:@h:1/", "redis+cluster://u:%zz@h:1/"] {
            let err = e(bad);
            assert!(matches!(err, UrlError::BadValue { .. }), "{bad}: {err:?}");
            assert!(!err.to_string().contains("zz"), "errors do not echo credentials");
        }
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        use UrlError::*;
        let e = |u: &str| RedisClusterConfig::from_url(u).unwrap_err();
        assert!(matches!(e("redis://h:1/"), Scheme(_)));
        assert!(matches!(e("redis+cluster:///"), NoNodes));
        assert!(matches!(e("redis+cluster://h/"), BadNode(_)));
        assert!(matches!(e("redis+cluster://h:99999/"), BadNode(_)));
        assert!(matches!(e("redis+cluster://h:1/?foo=1"), UnknownParam(_)));
        assert!(matches!(e("redis+cluster://h:1/?region_level=27"), BadValue { .. }));
        assert!(matches!(e("redis+cluster://h:1/?world=a{b}"), BadValue { .. }));
        assert!(matches!(e("redis+cluster://h:1/?read_from_replicas=yes"), BadValue { .. }));
        assert!(matches!(e("redis+cluster://h:1/?wait_timeout_ms=-1"), BadValue { .. }));
    }
}
