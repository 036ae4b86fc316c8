//! Floor mode: what its bare relay and its clients share. A message is `--candidate-bytes`
//! bytes, the recipient's index and the send time first; the phases of the run; and the
//! non-blocking connection both sides read and write with.

use std::io::{self, ErrorKind, Read, Write};

use mio::{net::TcpStream, Interest, Poll, Token};

/// Recipient index (u32) and send time in ns on the run's clock (u64), little-endian.
pub const HEADER: usize = 12;
/// One `recv` takes up to this much, as the server's burst reads do.
pub const READ_CHUNK: usize = 16 * 1024;

/// Phases, announced by the clients to the relay thread.
pub const WARMING: u8 = 0;
pub const MEASURING: u8 = 1;
pub const DRAINING: u8 = 2;
pub const STOP: u8 = 3;

/// A non-blocking connection with what was read but not yet handled and what waits to go out.
pub struct Conn {
    stream: TcpStream,
    pub read: Vec<u8>,
    pub out: Vec<u8>,
    /// Registered for writable: `out` did not all fit.
    blocked: bool,
    /// In the relay's list of recipients to write this turn.
    pub pending: bool,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            read: Vec::new(),
            out: Vec::new(),
            blocked: false,
            pending: false,
        }
    }

    /// Write `out` as far as the socket takes it; the number of `send` calls.
    pub fn flush(&mut self, poll: &Poll, token: Token) -> io::Result<u64> {
        let mut calls = 0;
        while !self.out.is_empty() {
            calls += 1;
            match self.stream.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let blocked = !self.out.is_empty();
        if blocked != self.blocked {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(&mut self.stream, token, interest)?;
            self.blocked = blocked;
        }
        Ok(calls)
    }

    /// Read what the socket holds; the number of `recv` calls. A read that does not fill
    /// `chunk` emptied the socket, and epoll reports the next arrival: no call to see it
    /// would block (tokio reads the same way).
    pub fn fill(&mut self, chunk: &mut [u8]) -> io::Result<u64> {
        let mut calls = 0;
        loop {
            calls += 1;
            match self.stream.read(chunk) {
                Ok(0) => return Ok(calls),
                Ok(n) => {
                    self.read.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        return Ok(calls);
                    }
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(calls),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// Hand each whole message in `read` to `each`, keep the rest.
pub fn take_messages(read: &mut Vec<u8>, size: usize, mut each: impl FnMut(&[u8])) {
    let whole = read.len() / size * size;
    for message in read[..whole].chunks_exact(size) {
        each(message);
    }
    read.drain(..whole);
}

/// The index of the connection a message is for.
pub fn recipient(message: &[u8]) -> usize {
    let mut index = [0; 4];
    index.copy_from_slice(&message[..4]);
    u32::from_le_bytes(index) as usize
}

/// When a message was sent, in ns on the run's clock.
pub fn sent_at(message: &[u8]) -> u64 {
    let mut nanos = [0; 8];
    nanos.copy_from_slice(&message[4..HEADER]);
    u64::from_le_bytes(nanos)
}
