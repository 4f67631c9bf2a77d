//! [`SpanfireLayer`].

use std::sync::Arc;

use crate::exchange::Inner;

use super::SpanfireService;

/// A tower layer that instruments an HTTP client service; built by
/// [`HttpClientInstrumentation::layer`](crate::HttpClientInstrumentation::layer).
#[derive(Debug, Clone)]
pub struct SpanfireLayer {
    inner: Arc<Inner>,
}

impl SpanfireLayer {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SpanfireLayer { inner }
    }
}

impl<S> tower_layer::Layer<S> for SpanfireLayer {
    type Service = SpanfireService<S>;

    fn layer(&self, service: S) -> SpanfireService<S> {
        SpanfireService::new(service, Arc::clone(&self.inner))
    }
}
