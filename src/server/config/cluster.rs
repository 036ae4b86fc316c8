//! Several nodes: the Redis they share rooms through, and the address each announces
//! (`cluster`).

use std::net::SocketAddr;

use clap::Args;

/// Several onair nodes behind one load balancer, sharing one set of rooms (`cluster`).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Several nodes")]
pub struct ClusterSettings {
    /// Share rooms with every other node that names the same Redis (e.g.
    /// redis://10.0.0.5:6379). Without it this node is on its own.
    #[arg(long, env = "ONAIR_REDIS", value_name = "URL", value_parser = redis_url)]
    pub redis: Option<String>,
    /// The address the other nodes reach this one at, announced in Redis [default: the
    /// listening address, or this machine's first LAN address where it listens on all].
    #[arg(long, env = "ONAIR_NODE_ADDR", requires = "redis")]
    pub node_addr: Option<SocketAddr>,
}

/// A `redis://` or `rediss://` URL (`unix://` too): the scheme is checked here, the rest
/// when the node connects.
fn redis_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    let scheme_ok = ["redis://", "rediss://", "unix://", "redis+unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if scheme_ok {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "{url:?} is not a Redis URL (expected redis://host:port, e.g. redis://127.0.0.1:6379)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_needs_its_scheme() {
        assert_eq!(
            redis_url(" redis://127.0.0.1:6379 ").as_deref(),
            Ok("redis://127.0.0.1:6379")
        );
        assert!(redis_url("127.0.0.1:6379")
            .unwrap_err()
            .contains("not a Redis URL"));
        assert!(redis_url("redis://").is_err());
    }
}
