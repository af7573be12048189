//! The user's own scene, labelled by the user: on paused frames, boxes the detector found
//! are marked right or wrong and boxes it missed are drawn ([`marks`]); the marked frames
//! are kept as a small data set in the VOCdevkit layout that `tinyssd eval` and
//! `tinyssd tune` read unchanged ([`folder`]); and thresholds are suggested from the marks
//! by `tinyssd tune`'s own rule ([`suggest`]).
//!
//! A mark judges one box and nothing else: what the detector finds on a marked frame and
//! the user did not judge counts neither way. In the VOC files such boxes are written as
//! *difficult* objects, which VOC's matching leaves out ([`crate::eval::ap`]), so
//! evaluating the folder gives exactly the curves the marks give.

mod folder;
mod marks;
mod suggest;

pub use folder::{MARKS_FILE, SceneError, SceneFolder};
pub use marks::{FrameMarks, Mark, Verdict, best_candidate, candidate_config};
pub use suggest::{ClassSuggestion, MIN_MARKS_PER_CLASS, suggest};
