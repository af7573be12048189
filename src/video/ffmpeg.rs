//! The leash ffmpeg's programs run on: they read the named file only (the `file`
//! protocol, a whitelist of video containers, so no playlist or concat list leads them
//! to other files, pipes or the network), every wait for them has a time limit, and on
//! Linux they die with the thread that started them, so no exit path leaves one behind.
//! When ffmpeg is missing, the error names the package to install.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How much of ffmpeg's error output is kept for the message.
const STDERR_KEPT: usize = 2048;
const INSTALL_HINT: &str =
    "install ffmpeg (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg)";
/// The containers ffmpeg may open (its demuxer names): video files, and nothing that
/// refers to other files (concat lists, HLS/DASH playlists, image sequences).
const CONTAINERS: &str =
    "mov,matroska,webm,avi,h264,hevc,mpegts,mpeg,mpegvideo,flv,ogg,asf,m4v,ivf,obu";

/// The options that make ffmpeg and ffprobe read `path` as a local video file only.
pub(super) fn input_args(path: &Path) -> [OsString; 5] {
    [
        "-protocol_whitelist".into(),
        "file".into(),
        "-format_whitelist".into(),
        CONTAINERS.into(),
        file_url(path),
    ]
}

/// `path` as ffmpeg's URL of a local file: a name with a colon (`a:b.mp4`) is not
/// taken for a protocol.
pub(super) fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path);
    url
}

/// A command for one of ffmpeg's programs. On Linux the child is killed when the
/// thread that starts it ends (the capture thread, or the process at start-up), so a
/// crash or a hurried exit leaves no ffmpeg behind.
pub(super) fn ffmpeg_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: it makes one `prctl` system call with
        // integer arguments, allocates nothing and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command
}

/// Runs `command` to its end and returns its status and output, or kills it once
/// `limit` has passed.
pub(super) fn output_within(
    mut command: Command,
    limit: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| spawn_failure(&program, &error))?;
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = match exit_within(&mut child, limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} gave no answer in {} s: stopped it (does the file make it wait, like a pipe?)",
                limit.as_secs_f32()
            ));
        }
        Err(error) => return Err(format!("cannot wait for {program}: {error}")),
    };
    let joined = |reader: std::thread::JoinHandle<String>| reader.join().unwrap_or_default();
    Ok((status, joined(stdout), joined(stderr)))
}

/// The child's exit status once it has exited, or None if it has not within `limit`
/// (it is left running).
pub(super) fn exit_within(
    child: &mut Child,
    limit: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait()? {
            Some(status) => return Ok(Some(status)),
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            None => return Ok(None),
        }
    }
}

pub(super) fn spawn_failure(program: &str, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        format!("{program} is not installed: {INSTALL_HINT}")
    } else {
        format!("cannot run {program}: {error}")
    }
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no reason given")
}

/// The end of a child's error output (its last [`STDERR_KEPT`] bytes), read by a thread
/// of its own so that the child never blocks on a full pipe.
pub(super) struct ErrorTail {
    kept: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
}

impl ErrorTail {
    pub(super) fn start(stderr: ChildStderr) -> std::io::Result<ErrorTail> {
        let kept = Arc::new(Mutex::new(String::new()));
        let drain = std::thread::Builder::new()
            .name("tinyssd-ffmpeg-errors".into())
            .spawn({
                let kept = kept.clone();
                move || keep_the_end(stderr, &kept)
            })?;
        Ok(ErrorTail {
            kept,
            drain: Some(drain),
        })
    }

    /// All the child said, once it has ended (its error output then closes).
    pub(super) fn finish(&mut self) -> String {
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        self.kept.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// The error-drain thread: keeps the last [`STDERR_KEPT`] bytes ffmpeg writes.
fn keep_the_end(mut stderr: ChildStderr, kept: &Mutex<String>) {
    let mut chunk = [0_u8; 512];
    while let Ok(n @ 1..) = stderr.read(&mut chunk) {
        if let (Ok(mut text), Some(bytes)) = (kept.lock(), chunk.get(..n)) {
            text.push_str(&String::from_utf8_lossy(bytes));
            if text.len() > STDERR_KEPT {
                let cut = text.len() - STDERR_KEPT;
                let cut = (cut..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                text.drain(..cut);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_does_not_answer_is_stopped_at_its_limit() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let started = Instant::now();
        let error = output_within(sleeper, Duration::from_millis(200)).expect_err("stopped");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(error.contains("sleep gave no answer in 0.2 s"), "{error}");
    }
}
