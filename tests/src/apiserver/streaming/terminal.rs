//! The process side of standard streams: reading the client's stdin (with
//! a TTY's line discipline when one was requested) and writing output
//! (a TTY turns `\n` into `\r\n` and has no separate stderr).

use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::process::Output;

/// The client's stdin as the process reads it.
#[derive(Debug)]
pub struct ClientInput {
    rx: Option<mpsc::UnboundedReceiver<Bytes>>,
    line: Option<LineDiscipline>,
}

/// Canonical mode of a terminal: echo, line editing, `^D` as end of input.
#[derive(Debug)]
struct LineDiscipline {
    echo: mpsc::UnboundedSender<Output>,
    line: Vec<u8>,
    ready: VecDeque<Bytes>,
    eof: bool,
}

impl LineDiscipline {
    fn echo(&self, bytes: &[u8]) {
        let _ = self
            .echo
            .send(Output::Stdout(Bytes::copy_from_slice(bytes)));
    }

    fn feed(&mut self, data: &[u8]) {
        for &b in data {
            match b {
                b'\r' | b'\n' => {
                    self.line.push(b'\n');
                    self.echo(b"\r\n");
                    self.ready
                        .push_back(Bytes::from(std::mem::take(&mut self.line)));
                }
                0x7f | 0x08 => {
                    if self.line.pop().is_some() {
                        self.echo(b"\x08 \x08");
                    }
                }
                0x03 => {
                    self.line.clear();
                    self.echo(b"^C\r\n");
                }
                0x04 => {
                    if self.line.is_empty() {
                        self.eof = true;
                    } else {
                        self.ready
                            .push_back(Bytes::from(std::mem::take(&mut self.line)));
                    }
                }
                _ => {
                    self.line.push(b);
                    self.echo(&[b]);
                }
            }
        }
    }
}

impl ClientInput {
    /// Input from `rx` (`None`: no stdin, reads end at once); with `tty`,
    /// through a line discipline that echoes to `echo`.
    pub fn new(
        rx: Option<mpsc::UnboundedReceiver<Bytes>>,
        tty: bool,
        echo: mpsc::UnboundedSender<Output>,
    ) -> ClientInput {
        ClientInput {
            rx,
            line: tty.then(|| LineDiscipline {
                echo,
                line: Vec::new(),
                ready: VecDeque::new(),
                eof: false,
            }),
        }
    }

    /// The next chunk (a whole line with a TTY); `None` at end of input.
    /// With a TTY, `^D` ends input once and reading may go on afterwards.
    pub async fn read(&mut self) -> Option<Bytes> {
        loop {
            if let Some(ld) = &mut self.line {
                if let Some(line) = ld.ready.pop_front() {
                    return Some(line);
                }
                if ld.eof {
                    ld.eof = false;
                    return None;
                }
            }
            let rx = self.rx.as_mut()?;
            match rx.recv().await {
                Some(chunk) => match &mut self.line {
                    Some(ld) => ld.feed(&chunk),
                    None => return Some(chunk),
                },
                None => {
                    self.rx = None;
                    if let Some(ld) = &mut self.line
                        && !ld.line.is_empty()
                    {
                        return Some(Bytes::from(std::mem::take(&mut ld.line)));
                    }
                    return None;
                }
            }
        }
    }
}

/// Where a command's output goes.
#[derive(Debug)]
pub enum Out {
    /// To the client, as stdout or stderr.
    Client {
        /// The process's output channel.
        tx: mpsc::UnboundedSender<Output>,
        /// Whether this is stderr.
        stderr: bool,
        /// Whether a TTY was requested.
        tty: bool,
    },
    /// Into a buffer (pipes, redirections).
    Buffer(Vec<u8>),
    /// Discarded (`/dev/null`).
    Null,
}

impl Out {
    /// Output to the client.
    pub fn client(tx: mpsc::UnboundedSender<Output>, stderr: bool, tty: bool) -> Out {
        Out::Client { tx, stderr, tty }
    }

    /// Writes `data`.
    pub fn write(&mut self, data: &[u8]) {
        match self {
            Out::Client { tx, stderr, tty } => {
                if data.is_empty() {
                    return;
                }
                let bytes = if *tty {
                    // ONLCR: the terminal turns "\n" into "\r\n".
                    let mut v = Vec::with_capacity(data.len() + 8);
                    for &b in data {
                        if b == b'\n' {
                            v.push(b'\r');
                        }
                        v.push(b);
                    }
                    Bytes::from(v)
                } else {
                    Bytes::copy_from_slice(data)
                };
                let msg = if *stderr && !*tty {
                    Output::Stderr(bytes)
                } else {
                    Output::Stdout(bytes)
                };
                let _ = tx.send(msg);
            }
            Out::Buffer(buf) => buf.extend_from_slice(data),
            Out::Null => {}
        }
    }

    /// Writes a string.
    pub fn print(&mut self, s: &str) {
        self.write(s.as_bytes());
    }

    /// What a buffer collected (empty for other kinds).
    pub fn into_buffer(self) -> Vec<u8> {
        match self {
            Out::Buffer(b) => b,
            _ => Vec::new(),
        }
    }
}
