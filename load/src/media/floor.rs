//! `--media-floor`: what fanning a broadcast out costs on this machine before any WebRTC.
//!
//! The same packets as the media mode's broadcast (1200-byte video packets at its bitrate,
//! one audio packet every 20 ms), from a sender socket to a bare relay thread that sends each
//! one on to `--viewers` receiver sockets with `sendmmsg` (one system call per packet for all
//! viewers), no SRTP, no RTCP, no state. The relay thread's CPU per forwarded packet is the
//! floor the server's figure reads against. Beside it, SRTP's own cost: AES-128-GCM sealing
//! of one such packet (aws-lc-rs, the crypto str0m uses here), per packet.

use std::{
    net::{SocketAddr, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{cli::Args, sys};

const PACKET_BYTES: usize = 1200;
const AUDIO_EVERY: Duration = Duration::from_millis(20);

#[derive(Serialize, Debug, Default)]
pub struct FloorStep {
    pub viewers: u32,
    pub packets_in_per_second: f64,
    pub forwarded_per_second: f64,
    pub relay_cpu_percent: f64,
    pub relay_cpu_us_per_viewer_second: f64,
    pub relay_cpu_us_per_packet: f64,
    pub received_percent: f64,
}

#[derive(Serialize, Debug, Default)]
pub struct FloorReport {
    pub video_kbps: u32,
    pub seconds: f64,
    pub srtp_seal_us_per_packet: f64,
    pub steps: Vec<FloorStep>,
}

impl FloorReport {
    pub fn print(&self) {
        println!(
            "media floor: bare UDP fan-out (sendmmsg, no SRTP) of {} kbit/s in {PACKET_BYTES}-byte packets, {} s per step",
            self.video_kbps, self.seconds
        );
        println!(
            "SRTP's own cost: AES-128-GCM seal of one {PACKET_BYTES}-byte packet: {:.2} µs",
            self.srtp_seal_us_per_packet
        );
        println!(
            "{:>8} {:>12} {:>13} {:>11} {:>13} {:>10} {:>9}",
            "viewers",
            "packets in/s",
            "forwarded/s",
            "relay CPU",
            "µs/viewer·s",
            "µs/packet",
            "received"
        );
        for s in &self.steps {
            println!(
                "{:>8} {:>12.0} {:>13.0} {:>10.0}% {:>13.1} {:>10.3} {:>8.1}%",
                s.viewers,
                s.packets_in_per_second,
                s.forwarded_per_second,
                s.relay_cpu_percent,
                s.relay_cpu_us_per_viewer_second,
                s.relay_cpu_us_per_packet,
                s.received_percent
            );
        }
    }
}

pub fn run(args: &Args) -> Result<FloorReport, String> {
    let mut report = FloorReport {
        video_kbps: args.video_kbps,
        seconds: args.duration,
        srtp_seal_us_per_packet: srtp_seal_cost()?,
        steps: Vec::new(),
    };
    for &viewers in &args.viewers {
        crate::progress(&format!("media floor: {viewers} receivers"));
        report
            .steps
            .push(step(args, viewers).map_err(|e| e.to_string())?);
    }
    Ok(report)
}

fn step(args: &Args, viewers: u32) -> std::io::Result<FloorStep> {
    let relay = UdpSocket::bind("127.0.0.1:0")?;
    relay.set_read_timeout(Some(Duration::from_millis(50)))?;
    let relay_addr = relay.local_addr()?;
    let receivers: Vec<UdpSocket> = (0..viewers)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    for receiver in &receivers {
        receiver.set_nonblocking(true)?;
    }
    let destinations: Vec<SocketAddr> = receivers
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<Result<_, _>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let forwarded = Arc::new(AtomicU64::new(0));
    let relay_thread = {
        let (stop, forwarded) = (stop.clone(), forwarded.clone());
        thread::spawn(move || relay_loop(&relay, &destinations, &stop, &forwarded))
    };
    let drain_thread = {
        let (stop, received) = (stop.clone(), received.clone());
        thread::spawn(move || drain(&receivers, &stop, &received))
    };
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let video_per_second = f64::from(args.video_kbps) * 1000.0 / 8.0 / PACKET_BYTES as f64;
    let video_every = Duration::from_secs_f64(1.0 / video_per_second.max(1.0));
    let packet = [0x90u8; PACKET_BYTES];
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.duration);
    let (mut next_video, mut next_audio) = (start, start);
    let mut sent = 0u64;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_video {
            next_video += video_every;
            let _ = sender.send_to(&packet, relay_addr);
            sent += 1;
        }
        if now >= next_audio {
            next_audio += AUDIO_EVERY;
            let _ = sender.send_to(&packet[..160], relay_addr);
            sent += 1;
        }
        thread::sleep(
            next_video
                .min(next_audio)
                .saturating_duration_since(Instant::now()),
        );
    }
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Relaxed);
    // The relay thread measures its own CPU time (blocked in recv, it uses none).
    let cpu = relay_thread
        .join()
        .map_err(|_| std::io::Error::other("the relay thread panicked"))?;
    let _ = drain_thread.join();
    let seconds = args.duration.max(0.001);
    let forwarded = forwarded.load(Relaxed);
    let n = f64::from(viewers);
    Ok(FloorStep {
        viewers,
        packets_in_per_second: sent as f64 / seconds,
        forwarded_per_second: forwarded as f64 / seconds,
        relay_cpu_percent: cpu as f64 / seconds / 1e4,
        relay_cpu_us_per_viewer_second: cpu as f64 / n / seconds,
        relay_cpu_us_per_packet: if forwarded > 0 {
            cpu as f64 / forwarded as f64
        } else {
            0.0
        },
        received_percent: if forwarded > 0 {
            received.load(Relaxed) as f64 * 100.0 / forwarded as f64
        } else {
            0.0
        },
    })
}

