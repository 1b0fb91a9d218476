//! `test` / `[`: file tests (`-d -f -e -s`), string tests (`-z -n = !=`),
//! integer comparisons and `!` — what `kubectl cp` (`test -d DIR`) and
//! short scripts use.

use super::super::pod_fs::Node;
use super::{CmdIo, Shell};

/// Exit 0 if the expression holds, 1 if not, 2 on a usage error.
pub fn run(shell: &Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    match eval(shell, args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(msg) => {
            io.err(&format!("sh: test: {msg}\n"));
            2
        }
    }
}

fn eval(shell: &Shell<'_>, args: &[String]) -> Result<bool, String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        [] => Ok(false),
        ["!", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            eval(shell, &rest).map(|b| !b)
        }
        [s] => Ok(!s.is_empty()),
        [op, operand] => unary(shell, op, operand),
        [l, op, r] => binary(l, op, r),
        _ => Err("too many arguments".into()),
    }
}

fn unary(shell: &Shell<'_>, op: &str, operand: &str) -> Result<bool, String> {
    let stat = || {
        let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
        fs.stat(&shell.path(operand)).cloned()
    };
    Ok(match op {
        "-z" => operand.is_empty(),
        "-n" => !operand.is_empty(),
        "-d" => stat().is_some_and(|n| n.is_dir()),
        "-f" => matches!(stat(), Some(Node::File { .. })),
        "-L" | "-h" => matches!(stat(), Some(Node::Symlink { .. })),
        "-e" | "-r" | "-w" | "-x" => stat().is_some(),
        "-s" => matches!(stat(), Some(Node::File { data, .. }) if !data.is_empty()),
        _ => return Err(format!("{op}: unary operator expected")),
    })
}

fn binary(l: &str, op: &str, r: &str) -> Result<bool, String> {
    let num = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{s}: bad number"))
    };
    Ok(match op {
        "=" | "==" => l == r,
        "!=" => l != r,
        "-eq" => num(l)? == num(r)?,
        "-ne" => num(l)? != num(r)?,
        "-lt" => num(l)? < num(r)?,
        "-le" => num(l)? <= num(r)?,
        "-gt" => num(l)? > num(r)?,
        "-ge" => num(l)? >= num(r)?,
        _ => return Err(format!("{op}: binary operator expected")),
    })
}
