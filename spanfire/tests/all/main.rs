//! Integration suite: real reqwest clients against a real hyper server on loopback.

mod support;

mod options;
mod reqwest_client;
