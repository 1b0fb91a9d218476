//! The emulated shell and commands, run as exec would run them.

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::super::process::{Output, PodContext, ProcessIo, TerminalSize};
use super::super::tar;
use super::super::testing::{T, pod_context};
use super::parse::{Connector, Redirect, Seg, parse};

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

async fn exec_with(
    ctx: &PodContext,
    argv: &[&str],
    stdin: Option<Vec<&[u8]>>,
    tty: bool,
    size: Option<TerminalSize>,
) -> Run {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let stdin = stdin.map(|chunks| {
        let (tx, rx) = mpsc::unbounded_channel();
        for c in chunks {
            tx.send(Bytes::copy_from_slice(c)).unwrap();
        }
        rx
    });
    let (_size_tx, size_rx) = watch::channel(size);
    let io = ProcessIo {
        stdin,
        out: out_tx,
        tty,
        size: size_rx,
    };
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let code = tokio::time::timeout(T, super::exec(&argv, ctx, io))
        .await
        .expect("command finished");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(o) = out_rx.recv().await {
        match o {
            Output::Stdout(b) => stdout.extend_from_slice(&b),
            Output::Stderr(b) => stderr.extend_from_slice(&b),
        }
    }
    Run {
        code,
        stdout,
        stderr,
    }
}

async fn exec(argv: &[&str]) -> Run {
    exec_with(&pod_context(), argv, None, false, None).await
}

async fn sh(script: &str) -> Run {
    exec(&["sh", "-c", script]).await
}

#[test]
fn parser_builds_lists_pipelines_and_redirections() {
    let script = parse("a 'b c' \"$X-${Y}\" | d && e || f; g 2>&1 >> out < in # c\nh").unwrap();
    assert_eq!(script.len(), 3);
    let first = &script[0];
    assert_eq!(first.first.len(), 2, "a | d");
    assert_eq!(
        first.first[0].words[2],
        vec![
            Seg::Var("X".into()),
            Seg::Lit("-".into()),
            Seg::Var("Y".into())
        ]
    );
    assert_eq!(first.rest[0].0, Connector::And);
    assert_eq!(first.rest[1].0, Connector::Or);
    let g = &script[1].first[0];
    assert_eq!(g.redirects[0], Redirect::StderrToStdout);
    assert!(matches!(
        &g.redirects[1],
        Redirect::Out {
            fd: 1,
            append: true,
            ..
        }
    ));
    assert!(matches!(&g.redirects[2], Redirect::In(_)));
    assert!(parse("echo 'open").is_err());
    assert!(parse("a |").is_err());
    assert!(parse("&& a").is_err());
    assert_eq!(parse("").unwrap(), vec![]);
    assert_eq!(parse("echo ''").unwrap()[0].first[0].words.len(), 2);
}

#[tokio::test]
async fn echo_exit_codes_and_unknown_commands() {
    let r = exec(&["echo", "hi", "there"]).await;
    assert_eq!((r.code, r.out()), (0, "hi there\n".into()));
    assert_eq!(sh("exit 3").await.code, 3);
    assert_eq!(exec(&["/bin/sh", "-c", "exit 300"]).await.code, 300 & 0xff);
    assert_eq!(exec(&["false"]).await.code, 1);
    let r = exec(&["nosuch", "arg"]).await;
    assert_eq!(r.code, 127);
    assert_eq!(r.err(), "sh: nosuch: not found\n");
    assert!(r.stdout.is_empty());
    let r = sh("echo 'unterminated").await;
    assert_eq!(r.code, 2);
    assert!(
        r.err().contains("unterminated quoted string"),
        "{}",
        r.err()
    );
}

