//! JSON paths of reported values (`$.customer.emails[*]`), rendered from
//! the walker's open containers only when a value has a detection.

use super::Frame;

/// The path of a value, kept as the walker's open containers so that the
/// string is built only for values that are reported.
#[derive(Clone, Copy)]
pub struct JsonPath<'a> {
    pub(super) body: &'a [u8],
    pub(super) frames: &'a [Frame],
    pub(super) key_arena: &'a [u8],
    /// The walker's count of opened and closed containers. While it stays
    /// the same, only the innermost container's key can change.
    pub(super) version: u64,
}

impl JsonPath<'_> {
    /// Renders the path into `path`, replacing its content: `$`, then `.key`
    /// or `['odd key']` for each object and `[*]` for each array.
    pub fn render_into(&self, path: &mut String) {
        path.clear();
        path.push('$');
        for frame in self.frames {
            self.push_frame(frame, path);
        }
    }

    /// Renders the path into `cache` and returns it. When no container was
    /// opened or closed since the cache was filled, as between two values of
    /// one object, only the last segment is rendered again.
    pub fn render_cached<'c>(&self, cache: &'c mut PathCache) -> &'c str {
        let Some((innermost, outer)) = self.frames.split_last() else {
            self.render_into(&mut cache.path);
            cache.version = None;
            return &cache.path;
        };

        if cache.version == Some(self.version) {
            cache.path.truncate(cache.prefix_len);
        } else {
            cache.path.clear();
            cache.path.push('$');
            for frame in outer {
                self.push_frame(frame, &mut cache.path);
            }
            cache.prefix_len = cache.path.len();
            cache.version = Some(self.version);
        }
        self.push_frame(innermost, &mut cache.path);
        &cache.path
    }

    fn push_frame(&self, frame: &Frame, path: &mut String) {
        match (&frame.key, frame.is_object) {
            (Some(key), true) => {
                let bytes = if key.in_arena {
                    &self.key_arena[key.range.clone()]
                } else {
                    &self.body[key.range.clone()]
                };
                push_path_segment(path, bytes);
            }
            (None, true) => {}
            (_, false) => path.push_str("[*]"),
        }
    }
}

/// The last rendered path of one walk, for [`JsonPath::render_cached`].
#[derive(Default)]
pub struct PathCache {
    path: String,
    /// The path's version when `path[..prefix_len]` was rendered, or `None`
    /// when it was not.
    version: Option<u64>,
    /// Length of the path before the innermost container's segment.
    prefix_len: usize,
}

impl PathCache {
    pub fn as_str(&self) -> &str {
        &self.path
    }
}

/// Appends `.key`, or `['key']` when the key is not a plain identifier.
fn push_path_segment(path: &mut String, key: &[u8]) {
    let plain = !key.is_empty()
        && key
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
    if plain {
        // A plain key is ASCII, so each byte is one character, and the
        // UTF-8 check of `str::from_utf8` would be wasted on it.
        path.reserve(key.len() + 1);
        path.push('.');
        path.extend(key.iter().map(|&byte| char::from(byte)));
        return;
    }

    path.push_str("['");
    for character in String::from_utf8_lossy(key).chars() {
        if character == '\'' || character == '\\' {
            path.push('\\');
        }
        path.push(character);
    }
    path.push_str("']");
}
