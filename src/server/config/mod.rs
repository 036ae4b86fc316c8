//! Server settings: command-line flags, each with an environment variable, in one group per
//! part of the server. Each part is handed its own group only.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::{Args, Parser};

mod cluster;
mod values;

use super::secrets;
use crate::protocol::{IceServer, MediaMode, RoomName};
pub use cluster::ClusterSettings;
use values::{parse_ice_url, parse_key, parse_media, parse_room_key, public_url};

/// Viewers one room takes by default when the server relays the media: what this machine
/// was measured to carry (see BENCHMARKS.md, "Media relay").
pub const SFU_MAX_VIEWERS: u32 = 300;
/// Viewers one room takes by default peer to peer: the broadcaster's browser encodes once
/// per viewer, and a laptop stops at 10-20.
pub const P2P_MAX_VIEWERS: u32 = 10;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "onair",
    version,
    about = "Self-hosted live broadcasting over WebRTC",
    // A later flag replaces an earlier one (and the environment's value).
    args_override_self = true
)]
pub struct Config {
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub rooms: RoomSettings,
    #[command(flatten)]
    pub keys: KeySettings,
    #[command(flatten)]
    pub ice: IceSettings,
    #[command(flatten)]
    pub signaling: SignalingSettings,
    #[command(flatten)]
    pub media: MediaSettings,
    #[command(flatten)]
    pub tls: TlsSettings,
    #[command(flatten)]
    pub cluster: ClusterSettings,
}

/// HTTPS (`tls`): browsers hand out the camera only on a secure page, so a broadcaster on
/// another machine needs it.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "HTTPS")]
pub struct TlsSettings {
    /// Serve HTTPS with a self-signed certificate for this machine's names and addresses,
    /// made on first start and kept in --data-dir. Plain HTTP on the same port redirects.
    #[arg(long, env = "ONAIR_TLS")]
    pub tls: bool,
    /// Serve HTTPS with this certificate chain (PEM) instead of a self-signed one.
    #[arg(long, env = "ONAIR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "ONAIR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where onair keeps what it makes (the self-signed certificate). Default:
    /// $XDG_DATA_HOME/onair, or ~/.local/share/onair.
    #[arg(long, env = "ONAIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl TlsSettings {
    /// Whether the server speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.tls || self.tls_cert.is_some()
    }

    /// The data directory: the flag's, or the user's data directory.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let home_data = std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".local/share"))
            .unwrap_or_else(|| PathBuf::from("."));
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
            .unwrap_or(home_data)
            .join("onair")
    }
}

/// Media: whether the server relays it, and on which UDP port (`relay`).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Media")]
pub struct MediaSettings {
    /// sfu: the server relays the broadcast, the broadcaster uploads it once. p2p: the
    /// broadcaster's browser sends it to each viewer (for a host that cannot take UDP).
    #[arg(long = "media", env = "ONAIR_MEDIA", default_value = "sfu", value_parser = parse_media)]
    pub mode: MediaMode,
    /// UDP port for all media (default: the same number as the HTTP port). Open it in the
    /// firewall.
    #[arg(long, env = "ONAIR_UDP_PORT")]
    pub udp_port: Option<u16>,
    /// The public address that reaches this machine through a 1:1 NAT (a cloud VM): the
    /// relay announces it to browsers besides its own addresses.
    #[arg(long, env = "ONAIR_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// Record every relayed broadcast into this directory, one file per broadcast (WebM for
    /// VP8, MP4 for H.264).
    #[arg(long = "record", env = "ONAIR_RECORD", value_name = "DIR")]
    pub record: Option<PathBuf>,
}

/// HTTP: where the server listens and what it serves (`http`).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Listening")]
pub struct HttpSettings {
    /// Address and port to listen on. Use 0.0.0.0:3000 to serve your LAN.
    #[arg(long, env = "ONAIR_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Serve `/metrics` on this address instead (e.g. 127.0.0.1:9100, for Prometheus only).
    #[arg(long, env = "ONAIR_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Directory with the built browser bundle (`pkg/`) and static files.
    #[arg(long, env = "ONAIR_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// The address the audience opens, for the talk page's watch link and QR code (e.g.
    /// https://live.example.org behind a proxy) [default: this machine's LAN address].
    #[arg(long, env = "ONAIR_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,
}

