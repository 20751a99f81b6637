//! Decoded records, remembered by their stored JSON text: a read of a record that has not changed since
//! the last read of it (a session polled by the merchant's page, an account polled for its refresh) clones
//! the earlier decoding instead of parsing the JSON again. Parsing was a tenth of a session retrieve's
//! cost.
//!
//! Keyed by the exact text (and the type it decodes to), so it cannot go stale: a changed record is
//! different text, and any process, any writer, may change it. Bounded: `SLOTS` direct-mapped slots, each
//! holding one record of at most `MAX_TEXT` bytes (a few megabytes in all with typical records; at most
//! `SLOTS × MAX_TEXT` of text plus its decoding). A colliding record replaces the slot's.

use std::any::{Any, TypeId};
use std::hash::BuildHasher;
use std::sync::{Mutex, OnceLock, PoisonError};

use finconn_core::StoreError;

const SLOTS: usize = 2048;
const MAX_TEXT: usize = 4096;

struct Slot {
    kind: TypeId,
    text: Box<str>,
    value: Box<dyn Any + Send>,
}

fn slots() -> &'static [Mutex<Option<Slot>>] {
    static ALL: OnceLock<Box<[Mutex<Option<Slot>>]>> = OnceLock::new();
    ALL.get_or_init(|| (0..SLOTS).map(|_| Mutex::new(None)).collect())
}

/// `text` decoded as a `T`: from the slot when it holds this very text, else parsed (and remembered).
pub(crate) fn decoded<T>(text: &str) -> Result<T, StoreError>
where
    T: serde::de::DeserializeOwned + Clone + Send + 'static,
{
    if text.len() > MAX_TEXT {
        return crate::objects::from_json(text);
    }
    let kind = TypeId::of::<T>();
    let hash = foldhash::fast::FixedState::with_seed(0).hash_one((kind, text));
    let slot = &slots()[(hash % SLOTS as u64) as usize];
    {
        let held = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let hit =
            held.as_ref().filter(|s| s.kind == kind && *s.text == *text).and_then(|s| s.value.downcast_ref::<T>());
        if let Some(value) = hit {
            return Ok(value.clone());
        }
    }
    let value: T = crate::objects::from_json(text)?;
    let remembered = Slot { kind, text: text.into(), value: Box::new(value.clone()) };
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(remembered);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::decoded;

    #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    struct A {
        n: i64,
    }

    #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    struct B {
        n: i64,
    }

    #[test]
    fn the_same_text_decodes_the_same_and_each_type_has_its_own_entry() {
        assert_eq!(decoded::<A>(r#"{"n":1}"#).unwrap(), A { n: 1 });
        assert_eq!(decoded::<A>(r#"{"n":1}"#).unwrap(), A { n: 1 });
        assert_eq!(decoded::<B>(r#"{"n":1}"#).unwrap(), B { n: 1 });
        assert_eq!(decoded::<A>(r#"{"n":2}"#).unwrap(), A { n: 2 });
        // Text that does not decode is an error every time, never remembered as something else.
        assert!(decoded::<A>(r#"{"n":"x"}"#).is_err());
        assert!(decoded::<A>(r#"{"n":"x"}"#).is_err());
        let long = format!(r#"{{"n":3,"pad":"{}"}}"#, "x".repeat(5000));
        assert_eq!(decoded::<A>(&long).unwrap(), A { n: 3 });
    }
}
