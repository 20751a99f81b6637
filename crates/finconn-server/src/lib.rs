#![doc = include_str!("../README.md")]

pub mod api;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod expand;
pub mod extract;
pub mod jobs;
pub mod json;
pub mod link;
pub mod metrics;
pub mod ratelimit;
pub mod router;
pub mod startup;
pub mod telemetry;
pub mod unit;
