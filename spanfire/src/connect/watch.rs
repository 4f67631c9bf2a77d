//! [`Watch`] and [`Connecting`]: one connect, watched from its call to its end.
//!
//! Both front ends' connectors do the same thing: when called inside a request whose context
//! holds a [`Slot`], start an [`Attempt`], keep it current on every poll of the inner connect,
//! and at the end hand the attempt's events to the slot — only if the request's context is
//! current at that moment (checked after the attempt's own context is detached). Called
//! anywhere else (an unsampled request, phases off), a connect is not watched and costs
//! nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::attempt::{Attempt, Outcome};
use super::slot::Slot;

/// A connect watched for a request's span.
#[derive(Debug)]
pub(crate) struct Watch {
    slot: Slot,
    attempt: Attempt,
    cx: opentelemetry::Context,
}

impl Watch {
    /// Starts watching a connect called now, if the current request collects phases.
    pub(crate) fn begin() -> Option<Watch> {
        let slot = Slot::current()?;
        let attempt = Attempt::start();
        let cx = attempt.context();
        Some(Watch { slot, attempt, cx })
    }

    /// Makes the attempt current (for the inner connector's `call`, which may already start
    /// its parts: hyper-rustls calls the TCP connector there).
    pub(crate) fn attach(watch: &Option<Watch>) -> Option<opentelemetry::ContextGuard> {
        watch.as_ref().map(|w| w.cx.clone().attach())
    }

    /// The request is HTTPS (its connect includes a TLS handshake).
    #[cfg(feature = "reqwest")]
    pub(crate) fn https(&self) -> bool {
        self.slot.https()
    }

    /// The connect ended as `outcome`: its phases go to the request, if the request is the
    /// one polling.
    pub(crate) fn finish(self, outcome: &Outcome) {
        if self.slot.is_current() {
            self.slot.connected(self.attempt.events(outcome));
        }
    }
}

/// What a connector does with the inner connect's output.
pub(crate) trait Finish<O> {
    /// The connector's output.
    type Output;
    /// How the connect ended, for its phase events (only called for a watched connect).
    fn describe(&self, output: &O) -> Outcome;
    /// The connector's output (e.g. the connection wrapped for metrics).
    fn finish(self, output: O) -> Self::Output;
}

pin_project_lite::pin_project! {
    /// A connect in progress: the inner connector's future, polled with its attempt current;
    /// its output described and finished by `finish`.
    pub(crate) struct Connecting<F, H> {
        #[pin]
        inner: F,
        watch: Option<Watch>,
        finish: Option<H>,
    }
}

impl<F, H> Connecting<F, H> {
    pub(crate) fn new(inner: F, watch: Option<Watch>, finish: H) -> Self {
        Connecting {
            inner,
            watch,
            finish: Some(finish),
        }
    }
}

impl<F, H> Future for Connecting<F, H>
where
    F: Future,
    H: Finish<F::Output>,
{
    type Output = H::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<H::Output> {
        let this = self.project();
        let attached = Watch::attach(this.watch);
        let output = ready!(this.inner.poll(cx));
        drop(attached);
        let Some(finish) = this.finish.take() else {
            // polled after completion: the caller's contract violation; never panic
            return Poll::Pending;
        };
        if let Some(watch) = this.watch.take() {
            watch.finish(&finish.describe(&output));
        }
        Poll::Ready(finish.finish(output))
    }
}

impl<F, H> std::fmt::Debug for Connecting<F, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connecting")
            .field("watched", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}
