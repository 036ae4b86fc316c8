//! Reading each socket in bursts.
//!
//! The WebSocket layer reads at most 512 bytes at a time: its buffer stays allocated for the
//! life of a connection, and most connections are idle (see `READ_BUFFER_BYTES` in `signaling`). A
//! busy connection then costs one `recv` per 512 bytes. [`BurstReader`] sits under it: a
//! small read is served by one `recv` of up to [`BURST`] bytes into a buffer on the stack, and
//! what the caller could not take yet waits in `pending` until it asks again. `pending` is
//! freed as soon as it is drained, so an idle connection holds nothing more than before.

use std::{
    io,
    mem::MaybeUninit,
    net::SocketAddr,
    pin::Pin,
    task::{ready, Context, Poll},
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// Most bytes one `recv` takes for a small read.
pub const BURST: usize = 16 * 1024;

/// A socket read in bursts (see the module docs).
pub struct BurstReader<T> {
    inner: T,
    /// Read from the socket, not yet handed out; `None` when drained.
    pending: Option<Box<[u8]>>,
    /// How much of `pending` is handed out.
    taken: usize,
}

impl<T> BurstReader<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
            taken: 0,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for BurstReader<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(pending) = &this.pending {
            let n = (pending.len() - this.taken).min(buf.remaining());
            buf.put_slice(&pending[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == pending.len() {
                this.pending = None;
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= BURST {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut space = [MaybeUninit::<u8>::uninit(); BURST];
        let mut burst = ReadBuf::uninit(&mut space);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut burst))?;
        let read = burst.filled();
        let n = read.len().min(buf.remaining());
        buf.put_slice(&read[..n]);
        if n < read.len() {
            this.pending = Some(read[n..].into());
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for BurstReader<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The server's listener: every accepted socket read in bursts.
pub struct BurstListener(pub TcpListener);

impl Listener for BurstListener {
    type Io = BurstReader<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = Listener::accept(&mut self.0).await;
        (BurstReader::new(tcp), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_get_every_byte_in_order_and_the_rest_waits() {
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        let sent: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&sent).await.expect("write");
        drop(writer);
        let mut reader = BurstReader::new(reader);
        let mut got = Vec::new();
        let mut small = [0u8; 300];
        loop {
            let n = reader.read(&mut small).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            // Nothing is kept once it has all been handed out.
            assert!(reader.pending.is_some() || reader.taken == 0);
            if let Some(pending) = &reader.pending {
                assert!(reader.taken < pending.len());
            }
        }
        assert_eq!(got, sent);
        assert!(reader.pending.is_none());
    }

    #[tokio::test]
    async fn big_reads_go_straight_to_the_socket() {
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        writer.write_all(&[7u8; 1000]).await.expect("write");
        let mut reader = BurstReader::new(reader);
        let mut big = vec![0u8; BURST];
        assert_eq!(reader.read(&mut big).await.expect("read"), 1000);
        assert!(reader.pending.is_none());
    }
}
