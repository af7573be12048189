//! Which camera the user means: by index or by (part of) its name.

use std::fmt;

/// Which camera: by index or by (part of) its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSelector {
    Index(u32),
    Name(String),
}

impl fmt::Display for CameraSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraSelector::Index(index) => write!(f, "{index}"),
            CameraSelector::Name(name) => f.write_str(name),
        }
    }
}
