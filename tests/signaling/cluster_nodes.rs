//! Helpers for the several-node tests: a real `redis-server` on a port of its own, onair
//! nodes as separate processes (to kill one as a machine dies), and the room list read over
//! HTTP until it says what a test waits for.

#![allow(dead_code)]

use std::{
    net::{SocketAddr, TcpListener as StdListener},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use onair::protocol::Role;
use tokio_tungstenite::connect_async;

use crate::common::*;

/// How long a test waits for the nodes to agree: a few of their rounds and a node's TTL.
pub const AGREE_WITHIN: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A `redis-server` of this test's own, without persistence, stopped when dropped.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start it (again) on its port, empty, and wait until it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: `make setup` installs Debian's");
        self.child = Some(child);
        let until = Instant::now() + STEP;
        while self.try_keys().is_err() {
            assert!(Instant::now() < until, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_keys(&self) -> redis::RedisResult<Vec<String>> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("onair:*").query(&mut connection)?;
        keys.sort();
        Ok(keys)
    }

    /// Every key onair keeps, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.try_keys().expect("reading Redis's keys")
    }

    /// Every key's time to live in ms (-1: none), for the leak check.
    pub fn ttls(&self) -> Vec<(String, i64)> {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut connection = client.get_connection().expect("connect to redis");
        self.keys()
            .into_iter()
            .map(|key| {
                let ttl: i64 = redis::cmd("PTTL")
                    .arg(&key)
                    .query(&mut connection)
                    .expect("PTTL");
                (key, ttl)
            })
            .collect()
    }

    /// Wait until its keys are `want`.
    pub async fn wait_for_keys(&self, want: &[String], within: Duration) {
        let until = Instant::now() + within;
        loop {
            let keys = self.keys();
            if keys == want {
                return;
            }
            assert!(
                Instant::now() < until,
                "Redis's keys are {keys:?}, not {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An onair node in a process of its own (the binary under test), killed when dropped.
pub struct Node {
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Node {
    /// Start a peer-to-peer node with `--redis` and `flags`; wait until it is ready.
    pub async fn start(redis: &Redis, flags: &[&str]) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .args(["--addr", &addr.to_string(), "--media", "p2p"])
            .args(["--site-root", "target/no-site-for-tests"])
            .args(["--redis", &redis.url()])
            .args(flags)
            // ONAIR_TEST_NODE_LOG=onair=debug shows what the nodes log.
            .env(
                "RUST_LOG",
                std::env::var("ONAIR_TEST_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(node_log(addr))
            .spawn()
            .expect("start the onair binary");
        let node = Self {
            addr,
            child: Some(child),
        };
        let until = Instant::now() + STEP;
        loop {
            if let Ok(Ok(_)) = tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                if http_get(addr, "/healthz").await.0 == 200 {
                    return node;
                }
            }
            assert!(Instant::now() < until, "the node at {addr} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the node dies as a machine does, saying nothing to anyone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where a node's log goes: `target/node-<port>.log` with ONAIR_TEST_NODE_LOG, else nowhere.
fn node_log(addr: SocketAddr) -> Stdio {
    if std::env::var_os("ONAIR_TEST_NODE_LOG").is_none() {
        return Stdio::null();
    }
    std::fs::File::create(format!("target/node-{}.log", addr.port()))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// Join `room` on the node at `addr` as `role`.
pub async fn join_at(addr: SocketAddr, room: &str, role: Role) -> Peer {
    let (ws, _) = tokio::time::timeout(STEP, connect_async(format!("ws://{addr}/ws/{room}")))
        .await
        .expect("the WebSocket handshake timed out")
        .expect("connect to the node");
    Peer::join(ws, room, role).await
}

/// Read `/api/rooms` at `addr` until it is `want` (JSON); the last one read if not in time.
pub async fn wait_for_rooms(addr: SocketAddr, want: &str, within: Duration) {
    let want: serde_json::Value = serde_json::from_str(want).expect("wanted list is JSON");
    let until = Instant::now() + within;
    loop {
        let (status, body) = http_get(addr, "/api/rooms").await;
        assert_eq!(status, 200, "GET /api/rooms: {body}");
        let got: serde_json::Value = serde_json::from_str(&body).expect("the list is JSON");
        if got == want {
            return;
        }
        assert!(
            Instant::now() < until,
            "{addr}'s room list is {got}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Debian's nginx in front of `nodes`, as the README's example sets it up: a room's every
/// request to one node (a hash of its name), the next node when that one does not answer.
/// Stopped when dropped.
pub struct LoadBalancer {
    pub addr: SocketAddr,
    child: Option<Child>,
    _dir: TempDir,
}

/// A directory of this test's own under `target/`, removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl LoadBalancer {
    /// nginx in front of `nodes`, with the README's configuration.
    pub async fn start(nodes: &[SocketAddr]) -> Self {
        Self::start_with(nodes, LB_CONF).await
    }

    /// nginx in front of `nodes`, `lb_conf` in place of [`LB_CONF`].
    pub async fn start_with(nodes: &[SocketAddr], lb_conf: &str) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let dir = std::env::current_dir()
            .expect("cwd")
            .join(format!("target/nginx-test-{}", addr.port()));
        std::fs::create_dir_all(&dir).expect("nginx's directory");
        let servers: String = nodes
            .iter()
            .map(|node| format!("    server {node} max_fails=1 fail_timeout=30s;\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            r#"worker_processes 1;
master_process off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
{lb_conf}
  upstream onair {{
    hash $onair_room consistent;
{servers}  }}
  server {{
    listen {addr};
    location / {{
{LB_LOCATION}    }}
  }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
        // Debian puts it in /usr/sbin, which not every PATH has.
        let nginx = ["/usr/sbin/nginx"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .args(["-p", &dir.display().to_string(), "-c", "nginx.conf"])
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx is not installed: `make setup` installs Debian's");
        let balancer = Self {
            addr,
            child: Some(child),
            _dir: TempDir(dir),
        };
        let until = Instant::now() + STEP;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < until, "nginx did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        balancer
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The README's nginx example (`http` block): WHIP and WHEP by their room (a session's later
/// requests must reach the node that made it), everything else spread over the nodes, and
/// WebSocket upgrades passed on.
pub const LB_CONF: &str = r#"  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  map $uri $onair_room {
    "~^/(whip|whep)/(?<room>[A-Za-z0-9_-]+)" $room;
    default $request_id;
  }
"#;

/// The README's change to [`LB_CONF`] for `--media p2p`: every request of a room to one node.
pub fn lb_conf_peer_to_peer() -> String {
    LB_CONF.replace("(whip|whep)", "(ws|talk|watch|whip|whep)")
}

/// The README's nginx example (`location /`).
pub const LB_LOCATION: &str = r#"      proxy_pass http://onair;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_read_timeout 1h;
      proxy_buffering off;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout;
"#;

/// The address of the node that holds `room`'s broadcast, as Redis says.
pub fn holder_addr(redis: &Redis, room: &str) -> Option<SocketAddr> {
    let client = redis::Client::open(redis.url()).ok()?;
    let mut connection = client.get_connection().ok()?;
    let held: String = redis::cmd("GET")
        .arg(format!("onair:live:{room}"))
        .query(&mut connection)
        .ok()?;
    let node = held.split('|').next()?;
    let info: String = redis::cmd("GET")
        .arg(format!("onair:node:{node}"))
        .query(&mut connection)
        .ok()?;
    let info: serde_json::Value = serde_json::from_str(&info).ok()?;
    info["addr"].as_str()?.parse().ok()
}
