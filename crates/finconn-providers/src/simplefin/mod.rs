//! The SimpleFIN connector (protocol 1.0 and the v2 draft).

pub mod access;
pub mod category;
pub mod money;
pub mod token;
pub mod wire;
