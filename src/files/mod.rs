//! The file rules every reader and writer of the crate follows: read only regular files,
//! never more than a cap ([`read`]); never replace an input, an earlier output of the
//! same run or (unless told to) any existing file ([`write`]).

pub mod read;
pub mod write;

pub use read::{FileVersion, ReadError, check_regular_file, read_capped, read_text_capped};
pub use write::{
    AtomicOutput, FileId, RunInputs, WriteError, numbered_path, same_file, write_file, write_json,
};
