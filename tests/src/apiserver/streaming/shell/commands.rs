//! The simple commands (busybox-like messages).

use std::time::Duration;

use super::super::pod_fs::Node;
use super::{CmdIo, Shell};

/// Runs builtin `name`; unknown names exit 127.
pub async fn run(shell: &mut Shell<'_>, name: &str, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    match name {
        "true" | ":" => 0,
        "false" => 1,
        "echo" => echo(args, io),
        "printf" => printf(args, io),
        "cat" => cat(shell, args, io).await,
        "env" => {
            if !args.is_empty() {
                // `env CMD...` runs CMD with the same environment.
                return Box::pin(shell.run_argv(args.to_vec(), io)).await.code;
            }
            for (k, v) in &shell.vars {
                io.stdout.print(&format!("{k}={v}\n"));
            }
            0
        }
        "printenv" => {
            if args.is_empty() {
                for (k, v) in &shell.vars {
                    io.stdout.print(&format!("{k}={v}\n"));
                }
                return 0;
            }
            let mut code = 0;
            for name in args {
                match shell.vars.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => io.stdout.print(&format!("{v}\n")),
                    None => code = 1,
                }
            }
            code
        }
        "export" => {
            for a in args {
                if let Some((k, v)) = a.split_once('=') {
                    shell.set_var(k, v);
                }
            }
            0
        }
        "unset" => {
            shell.vars.retain(|(k, _)| !args.contains(k));
            0
        }
        "hostname" => {
            io.stdout.print(&format!("{}\n", shell.ctx.pod));
            0
        }
        "whoami" => {
            io.stdout.print("root\n");
            0
        }
        "id" => {
            io.stdout.print("uid=0(root) gid=0(root) groups=0(root)\n");
            0
        }
        "pwd" => {
            io.stdout.print(&format!("{}\n", shell.cwd));
            0
        }
        "cd" => {
            let dir = args
                .first()
                .cloned()
                .or_else(|| shell.var("HOME"))
                .unwrap_or_else(|| "/".into());
            let path = shell.path(&dir);
            let is_dir = {
                let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
                fs.stat(&path).is_some_and(Node::is_dir)
            };
            if is_dir {
                shell.cwd = path;
                0
            } else {
                io.err(&format!(
                    "sh: cd: can't cd to {dir}: No such file or directory\n"
                ));
                2
            }
        }
        "sleep" => sleep(args, io).await,
        "uname" => {
            let host = shell.ctx.pod.clone();
            let out = match args.first().map(String::as_str) {
                Some("-a") => format!("Linux {host} 6.1.0-kubeplex #1 SMP x86_64 GNU/Linux"),
                Some("-r") => "6.1.0-kubeplex".into(),
                Some("-m") => "x86_64".into(),
                Some("-n") => host,
                _ => "Linux".into(),
            };
            io.stdout.print(&format!("{out}\n"));
            0
        }
        "stty" => stty(shell, args, io),
        "ls" => ls(shell, args, io),
        "mkdir" => mkdir(shell, args, io),
        "rm" => rm(shell, args, io),
        "touch" => touch(shell, args, io),
        "head" | "tail" => head_tail(shell, name, args, io).await,
        "wc" => wc(shell, args, io).await,
        "seq" => seq(args, io),
        _ => {
            io.err(&format!("sh: {name}: not found\n"));
            127
        }
    }
}

fn echo(args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let (newline, words) = match args.first().map(String::as_str) {
        Some("-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let mut s = words.join(" ");
    if newline {
        s.push('\n');
    }
    io.stdout.print(&s);
    0
}

/// Backslash escapes of `printf`'s format.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn printf(args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let Some(format) = args.first() else {
        io.err("printf: usage: printf FORMAT [ARGUMENT]...\n");
        return 1;
    };
    let format = unescape(format);
    let mut rest = args[1..].iter();
    let mut out = String::new();
    // The format is reused while arguments remain.
    loop {
        let mut used = false;
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('s') | Some('d') | Some('i') => {
                    used = true;
                    out.push_str(rest.next().map(String::as_str).unwrap_or(""));
                }
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        if !used || rest.len() == 0 {
            break;
        }
    }
    io.stdout.print(&out);
    0
}

async fn cat(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let files: Vec<&String> = args.iter().filter(|a| a.as_str() != "-u").collect();
    if files.is_empty() {
        // Stream stdin through as it arrives.
        while let Some(chunk) = io.stdin.read().await {
            io.stdout.write(&chunk);
        }
        return 0;
    }
    let mut code = 0;
    for f in files {
        if f == "-" {
            while let Some(chunk) = io.stdin.read().await {
                io.stdout.write(&chunk);
            }
            continue;
        }
        let data = {
            let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
            fs.read(&shell.path(f)).map(<[u8]>::to_vec)
        };
        match data {
            Ok(d) => io.stdout.write(&d),
            Err(e) => {
                io.err(&format!("cat: can't open '{f}': {e}\n"));
                code = 1;
            }
        }
    }
    code
}