#[tokio::test]
async fn variables_lists_and_pipelines() {
    let r = sh("echo $HOSTNAME \"$GREETING\"; false || echo or-ran && echo and-ran; echo $?").await;
    assert_eq!(r.out(), "web-0 hello world\nor-ran\nand-ran\n0\n");
    let r = sh("X=1; Y=2 env | grep -v nothing; echo $X$Y").await;
    assert_eq!(r.code, 0, "{}", r.err());
    assert!(r.err().contains("grep: not found"), "{}", r.err());
    assert!(r.out().ends_with("1\n"), "{}", r.out());
    let r = sh("seq 5 | tail -n 2; seq 3 | head -n 1 | wc -l").await;
    assert_eq!(r.out(), "4\n5\n1\n");
    let r = exec(&["sh", "-c", "echo $0 $1 $#", "name", "first"]).await;
    assert_eq!(r.out(), "name first 1\n");
    let r = sh("printf '%s-%s\\n' a b c d").await;
    assert_eq!(r.out(), "a-b\nc-d\n");
}

#[tokio::test]
async fn redirections_use_the_pod_filesystem() {
    let ctx = pod_context();
    let r = exec_with(
        &ctx,
        &[
            "sh",
            "-c",
            "echo one > /tmp/f; echo two >> /tmp/f; cat < /tmp/f; nosuch 2>/dev/null; nosuch 2>&1; ls /nope 2> /tmp/err",
        ],
        None,
        false,
        None,
    )
    .await;
    assert_eq!(r.out(), "one\ntwo\nsh: nosuch: not found\n");
    assert!(r.stderr.is_empty(), "{}", r.err());
    let fs = ctx.fs.lock().unwrap();
    assert_eq!(fs.read("/tmp/f").unwrap(), b"one\ntwo\n");
    assert_eq!(
        fs.read("/tmp/err").unwrap(),
        b"ls: cannot access '/nope': No such file or directory\n"
    );
}

#[tokio::test]
async fn cat_streams_stdin_and_files() {
    let ctx = pod_context();
    let r = exec_with(&ctx, &["cat"], Some(vec![b"abc", b"def\n"]), false, None).await;
    assert_eq!((r.code, r.out()), (0, "abcdef\n".into()));
    let r = exec_with(&ctx, &["cat", "/etc/hostname", "/nope"], None, false, None).await;
    assert_eq!(r.out(), "web-0\n");
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err(),
        "cat: can't open '/nope': No such file or directory\n"
    );
    // No stdin attached: cat ends at once.
    assert_eq!(exec(&["cat"]).await.code, 0);
}

#[tokio::test]
async fn builtins_report_the_pod() {
    let r = exec(&["hostname"]).await;
    assert_eq!(r.out(), "web-0\n");
    assert_eq!(exec(&["whoami"]).await.out(), "root\n");
    let env = exec(&["env"]).await.out();
    assert!(env.contains("HOSTNAME=web-0\n"), "{env}");
    assert!(env.contains("GREETING=hello world\n"), "{env}");
    assert_eq!(exec(&["ls", "/etc"]).await.out(), "hostname\nhosts\n");
    assert_eq!(sh("cd /etc && pwd && cd /nope").await.code, 2);
    assert_eq!(exec(&["sleep", "0.01"]).await.code, 0);
    let r = exec(&["sleep", "soon"]).await;
    assert_eq!(
        (r.code, r.err()),
        (1, "sleep: invalid number 'soon'\n".into())
    );
    assert_eq!(exec(&["test", "-d", "/tmp"]).await.code, 0);
    assert_eq!(exec(&["test", "-d", "/etc/hosts"]).await.code, 1);
    assert_eq!(exec(&["[", "-f", "/etc/hosts", "]"]).await.code, 0);
    assert_eq!(
        sh("[ 3 -gt 2 ] && [ a != b ] && test ! -e /x").await.code,
        0
    );
}

