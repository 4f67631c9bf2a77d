//! The pure semantic-conventions core shared by every front end.
//!
//! Nothing here does I/O, reads globals, keeps a cache or knows a client's types: each function
//! maps HTTP facts to OpenTelemetry attribute values, so every front end produces the same
//! spans. (The exchange passes host and peer strings from its per-thread cache through
//! [`Strings`]; the values are the same.)

mod attrs;
mod error_type;
mod stability;

pub(crate) use attrs::{
    request_start_attributes, response_attributes, span_name, status_of_code, MetricAttributes,
    MetricFacts, Strings,
};
pub use error_type::ErrorKind;
pub(crate) use stability::{
    old_metric_attributes, old_span_attributes, push_old_span_attributes,
    HTTP_REQUEST_CONTENT_LENGTH, HTTP_RESPONSE_CONTENT_LENGTH, OLD_DURATION,
};
pub use stability::{SemconvStability, ENV_SEMCONV_STABILITY_OPT_IN, OLD_DURATION_BUCKETS_MS};
