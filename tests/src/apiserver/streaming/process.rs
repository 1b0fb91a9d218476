//! What runs "inside the container" for exec and attach, independent of the
//! wire protocol: the pod's context, the process's standard streams as
//! channels, terminal sizes, and how an exit code is reported to kubectl on
//! the error stream (exactly as the kubelet writes it).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::log_buffer::LogBuffer;
use super::pod_fs::PodFs;
use super::shell;
use super::terminal::{ClientInput, Out};

/// The container a process runs in.
#[derive(Debug, Clone)]
pub struct PodContext {
    /// Namespace.
    pub namespace: String,
    /// Pod name (also the hostname).
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Initial working directory.
    pub working_dir: String,
    /// The container's filesystem.
    pub fs: Arc<Mutex<PodFs>>,
    /// The container's log.
    pub log: Arc<LogBuffer>,
}

/// Output of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Stdout(Bytes),
    /// Standard error (never sent with a TTY).
    Stderr(Bytes),
}

/// A terminal size from the resize stream (`remotecommand.TerminalSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Decodes the resize stream: JSON objects, one per message (WebSocket)
/// or newline-delimited in a byte stream (SPDY).
#[derive(Debug, Default)]
pub struct ResizeDecoder {
    pending: Vec<u8>,
}

impl ResizeDecoder {
    /// Feeds bytes; returns every complete size.
    pub fn feed(&mut self, data: &[u8]) -> Vec<TerminalSize> {
        self.pending.extend_from_slice(data);
        let mut sizes = Vec::new();
        let mut consumed = 0;
        let mut stream =
            serde_json::Deserializer::from_slice(&self.pending).into_iter::<TerminalSize>();
        while let Some(item) = stream.next() {
            match item {
                Ok(size) => {
                    sizes.push(size);
                    consumed = stream.byte_offset();
                }
                Err(e) if e.is_eof() => break,
                Err(_) => {
                    // Not a size: drop what we have and resynchronise.
                    consumed = self.pending.len();
                    break;
                }
            }
        }
        self.pending.drain(..consumed);
        sizes
    }
}

/// The process's standard streams.
#[derive(Debug)]
pub struct ProcessIo {
    /// Standard input (`None` if not attached); closes at end of input.
    pub stdin: Option<mpsc::UnboundedReceiver<Bytes>>,
    /// Where output goes.
    pub out: mpsc::UnboundedSender<Output>,
    /// Whether a TTY was requested (stderr merges into stdout, `\n`
    /// becomes `\r\n`, input is echoed and line-edited).
    pub tty: bool,
    /// The latest terminal size.
    pub size: watch::Receiver<Option<TerminalSize>>,
}

/// What kubectl asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// `exec`: this command line.
    Exec(Vec<String>),
    /// `attach`: the container's main process.
    Attach,
}

/// Runs `program` to completion; returns its exit code.
pub async fn run(program: &Program, ctx: &PodContext, io: ProcessIo) -> i32 {
    match program {
        Program::Exec(argv) => shell::exec(argv, ctx, io).await,
        Program::Attach => attach(ctx, io).await,
    }
}

/// The main process: `cat` on stdin, and it prints its log lines as they
/// are written. Ends (exit 0) when its stdin ends; without stdin, runs
/// until the client goes away.
async fn attach(ctx: &PodContext, io: ProcessIo) -> i32 {
    let mut log = ctx.log.subscribe();
    let mut cursor = ctx.log.len();
    let has_stdin = io.stdin.is_some();
    let mut input = ClientInput::new(io.stdin, io.tty, io.out.clone());
    let mut stdout = Out::client(io.out.clone(), false, io.tty);
    loop {
        tokio::select! {
            chunk = input.read(), if has_stdin => match chunk {
                Some(data) => stdout.write(&data),
                None => return 0,
            },
            changed = log.changed() => {
                if changed.is_err() {
                    return 0;
                }
                for line in ctx.log.lines_from(cursor) {
                    cursor += 1;
                    stdout.write(format!("{}\n", line.text).as_bytes());
                }
            }
        }
    }
}

/// The reason and cause type kubelet uses for a non-zero exit.
pub const NON_ZERO_EXIT_CODE: &str = "NonZeroExitCode";

/// The error-stream message for `code` (protocol v4 and later): a
/// `metav1.Status` marshalled like the kubelet's.
pub fn exit_status_v4(argv: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command {}, exit code {code}",
            go_slice(argv)
        ),
        "reason": NON_ZERO_EXIT_CODE,
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The error-stream text for `code` before v4 (nothing on success).
pub fn exit_status_legacy(argv: &[String], code: i32) -> Option<String> {
    (code != 0).then(|| {
        format!(
            "error executing command {}, exit code {code}",
            go_slice(argv)
        )
    })
}

/// `[a b c]`, as Go prints a `[]string`.
pub fn go_slice(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests;
