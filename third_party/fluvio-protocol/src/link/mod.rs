mod error_code;
pub mod smartmodule;
pub mod versions;

pub use error_code::*;