/// Rooms: how many, how big, how long a dropped broadcaster's room waits (`rooms`).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Rooms")]
pub struct RoomSettings {
    /// Most viewers one room takes at once; the next one is told "room is full" [default:
    /// 300 with the relay, 10 peer to peer].
    #[arg(long, env = "ONAIR_MAX_VIEWERS",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_viewers: Option<u32>,
    /// Most rooms the server holds at once.
    #[arg(long, env = "ONAIR_MAX_ROOMS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms: u32,
    /// Seconds a dropped broadcaster has to reconnect and take its room back.
    #[arg(long, env = "ONAIR_RECLAIM_SECONDS", default_value_t = 10)]
    pub reclaim_seconds: u64,
}

/// Keys: who may go live and who may watch (`rooms`).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Keys and private rooms")]
pub struct KeySettings {
    /// Publish key every broadcaster must give to go live (none: anyone may go live).
    #[arg(long, env = "ONAIR_PUBLISH_KEY", value_parser = parse_key)]
    pub publish_key: Option<String>,
    /// Publish key for one room, as ROOM=KEY (repeat, or comma-separate in the env var).
    /// It replaces --publish-key for that room.
    #[arg(long = "room-key", env = "ONAIR_ROOM_KEYS", value_delimiter = ',',
          value_parser = parse_room_key)]
    pub room_keys: Vec<(String, String)>,
    /// A room only people with its key may watch (repeat). Viewers open
    /// /watch/ROOM?key=KEY. The room needs a key: --room-key or --publish-key.
    #[arg(
        long = "private-room",
        env = "ONAIR_PRIVATE_ROOMS",
        value_delimiter = ','
    )]
    pub private_rooms: Vec<String>,
}

/// ICE: the STUN and TURN servers handed to the pages (`rooms`, in `welcome`).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "ICE servers")]
pub struct IceSettings {
    /// STUN or TURN server URL handed to the pages (repeat, or comma-separate in the env var).
    /// None by default, which is right on a LAN. Example: stun:stun.example.org:3478
    #[arg(long = "ice-server", env = "ONAIR_ICE_SERVERS", value_delimiter = ',',
          value_parser = parse_ice_url)]
    pub ice_servers: Vec<String>,
    /// Username for the TURN servers given with --ice-server.
    #[arg(long, env = "ONAIR_TURN_USERNAME", requires = "turn_credential")]
    pub turn_username: Option<String>,
    /// Credential for the TURN servers given with --ice-server.
    #[arg(long, env = "ONAIR_TURN_CREDENTIAL", requires = "turn_username")]
    pub turn_credential: Option<String>,
}

/// Signaling connections: admission, rate limit and deadlines (`signaling`).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Signaling connections")]
pub struct SignalingSettings {
    /// Most signaling connections from one IP address (a whole office behind one NAT address
    /// may watch) [default: 600 with the relay, 200 peer to peer].
    #[arg(long, env = "ONAIR_MAX_CONNECTIONS_PER_IP",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: Option<u32>,
    /// Most signaling connections from one IP address that have not joined a room yet.
    #[arg(long, env = "ONAIR_MAX_PENDING_PER_IP", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_per_ip: u32,
    /// Messages per second one connection may send (sustained; bursts up to twice this).
    #[arg(long, env = "ONAIR_MESSAGES_PER_SECOND", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub messages_per_second: u32,
    /// Extra origins allowed to open the signaling socket (the site's own is always allowed).
    #[arg(
        long = "allow-origin",
        env = "ONAIR_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Milliseconds a new connection has to join a room (hidden: for tests).
    #[arg(long, hide = true, default_value_t = 10_000)]
    pub join_timeout_ms: u64,
    /// Milliseconds between pings (hidden: for tests).
    #[arg(long, hide = true, default_value_t = 30_000)]
    pub ping_interval_ms: u64,
    /// Milliseconds of silence after which a connection is dropped (hidden: for tests).
    #[arg(long, hide = true, default_value_t = 75_000)]
    pub idle_timeout_ms: u64,
    /// Milliseconds one write to a client may take (hidden: for tests).
    #[arg(long, hide = true, default_value_t = 1_000)]
    pub write_timeout_ms: u64,
}

