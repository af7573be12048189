//! What the platform wants before a thread may list or open cameras: on macOS the user's
//! permission (asked once, answered in a system dialog), on Windows COM on the calling
//! thread. On Linux nothing; the calls are the same everywhere so the camera code has
//! one path.
//!
//! Compiled and run on Linux and type-checked for Windows here; never run on a real Mac or
//! Windows machine (README, "Platforms").

use std::sync::mpsc;
use std::time::Duration;

/// How long the permission dialog may stay unanswered before opening the camera fails
/// (it is asked again on the next try).
const PERMISSION_WAIT: Duration = Duration::from_secs(120);

/// Where the user allows the camera, for the errors that say it was refused.
pub(super) const WHERE_TO_ALLOW: &str = if cfg!(target_os = "macos") {
    "System Settings > Privacy & Security > Camera: allow tinyssd (or the terminal it was \
     started from), then pick the camera again"
} else if cfg!(windows) {
    "Settings > Privacy & security > Camera: turn on \"Let desktop apps access your \
     camera\", then pick the camera again"
} else {
    "on Linux join the `video` group (sudo usermod -aG video $USER, then log in again)"
};

/// Makes the calling thread ready to list and open cameras: COM on Windows, then the
/// user's permission where the platform asks for it (nokhwa answers at once elsewhere).
pub fn prepare_thread() -> Result<(), String> {
    #[cfg(windows)]
    com::enter_apartment()?;
    if nokhwa::nokhwa_check() {
        return Ok(());
    }
    await_permission(
        |answer| nokhwa::nokhwa_initialize(move |granted| _ = answer.send(granted)),
        PERMISSION_WAIT,
    )
}

/// Asks through `request` (which hands its answer to the sender, from any thread, once)
/// and waits at most `wait` for the answer.
fn await_permission(
    request: impl FnOnce(mpsc::Sender<bool>),
    wait: Duration,
) -> Result<(), String> {
    let (answer, answered) = mpsc::channel();
    request(answer);
    match answered.recv_timeout(wait) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("camera access was refused: {WHERE_TO_ALLOW}")),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "camera access was not answered within {} s (the system's dialog asks it)",
            wait.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err("the camera library dropped the permission request without an answer".to_string())
        }
    }
}

/// COM, once per thread. nokhwa initialises it on the first thread that touches Media
/// Foundation only (a process-wide flag), so the capture thread needs its own.
#[cfg(windows)]
mod com {
    use windows::Win32::System::Com::{
        COINIT_APARTMENTTHREADED, COINIT_DISABLE_OLE1DDE, CoInitializeEx, CoUninitialize,
    };

    /// COM entered on this thread; left when the thread ends.
    struct Apartment {
        entered: Result<(), String>,
    }

    impl Apartment {
        fn enter() -> Apartment {
            // SAFETY: no reserved pointer is passed. Only `APARTMENT` constructs it, a
            // thread-local, so the matching `CoUninitialize` in `Drop` runs on this same
            // thread; the mode is nokhwa's own (single-threaded apartment), so its later
            // `CoInitializeEx` here returns S_FALSE instead of RPC_E_CHANGED_MODE.
            let entered = unsafe {
                CoInitializeEx(None, COINIT_APARTMENTTHREADED | COINIT_DISABLE_OLE1DDE).ok()
            }
            .map_err(|e| format!("cannot initialise COM on the capture thread: {e}"));
            Apartment { entered }
        }
    }

    impl Drop for Apartment {
        fn drop(&mut self) {
            if self.entered.is_ok() {
                // SAFETY: pairs the successful `CoInitializeEx` of `enter`, on the same
                // thread (the value lives in a thread-local and is never moved out).
                unsafe { CoUninitialize() };
            }
        }
    }

    thread_local! {
        static APARTMENT: Apartment = Apartment::enter();
    }

    pub fn enter_apartment() -> Result<(), String> {
        APARTMENT.with(|apartment| apartment.entered.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_from_another_thread_is_waited_for() {
        let asked = |answer: mpsc::Sender<bool>| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                _ = answer.send(true);
            });
        };
        assert_eq!(await_permission(asked, Duration::from_secs(30)), Ok(()));
    }

    #[test]
    fn a_refusal_says_where_to_allow_the_camera() {
        let error = await_permission(|answer| _ = answer.send(false), Duration::from_secs(30))
            .expect_err("refused");
        assert!(error.contains("refused"), "{error}");
        assert!(error.contains(WHERE_TO_ALLOW), "{error}");
    }

    #[test]
    fn no_answer_or_a_dropped_request_is_an_error_not_a_hang() {
        let mut kept = None;
        let unanswered = await_permission(|answer| kept = Some(answer), Duration::from_millis(50));
        assert!(unanswered.expect_err("timed out").contains("not answered"));
        let dropped = await_permission(drop, Duration::from_secs(30));
        assert!(dropped.expect_err("dropped").contains("without an answer"));
    }
}
