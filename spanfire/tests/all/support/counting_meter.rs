//! A meter provider that counts the instruments created through it (measurements go nowhere):
//! for tests that instruments are created once, however many clients are built.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use opentelemetry::metrics::{
    Histogram, HistogramBuilder, InstrumentBuilder, InstrumentProvider, Meter, MeterProvider,
    SyncInstrument, UpDownCounter,
};
use opentelemetry::{InstrumentationScope, KeyValue};

/// Counts the instruments created through it; clones share the count.
#[derive(Clone, Default)]
pub struct CountingMeterProvider(Arc<AtomicUsize>);

impl CountingMeterProvider {
    /// How many instruments were created so far.
    pub fn created(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Noop;
impl<T> SyncInstrument<T> for Noop {
    fn measure(&self, _: T, _: &[KeyValue]) {}
}

struct CountingInstruments(Arc<AtomicUsize>);

impl InstrumentProvider for CountingInstruments {
    fn f64_histogram(&self, _: HistogramBuilder<'_, Histogram<f64>>) -> Histogram<f64> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Histogram::new(Arc::new(Noop))
    }
    fn u64_histogram(&self, _: HistogramBuilder<'_, Histogram<u64>>) -> Histogram<u64> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Histogram::new(Arc::new(Noop))
    }
    fn i64_up_down_counter(
        &self,
        _: InstrumentBuilder<'_, UpDownCounter<i64>>,
    ) -> UpDownCounter<i64> {
        self.0.fetch_add(1, Ordering::SeqCst);
        UpDownCounter::new(Arc::new(Noop))
    }
}

impl MeterProvider for CountingMeterProvider {
    fn meter_with_scope(&self, _: InstrumentationScope) -> Meter {
        Meter::new(Arc::new(CountingInstruments(Arc::clone(&self.0))))
    }
}
