//! The pure semantic-conventions core shared by every front end.
//!
//! Nothing here does I/O or reads globals: each function maps HTTP facts to OpenTelemetry
//! attribute values, so both the reqwest and the tower front end produce the same spans. (Host
//! and peer strings come from a per-thread cache, [`crate::intern`], which changes no value.)

mod attrs;
mod error_type;
mod stability;

pub(crate) use attrs::{
    error_type_of_code, method_attr, protocol_version, request_start_attributes,
    response_attributes, span_name, status_of_code, MetricAttributes,
};
pub use error_type::ErrorKind;
pub(crate) use stability::{
    old_metric_attributes, old_span_attributes, push_old_span_attributes,
    HTTP_REQUEST_CONTENT_LENGTH, HTTP_RESPONSE_CONTENT_LENGTH, OLD_DURATION,
};
pub use stability::{SemconvStability, ENV_SEMCONV_STABILITY_OPT_IN, OLD_DURATION_BUCKETS_MS};