/// The connection deadlines, from [`SignalingSettings::timing`].
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub join_within: Duration,
    pub ping_every: Duration,
    pub idle_limit: Duration,
    pub write_within: Duration,
}

impl Config {
    /// Checks that need more than one flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.media.record.is_some() && self.media.mode == MediaMode::P2p {
            return Err(
                "--record needs the relay: the media must pass the server (--media sfu)".into(),
            );
        }
        self.keys.validate()
    }
}

impl RoomSettings {
    /// The viewer cap: the flag's, or the default for how the media travels.
    pub fn max_viewers(&self, media: MediaMode) -> u32 {
        self.max_viewers.unwrap_or(match media {
            MediaMode::Sfu => SFU_MAX_VIEWERS,
            MediaMode::P2p => P2P_MAX_VIEWERS,
        })
    }
}

impl KeySettings {
    /// Every private room must be a valid name and have a key.
    pub fn validate(&self) -> Result<(), String> {
        for room in &self.private_rooms {
            RoomName::parse(room).map_err(|err| {
                format!("--private-room {room:?} is not a valid room name: {err}")
            })?;
            if self.publish_key_for(room).is_none() {
                return Err(format!(
                    "--private-room {room} needs a key: add --room-key {room}=KEY or --publish-key"
                ));
            }
        }
        Ok(())
    }

    /// The key that going live in `room` needs, if any (a private room's viewers need it too).
    pub fn publish_key_for(&self, room: &str) -> Option<&str> {
        self.room_keys
            .iter()
            .find(|(name, _)| name == room)
            .map(|(_, key)| key.as_str())
            .or(self.publish_key.as_deref())
    }

    /// Whether watching `room` needs its key.
    pub fn is_private(&self, room: &str) -> bool {
        self.private_rooms.iter().any(|name| name == room)
    }

    /// Whether `given` lets its sender go live in `room`.
    pub fn may_publish(&self, room: &str, given: Option<&str>) -> bool {
        self.publish_key_for(room)
            .is_none_or(|expected| secrets::equal(expected, given))
    }

    /// Whether `given` (a page's `?key=`) lets its sender watch `room`.
    pub fn may_watch(&self, room: &str, given: Option<&str>) -> bool {
        !self.is_private(room)
            || self
                .publish_key_for(room)
                .is_some_and(|expected| secrets::equal(expected, given))
    }
}

impl IceSettings {
    /// The ICE servers as the pages get them; TURN URLs carry the configured credentials.
    pub fn ice_servers(&self) -> Vec<IceServer> {
        self.ice_servers
            .iter()
            .map(|url| {
                let turn = url.starts_with("turn");
                IceServer {
                    urls: vec![url.clone()],
                    username: turn.then(|| self.turn_username.clone()).flatten(),
                    credential: turn.then(|| self.turn_credential.clone()).flatten(),
                }
            })
            .collect()
    }
}

impl SignalingSettings {
    /// The per-address cap: the flag's, or one sized to what the rooms can take.
    pub fn max_connections_per_ip(&self, media: MediaMode) -> u32 {
        self.max_connections_per_ip.unwrap_or(match media {
            MediaMode::Sfu => 2 * SFU_MAX_VIEWERS,
            MediaMode::P2p => 200,
        })
    }

    pub fn timing(&self) -> Timing {
        Timing {
            join_within: Duration::from_millis(self.join_timeout_ms),
            ping_every: Duration::from_millis(self.ping_interval_ms.max(1)),
            idle_limit: Duration::from_millis(self.idle_timeout_ms),
            write_within: Duration::from_millis(self.write_timeout_ms),
        }
    }
}

