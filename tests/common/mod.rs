//! The test kit under its old name, for test files not moved to `mod kit` yet.
#[path = "../kit/mod.rs"]
mod kit;
#[allow(unused_imports)]
pub use kit::*;