#[tokio::test]
async fn tar_round_trips_through_the_pod_filesystem() {
    let ctx = pod_context();
    {
        let mut fs = ctx.fs.lock().unwrap();
        fs.mkdir("/data/sub", true).unwrap();
        fs.write("/data/a.txt", b"alpha\n".to_vec(), 0o640).unwrap();
        fs.write("/data/sub/b.bin", vec![0, 1, 2, 255], 0o644)
            .unwrap();
    }
    // What `kubectl cp pod:/data ./x` runs.
    let r = exec_with(&ctx, &["tar", "cf", "-", "/data"], None, false, None).await;
    assert_eq!(r.code, 0);
    assert_eq!(r.err(), "tar: Removing leading `/' from member names\n");
    let entries = tar::read(&r.stdout).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["data/", "data/a.txt", "data/sub/", "data/sub/b.bin"]
    );
    assert_eq!(entries[1].mode, 0o640);
    // What `kubectl cp ./x pod:/restore/x` runs, into another pod.
    let other = pod_context();
    other.fs.lock().unwrap().mkdir("/restore", false).unwrap();
    let r = exec_with(
        &other,
        &[
            "tar",
            "--no-same-permissions",
            "--no-same-owner",
            "-xmf",
            "-",
            "-C",
            "/restore",
        ],
        Some(vec![&r.stdout[..100], &r.stdout[100..]]),
        false,
        None,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.err());
    {
        let fs = other.fs.lock().unwrap();
        assert_eq!(fs.read("/restore/data/a.txt").unwrap(), b"alpha\n");
        assert_eq!(fs.read("/restore/data/sub/b.bin").unwrap(), &[0, 1, 2, 255]);
    }
    // Errors as GNU tar words them.
    let r = exec(&["tar", "cf", "-", "/missing"]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.err()
            .contains("tar: /missing: Cannot stat: No such file or directory")
    );
    let r = exec_with(
        &ctx,
        &["tar", "xmf", "-", "-C", "/nodir"],
        Some(vec![b"x"]),
        false,
        None,
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.err().starts_with("tar: /nodir: Cannot open"),
        "{}",
        r.err()
    );
    let r = exec_with(
        &ctx,
        &["tar", "-xmf", "-"],
        Some(vec![b"garbage"]),
        false,
        None,
    )
    .await;
    assert_eq!(r.code, 2);
}

#[tokio::test]
async fn tty_merges_stderr_translates_newlines_and_edits_lines() {
    let ctx = pod_context();
    let r = exec_with(&ctx, &["sh", "-c", "echo a; nosuch"], None, true, None).await;
    assert!(r.stderr.is_empty());
    assert_eq!(r.out(), "a\r\nsh: nosuch: not found\r\n");
    // "ab<DEL>c<CR>" then end of input: echo, erase, and cat's copy.
    let r = exec_with(&ctx, &["cat"], Some(vec![b"ab\x7fc\r"]), true, None).await;
    assert_eq!(r.out(), "ab\x08 \x08c\r\nac\r\n");
    let size = TerminalSize {
        width: 80,
        height: 24,
    };
    let r = exec_with(&ctx, &["stty", "size"], None, true, Some(size)).await;
    assert_eq!(r.out(), "24 80\r\n");
    assert_eq!(exec(&["stty", "size"]).await.code, 1);
    assert!(
        exec_with(&ctx, &["env"], None, true, None)
            .await
            .out()
            .contains("TERM=xterm")
    );
}

#[tokio::test]
async fn sh_reads_commands_from_stdin() {
    let ctx = pod_context();
    let r = exec_with(
        &ctx,
        &["sh"],
        Some(vec![b"echo one\nech", b"o two\nexit 4\necho never\n"]),
        false,
        None,
    )
    .await;
    assert_eq!((r.code, r.out()), (4, "one\ntwo\n".into()));
    // Interactive on a TTY: a prompt, echo, ^D ends it.
    let r = exec_with(&ctx, &["sh"], Some(vec![b"hostname\r\x04"]), true, None).await;
    assert_eq!(r.code, 0);
    assert_eq!(r.out(), "/ # hostname\r\nweb-0\r\n/ # \r\n");
}
