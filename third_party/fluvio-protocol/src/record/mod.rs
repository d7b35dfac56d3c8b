#![allow(clippy::len_without_is_empty)]
#![allow(clippy::should_implement_trait)]

mod data;
pub use self::data::*;

mod batch;
mod replica;
pub use batch::*;
pub use replica::*;

pub type Offset = i64;
pub type Size = u32;
pub type Size64 = u64;
