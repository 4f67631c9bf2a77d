//! [`CountResends`]: a tower retry policy wrapper that numbers the attempts it makes, so that
//! spanfire's layer placed inside tower's `Retry` records `http.request.resend_count`.

use http::Request;

use crate::ResendCount;

/// Wraps a [`tower::retry::Policy`](::tower::retry::Policy) for `http::Request`s: every
/// request the policy clones for a retry carries [`ResendCount`] = its resend number (1, 2, …).
/// Put spanfire's layer *inside* the retry layer and each attempt is its own span, the first
/// without `http.request.resend_count`, each resend with its number; metrics are recorded per
/// attempt, as the semantic conventions ask.
///
/// ```
/// use spanfire::tower::CountResends;
/// use tower::retry::RetryLayer;
/// use tower::ServiceBuilder;
///
/// # fn build<P: Clone, S>(policy: P, client: S) {
/// let service = ServiceBuilder::new()
///     .layer(RetryLayer::new(CountResends::new(policy)))
///     .layer(spanfire::HttpClientInstrumentation::new().layer())
///     .service(client);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CountResends<P>(P);

impl<P> CountResends<P> {
    /// Wraps `policy`.
    pub fn new(policy: P) -> Self {
        CountResends(policy)
    }

    /// The wrapped policy.
    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P, B, Res, E> ::tower::retry::Policy<Request<B>, Res, E> for CountResends<P>
where
    P: ::tower::retry::Policy<Request<B>, Res, E>,
{
    type Future = P::Future;

    fn retry(&mut self, req: &mut Request<B>, result: &mut Result<Res, E>) -> Option<P::Future> {
        self.0.retry(req, result)
    }

    /// The clone is sent only when the request is retried: it is the next resend.
    fn clone_request(&mut self, req: &Request<B>) -> Option<Request<B>> {
        let mut clone = self.0.clone_request(req)?;
        let previous = req.extensions().get::<ResendCount>().map_or(0, |r| r.0);
        clone
            .extensions_mut()
            .insert(ResendCount(previous.saturating_add(1)));
        Some(clone)
    }
}
