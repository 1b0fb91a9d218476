//! The fast path of a kubeconfig reload: the text cut into its top-level
//! sections and the items of its `clusters`, `users` and `contexts` lists,
//! each piece parsed on its own and reused while its text is unchanged.
//!
//! At 10,000 contexts the kubeconfig is ~10 MB and parsing it (twice: the
//! positioned tree for errors, then kube's `Kubeconfig`) was most of a
//! reload, although one edit changes one or two pieces. Here a reload
//! parses only the pieces it has not seen, each wrapped as a document of
//! its own (`clusters:\n<item>`), so the parser sees it in the same
//! context as in the whole file; kube's `Kubeconfig` is then read from the
//! assembled tree (`yaml_tree::deserializer`), not parsed again.
//!
//! The cut is textual, so it is taken only for block YAML as kubectl
//! writes it: top-level `key:` lines at column 0, list items `- ` at one
//! indentation. Anything else (document markers, directives, a flow or
//! quoted top-level key, tabs or CRs at a line start, a column-0 line that
//! is neither) and any piece that does not parse alone (an alias to an
//! anchor in another piece) makes [`ParseCache::parse`] return None and
//! the caller parse the whole text. The tree it returns carries lines
//! relative to each piece: the caller uses it only when it finds no
//! problem, and parses the whole text again to name a problem's line.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::inputs::yaml_tree::{self, Entry, Node, Value};

#[cfg(test)]
mod tests;

/// The three lists a kubeconfig grows with.
const LISTS: [&str; 3] = ["clusters", "users", "contexts"];

/// One top-level section of the text.
#[derive(Debug, PartialEq, Eq)]
enum Section<'t> {
    /// `clusters:`, `users:` or `contexts:` followed by a block list: the
    /// list's name and each item's text (from its `- ` to the next).
    List(&'static str, Vec<&'t str>),
    /// Any other `key: ...` with its block (small: parsed every time).
    Other(&'t str),
}

/// Cut `text` into sections, or None when it is not plain block YAML the
/// cut is sure to respect.
fn split(text: &str) -> Option<Vec<Section<'_>>> {
    let mut sections = Vec::new();
    let mut open: Option<Open> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches('\n');
        if content.starts_with(['\t', '\r']) || content.contains('\r') {
            return None;
        }
        let trimmed = content.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue; // blank or a comment: part of whatever surrounds it
        }
        let indent = content.len() - trimmed.len();
        if indent == 0 && !trimmed.starts_with('-') {
            if let Some(done) = open.take() {
                sections.push(done.close(text, start));
            }
            open = Some(Open::section(content, start)?);
            continue;
        }
        let current = open.as_mut()?;
        current.line(trimmed, indent, start)?;
    }
    if let Some(done) = open.take() {
        sections.push(done.close(text, text.len()));
    }
    Some(sections)
}

/// The section being read.
struct Open {
    start: usize,
    /// The list's name, while this may be a list section.
    list: Option<&'static str>,
    /// The indentation of the list's `- `, once its first item is seen.
    item_indent: Option<usize>,
    /// Where each item starts.
    items: Vec<usize>,
}

impl Open {
    /// A column-0 line: `key:` (a list when the key is one of [`LISTS`]
    /// and nothing follows the colon), else `key: value`.
    fn section(line: &str, start: usize) -> Option<Open> {
        let (key, rest) = line.split_once(':')?;
        let plain = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !plain || !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let list = LISTS
            .into_iter()
            .find(|l| *l == key && rest.trim_matches(' ').is_empty());
        Some(Open {
            start,
            list,
            item_indent: None,
            items: Vec::new(),
        })
    }

    /// A line inside the section (not blank, not a comment; at column 0
    /// it starts with `-`).
    fn line(&mut self, trimmed: &str, indent: usize, start: usize) -> Option<()> {
        let dash = trimmed == "-" || trimmed.starts_with("- ");
        if indent == 0 && !dash {
            return None; // `---`, `-x`: not an item the cut understands
        }
        if self.list.is_none() {
            return Some(()); // another section's block, parsed whole
        }
        match self.item_indent {
            None if dash => {
                self.item_indent = Some(indent);
                self.items.push(start);
            }
            // The list's value is not a block list: parse it whole.
            None => self.list = None,
            Some(at) if indent == at && dash => self.items.push(start),
            Some(at) if indent <= at => return None,
            Some(_) => {}
        }
        Some(())
    }

    fn close<'t>(self, text: &'t str, end: usize) -> Section<'t> {
        match self.list {
            Some(list) if !self.items.is_empty() => {
                let mut bounds = self.items.clone();
                bounds.push(end);
                Section::List(list, bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect())
            }
            _ => Section::Other(&text[self.start..end]),
        }
    }
}

/// A piece's identity: two keyed 64-bit hashes of its list and text (keys
/// random per process, so no text can be made to collide on purpose).
type PieceKey = (u64, u64, usize);

