//! Keyset pagination: a page of items and the cursor that continues after it.

use serde::Serialize;

/// The largest page any listing returns.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The page size used when a caller does not choose one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A position in a listing, carried between requests as opaque text.
pub trait Cursor: Sized {
    /// The cursor as URL-safe text.
    fn encode(&self) -> String;
    /// Parses text made by [`Cursor::encode`]; `None` when it was not.
    fn decode(text: &str) -> Option<Self>;
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Page<T, C> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    #[serde(skip)]
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// Builds a page from up to `limit + 1` items read in order: the extra item, when present,
    /// only proves that a next page exists and is dropped. `cursor_of` makes the cursor from the
    /// last kept item.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> C) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next }
    }
}