/// Receive and send each packet on to every destination, one `sendmmsg` per packet. Returns
/// this thread's CPU time in microseconds.
fn relay_loop(
    socket: &UdpSocket,
    destinations: &[SocketAddr],
    stop: &AtomicBool,
    forwarded: &AtomicU64,
) -> u64 {
    let start = sys::thread_cpu_micros().map_or(0, |(u, s)| u + s);
    let mut buf = [0u8; 2048];
    let mut batch = sendmmsg::Batch::new(destinations);
    while !stop.load(Relaxed) {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        forwarded.fetch_add(batch.send_to_all(socket, &buf[..n]), Relaxed);
    }
    sys::thread_cpu_micros().map_or(0, |(u, s)| u + s) - start
}

fn drain(receivers: &[UdpSocket], stop: &AtomicBool, received: &AtomicU64) {
    let mut buf = [0u8; 2048];
    while !stop.load(Relaxed) {
        let mut any = false;
        for receiver in receivers {
            while receiver.recv(&mut buf).is_ok() {
                received.fetch_add(1, Relaxed);
                any = true;
            }
        }
        if !any {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Microseconds to seal one packet with AES-128-GCM (SRTP's AEAD profile).
fn srtp_seal_cost() -> Result<f64, String> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_128_GCM, &[7u8; 16]).map_err(|_| "no AES-128-GCM key")?,
    );
    let rounds = 20_000u32;
    let mut packet = vec![0x90u8; PACKET_BYTES];
    let start = Instant::now();
    for i in 0..rounds {
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&i.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&[0u8; 12]),
                &mut packet,
            )
            .map_err(|_| "sealing failed")?;
        let _ = std::hint::black_box(tag);
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds))
}

#[cfg(target_os = "linux")]
mod sendmmsg {
    //! One `sendmmsg(2)` for one payload to many destinations.

    use std::{
        net::{SocketAddr, UdpSocket},
        os::fd::AsRawFd,
    };

    pub struct Batch {
        addrs: Vec<libc::sockaddr_in>,
    }

    impl Batch {
        pub fn new(destinations: &[SocketAddr]) -> Self {
            let addrs = destinations
                .iter()
                .filter_map(|addr| match addr {
                    SocketAddr::V4(v4) => Some(libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: v4.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from(*v4.ip()).to_be(),
                        },
                        sin_zero: [0; 8],
                    }),
                    SocketAddr::V6(_) => None,
                })
                .collect();
            Self { addrs }
        }

        /// Send `payload` to every destination; how many the kernel took.
        pub fn send_to_all(&mut self, socket: &UdpSocket, payload: &[u8]) -> u64 {
            let mut iov = libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            };
            let mut sent = 0u64;
            for chunk in self.addrs.chunks_mut(1024) {
                let mut messages: Vec<libc::mmsghdr> = chunk
                    .iter_mut()
                    .map(|addr| libc::mmsghdr {
                        msg_hdr: libc::msghdr {
                            msg_name: (addr as *mut libc::sockaddr_in).cast(),
                            msg_namelen: std::mem::size_of::<libc::sockaddr_in>() as u32,
                            msg_iov: &mut iov,
                            msg_iovlen: 1,
                            msg_control: std::ptr::null_mut(),
                            msg_controllen: 0,
                            msg_flags: 0,
                        },
                        msg_len: 0,
                    })
                    .collect();
                // SAFETY: every header points at a live sockaddr_in of `self.addrs` and at
                // `iov`, which points at `payload`; all outlive the call, and the kernel only
                // reads them (it writes `msg_len` into `messages`, which we own).
                let n = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        messages.as_mut_ptr(),
                        messages.len() as u32,
                        0,
                    )
                };
                sent += u64::try_from(n).unwrap_or(0);
            }
            sent
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sendmmsg {
    use std::net::{SocketAddr, UdpSocket};

    pub struct Batch(Vec<SocketAddr>);

    impl Batch {
        pub fn new(destinations: &[SocketAddr]) -> Self {
            Self(destinations.to_vec())
        }

        pub fn send_to_all(&mut self, socket: &UdpSocket, payload: &[u8]) -> u64 {
            self.0
                .iter()
                .filter(|addr| socket.send_to(payload, addr).is_ok())
                .count() as u64
        }
    }
}