/// Scalars at least this long are kept out of the cached trees: base64
/// certificates, keys and tokens, most of a kubeconfig's bytes.
const LONG_SCALAR: usize = 128;

/// The pieces of the last load, by text.
#[derive(Debug, Default)]
pub struct ParseCache {
    hashers: (RandomState, RandomState),
    /// Each list item's tree, its long scalars taken out.
    pieces: HashMap<PieceKey, Piece>,
    /// List items parsed so far (not taken from the last load).
    parsed: std::cell::Cell<u64>,
}

/// A list item's tree as kept between loads: each long scalar that is
/// written verbatim in the item's text is left out (a null) and put back
/// from the text when the item is used again, so the cache does not hold
/// a second copy of every CA, certificate and key the loaded kubeconfig
/// and its clusters hold already (the file's text, read at each load,
/// holds the third).
#[derive(Debug)]
struct Piece {
    node: Node,
    long: Vec<LongScalar>,
}

/// Where a long scalar of an item is, in its tree and in its text.
#[derive(Debug, Clone, Copy)]
struct LongScalar {
    /// The scalar's number in the tree's pre-order ([`each_node`]).
    node: u32,
    /// Its value is the item's text from `start`, `len` bytes.
    start: u32,
    len: u32,
}

/// A text's tree assembled from its pieces, lent to the caller: the
/// pieces go back into the cache by [`ParseCache::put_back`], not copied.
pub struct Assembled {
    /// The tree, lines relative to each piece.
    pub root: Node,
    /// For each list section, in order: its root entry and its pieces.
    lists: Vec<(usize, Vec<PieceLent>)>,
}

/// A piece whose tree is in an [`Assembled`]: its key and long scalars.
type PieceLent = (PieceKey, Vec<LongScalar>);

impl Assembled {
    /// Take the value of `<list>[i].<inner>.<key>` out of each item `i`
    /// where it is one of the item's long scalars (which leave the tree
    /// when it goes back to the cache anyway), leaving a null: for the
    /// caller to move into what it builds from the tree rather than copy.
    pub fn take_long_scalars(
        &mut self,
        list: &str,
        inner: &str,
        key: &str,
    ) -> Vec<(usize, String)> {
        let mut taken = Vec::new();
        let Value::Map(entries) = &mut self.root.value else {
            return taken;
        };
        for (at, pieces) in &self.lists {
            let entry = &mut entries[*at];
            let Value::Seq(items) = &mut entry.value.value else {
                continue;
            };
            if entry.key != list {
                continue;
            }
            for (index, (item, (_, long))) in items.iter_mut().zip(pieces).enumerate() {
                let Some(wanted) = item.entry(inner).and_then(|e| e.value.entry(key)) else {
                    continue;
                };
                let wanted: *const Node = &wanted.value;
                each_node(item, &mut 0, &mut |number, node| {
                    if std::ptr::eq(&*node, wanted)
                        && long.iter().any(|l| l.node == number)
                        && let Value::Str(value) = std::mem::replace(&mut node.value, Value::Null)
                    {
                        taken.push((index, value));
                    }
                });
            }
        }
        taken
    }
}

impl ParseCache {
    /// `text`'s tree, from the pieces already
    /// parsed where their text is unchanged; None when the cut does not
    /// apply or a piece does not parse alone. Pieces not in `text` are
    /// forgotten.
    pub fn parse(&mut self, text: &str) -> Option<Assembled> {
        let sections = split(text).filter(|s| !s.is_empty())?;
        let mut previous = std::mem::take(&mut self.pieces);
        let assembled = self.assemble(sections, &mut previous);
        if assembled.is_none() {
            self.pieces = previous; // what was not used yet, for the next load
        }
        assembled
    }

    fn assemble(
        &self,
        sections: Vec<Section<'_>>,
        previous: &mut HashMap<PieceKey, Piece>,
    ) -> Option<Assembled> {
        let mut entries = Vec::with_capacity(sections.len());
        let mut lists = Vec::new();
        for section in sections {
            match section {
                Section::Other(piece) => entries.push(other(piece)?),
                Section::List(list, items) => {
                    let mut nodes = Vec::with_capacity(items.len());
                    let mut pieces = Vec::with_capacity(items.len());
                    for item in items {
                        let (key, Piece { node, long }) = self.item(list, item, previous)?;
                        nodes.push(node);
                        pieces.push((key, long));
                    }
                    lists.push((entries.len(), pieces));
                    entries.push(Entry {
                        key: list.to_string(),
                        key_line: None,
                        value: Node {
                            line: None,
                            value: Value::Seq(nodes),
                        },
                    });
                }
            }
        }
        // A key given twice is a syntax error of the whole text: let the
        // whole parse say so.
        let mut keys_seen: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        keys_seen.sort_unstable();
        if keys_seen.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        let root = Node {
            line: None,
            value: Value::Map(entries),
        };
        Some(Assembled { root, lists })
    }

