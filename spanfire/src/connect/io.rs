//! [`InstrumentedIo`]: a connection's IO, closed for the metrics when dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

use super::metrics::{ConnectionTag, Tracked};

pin_project_lite::pin_project! {
    /// The IO of a connection made by [`InstrumentedConnector`](super::InstrumentedConnector):
    /// the inner connector's, unchanged. With connection metrics on, it is counted open until
    /// hyper-util drops it (the connection closed, was evicted from the pool, or the client
    /// was dropped), and tags its `Connected` so that requests can find it.
    pub struct InstrumentedIo<T> {
        #[pin]
        inner: T,
        tracked: Option<Arc<Tracked>>,
    }

    impl<T> PinnedDrop for InstrumentedIo<T> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(tracked) = this.project().tracked.take() {
                tracked.close();
            }
        }
    }
}

impl<T> InstrumentedIo<T> {
    pub(crate) fn new(inner: T, tracked: Option<Arc<Tracked>>) -> Self {
        InstrumentedIo { inner, tracked }
    }

    /// The inner IO.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: Connection> Connection for InstrumentedIo<T> {
    fn connected(&self) -> Connected {
        let connected = self.inner.connected();
        match &self.tracked {
            Some(tracked) => connected.extra(ConnectionTag(Arc::clone(tracked))),
            None => connected,
        }
    }
}

impl<T: Read> Read for InstrumentedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<T: Write> Write for InstrumentedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
}

impl<T> std::fmt::Debug for InstrumentedIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedIo")
            .field("tracked", &self.tracked.is_some())
            .finish_non_exhaustive()
    }
}