fn parse_duration(s: &str) -> Option<Duration> {
    if s == "infinity" {
        return Some(Duration::MAX);
    }
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let secs = match unit {
        's' => n,
        'm' => n * 60.0,
        'h' => n * 3600.0,
        'd' => n * 86400.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs.min(1e9)))
}

async fn sleep(args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let Some(arg) = args.first() else {
        io.err("sleep: missing operand\n");
        return 1;
    };
    match parse_duration(arg) {
        Some(Duration::MAX) => std::future::pending::<i32>().await,
        Some(d) => {
            tokio::time::sleep(d).await;
            0
        }
        None => {
            io.err(&format!("sleep: invalid number '{arg}'\n"));
            1
        }
    }
}

fn stty(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    if !shell.tty {
        io.err("stty: standard input: Not a tty\n");
        return 1;
    }
    if args.first().map(String::as_str) == Some("size") {
        let size = *shell.size.borrow();
        let (rows, cols) = size.map(|s| (s.height, s.width)).unwrap_or((0, 0));
        io.stdout.print(&format!("{rows} {cols}\n"));
    }
    0
}

fn mode_string(node: &Node) -> String {
    let (kind, mode) = match node {
        Node::Dir { mode, .. } => ('d', *mode),
        Node::File { mode, .. } => ('-', *mode),
        Node::Symlink { .. } => ('l', 0o777),
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn long_line(node: &Node, name: &str) -> String {
    let size = match node {
        Node::File { data, .. } => data.len(),
        Node::Dir { .. } => 4096,
        Node::Symlink { target, .. } => target.len(),
    };
    let suffix = match node {
        Node::Symlink { target, .. } => format!(" -> {target}"),
        _ => String::new(),
    };
    format!(
        "{} 1 root root {size:>8} {name}{suffix}\n",
        mode_string(node)
    )
}

fn ls(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let flags: String = args
        .iter()
        .filter(|a| a.starts_with('-') && a.len() > 1)
        .flat_map(|a| a.chars().skip(1))
        .collect();
    let mut paths: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-') || a.len() == 1)
        .cloned()
        .collect();
    if paths.is_empty() {
        paths.push(".".into());
    }
    let long = flags.contains('l');
    let all = flags.contains('a') || flags.contains('A');
    let dir_itself = flags.contains('d');
    let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
    let mut code = 0;
    let many = paths.len() > 1;
    for (i, p) in paths.iter().enumerate() {
        let full = shell.path(p);
        let Some(node) = fs.stat(&full) else {
            io.err(&format!(
                "ls: cannot access '{p}': No such file or directory\n"
            ));
            code = 2;
            continue;
        };
        if !node.is_dir() || dir_itself {
            io.stdout.print(&if long {
                long_line(node, p)
            } else {
                format!("{p}\n")
            });
            continue;
        }
        if many {
            io.stdout
                .print(&format!("{}{p}:\n", if i > 0 { "\n" } else { "" }));
        }
        for child in fs.children(&full).unwrap_or_default() {
            if child.starts_with('.') && !all {
                continue;
            }
            let child_path = format!("{}/{child}", full.trim_end_matches('/'));
            if long {
                if let Some(n) = fs.stat(&child_path) {
                    io.stdout.print(&long_line(n, &child));
                }
            } else {
                io.stdout.print(&format!("{child}\n"));
            }
        }
    }
    code
}

fn mkdir(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let parents = args.iter().any(|a| a == "-p");
    let mut fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
    let mut code = 0;
    for p in args.iter().filter(|a| !a.starts_with('-')) {
        if let Err(e) = fs.mkdir(&shell.path(p), parents) {
            io.err(&format!("mkdir: can't create directory '{p}': {e}\n"));
            code = 1;
        }
    }
    code
}

fn rm(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let flags: String = args
        .iter()
        .filter(|a| a.starts_with('-'))
        .flat_map(|a| a.chars().skip(1))
        .collect();
    let recursive = flags.contains('r') || flags.contains('R');
    let force = flags.contains('f');
    let mut fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
    let mut code = 0;
    for p in args.iter().filter(|a| !a.starts_with('-')) {
        let full = shell.path(p);
        match fs.stat(&full) {
            None if force => {}
            None => {
                io.err(&format!(
                    "rm: can't remove '{p}': No such file or directory\n"
                ));
                code = 1;
            }
            Some(n) if n.is_dir() && !recursive => {
                io.err(&format!("rm: '{p}' is a directory\n"));
                code = 1;
            }
            Some(_) => {
                let _ = fs.remove(&full, true);
            }
        }
    }
    code
}

fn touch(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let mut fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
    let mut code = 0;
    for p in args.iter().filter(|a| !a.starts_with('-')) {
        let full = shell.path(p);
        let data = match fs.stat(&full) {
            Some(Node::File { data, .. }) => data.clone(),
            Some(_) => continue,
            None => Vec::new(),
        };
        if let Err(e) = fs.write(&full, data, 0o644) {
            io.err(&format!("touch: {p}: {e}\n"));
            code = 1;
        }
    }
    code
}

/// Reads the operand file, or all of stdin.
async fn input_of(
    shell: &Shell<'_>,
    file: Option<&String>,
    cmd: &str,
    io: &mut CmdIo<'_>,
) -> Option<Vec<u8>> {
    match file {
        None => Some(io.stdin.read_all().await),
        Some(f) if f == "-" => Some(io.stdin.read_all().await),
        Some(f) => {
            let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
            match fs.read(&shell.path(f)) {
                Ok(d) => Some(d.to_vec()),
                Err(e) => {
                    io.err(&format!("{cmd}: can't open '{f}': {e}\n"));
                    None
                }
            }
        }
    }
}

async fn head_tail(shell: &mut Shell<'_>, name: &str, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let mut lines: Option<usize> = Some(10);
    let mut bytes_from: Option<usize> = None;
    let mut file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let number = |s: &str| s.trim_start_matches('+').parse::<usize>().ok();
        match a.as_str() {
            "-n" => lines = it.next().and_then(|n| number(n)),
            "-c" => {
                bytes_from = it.next().and_then(|n| number(n));
                lines = None;
            }
            s if s.starts_with("-c") => {
                bytes_from = number(&s[2..]);
                lines = None;
            }
            s if s.starts_with("-n") => lines = number(&s[2..]),
            s if s.starts_with('-') && s.len() > 1 => lines = number(&s[1..]),
            _ => file = Some(a),
        }
    }
    let Some(data) = input_of(shell, file, name, io).await else {
        return 1;
    };
    let out: &[u8] = match (name, lines, bytes_from) {
        // `tail -c +N`: from byte N (1-based); `head -c N`: first N bytes.
        ("tail", None, Some(n)) => data.get(n.saturating_sub(1)..).unwrap_or_default(),
        ("head", None, Some(n)) => &data[..n.min(data.len())],
        (_, Some(n), _) => {
            let ends: Vec<usize> = data
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1)
                .collect();
            if name == "head" {
                let end = ends.get(n.wrapping_sub(1)).copied().filter(|_| n > 0);
                &data[..if n == 0 { 0 } else { end.unwrap_or(data.len()) }]
            } else {
                let total = ends.len() + usize::from(!data.ends_with(b"\n") && !data.is_empty());
                let skip = total.saturating_sub(n);
                let start = if skip == 0 { 0 } else { ends[skip - 1] };
                &data[start..]
            }
        }
        _ => &data,
    };
    io.stdout.write(out);
    0
}

