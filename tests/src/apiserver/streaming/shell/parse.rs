//! The emulated shell's grammar: words with single/double quotes,
//! backslash escapes and `$VAR`/`${VAR}`/`$?` expansion; pipelines with
//! `|`; lists with `;`, newlines, `&&`, `||`; redirections `>`, `>>`,
//! `<`, `2>`, `2>>`, `2>&1`, `>&2`; `#` comments. No globbing, no field
//! splitting, no control structures.

/// A piece of a word: literal text or a variable to expand when run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// Literal text.
    Lit(String),
    /// `$NAME`, `${NAME}`, `$?`, `$0`..`$9`.
    Var(String),
}

/// One word, expanded when the command runs.
pub type Word = Vec<Seg>;

/// A redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// `>` / `>>` (fd 1) or `2>` / `2>>` (fd 2) to a file.
    Out {
        /// 1 or 2.
        fd: u8,
        /// `>>`.
        append: bool,
        /// The file.
        target: Word,
    },
    /// `< file`.
    In(Word),
    /// `2>&1`.
    StderrToStdout,
    /// `>&2` / `1>&2`.
    StdoutToStderr,
}

/// A simple command: words (assignments first) and redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simple {
    /// Words in order.
    pub words: Vec<Word>,
    /// Redirections in order.
    pub redirects: Vec<Redirect>,
}

/// Commands joined by `|`.
pub type Pipeline = Vec<Simple>;

/// `&&` or `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// Run the next pipeline if this one succeeded.
    And,
    /// Run the next pipeline if this one failed.
    Or,
}

/// Pipelines joined by `&&` / `||`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The rest, each with what joins it to the previous.
    pub rest: Vec<(Connector, Pipeline)>,
}

/// A whole script: lists run one after another.
pub type Script = Vec<AndOr>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(Word),
    Sep,
    And,
    Or,
    Pipe,
    Redir(RedirOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedirOp {
    Out { fd: u8, append: bool },
    In,
    Dup { from: u8, to: u8 },
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads a `$...` expansion after the `$`; `None` if it is a literal `$`.
fn variable(chars: &[char], i: &mut usize) -> Result<Option<String>, String> {
    match chars.get(*i) {
        Some('?') | Some('$') | Some('#') | Some('@') | Some('*') => {
            *i += 1;
            Ok(Some(chars[*i - 1].to_string()))
        }
        Some(c) if c.is_ascii_digit() => {
            *i += 1;
            Ok(Some(c.to_string()))
        }
        Some('{') => {
            let start = *i + 1;
            let end = chars[start..]
                .iter()
                .position(|&c| c == '}')
                .ok_or_else(|| "missing '}'".to_string())?;
            let name: String = chars[start..start + end].iter().collect();
            *i = start + end + 1;
            Ok(Some(name))
        }
        Some(&c) if is_name_start(c) => {
            let start = *i;
            while chars.get(*i).is_some_and(|&c| is_name_char(c)) {
                *i += 1;
            }
            Ok(Some(chars[start..*i].iter().collect()))
        }
        _ => Ok(None),
    }
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut word: Word = Vec::new();
    let mut lit = String::new();
    let mut in_word = false;
    let mut i = 0;

    fn flush_lit(word: &mut Word, lit: &mut String) {
        if !lit.is_empty() {
            word.push(Seg::Lit(std::mem::take(lit)));
        }
    }
    fn end_word(tokens: &mut Vec<Token>, word: &mut Word, lit: &mut String, in_word: &mut bool) {
        flush_lit(word, lit);
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
        }
        *in_word = false;
    }

    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                end_word(&mut tokens, &mut word, &mut lit, &mut in_word);
                i += 1;
            }
            '\n' | ';' => {
                end_word(&mut tokens, &mut word, &mut lit, &mut in_word);
                tokens.push(Token::Sep);
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '&' => {
                end_word(&mut tokens, &mut word, &mut lit, &mut in_word);
                if chars.get(i + 1) == Some(&'&') {
                    tokens.push(Token::And);
                    i += 2;
                } else {
                    // No job control: `cmd &` runs in the foreground.
                    tokens.push(Token::Sep);
                    i += 1;
                }
            }
            '|' => {
                end_word(&mut tokens, &mut word, &mut lit, &mut in_word);
                if chars.get(i + 1) == Some(&'|') {
                    tokens.push(Token::Or);
                    i += 2;
                } else {
                    tokens.push(Token::Pipe);
                    i += 1;
                }
            }
            '>' | '<' => {
                // A lone "2" (or "1") just before is the fd.
                let fd = if in_word && word.is_empty() && (lit == "2" || lit == "1") {
                    let fd = if lit == "2" { 2 } else { 1 };
                    lit.clear();
                    in_word = false;
                    fd
                } else {
                    end_word(&mut tokens, &mut word, &mut lit, &mut in_word);
                    1
                };
                if c == '<' {
                    tokens.push(Token::Redir(RedirOp::In));
                    i += 1;
                } else if chars.get(i + 1) == Some(&'&')
                    && let Some(to) = chars.get(i + 2).and_then(|c| c.to_digit(10))
                {
                    tokens.push(Token::Redir(RedirOp::Dup {
                        from: fd,
                        to: to as u8,
                    }));
                    i += 3;
                } else if chars.get(i + 1) == Some(&'>') {
                    tokens.push(Token::Redir(RedirOp::Out { fd, append: true }));
                    i += 2;
                } else {
                    tokens.push(Token::Redir(RedirOp::Out { fd, append: false }));
                    i += 1;
                }
            }
            '\'' => {
                in_word = true;
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or_else(|| "unterminated quoted string".to_string())?;
                lit.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            lit.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('\\') if chars.get(i + 1) == Some(&'\n') => i += 2,
                        Some('$') => {
                            i += 1;
                            match variable(&chars, &mut i)? {
                                Some(name) => {
                                    flush_lit(&mut word, &mut lit);
                                    word.push(Seg::Var(name));
                                }
                                None => lit.push('$'),
                            }
                        }
                        Some(&c) => {
                            lit.push(c);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&n) => {
                        in_word = true;
                        lit.push(n);
                    }
                    None => {
                        in_word = true;
                        lit.push('\\');
                    }
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                i += 1;
                match variable(&chars, &mut i)? {
                    Some(name) => {
                        flush_lit(&mut word, &mut lit);
                        word.push(Seg::Var(name));
                    }
                    None => lit.push('$'),
                }
            }
            c => {
                in_word = true;
                lit.push(c);
                i += 1;
            }
        }
    }
    end_word(&mut tokens, &mut word, &mut lit, &mut in_word);
    Ok(tokens)
}

