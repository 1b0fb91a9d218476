//! The emulated container userland for `kubectl exec`: a small POSIX-ish
//! shell (see [`parse`] for the grammar) and the commands kubectl and
//! people use in tests and demos — `cat`, `echo`, `env`, `hostname`,
//! `sleep`, `ls`, `tar` (for `kubectl cp`), `test -d`, ... An unknown
//! command prints `sh: <cmd>: not found` and exits 127.
//!
//! Pipelines run their stages one after another through buffers; only the
//! first stage reads the client's stdin as it streams.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::watch;

use super::pod_fs;
use super::process::{PodContext, ProcessIo, TerminalSize};
use super::terminal::{ClientInput, Out};

mod commands;
pub mod parse;
mod tar_command;
mod test_command;

use parse::{Connector, Redirect, Seg, Simple, Word};

/// A command's result: exit code, and whether it was `exit` (which ends
/// the whole shell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Exit code.
    pub code: i32,
    /// Set by `exit`.
    pub exit: bool,
}

impl Status {
    /// A normal completion with `code`.
    pub fn code(code: i32) -> Status {
        Status { code, exit: false }
    }
}

/// A command's stdin.
#[derive(Debug)]
pub enum Input<'a> {
    /// The client's stream.
    Client(&'a mut ClientInput),
    /// A buffer (pipe or `<` file), returned once.
    Bytes(Option<Bytes>),
    /// Nothing (ends at once).
    Null,
}

impl Input<'_> {
    /// The next chunk; `None` at end of input.
    pub async fn read(&mut self) -> Option<Bytes> {
        match self {
            Input::Client(c) => c.read().await,
            Input::Bytes(b) => b.take().filter(|b| !b.is_empty()),
            Input::Null => None,
        }
    }

    /// Everything up to end of input.
    pub async fn read_all(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = self.read().await {
            all.extend_from_slice(&chunk);
        }
        all
    }
}

/// A command's standard streams.
#[derive(Debug)]
pub struct CmdIo<'a> {
    /// Standard input.
    pub stdin: Input<'a>,
    /// Standard output.
    pub stdout: Out,
    /// Standard error; `None` = merged into stdout (`2>&1`).
    pub stderr: Option<Out>,
}

