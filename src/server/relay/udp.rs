//! The relay's UDP socket: read in batches (`recvmmsg`, GRO) with each datagram's destination
//! address, written without waiting. `quinn-udp` does the system calls.

use std::{
    io::{self, IoSliceMut},
    net::{IpAddr, SocketAddr},
};

use prometheus_client::metrics::counter::Counter;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};

use super::metrics::Traffic;
use tokio::{io::Interest, net::UdpSocket};

/// Room for one datagram in a receive buffer (a GRO batch is several of these).
const DATAGRAM_ROOM: usize = 2048;
/// Socket buffers sized for bursts: a key frame to hundreds of viewers is thousands of packets.
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

pub(super) struct UdpPort {
    socket: UdpSocket,
    state: UdpSocketState,
    port: u16,
    /// Datagrams the kernel would not take at once, dropped rather than queued.
    dropped: Counter,
    traffic: Traffic,
}

/// One datagram read: where from, to which of our addresses, and its bytes.
pub(super) struct Datagram<'a> {
    pub(super) source: SocketAddr,
    pub(super) destination: SocketAddr,
    pub(super) contents: &'a [u8],
}

/// The receive buffers, allocated once.
pub(super) struct RecvBuffers {
    bytes: Vec<u8>,
    chunk: usize,
    meta: [RecvMeta; BATCH_SIZE],
    filled: usize,
}

impl UdpPort {
    pub(super) fn bind(addr: SocketAddr, dropped: Counter, traffic: Traffic) -> io::Result<Self> {
        let std_socket = std::net::UdpSocket::bind(addr)?;
        std_socket.set_nonblocking(true)?;
        let state = UdpSocketState::new((&std_socket).into())?;
        // Best effort: a smaller buffer only means drops under a burst, which are counted.
        let _ = state.set_send_buffer_size((&std_socket).into(), SOCKET_BUFFER_BYTES);
        let _ = state.set_recv_buffer_size((&std_socket).into(), SOCKET_BUFFER_BYTES);
        let port = std_socket.local_addr()?.port();
        Ok(Self {
            socket: UdpSocket::from_std(std_socket)?,
            state,
            port,
            dropped,
            traffic,
        })
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn buffers(&self) -> RecvBuffers {
        let chunk = DATAGRAM_ROOM * self.state.gro_segments().max(1);
        RecvBuffers {
            bytes: vec![0; chunk * BATCH_SIZE],
            chunk,
            meta: [RecvMeta::default(); BATCH_SIZE],
            filled: 0,
        }
    }

    pub(super) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Read what is waiting, up to one batch; `Ok(false)` when nothing was.
    pub(super) fn try_recv(&self, buffers: &mut RecvBuffers) -> io::Result<bool> {
        let mut chunks = buffers.bytes.chunks_mut(buffers.chunk);
        let mut slices: [IoSliceMut<'_>; BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let result = self.socket.try_io(Interest::READABLE, || {
            self.state
                .recv((&self.socket).into(), &mut slices, &mut buffers.meta)
        });
        match result {
            Ok(filled) => {
                buffers.filled = filled;
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                buffers.filled = 0;
                Ok(false)
            }
            Err(err) => {
                buffers.filled = 0;
                Err(err)
            }
        }
    }

    /// Send one datagram from `source` (one of our announced addresses), now or never.
    pub(super) fn send(&mut self, source: IpAddr, destination: SocketAddr, contents: &[u8]) {
        let transmit = Transmit {
            destination,
            ecn: None,
            contents,
            segment_size: None,
            src_ip: (!source.is_unspecified()).then_some(source),
        };
        if self
            .state
            .try_send((&self.socket).into(), &transmit)
            .is_err()
        {
            self.dropped.inc();
        } else {
            self.traffic.sent_datagrams.inc();
            self.traffic.sent_bytes.inc_by(contents.len() as u64);
        }
    }
}

impl RecvBuffers {
    /// The datagrams of the last read, a GRO batch split into its datagrams. `port` is the
    /// socket's, for the destination address.
    pub(super) fn datagrams(&self, port: u16) -> impl Iterator<Item = Datagram<'_>> {
        let chunks = self.bytes.chunks(self.chunk);
        self.meta[..self.filled]
            .iter()
            .zip(chunks)
            .filter_map(move |(meta, chunk)| {
                // Without its destination a datagram cannot be matched to a candidate.
                let destination = SocketAddr::new(meta.dst_ip?, port);
                let received = chunk.get(..meta.len)?;
                Some(
                    received
                        .chunks(meta.stride.max(1))
                        .map(move |contents| Datagram {
                            source: meta.addr,
                            destination,
                            contents,
                        }),
                )
            })
            .flatten()
    }
}
