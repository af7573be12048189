//! What the operating system can do to the process, settled before a command runs.

/// Makes a write past a file-size limit (`ulimit -f`, a quota-like cap) fail with an
/// error the command reports, as a full disk does, instead of SIGXFSZ ending the process
/// mid-file.
#[cfg(unix)]
pub fn report_file_size_limits() {
    // SAFETY: SIG_IGN installs no handler code, so nothing can run in signal context;
    // `signal` takes only integers and touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
pub fn report_file_size_limits() {}

/// Whether standard output was closed when the program started (`>&-`). Rust's runtime
/// then opens /dev/null in its place, read-write, so everything printed would vanish
/// without an error; a command that prints its results checks first. (A shell's
/// `>/dev/null` opens it write-only: the user's choice, and not refused.)
#[cfg(unix)]
pub fn stdout_is_closed() -> bool {
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(stdout) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return true;
    };
    let (Ok(stdout_file), Ok(null)) = (
        std::fs::File::from(stdout).metadata(),
        std::fs::metadata("/dev/null"),
    ) else {
        return false;
    };
    if !stdout_file.file_type().is_char_device() || stdout_file.rdev() != null.rdev() {
        return false;
    }
    // SAFETY: F_GETFL only reads the descriptor's flags; it takes no pointer, and the
    // descriptor is the process's standard output, open for the whole run.
    let flags = unsafe { libc::fcntl(std::io::stdout().as_raw_fd(), libc::F_GETFL) };
    flags != -1 && flags & libc::O_ACCMODE == libc::O_RDWR
}

#[cfg(not(unix))]
pub fn stdout_is_closed() -> bool {
    false
}