impl RoomSettings {
    pub fn reclaim_grace(&self) -> Duration {
        Duration::from_secs(self.reclaim_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("onair").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_suit_a_single_machine() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.http.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.media.mode, MediaMode::Sfu);
        assert_eq!(config.media.udp_port, None, "the HTTP port's number");
        assert_eq!(config.rooms.max_viewers(MediaMode::Sfu), SFU_MAX_VIEWERS);
        assert_eq!(config.rooms.max_viewers(MediaMode::P2p), P2P_MAX_VIEWERS);
        assert!(config.ice.ice_servers().is_empty());
        assert_eq!(config.keys.publish_key, None);
    }

    #[test]
    fn media_flags_and_a_clear_error_for_a_wrong_mode() {
        let config = parse(&[
            "--media",
            "p2p",
            "--udp-port",
            "4000",
            "--public-ip",
            "203.0.113.9",
            "--media",
            "p2p",
        ])
        .unwrap();
        assert_eq!(config.media.mode, MediaMode::P2p);
        assert_eq!(config.media.udp_port, Some(4000));
        assert_eq!(config.media.public_ip, Some("203.0.113.9".parse().unwrap()));
        let err = parse(&["--media", "mesh"]).unwrap_err().to_string();
        assert!(err.contains("expected sfu or p2p"), "{err}");
    }

    #[test]
    fn flags_set_address_cap_and_ice_servers() {
        let config = parse(&[
            "--addr",
            "0.0.0.0:8080",
            "--max-viewers",
            "25",
            "--ice-server",
            "stun:stun.example.org:3478",
            "--ice-server",
            "turn:turn.example.org:3478",
            "--turn-username",
            "u",
            "--turn-credential",
            "p",
        ])
        .unwrap();
        assert_eq!(config.http.addr.port(), 8080);
        assert_eq!(config.rooms.max_viewers(MediaMode::Sfu), 25);
        assert_eq!(config.rooms.max_viewers(MediaMode::P2p), 25);
        let ice = config.ice.ice_servers();
        assert_eq!(ice.len(), 2);
        assert_eq!(ice[0].username, None, "STUN gets no credentials");
        assert_eq!(ice[1].username.as_deref(), Some("u"));
        assert_eq!(ice[1].credential.as_deref(), Some("p"));
    }

    #[test]
    fn room_keys_override_the_server_key_and_private_rooms_need_one() {
        let config = parse(&[
            "--publish-key",
            "all",
            "--room-key",
            "board=b0ard",
            "--private-room",
            "board",
        ])
        .unwrap();
        assert_eq!(config.keys.publish_key_for("board"), Some("b0ard"));
        assert_eq!(config.keys.publish_key_for("other"), Some("all"));
        assert!(config.keys.is_private("board") && !config.keys.is_private("other"));
        assert_eq!(config.validate(), Ok(()));
        assert!(config.keys.may_publish("board", Some("b0ard")));
        assert!(!config.keys.may_publish("board", Some("all")));
        assert!(config.keys.may_watch("board", Some("b0ard")));
        assert!(!config.keys.may_watch("board", None));
        assert!(
            config.keys.may_watch("other", None),
            "only private rooms need a key to watch"
        );
        assert!(parse(&[]).unwrap().keys.may_publish("any", None));

        let keyless = parse(&["--private-room", "secret"]).unwrap();
        assert!(keyless.validate().unwrap_err().contains("needs a key"));
        assert!(parse(&["--room-key", "no key"]).is_err());
        assert!(parse(&["--room-key", "bad room=k"]).is_err());
        assert!(parse(&["--room-key", "room="]).is_err());
        assert!(
            parse(&["--publish-key", ""]).is_err(),
            "an empty key would lock everyone out"
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for args in [
            &["--addr", "nowhere"][..],
            &["--max-viewers", "0"],
            &["--max-viewers", "ten"],
            &["--ice-server", "http://example.org"],
            &["--turn-username", "u"],
        ] {
            let err = parse(args).expect_err(&format!("{args:?} should fail"));
            assert!(!err.to_string().is_empty());
        }
        let err = parse(&["--ice-server", "http://x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a STUN/TURN URL"), "{err}");
    }
}
