//! Command-line flags.

use std::path::PathBuf;

use clap::Parser;

/// Load generator for the onair signaling server (`/ws/<room>`).
///
/// Relay mode (default): `--clients` connections in `--rooms` rooms; in each room one
/// broadcaster goes live and the others join as viewers. Each viewer asks for the stream, the
/// broadcaster sends it an `offer` (`--sdp-bytes`), the viewer `answer`s, and then both sides
/// trickle `candidate`s (`--candidate-bytes`) at `--rate` messages per second in total for
/// `--duration` seconds. Every relayed message carries its sender, recipient, sequence number
/// and send time, so the receiving client measures relay latency and checks the routing.
///
/// Idle mode (`--idle`): `--clients` connections in rooms of `--room-size` (one live
/// broadcaster each; viewers only join, no offer/answer) that just stay connected for
/// `--duration` seconds; with `--server-pid`, reports the server's memory per connection.
/// Memory figures mean most against a freshly started server: the allocator keeps what
/// earlier runs freed, so a second run shows little growth.
///
/// Floor mode (`--floor`): no server. The same clients, rooms, `--rate` and
/// `--candidate-bytes` over loopback TCP against a bare relay in this process (one thread on
/// epoll: recv, one send per recipient; no WebSocket, no JSON). Its CPU per message is what
/// relaying costs on this machine before any server code runs; read the server's against it.
///
/// The server's defaults are for real users, not for a load test. For big runs start it with
/// e.g. `onair --messages-per-second 100000 --max-connections-per-ip 100000 --max-viewers 1000
/// --max-rooms 100000`, or rate_limited / room_full / HTTP 429 refusals will be counted.
/// Thousands of connections need as many file descriptors on both sides: the tool raises its
/// own soft limit up to the hard limit; run the server after `ulimit -n 65536` (or as high as
/// `ulimit -Hn` allows).
#[derive(Parser, Debug, Clone)]
#[command(name = "onair-load", version, verbatim_doc_comment)]
pub struct Args {
    /// Server address, host:port.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: String,

    /// Connections in total (broadcasters + viewers).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub clients: u32,

    /// Rooms to spread the clients over (relay mode), each with one broadcaster.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rooms: u32,

    /// Candidate messages per second in total, over all clients; 0 = as fast as possible
    /// (each sender keeps at most a window of messages in flight, see --window).
    #[arg(long, default_value_t = 1000.0, value_parser = non_negative)]
    pub rate: f64,

    /// Seconds of candidate traffic (relay mode) or of holding the connections (idle mode).
    #[arg(long, default_value_t = 10.0, value_parser = non_negative)]
    pub duration: f64,

    /// Size of each offer/answer SDP body in bytes (the server takes up to 32768).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(0..=32768))]
    pub sdp_bytes: u32,

    /// Size of each candidate line in bytes (the server takes up to 1024; the stamp needs
    /// about 100, so smaller values give slightly larger candidates).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub candidate_bytes: u32,

    /// Viewers that leave and join again per second, during the traffic phase.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    pub churn_per_sec: f64,

    /// The server's process id, to report its memory (VmRSS) and CPU time (Linux /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Idle mode: only open and hold connections, no relay traffic.
    #[arg(long)]
    pub idle: bool,

    /// Floor mode: measure a bare relay in this process instead of a server (see above).
    #[arg(long, conflicts_with = "idle")]
    pub floor: bool,

    /// Media mode: one synthetic broadcaster sends video and audio over real WebRTC to the
    /// server's relay, and `--viewers` synthetic viewers receive it, in steps (see below).
    #[arg(long, conflicts_with_all = ["idle", "floor"])]
    pub media: bool,

    /// Media mode: the viewer counts to measure, one step each (`--duration` seconds).
    #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
    pub viewers: Vec<u32>,

    /// Media mode: the broadcast's video bitrate, kbit/s (30 frames/s, a key frame every 2 s).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(10..=20_000))]
    pub video_kbps: u32,

