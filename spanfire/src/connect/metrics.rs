//! The connection metrics: `http.client.open_connections` and
//! `http.client.connection.duration`, with the state of each open connection.
//!
//! A [`Tracked`] connection counts itself open (`idle`) when the connect succeeds, `active`
//! while at least one request holds a [`Lease`] on it, `idle` again when the last lease is
//! dropped, and closed — its duration recorded, once — when its IO is dropped. All
//! transitions happen under one short lock (never across an await), so the counts always add
//! up; the attribute sets are built once per connection, so a transition allocates nothing.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry::metrics::{Histogram, Meter, UpDownCounter};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as semattr;
use opentelemetry_semantic_conventions::metric as semmetric;

/// The bucket boundaries the conventions advise for `http.client.connection.duration`, in
/// seconds.
pub const CONNECTION_DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The two connection instruments of one meter.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMetrics {
    open: UpDownCounter<i64>,
    duration: Histogram<f64>,
}

type Attributes = smallvec::SmallVec<[KeyValue; 5]>;

impl ConnectionMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        ConnectionMetrics {
            open: meter
                .i64_up_down_counter(semmetric::HTTP_CLIENT_OPEN_CONNECTIONS)
                .with_unit("{connection}")
                .with_description(
                    "Number of outbound HTTP connections that are currently active or idle on the client.",
                )
                .build(),
            duration: meter
                .f64_histogram(semmetric::HTTP_CLIENT_CONNECTION_DURATION)
                .with_unit("s")
                .with_description("The duration of the successfully established outbound HTTP connections.")
                .with_boundaries(CONNECTION_DURATION_BUCKETS.to_vec())
                .build(),
        }
    }

    /// Starts tracking a connection just opened, with these attributes (all but the state).
    pub(crate) fn open(&self, attributes: Vec<KeyValue>) -> Arc<Tracked> {
        let with_state = |state: &'static str| {
            let mut all: Attributes = attributes.iter().cloned().collect();
            all.push(KeyValue::new(semattr::HTTP_CONNECTION_STATE, state));
            all
        };
        let tracked = Tracked {
            metrics: self.clone(),
            idle: with_state("idle"),
            active: with_state("active"),
            attributes: attributes.into_iter().collect(),
            opened: Instant::now(),
            state: Mutex::new(State {
                open: true,
                in_flight: 0,
            }),
        };
        tracked.metrics.open.add(1, &tracked.idle);
        Arc::new(tracked)
    }
}

/// One open connection's metric state.
#[derive(Debug)]
pub(crate) struct Tracked {
    metrics: ConnectionMetrics,
    idle: Attributes,
    active: Attributes,
    /// For the duration: all but the state.
    attributes: Attributes,
    opened: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    open: bool,
    in_flight: usize,
}

impl Tracked {
    /// A request goes out on this connection: `active` until the lease is dropped.
    pub(crate) fn lease(self: &Arc<Self>) -> Lease {
        if let Ok(mut state) = self.state.lock() {
            if state.open && state.in_flight == 0 {
                self.metrics.open.add(-1, &self.idle);
                self.metrics.open.add(1, &self.active);
            }
            state.in_flight += 1;
        }
        Lease(Arc::clone(self))
    }

    fn release(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.open && state.in_flight == 0 {
                self.metrics.open.add(-1, &self.active);
                self.metrics.open.add(1, &self.idle);
            }
        }
    }

    /// The connection's IO was dropped: no longer open; its duration is recorded.
    pub(crate) fn close(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !std::mem::replace(&mut state.open, false) {
            return;
        }
        let counted = if state.in_flight > 0 {
            &self.active
        } else {
            &self.idle
        };
        self.metrics.open.add(-1, counted);
        let seconds = self.opened.elapsed().as_secs_f64();
        self.metrics.duration.record(seconds, &self.attributes);
    }
}

/// A request's hold on a connection (see [`Tracked::lease`]); released on drop.
#[derive(Debug)]
pub(crate) struct Lease(Arc<Tracked>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The tag a tracked connection puts in its `Connected` (so in the `CaptureConnection` and the
/// extensions of every response it carries): how a request finds the connection it got.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionTag(pub(crate) Arc<Tracked>);

/// The lease on the connection hyper-util handed to a request, once it has: `None` while the
/// request waits for one; `Some(None)` for a connection spanfire does not count.
pub(crate) fn lease_of(
    capture: &hyper_util::client::legacy::connect::CaptureConnection,
) -> Option<Option<Lease>> {
    let connected = capture.connection_metadata();
    let connected = connected.as_ref()?;
    let mut extras = http::Extensions::new();
    connected.get_extras(&mut extras);
    Some(extras.get::<ConnectionTag>().map(|tag| tag.0.lease()))
}
