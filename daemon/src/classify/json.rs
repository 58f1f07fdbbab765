//! A streaming JSON walker that hands every string and number to a visitor
//! with its path, its field-name evidence and its position in the body.
//!
//! It is a strict RFC 8259 tokenizer (structure, escapes and literals are
//! checked) with an explicit stack, so deep nesting cannot overflow the
//! thread's stack. It does not build a tree: strings without escapes are
//! borrowed from the body, found with `memchr`, and only escaped strings
//! are copied. Two relaxations: control characters inside strings and
//! invalid UTF-8 are accepted, since neither changes what a value contains,
//! and several top-level values may follow each other (JSON Lines).

use std::ops::Range;

use super::field_names::{with_field_cache, CustomFieldNames, FieldCache, FieldInfo};

mod path;
mod shapes;

pub use path::{JsonPath, PathCache};
use shapes::{with_shapes, Shapes, ROOT};

/// Maximum nesting depth. Deeper documents are reported as invalid and
/// scanned as plain text, which bounds the walker's memory.
pub const MAX_DEPTH: usize = 512;

/// A string or number value, as the visitor sees it.
pub struct JsonValue<'a> {
    /// The value: a string's content after unescaping, or a number's text.
    pub bytes: &'a [u8],
    pub field: &'a FieldInfo,
    /// Where the value sits, rendered on demand as `$.customer.emails[*]`.
    pub path: JsonPath<'a>,
    /// Range of the value in the body: a string's content between the
    /// quotes, or the number.
    pub raw: Range<usize>,
    /// Whether `bytes` is the body's bytes at `raw` unchanged, so offsets in
    /// `bytes` are offsets from `raw.start`. False for strings with escapes.
    pub verbatim: bool,
    pub is_number: bool,
}

/// Where the current key of an object frame is stored.
#[derive(Clone)]
struct KeyLocation {
    range: Range<usize>,
    /// The key had escapes and its decoded bytes are in the key arena;
    /// otherwise `range` is in the body.
    in_arena: bool,
}

/// Why a walk stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The body is not JSON: a byte at `offset` cannot continue the document.
    Syntax { offset: usize },
    /// The body ends inside a value, as when a capture or the scan budget
    /// cut it. Values before `offset` were visited; the value that starts at
    /// `offset` was not.
    Truncated { offset: usize },
}

/// One open object or array.
pub struct Frame {
    is_object: bool,
    /// Evidence of the name this container is the value of.
    context: FieldInfo,
    /// Evidence of the current key, for objects.
    current: FieldInfo,
    /// The current key, for objects.
    key: Option<KeyLocation>,
    /// Length of the key arena when the frame was opened; its escaped keys
    /// are stored after that.
    arena_start: usize,
    /// This container's node in the shape memo, `None` when the memo is
    /// full.
    node: Option<u32>,
    /// Index of the current key among the object's keys: its slot in
    /// `node`. Always 0 for arrays, whose elements share one slot.
    ordinal: u32,
}

