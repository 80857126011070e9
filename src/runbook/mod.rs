//! Runbooks: the file format, the typed model, loading YAML with places, schema generation and
//! validation.

pub mod check;
pub mod duration;
pub mod format;
pub mod load;
pub mod model;
pub mod rollout;
pub mod schema;
mod schema_errors;
pub mod shell;
pub mod validate;

pub use duration::Duration;
pub use model::*;