impl CmdIo<'_> {
    /// Writes to stderr (or stdout when merged).
    pub fn err(&mut self, msg: &str) {
        match &mut self.stderr {
            Some(e) => e.print(msg),
            None => self.stdout.print(msg),
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The shell's state.
#[derive(Debug)]
pub struct Shell<'c> {
    ctx: &'c PodContext,
    /// Variables (the environment), in order.
    vars: Vec<(String, String)>,
    /// `$0`, `$1`...
    positional: Vec<String>,
    cwd: String,
    last: i32,
    tty: bool,
    size: watch::Receiver<Option<TerminalSize>>,
}

/// Runs `argv` in `ctx` (exec): the first word is the command.
pub async fn exec(argv: &[String], ctx: &PodContext, io: ProcessIo) -> i32 {
    let mut shell = Shell::new(ctx, io.tty, io.size);
    let mut stdin = ClientInput::new(io.stdin, io.tty, io.out.clone());
    let mut cio = CmdIo {
        stdin: Input::Client(&mut stdin),
        stdout: Out::client(io.out.clone(), false, io.tty),
        stderr: Some(Out::client(io.out, true, io.tty)),
    };
    shell.run_argv(argv.to_vec(), &mut cio).await.code
}

impl<'c> Shell<'c> {
    /// A shell in `ctx`'s working directory with its environment.
    pub fn new(
        ctx: &'c PodContext,
        tty: bool,
        size: watch::Receiver<Option<TerminalSize>>,
    ) -> Shell<'c> {
        let mut vars = ctx.env.clone();
        if tty {
            vars.insert(vars.len().min(2), ("TERM".into(), "xterm".into()));
        }
        Shell {
            ctx,
            vars,
            positional: vec!["sh".into()],
            cwd: pod_fs::normalize(&ctx.working_dir),
            last: 0,
            tty,
            size,
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.last.to_string()),
            "$" => Some("1".into()),
            "#" => Some(self.positional.len().saturating_sub(1).to_string()),
            "@" | "*" => Some(self.positional.get(1..).unwrap_or_default().join(" ")),
            n if n.chars().all(|c| c.is_ascii_digit()) => n
                .parse::<usize>()
                .ok()
                .and_then(|i| self.positional.get(i).cloned()),
            n => self
                .vars
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone()),
        }
    }

    fn set_var(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }

    fn expand(&self, word: &Word) -> String {
        word.iter()
            .map(|seg| match seg {
                Seg::Lit(s) => s.clone(),
                Seg::Var(v) => self.var(v).unwrap_or_default(),
            })
            .collect()
    }

    /// `path` resolved against the working directory.
    pub fn path(&self, path: &str) -> String {
        if path.starts_with('/') {
            pod_fs::normalize(path)
        } else {
            pod_fs::normalize(&format!("{}/{path}", self.cwd))
        }
    }

    /// Runs a script (`sh -c`); stops at `exit`.
    pub fn run_script<'a>(
        &'a mut self,
        script: &'a str,
        io: &'a mut CmdIo<'_>,
    ) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            let parsed = match parse::parse(script) {
                Ok(p) => p,
                Err(e) => {
                    io.err(&format!("sh: {e}\n"));
                    return Status::code(2);
                }
            };
            let mut status = Status::code(0);
            for list in &parsed {
                status = self.run_pipeline(&list.first, io).await;
                for (conn, pipeline) in &list.rest {
                    if status.exit {
                        break;
                    }
                    let run = match conn {
                        Connector::And => status.code == 0,
                        Connector::Or => status.code != 0,
                    };
                    if run {
                        status = self.run_pipeline(pipeline, io).await;
                    }
                }
                self.last = status.code;
                if status.exit {
                    return status;
                }
            }
            status
        })
    }

    async fn run_pipeline(&mut self, pipeline: &[Simple], io: &mut CmdIo<'_>) -> Status {
        if pipeline.len() == 1 {
            return self.run_simple(&pipeline[0], io).await;
        }
        // Stages run in turn; each borrows the streams it shares with the
        // pipeline (stdin for the first, stdout for the last, stderr).
        let mut carried: Option<Bytes> = None;
        let mut status = Status::code(0);
        for (i, cmd) in pipeline.iter().enumerate() {
            let last = i + 1 == pipeline.len();
            let mut stage = CmdIo {
                stdin: if i == 0 {
                    std::mem::replace(&mut io.stdin, Input::Null)
                } else {
                    Input::Bytes(carried.take())
                },
                stdout: if last {
                    std::mem::replace(&mut io.stdout, Out::Null)
                } else {
                    Out::Buffer(Vec::new())
                },
                stderr: io.stderr.take(),
            };
            status = self.run_simple(cmd, &mut stage).await;
            if i == 0 {
                io.stdin = std::mem::replace(&mut stage.stdin, Input::Null);
            }
            io.stderr = stage.stderr.take();
            let stdout = std::mem::replace(&mut stage.stdout, Out::Null);
            if last {
                io.stdout = stdout;
            } else {
                carried = Some(Bytes::from(stdout.into_buffer()));
            }
            if status.exit {
                break;
            }
        }
        status
    }

    async fn run_simple(&mut self, cmd: &Simple, io: &mut CmdIo<'_>) -> Status {
        let mut words: Vec<String> = cmd.words.iter().map(|w| self.expand(w)).collect();
        // Leading NAME=value words are assignments.
        let mut assignments = Vec::new();
        while let Some(first) = words.first() {
            match first.split_once('=') {
                Some((name, value))
                    if !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    assignments.push((name.to_string(), value.to_string()));
                    words.remove(0);
                }
                _ => break,
            }
        }
        if words.is_empty() {
            for (k, v) in assignments {
                self.set_var(&k, &v);
            }
            return Status::code(0);
        }
        let saved = (!assignments.is_empty()).then(|| self.vars.clone());
        for (k, v) in &assignments {
            self.set_var(k, v);
        }
        let status = self.run_redirected(words, &cmd.redirects, io).await;
        if let Some(vars) = saved {
            self.vars = vars;
        }
        status
    }

    async fn run_redirected(
        &mut self,
        words: Vec<String>,
        redirects: &[Redirect],
        io: &mut CmdIo<'_>,
    ) -> Status {
        if redirects.is_empty() {
            return self.run_argv(words, io).await;
        }
        // Per fd (1, 2): a file to write afterwards, and whether to append.
        let mut files: [Option<(String, bool)>; 3] = [None, None, None];
        let mut stdin_file: Option<Bytes> = None;
        let mut merge = false;
        let mut to_stderr = false;
        for r in redirects {
            match r {
                Redirect::Out { fd, append, target } => {
                    files[usize::from(*fd)] = Some((self.expand(target), *append));
                    if *fd == 2 {
                        merge = false;
                    }
                }
                Redirect::In(target) => {
                    let target = self.expand(target);
                    let data = {
                        let fs = self.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
                        fs.read(&self.path(&target)).map(<[u8]>::to_vec)
                    };
                    match data {
                        Ok(d) => stdin_file = Some(Bytes::from(d)),
                        Err(e) => {
                            io.err(&format!("sh: can't open {target}: {e}\n"));
                            return Status::code(1);
                        }
                    }
                }
                Redirect::StderrToStdout => merge = true,
                Redirect::StdoutToStderr => to_stderr = true,
            }
        }
        let target = |f: &Option<(String, bool)>| match f {
            Some((path, _)) if path == "/dev/null" => Some(Out::Null),
            Some(_) => Some(Out::Buffer(Vec::new())),
            None => None,
        };
        // `>&2`: stdout goes where stderr goes (the client's stderr; a
        // buffer cannot be shared, so elsewhere it is dropped).
        let stdout_to_client_stderr = match (&io.stderr, to_stderr && files[1].is_none()) {
            (Some(Out::Client { tx, tty, .. }), true) => Some(Out::client(tx.clone(), true, *tty)),
            (_, true) => Some(Out::Null),
            (_, false) => None,
        };
        if stdout_to_client_stderr.is_some() {
            files[1] = Some(("/dev/null".into(), false));
        }
        // Streams not redirected are lent to the command and taken back.
        let stdout_redirected = files[1].is_some();
        let stderr_redirected = merge || files[2].is_some();
        let mut sub = CmdIo {
            stdin: match stdin_file.clone() {
                Some(b) => Input::Bytes(Some(b)),
                None => std::mem::replace(&mut io.stdin, Input::Null),
            },
            stdout: match stdout_to_client_stderr {
                Some(out) => out,
                None => target(&files[1])
                    .unwrap_or_else(|| std::mem::replace(&mut io.stdout, Out::Null)),
            },
            stderr: if merge {
                None
            } else {
                match target(&files[2]) {
                    Some(out) => Some(out),
                    None => io.stderr.take(),
                }
            },
        };
        let status = self.run_argv(words, &mut sub).await;
        if stdin_file.is_none() {
            io.stdin = std::mem::replace(&mut sub.stdin, Input::Null);
        }
        let out_buf = if stdout_redirected {
            std::mem::replace(&mut sub.stdout, Out::Null).into_buffer()
        } else {
            io.stdout = std::mem::replace(&mut sub.stdout, Out::Null);
            Vec::new()
        };
        let err_buf = if stderr_redirected {
            sub.stderr.take().map(Out::into_buffer).unwrap_or_default()
        } else {
            io.stderr = sub.stderr.take();
            Vec::new()
        };
        for (fd, data) in [(1usize, out_buf), (2usize, err_buf)] {
            let Some((target, append)) = &files[fd] else {
                continue;
            };
            if target == "/dev/null" {
                continue;
            }
            let path = self.path(target);
            let result = {
                let mut fs = self.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
                if *append {
                    fs.append(&path, &data)
                } else {
                    fs.write(&path, data, 0o644)
                }
            };
            if let Err(e) = result {
                io.err(&format!("sh: can't create {target}: {e}\n"));
                return Status::code(1);
            }
        }
        status
    }

    /// Runs one command line (already expanded).
    pub fn run_argv<'a>(
        &'a mut self,
        argv: Vec<String>,
        io: &'a mut CmdIo<'_>,
    ) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            let Some(first) = argv.first() else {
                return Status::code(0);
            };
            let name = first.rsplit('/').next().unwrap_or(first).to_string();
            let args = &argv[1..];
            match name.as_str() {
                "sh" | "bash" | "ash" | "dash" => self.sh(args, io).await,
                "exit" => {
                    let code = match args.first() {
                        None => self.last,
                        Some(n) => match n.parse::<i32>() {
                            Ok(n) => n & 0xff,
                            Err(_) => {
                                io.err(&format!("sh: exit: Illegal number: {n}\n"));
                                2
                            }
                        },
                    };
                    Status { code, exit: true }
                }
                _ => Status::code(self.command(&name, args, io).await),
            }
        })
    }

    /// `sh [-c SCRIPT [NAME ARGS...]]`; without `-c`, reads commands from
    /// stdin (interactively, with a prompt, on a TTY).
    async fn sh(&mut self, args: &[String], io: &mut CmdIo<'_>) -> Status {
        let mut it = args
            .iter()
            .skip_while(|a| matches!(a.as_str(), "-e" | "-x" | "-eu" | "-u"));
        match it.next().map(String::as_str) {
            Some("-c") => {
                let Some(script) = it.next() else {
                    io.err("sh: -c requires an argument\n");
                    return Status::code(2);
                };
                let script = script.clone();
                let mut positional: Vec<String> = it.cloned().collect();
                if positional.is_empty() {
                    positional.push("sh".into());
                }
                let saved = std::mem::replace(&mut self.positional, positional);
                let saved_cwd = self.cwd.clone();
                let mut status = self.run_script(&script, io).await;
                self.positional = saved;
                self.cwd = saved_cwd;
                status.exit = false;
                status
            }
            Some(file) if !file.starts_with('-') => {
                let data = {
                    let fs = self.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
                    fs.read(&self.path(file)).map(<[u8]>::to_vec)
                };
                match data {
                    Ok(d) => {
                        let script = String::from_utf8_lossy(&d).into_owned();
                        let mut status = self.run_script(&script, io).await;
                        status.exit = false;
                        status
                    }
                    Err(_) => {
                        io.err(&format!(
                            "sh: can't open '{file}': No such file or directory\n"
                        ));
                        Status::code(2)
                    }
                }
            }
            _ => self.repl(io).await,
        }
    }

    /// Reads and runs commands from stdin until end of input or `exit`.
    async fn repl(&mut self, io: &mut CmdIo<'_>) -> Status {
        let mut pending = Vec::new();
        let mut status = Status::code(0);
        loop {
            if self.tty {
                io.stdout.print(&format!("{} # ", self.cwd));
            }
            let line = loop {
                if let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=nl).collect();
                    break Some(line);
                }
                match io.stdin.read().await {
                    Some(chunk) => pending.extend_from_slice(&chunk),
                    None if pending.is_empty() => break None,
                    None => break Some(std::mem::take(&mut pending)),
                }
            };
            let Some(line) = line else {
                if self.tty {
                    io.stdout.print("\n");
                }
                return Status::code(status.code);
            };
            let line = String::from_utf8_lossy(&line).into_owned();
            status = self.run_script(&line, io).await;
            if status.exit {
                return Status::code(status.code);
            }
        }
    }

    async fn command(&mut self, name: &str, args: &[String], io: &mut CmdIo<'_>) -> i32 {
        match name {
            "tar" => tar_command::run(self, args, io).await,
            "test" => test_command::run(self, args, io),
            "[" => {
                if args.last().map(String::as_str) != Some("]") {
                    io.err("sh: [: missing ]\n");
                    return 2;
                }
                test_command::run(self, &args[..args.len() - 1], io)
            }
            _ => commands::run(self, name, args, io).await,
        }
    }
}

#[cfg(test)]
mod tests;
