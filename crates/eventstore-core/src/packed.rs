//! An event's text attributes packed into one allocation.
//!
//! An event read from a store used to own a `String` per attribute: nine allocations,
//! each freed on its own. A consumer that holds events before dropping them (a relay's
//! batch) then takes every allocation and free on the allocator's slow path: holding
//! batches of 1,000 cost a SQLite replay a quarter of its rate. One string for all
//! text attributes makes reading, holding and dropping an event one allocation for them.

use std::fmt;

/// The text attributes, in the order they are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attr {
    Id,
    Source,
    Type,
    Subject,
    DataContentType,
    DataSchema,
    CorrelationId,
    Topic,
    Destination,
}

/// How many text attributes an event has.
pub(crate) const COUNT: usize = 9;

impl Attr {
    /// Every text attribute, in packing order.
    pub(crate) const ALL: [Self; COUNT] = [
        Self::Id,
        Self::Source,
        Self::Type,
        Self::Subject,
        Self::DataContentType,
        Self::DataSchema,
        Self::CorrelationId,
        Self::Topic,
        Self::Destination,
    ];

    /// The attribute's CloudEvents name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Source => "source",
            Self::Type => "type",
            Self::Subject => "subject",
            Self::DataContentType => "datacontenttype",
            Self::DataSchema => "dataschema",
            Self::CorrelationId => "correlationid",
            Self::Topic => "topic",
            Self::Destination => "destination",
        }
    }
}

/// The text attributes of an event, one after another in one string.
///
/// Packing is canonical (the same values always pack the same way), so the derived
/// equality is the attributes' equality.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TextAttributes {
    text: Box<str>,
    /// Where each attribute ends in `text`, by [`Attr`] order.
    ends: [usize; COUNT],
    /// Bit `i` is set when attribute `i` is present.
    present: u16,
}

impl TextAttributes {
    /// Packs the attributes' values, given in [`Attr`] order.
    pub(crate) fn pack(values: [Option<&str>; COUNT]) -> Self {
        let len = values.iter().flatten().map(|v| v.len()).sum();
        let mut text = String::with_capacity(len);
        let mut ends = [0; COUNT];
        let mut present = 0;
        for (i, value) in values.into_iter().enumerate() {
            if let Some(value) = value {
                text.push_str(value);
                present |= 1 << i;
            }
            ends[i] = text.len();
        }
        Self {
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }

    /// An attribute's value, `None` when it is absent.
    pub(crate) fn get(&self, attr: Attr) -> Option<&str> {
        let i = attr as usize;
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = i.checked_sub(1).map_or(0, |before| self.ends[before]);
        Some(&self.text[start..self.ends[i]])
    }

    /// The bytes of all attributes' values together.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }
}

impl fmt::Debug for TextAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                Attr::ALL
                    .iter()
                    .filter_map(|&attr| Some((attr.name(), self.get(attr)?))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_read_back_as_packed() {
        let values = [
            Some("1"),
            Some("/s"),
            Some("t"),
            None,
            Some(""),
            None,
            Some("c-1"),
            None,
            Some("d"),
        ];
        let packed = TextAttributes::pack(values);
        assert_eq!(Attr::ALL.map(|attr| packed.get(attr)), values);
        assert_eq!(packed.len(), "1/stc-1d".len());
    }

    #[test]
    fn an_absent_attribute_differs_from_an_empty_one() {
        let mut values = [None; COUNT];
        let absent = TextAttributes::pack(values);
        values[3] = Some("");
        let empty = TextAttributes::pack(values);
        assert_ne!(absent, empty);
        assert_eq!(empty.get(Attr::Subject), Some(""));
        assert_eq!(absent.get(Attr::Subject), None);
    }
}
