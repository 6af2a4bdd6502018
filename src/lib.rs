//! # sdrhub
//!
//! The gateway of sdrhub: configuration, the live pipeline from IQ sources to events, the event
//! hub, the REST API, WebSocket sessions and the embedded dashboard. The signal processing lives
//! in `sdrhub-dsp` and the IQ sources in `sdrhub-hardware`; this crate wires them together.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut config = sdrhub::config::Config::default();
//! config.server.bind = "127.0.0.1:0".into();
//! let server = sdrhub::roles::RunningServer::start(config)?;
//! println!("dashboard at http://{}/", server.addr);
//! server.stop().await
//! # }
//! ```
#![warn(missing_docs)]

pub mod alerts;
pub mod api;
pub mod app_state;
pub mod audio;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod events;
pub mod frame;
pub mod head_deadline;
pub mod history;
pub mod hub;
pub mod pipeline;
pub mod roles;
pub mod server;
pub mod tools;
pub mod web;
pub mod ws;
