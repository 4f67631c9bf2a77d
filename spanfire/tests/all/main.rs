//! Integration suite: real reqwest clients against a real hyper server on loopback.

mod support;

mod attempts;
mod batches;
mod body_props;
mod collector;
mod concurrency;
mod connections;
mod export_http;
mod front_counts;
mod frontends;
mod hostile;
mod httpbin;
mod leak;
mod logfire_attrs;
#[cfg(feature = "logfire")]
mod logfire_crate;
mod logfire_receiver;
mod metrics;
mod options;
mod pressure;
mod redirects;
mod reference;
mod reqwest_client;
mod semconv_dup;
mod ureq_client;