    /// List items parsed so far: the ones not reused from the last load.
    pub fn parsed(&self) -> u64 {
        self.parsed.get()
    }

    /// Keep the pieces of `assembled` for the next load.
    pub fn put_back(&mut self, assembled: Assembled) {
        let Value::Map(mut entries) = assembled.root.value else {
            return;
        };
        for (index, pieces) in assembled.lists {
            let value = std::mem::replace(&mut entries[index].value.value, Value::Null);
            if let Value::Seq(nodes) = value {
                let kept = pieces
                    .into_iter()
                    .zip(nodes)
                    .map(|((key, long), mut node)| {
                        take_long_scalars(&mut node, &long);
                        (key, Piece { node, long })
                    });
                self.pieces.extend(kept);
            }
        }
    }

    /// An item of `list`: the last load's parse of the same text (its long
    /// scalars put back from `item`), else parsed now.
    fn item(
        &self,
        list: &'static str,
        item: &str,
        previous: &mut HashMap<PieceKey, Piece>,
    ) -> Option<(PieceKey, Piece)> {
        let key = self.key(list, item);
        let piece = match previous.remove(&key) {
            Some(mut piece) => {
                put_long_scalars_back(&mut piece.node, &piece.long, item)?;
                piece
            }
            None => {
                self.parsed.set(self.parsed.get() + 1);
                let mut node = parse_item(list, item)?;
                let long = long_scalars(&mut node, item);
                Piece { node, long }
            }
        };
        Some((key, piece))
    }

    fn key(&self, list: &str, piece: &str) -> PieceKey {
        let hash = |state: &RandomState| {
            let mut h = state.build_hasher();
            h.write(list.as_bytes());
            h.write(piece.as_bytes());
            h.finish()
        };
        (hash(&self.hashers.0), hash(&self.hashers.1), piece.len())
    }
}

/// A section other than the three lists: its one entry of the root.
fn other(piece: &str) -> Option<Entry> {
    let node = yaml_tree::parse(piece).ok()?;
    match node.value {
        Value::Map(mut entries) if entries.len() == 1 => entries.pop(),
        _ => None,
    }
}

/// Parse one item of `list` as the document `<list>:\n<item>`.
fn parse_item(list: &'static str, item: &str) -> Option<Node> {
    let node = yaml_tree::parse(&format!("{list}:\n{item}")).ok()?;
    match node.value {
        Value::Map(mut entries) if entries.len() == 1 => match entries.pop()?.value.value {
            Value::Seq(mut items) if items.len() == 1 => items.pop(),
            _ => None,
        },
        _ => None,
    }
}

/// Call `f` on `node` and every node below it, in pre-order, with each
/// node's number in that order (`next` numbers the first).
fn each_node(node: &mut Node, next: &mut u32, f: &mut impl FnMut(u32, &mut Node)) {
    f(*next, node);
    *next += 1;
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|item| each_node(item, next, f)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|entry| each_node(&mut entry.value, next, f)),
        _ => {}
    }
}

/// The long scalars of a freshly parsed `item` whose value is written
/// verbatim in its text (plain or quoted without escapes, on one line:
/// how kubectl writes base64), in pre-order. Others stay in the tree.
fn long_scalars(node: &mut Node, item: &str) -> Vec<LongScalar> {
    let mut long = Vec::new();
    each_node(node, &mut 0, &mut |number, node| {
        let Value::Str(value) = &node.value else {
            return;
        };
        if value.len() < LONG_SCALAR {
            return;
        }
        let found = item.find(value.as_str()).and_then(|start| {
            Some(LongScalar {
                node: number,
                start: u32::try_from(start).ok()?,
                len: u32::try_from(value.len()).ok()?,
            })
        });
        long.extend(found);
    });
    long
}

/// Leave `long` out of a tree that goes back into the cache.
fn take_long_scalars(node: &mut Node, long: &[LongScalar]) {
    let mut next = long.iter().map(|l| l.node).peekable();
    each_node(node, &mut 0, &mut |number, node| {
        if next.next_if_eq(&number).is_some() {
            node.value = Value::Null;
        }
    });
}

/// Put `long` back into a cached tree from its item's text; None when the
/// text does not have them where they were (it always does: the item's
/// text is the one they were found in, by its key).
fn put_long_scalars_back(node: &mut Node, long: &[LongScalar], item: &str) -> Option<()> {
    let mut next = long.iter().peekable();
    let mut all_found = true;
    each_node(node, &mut 0, &mut |number, node| {
        let Some(scalar) = next.next_if(|l| l.node == number) else {
            return;
        };
        let (start, len) = (scalar.start as usize, scalar.len as usize);
        match item.get(start..start + len) {
            Some(value) => node.value = Value::Str(value.to_string()),
            None => all_found = false,
        }
    });
    (all_found && next.next().is_none()).then_some(())
}