    /// Media mode: the broadcast's audio bitrate, kbit/s (50 frames/s).
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(8..=510))]
    pub audio_kbps: u32,

    /// Media mode: the broadcaster sends simulcast, three layers (h, m, l: the video bitrate,
    /// three tenths of it, a tenth), and the relay picks one for each viewer.
    #[arg(long, requires = "media")]
    pub simulcast: bool,

    /// Media mode: each viewer's downlink cap in kbit/s, taken in turn (0: an open link),
    /// e.g. `300,800,0`; the step's report then has a line per viewer.
    #[arg(long, value_delimiter = ',', requires = "media")]
    pub viewer_kbps: Vec<u32>,

    /// Media mode: the nodes of a cluster the viewers join, in turn (the broadcaster joins at
    /// `--addr`), e.g. `127.0.0.1:3001,127.0.0.1:3002`; each step then has a line per node.
    #[arg(long, value_delimiter = ',', requires = "media")]
    pub viewer_addrs: Vec<String>,

    /// Media mode: the process ids of the `--viewer-addrs` nodes, in their order, for each
    /// node's CPU.
    #[arg(long, value_delimiter = ',', requires = "viewer_addrs")]
    pub node_pids: Vec<u32>,

    /// Media floor: no server; the same packets fanned out by a bare UDP loop in this process
    /// (sendmmsg, no SRTP) to `--viewers` sockets, and SRTP's own cost per packet.
    #[arg(long, conflicts_with_all = ["idle", "floor", "media"])]
    pub media_floor: bool,

    /// Connections per room in idle mode (one broadcaster + viewers).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub room_size: u32,

    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Rooms are named <prefix>-<i>.
    #[arg(long, default_value = "load")]
    pub room_prefix: String,

    /// Connections being opened at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub connect_concurrency: u32,

    /// With --rate 0: candidates in flight towards a room's broadcaster, shared equally by its
    /// viewers; each viewer gets the same share from the broadcaster. The deeper the window,
    /// the more the server has to batch and the higher the latency. Keep it under the server's
    /// queue per client, 100 + 2 × its --max-viewers messages: a client whose queue is full is
    /// dropped. (`scripts/bench` uses 1024 against --max-viewers 1000.)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub window: u32,

    /// Seconds to wait for messages still in flight after the traffic stops.
    #[arg(long, default_value_t = 2.0, value_parser = non_negative)]
    pub grace: f64,

    /// Seconds to wait after all clients left before the last memory reading.
    #[arg(long, default_value_t = 3.0, value_parser = non_negative)]
    pub settle: f64,

    /// Seconds all connections together may take to open and join.
    #[arg(long, default_value_t = 120.0, value_parser = non_negative)]
    pub setup_timeout: f64,
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1e9).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a number from 0 to 1e9")),
    }
}

impl Args {
    /// Connections per room, broadcaster included.
    pub fn layout(&self) -> Result<Vec<u32>, String> {
        if self.idle {
            let size = self.room_size;
            let full = self.clients / size;
            let mut rooms = vec![size; full as usize];
            if !self.clients.is_multiple_of(size) {
                rooms.push(self.clients % size);
            }
            return Ok(rooms);
        }
        if self.clients < self.rooms * 2 {
            return Err(format!(
                "{} clients cannot fill {} rooms: each room needs a broadcaster and a viewer",
                self.clients, self.rooms
            ));
        }
        let base = self.clients / self.rooms;
        let extra = self.clients % self.rooms;
        Ok((0..self.rooms)
            .map(|i| base + u32::from(i < extra))
            .collect())
    }

    pub fn check(&self) -> Result<(), String> {
        let name = format!("{}-{}", self.room_prefix, self.clients);
        if name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "--room-prefix {:?}: room names are 1-64 characters of letters, digits, '-' and '_'",
                self.room_prefix
            ));
        }
        if self.addr.contains('/') {
            return Err(format!("--addr {:?}: give host:port, not a URL", self.addr));
        }
        if (self.media || self.media_floor) && self.viewers.contains(&0) {
            return Err("--viewers: every step needs at least one viewer".into());
        }
        self.layout().map(|_| ())
    }
}