/// Walks `body` and calls `visit` for each string and number value.
pub fn walk_json(
    body: &[u8],
    custom_fields: &CustomFieldNames,
    mut visit: impl FnMut(&JsonValue<'_>),
) -> Result<(), JsonError> {
    with_field_cache(|field_cache| {
        with_shapes(|shapes| {
            let mut walker = Walker {
                body,
                position: 0,
                stack: Vec::new(),
                scratch: Vec::new(),
                key_arena: Vec::new(),
                root: FieldInfo::default(),
                custom_fields,
                field_cache,
                shapes,
                containers_seen: 0,
            };
            walker.run(&mut visit)
        })
    })
}

struct Walker<'b, 'c> {
    body: &'b [u8],
    position: usize,
    stack: Vec<Frame>,
    /// Unescaped string values.
    scratch: Vec<u8>,
    /// Unescaped keys of the open objects.
    key_arena: Vec<u8>,
    root: FieldInfo,
    custom_fields: &'c CustomFieldNames,
    field_cache: &'c mut FieldCache,
    shapes: &'c mut Shapes,
    /// Containers opened and closed so far, the version of [`JsonPath`].
    containers_seen: u64,
}

impl Walker<'_, '_> {
    fn path(&self) -> JsonPath<'_> {
        JsonPath {
            body: self.body,
            frames: &self.stack,
            key_arena: &self.key_arena,
            version: self.containers_seen,
        }
    }

    /// Walks every top-level value in the body.
    fn run(&mut self, visit: &mut impl FnMut(&JsonValue<'_>)) -> Result<(), JsonError> {
        loop {
            self.skip_whitespace();
            if self.position == self.body.len() {
                return Ok(());
            }
            self.document(visit)?;
        }
    }

    /// Walks one top-level value. Containers are handled with the explicit
    /// stack: a value that opens a container continues with its first
    /// member, and a finished value continues with the separators and
    /// closing brackets that follow it.
    fn document(&mut self, visit: &mut impl FnMut(&JsonValue<'_>)) -> Result<(), JsonError> {
        loop {
            self.skip_whitespace();
            let start = self.position;
            let byte = *self
                .body
                .get(start)
                .ok_or(JsonError::Truncated { offset: start })?;

            let finished = match byte {
                b'{' | b'[' => self.open(byte == b'{')?,
                b'"' => {
                    self.position += 1;
                    let (raw, decoded) = self.string(false)?;
                    let field = self.current_field();
                    let verbatim = decoded.is_none();
                    let bytes = match decoded {
                        None => &self.body[raw.clone()],
                        Some(range) => &self.scratch[range],
                    };
                    visit(&JsonValue {
                        bytes,
                        field: &field,
                        path: self.path(),
                        raw,
                        verbatim,
                        is_number: false,
                    });
                    true
                }
                b'-' | b'0'..=b'9' => {
                    let raw = self.number()?;
                    let field = self.current_field();
                    visit(&JsonValue {
                        bytes: &self.body[raw.clone()],
                        field: &field,
                        path: self.path(),
                        raw,
                        verbatim: true,
                        is_number: true,
                    });
                    true
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return Err(JsonError::Syntax { offset: start }),
            };

            if finished && self.after_value()? {
                return Ok(());
            }
        }
    }

    /// Returns the shape memo's node and slot of a container opened at the
    /// current position: the current key's in an object, the shared element
    /// slot in an array, the root's slot at the top level.
    fn value_slot(&self) -> (Option<u32>, u32) {
        match self.stack.last() {
            Some(frame) if frame.is_object => (frame.node, frame.ordinal),
            Some(frame) => (frame.node, 0),
            None => (Some(ROOT), 0),
        }
    }

    /// Opens an object or array at the current position. Returns true when
    /// it is empty and already closed, false when a member follows.
    fn open(&mut self, is_object: bool) -> Result<bool, JsonError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(JsonError::Syntax {
                offset: self.position,
            });
        }
        self.position += 1;
        let context = self.current_field();
        let (parent, index) = self.value_slot();
        let node = self.shapes.child(parent, index);
        self.containers_seen += 1;
        self.stack.push(Frame {
            is_object,
            context,
            current: FieldInfo::default(),
            key: None,
            arena_start: self.key_arena.len(),
            node,
            ordinal: 0,
        });

        self.skip_whitespace();
        let closing = if is_object { b'}' } else { b']' };
        match self.body.get(self.position) {
            Some(&byte) if byte == closing => {
                self.position += 1;
                self.close();
                Ok(true)
            }
            Some(_) if is_object => {
                self.key()?;
                Ok(false)
            }
            Some(_) => Ok(false),
            None => Err(JsonError::Truncated {
                offset: self.position,
            }),
        }
    }

    /// Consumes what follows a finished value: closing brackets of finished
    /// containers, then a comma and the next key. Returns true when the
    /// top-level value is complete.
    fn after_value(&mut self) -> Result<bool, JsonError> {
        loop {
            let Some(is_object) = self.stack.last().map(|frame| frame.is_object) else {
                return Ok(true);
            };
            self.skip_whitespace();
            let offset = self.position;
            match self.body.get(offset) {
                Some(b',') => {
                    self.position += 1;
                    if is_object {
                        self.skip_whitespace();
                        self.key()?;
                    }
                    return Ok(false);
                }
                Some(b'}') if is_object => {
                    self.position += 1;
                    self.close();
                }
                Some(b']') if !is_object => {
                    self.position += 1;
                    self.close();
                }
                Some(_) => return Err(JsonError::Syntax { offset }),
                None => return Err(JsonError::Truncated { offset }),
            }
        }
    }

    fn close(&mut self) {
        self.containers_seen += 1;
        if let Some(frame) = self.stack.pop() {
            self.key_arena.truncate(frame.arena_start);
        }
    }

    /// Reads a key and its colon, records where the key is stored and
    /// classifies the name. A key equal to the one at the same place of the
    /// previous array element is taken with its classification from the
    /// shape memo, which also spares the search for its closing quote.
    fn key(&mut self) -> Result<(), JsonError> {
        let offset = self.position;
        match self.body.get(offset) {
            Some(b'"') => {}
            Some(_) => return Err(JsonError::Syntax { offset }),
            None => return Err(JsonError::Truncated { offset }),
        }
        self.position += 1;
        let start = self.position;

        let frame = self.stack.last_mut().ok_or(JsonError::Syntax { offset })?;
        let ordinal = match frame.key {
            Some(_) => frame.ordinal.saturating_add(1),
            None => 0,
        };
        frame.ordinal = ordinal;
        let context = frame.context;
        let node = frame.node;

        let remembered = node
            .and_then(|node| self.shapes.slot(node, ordinal))
            .and_then(|slot| {
                let length = slot.matching_key(self.body, start, &context)?;
                Some((length, slot.info))
            });
        let (location, info) = match remembered {
            Some((length, info)) => {
                self.position = start + length + 1;
                let location = KeyLocation {
                    range: start..start + length,
                    in_arena: false,
                };
                (location, info)
            }
            None => self.classify_key(node, ordinal, &context)?,
        };

        let frame = self.stack.last_mut().ok_or(JsonError::Syntax { offset })?;
        frame.current = info;
        frame.key = Some(location);

        self.skip_whitespace();
        let colon = self.position;
        match self.body.get(colon) {
            Some(b':') => {
                self.position += 1;
                Ok(())
            }
            Some(_) => Err(JsonError::Syntax { offset: colon }),
            None => Err(JsonError::Truncated { offset: colon }),
        }
    }

    /// Reads a key that the shape memo did not have, classifies it under
    /// `context` and remembers it at slot `ordinal` of `node`.
    fn classify_key(
        &mut self,
        node: Option<u32>,
        ordinal: u32,
        context: &FieldInfo,
    ) -> Result<(KeyLocation, FieldInfo), JsonError> {
        let (raw, decoded) = self.string(true)?;
        let verbatim_key = decoded.is_none().then(|| (raw.start, raw.len()));
        let location = match decoded {
            None => KeyLocation {
                range: raw,
                in_arena: false,
            },
            Some(range) => KeyLocation {
                range,
                in_arena: true,
            },
        };

        let key = if location.in_arena {
            &self.key_arena[location.range.clone()]
        } else {
            &self.body[location.range.clone()]
        };
        let info = self.field_cache.classify(key, context, self.custom_fields);
        if let Some(slot) = node.and_then(|node| self.shapes.slot(node, ordinal)) {
            slot.remember_key(verbatim_key, *context, info);
        }
        Ok((location, info))
    }

    /// Evidence for a value at the current position: the current key's in an
    /// object, the array's own name in an array, nothing at the top level.
    fn current_field(&self) -> FieldInfo {
        match self.stack.last() {
            Some(frame) if frame.is_object => frame.current,
            Some(frame) => frame.context,
            None => self.root,
        }
    }

    /// Reads a string whose opening quote was consumed. Returns the range of
    /// its content in the body and, for strings with escapes, the range of
    /// the unescaped content in the key arena (keys) or in `scratch`.
    ///
    /// Most strings have no escapes and end within a few words, so this
    /// fast path is inlined into the walk and the escaped case is not.
    #[inline(always)]
    fn string(&mut self, is_key: bool) -> Result<(Range<usize>, Option<Range<usize>>), JsonError> {
        let start = self.position;
        let body = self.body;

        let first = find_quote_or_backslash(&body[start..])
            .ok_or(JsonError::Truncated { offset: start - 1 })?;
        if body[start + first] == b'"' {
            self.position = start + first + 1;
            return Ok((start..start + first, None));
        }
        self.escaped_string(is_key)
    }

    #[cold]
    #[inline(never)]
    fn escaped_string(
        &mut self,
        is_key: bool,
    ) -> Result<(Range<usize>, Option<Range<usize>>), JsonError> {
        let start = self.position;
        let body = self.body;
        let output = if is_key {
            // Only the current key of the innermost object is kept.
            let arena_start = self.stack.last().map_or(0, |frame| frame.arena_start);
            self.key_arena.truncate(arena_start);
            &mut self.key_arena
        } else {
            self.scratch.clear();
            &mut self.scratch
        };
        let output_start = output.len();
        let mut index = start;
        loop {
            let offset = find_quote_or_backslash(&body[index..])
                .ok_or(JsonError::Truncated { offset: start - 1 })?;
            output.extend_from_slice(&body[index..index + offset]);
            index += offset;
            if body[index] == b'"' {
                self.position = index + 1;
                return Ok((start..index, Some(output_start..output.len())));
            }
            index = unescape(body, index, output).map_err(|error| match error {
                JsonError::Truncated { .. } => JsonError::Truncated { offset: start - 1 },
                syntax => syntax,
            })?;
        }
    }

    fn number(&mut self) -> Result<Range<usize>, JsonError> {
        let start = self.position;
        let body = self.body;
        let mut index = start;
        let digits = |index: &mut usize| {
            let from = *index;
            while *index < body.len() && body[*index].is_ascii_digit() {
                *index += 1;
            }
            *index - from
        };

        if body[index] == b'-' {
            index += 1;
        }
        let integer_start = index;
        let integer = digits(&mut index);
        if integer == 0 || (integer > 1 && body[integer_start] == b'0') {
            return Err(self.number_error(index));
        }
        if body.get(index) == Some(&b'.') {
            index += 1;
            if digits(&mut index) == 0 {
                return Err(self.number_error(index));
            }
        }
        if matches!(body.get(index), Some(b'e' | b'E')) {
            index += 1;
            if matches!(body.get(index), Some(b'+' | b'-')) {
                index += 1;
            }
            if digits(&mut index) == 0 {
                return Err(self.number_error(index));
            }
        }
        self.position = index;
        Ok(start..index)
    }

    fn number_error(&self, index: usize) -> JsonError {
        if index >= self.body.len() {
            JsonError::Truncated {
                offset: self.position,
            }
        } else {
            JsonError::Syntax { offset: index }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<bool, JsonError> {
        let rest = &self.body[self.position..];
        if rest.starts_with(word) {
            self.position += word.len();
            Ok(true)
        } else if word.starts_with(rest) {
            Err(JsonError::Truncated {
                offset: self.position,
            })
        } else {
            Err(JsonError::Syntax {
                offset: self.position,
            })
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.position) {
            self.position += 1;
        }
    }
}

/// Returns the offset of the first `"` or `\\` in `bytes`. Most JSON strings
/// are short, so the first 64 bytes are searched sixteen at a time in two
/// machine words before the vectorised `memchr2` takes over, so most keys
/// and short values are found in one step.
#[inline(always)]
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const WORD_SEARCH_LEN: usize = 64;

    let word_at = |index: usize| {
        u64::from_le_bytes(bytes[index..index + 8].try_into().expect("8-byte slice"))
    };
    let special_bytes = |word: u64| {
        zero_byte_mask(word ^ REPEATED_QUOTE) | zero_byte_mask(word ^ REPEATED_BACKSLASH)
    };

    let mut index = 0;
    while index + 16 <= bytes.len() {
        if index >= WORD_SEARCH_LEN {
            return memchr::memchr2(b'"', b'\\', &bytes[index..]).map(|offset| index + offset);
        }
        // A word without a special byte has an empty mask, so the lowest
        // bit of the pair is the first special byte of either word.
        let found = u128::from(special_bytes(word_at(index)))
            | u128::from(special_bytes(word_at(index + 8))) << 64;
        if found != 0 {
            return Some(index + (found.trailing_zeros() / 8) as usize);
        }
        index += 16;
    }
    if index + 8 <= bytes.len() {
        let found = special_bytes(word_at(index));
        if found != 0 {
            return Some(index + (found.trailing_zeros() / 8) as usize);
        }
        index += 8;
    }
    bytes[index..]
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\')
        .map(|offset| index + offset)
}

const REPEATED_QUOTE: u64 = 0x0101_0101_0101_0101 * b'"' as u64;
const REPEATED_BACKSLASH: u64 = 0x0101_0101_0101_0101 * b'\\' as u64;

/// Returns a word whose lowest set bit is the high bit of the first zero
/// byte of `word` (little-endian), or 0 when no byte is zero. Bits above
/// the first zero byte may be set spuriously, so only the lowest counts.
fn zero_byte_mask(word: u64) -> u64 {
    word.wrapping_sub(0x0101_0101_0101_0101) & !word & 0x8080_8080_8080_8080
}

/// Decodes the escape sequence at `body[index]` (a backslash) into `output`
/// and returns the index after it.
fn unescape(body: &[u8], index: usize, output: &mut Vec<u8>) -> Result<usize, JsonError> {
    let escaped = *body
        .get(index + 1)
        .ok_or(JsonError::Truncated { offset: index })?;
    let simple = match escaped {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        b'/' => Some(b'/'),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'u' => None,
        _ => return Err(JsonError::Syntax { offset: index + 1 }),
    };
    if let Some(byte) = simple {
        output.push(byte);
        return Ok(index + 2);
    }

    let unit = hex_unit(body, index + 2)?;
    let mut next = index + 6;
    let code_point = if (0xD800..0xDC00).contains(&unit) {
        // A high surrogate must be followed by `\u` and a low surrogate;
        // an unpaired one becomes U+FFFD.
        if body.get(next) == Some(&b'\\') && body.get(next + 1) == Some(&b'u') {
            let low = hex_unit(body, next + 2)?;
            if (0xDC00..0xE000).contains(&low) {
                next += 6;
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            } else {
                0xFFFD
            }
        } else {
            0xFFFD
        }
    } else if (0xDC00..0xE000).contains(&unit) {
        0xFFFD
    } else {
        unit
    };

    let character = char::from_u32(code_point).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buffer = [0u8; 4];
    output.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
    Ok(next)
}

fn hex_unit(body: &[u8], start: usize) -> Result<u32, JsonError> {
    let digits = body
        .get(start..start + 4)
        .ok_or(JsonError::Truncated { offset: start })?;
    let mut unit = 0u32;
    for (offset, &digit) in digits.iter().enumerate() {
        let value = (digit as char).to_digit(16).ok_or(JsonError::Syntax {
            offset: start + offset,
        })?;
        unit = unit * 16 + value;
    }
    Ok(unit)
}