/// Parses a script; the error is the shell's message.
pub fn parse(src: &str) -> Result<Script, String> {
    let tokens = tokenize(src)?;
    let mut script = Vec::new();
    let mut current: Option<AndOr> = None;
    let mut pending: Option<Connector> = None;
    let mut pipeline: Pipeline = Vec::new();
    let mut simple = Simple::default();
    let mut it = tokens.into_iter().peekable();

    let unexpected = |t: &str| format!("syntax error: unexpected \"{t}\"");

    // Closes the current simple command into the pipeline.
    fn close_simple(pipeline: &mut Pipeline, simple: &mut Simple) -> bool {
        if simple.words.is_empty() && simple.redirects.is_empty() {
            return false;
        }
        pipeline.push(std::mem::take(simple));
        true
    }
    // Closes the current pipeline into the and-or list.
    fn close_pipeline(
        current: &mut Option<AndOr>,
        pending: &mut Option<Connector>,
        pipeline: &mut Pipeline,
    ) {
        let p = std::mem::take(pipeline);
        match (current.as_mut(), pending.take()) {
            (None, _) => {
                *current = Some(AndOr {
                    first: p,
                    rest: Vec::new(),
                })
            }
            (Some(list), Some(conn)) => list.rest.push((conn, p)),
            (Some(list), None) => list.rest.push((Connector::And, p)),
        }
    }

    while let Some(tok) = it.next() {
        match tok {
            Token::Word(w) => simple.words.push(w),
            Token::Redir(op) => {
                let redirect = match op {
                    RedirOp::Dup { from: 2, to: 1 } => Redirect::StderrToStdout,
                    RedirOp::Dup { from: 1, to: 2 } => Redirect::StdoutToStderr,
                    // Duplicating a stream onto itself changes nothing.
                    RedirOp::Dup { .. } => continue,
                    RedirOp::In | RedirOp::Out { .. } => {
                        let Some(Token::Word(target)) = it.next() else {
                            return Err(unexpected("newline"));
                        };
                        match op {
                            RedirOp::In => Redirect::In(target),
                            RedirOp::Out { fd, append } => Redirect::Out { fd, append, target },
                            RedirOp::Dup { .. } => unreachable!(),
                        }
                    }
                };
                simple.redirects.push(redirect);
            }
            Token::Pipe => {
                if !close_simple(&mut pipeline, &mut simple) {
                    return Err(unexpected("|"));
                }
            }
            Token::And | Token::Or => {
                if !close_simple(&mut pipeline, &mut simple) {
                    return Err(unexpected(if tok == Token::And { "&&" } else { "||" }));
                }
                close_pipeline(&mut current, &mut pending, &mut pipeline);
                pending = Some(if tok == Token::And {
                    Connector::And
                } else {
                    Connector::Or
                });
                // A newline may follow `&&` / `||`.
                while it.peek() == Some(&Token::Sep) {
                    it.next();
                }
            }
            Token::Sep => {
                let had = close_simple(&mut pipeline, &mut simple);
                if !had && !pipeline.is_empty() {
                    return Err(unexpected(";"));
                }
                if had {
                    close_pipeline(&mut current, &mut pending, &mut pipeline);
                }
                if pending.is_some() {
                    return Err(unexpected(";"));
                }
                if let Some(list) = current.take() {
                    script.push(list);
                }
            }
        }
    }
    let had = close_simple(&mut pipeline, &mut simple);
    if !had && (!pipeline.is_empty() || pending.is_some()) {
        return Err("syntax error: unexpected end of file".into());
    }
    if had {
        close_pipeline(&mut current, &mut pending, &mut pipeline);
    }
    if let Some(list) = current.take() {
        script.push(list);
    }
    Ok(script)
}
