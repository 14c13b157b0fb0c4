//! The stdio transport (MCP transports: stdio): the client starts the server as a child process
//! and exchanges newline-delimited JSON-RPC messages over its stdin and stdout; the server may
//! write logs to stderr. No network authorization applies.
//!
//! The framing is rmcp's (`AsyncRwTransport`, one message per line, lines capped at 16 MiB);
//! this module owns the process:
//! - The environment is not inherited: the child gets `PATH`, `HOME`, `USER`, `LOGNAME`,
//!   `SHELL`, `TERM`, `LANG`, `TMPDIR` of this process (the set the MCP TypeScript SDK's stdio
//!   client passes) plus the configured `env`, so that a store key, AWS credentials or a
//!   session secret of the multi-user server never reach a local tool server.
//! - The child leads its own process group, so that stopping it also stops what it started
//!   (`npx` → `node`, `sh -c …`).
//! - Stopping follows MCP lifecycle "Shutdown" for stdio: close the child's stdin, wait
//!   [`STOP_GRACE`] for it to exit, then SIGTERM (to the group), wait again, then SIGKILL.
//!   A [`Child`] dropped without [`Child::stop`] stops the same way in a background task; if
//!   the runtime is gone, the process is killed at once (tokio's `kill_on_drop`).
//! - stderr is forwarded to this process's stderr line by line, prefixed with the command,
//!   and its last lines are kept to explain an early exit.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};

use crate::Error;

/// How long a stdio server gets to exit after its stdin closes, and again after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The variables of this process a stdio server inherits (the MCP TypeScript SDK's stdio client
/// passes the same set by default); everything else comes from the configured `env`.
const INHERITED_ENV: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "TMPDIR"];

/// How many stderr lines are kept for error messages, and how long each may be.
const STDERR_TAIL_LINES: usize = 20;
const STDERR_LINE_MAX: usize = 500;
/// The most read of one stderr line before it is handled (the rest is the next "line").
const STDERR_READ_MAX: u64 = 8192;

/// A stdio MCP server: the command and how to start it (`server.command`, `args`, `env`,
/// `cwd` of the configuration file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StdioCommand {
    /// The program (looked up on `PATH` when it has no `/`).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables set for it, over the few inherited ones.
    pub env: Vec<(String, String)>,
    /// Its working directory (default: this process's).
    pub cwd: Option<PathBuf>,
}

/// A running stdio server. Stop it with [`Child::stop`]; dropping it stops it in the
/// background.
#[derive(Debug)]
pub struct Child {
    command: String,
    process: Mutex<Option<tokio::process::Child>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl StdioCommand {
    /// Starts the command with piped stdin, stdout and stderr.
    pub fn spawn(&self) -> Result<(Child, ChildStdout, ChildStdin), Error> {
        let mut cmd = Command::new(&self.command);
        cmd.args(&self.args)
            .env_clear()
            .envs(INHERITED_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (k, v))))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        #[cfg(unix)]
        cmd.process_group(0);
        let mut process = cmd.spawn().map_err(|e| self.failed(spawn_message(&e, self)))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (process.stdin.take(), process.stdout.take(), process.stderr.take())
        else {
            return Err(self.failed("its stdin, stdout or stderr could not be opened".into()));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(forward_stderr(self.command.clone(), stderr, Arc::clone(&tail)));
        let child = Child {
            command: self.command.clone(),
            process: Mutex::new(Some(process)),
            stderr: tail,
        };
        Ok((child, stdout, stdin))
    }

    fn failed(&self, message: String) -> Error {
        Error::McpCommand { command: self.command.clone(), message }
    }
}

fn spawn_message(e: &std::io::Error, cmd: &StdioCommand) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => match &cmd.cwd {
            Some(dir) if !dir.is_dir() => {
                format!("cannot start it: the working directory {} does not exist", dir.display())
            }
            _ => "cannot start it: no such program (is it installed, and on PATH?)".into(),
        },
        std::io::ErrorKind::PermissionDenied => {
            "cannot start it: permission denied (is it executable?)".into()
        }
        _ => format!("cannot start it: {e}"),
    }
}

async fn forward_stderr(
    command: String,
    stderr: tokio::process::ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // A line without an end is taken in pieces: memory stays bounded.
        let mut piece = (&mut lines).take(STDERR_READ_MAX);
        match piece.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let line: String = text.trim_end().chars().take(STDERR_LINE_MAX).collect();
        eprintln!("mcp-oauth: [{command}] {line}");
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

impl Child {
    /// The operating system's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.lock().as_ref().and_then(tokio::process::Child::id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<tokio::process::Child>> {
        self.process.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the session failed, when the process is the reason: it has exited (waiting up to
    /// `wait` for that). The message has the exit status and the last stderr lines.
    pub async fn exit_error(&self, wait: Duration) -> Option<Error> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let status = self.lock().as_mut().and_then(|p| p.try_wait().ok().flatten());
            if let Some(status) = status {
                // Let the stderr reader take the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
                let mut message = format!("the server exited ({status})");
                if tail.is_empty() {
                    message.push_str(" and wrote nothing to stderr");
                } else {
                    message.push_str("; its last stderr lines:\n  ");
                    message.push_str(&tail.iter().cloned().collect::<Vec<_>>().join("\n  "));
                }
                return Some(Error::McpCommand { command: self.command.clone(), message });
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process (its stdin must be closed already: the transport was dropped) and
    /// waits for it: [`STOP_GRACE`], then SIGTERM, [`STOP_GRACE`], then SIGKILL.
    pub async fn stop(self) {
        let process = self.lock().take();
        if let Some(process) = process {
            stop(process).await;
        }
    }
}

async fn stop(mut process: tokio::process::Child) {
    drop(process.stdin.take());
    if tokio::time::timeout(STOP_GRACE, process.wait()).await.is_ok() {
        return;
    }
    #[cfg(unix)]
    if let Some(group) = process.id().and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        // The group of a child this process started and has not reaped: its id is not reused.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        if tokio::time::timeout(STOP_GRACE, process.wait()).await.is_ok() {
            return;
        }
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = process.kill().await;
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(process) = self.lock().take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(stop(process));
            }
            // No runtime: `kill_on_drop` kills it.
            Err(_) => drop(process),
        }
    }
}
