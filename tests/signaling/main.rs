//! The signaling server and the media relay end to end: a real server on loopback per test,
//! real WebSocket clients, and str0m WebRTC clients for the relay. One test binary, one file
//! per topic.
//!
//! Run with `cargo test --features ssr --test signaling`.

#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_nodes;
mod common;
mod http;
mod media_peer;
mod rooms;

mod across_nodes;
mod bad_input;
mod broadcast;
mod cascade;
mod chat;
mod clock;
mod cluster;
mod keys;
mod limits;
mod pages;
mod recording;
mod relay;
mod routing;
mod server;
mod simulcast;
mod spare_offers;
mod tls;
mod whep;
mod whip;