async fn wc(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let file = args.iter().find(|a| !a.starts_with('-'));
    let Some(data) = input_of(shell, file, "wc", io).await else {
        return 1;
    };
    let lines = data.iter().filter(|b| **b == b'\n').count();
    let words = String::from_utf8_lossy(&data).split_whitespace().count();
    let flag = args.iter().find(|a| a.starts_with('-')).map(String::as_str);
    let out = match flag {
        Some("-l") => lines.to_string(),
        Some("-c") => data.len().to_string(),
        Some("-w") => words.to_string(),
        _ => format!("{lines:>7} {words:>7} {:>7}", data.len()),
    };
    io.stdout.print(&format!("{out}\n"));
    0
}

fn seq(args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (first, step, last) = match nums.as_slice() {
        [l] => (1, 1, *l),
        [f, l] => (*f, 1, *l),
        [f, s, l] => (*f, *s, *l),
        _ => {
            io.err("seq: usage: seq [FIRST [INC]] LAST\n");
            return 1;
        }
    };
    if step == 0 {
        return 1;
    }
    let mut n = first;
    let mut out = String::new();
    while (step > 0 && n <= last) || (step < 0 && n >= last) {
        out += &format!("{n}\n");
        n += step;
        if out.len() > 1 << 20 {
            break;
        }
    }
    io.stdout.print(&out);
    0
}
