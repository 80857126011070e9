//! PROVISIONAL
pub mod event;
