use serde::{Deserialize, Serialize};

/// A field that is an id, or the object itself when the request asked to expand it.
///
/// Unlike an untagged enum, deserialization looks at the JSON type: a string is always an id, an object is
/// always the expanded object, so an object that fails to parse is an error instead of a silent fallback.
#[derive(Clone, Debug, PartialEq)]
pub enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

/// Objects that can stand in an [`Expandable`] know their own id.
pub trait HasId {
    fn id(&self) -> &str;
}

impl<T: HasId> Expandable<T> {
    /// The id, whether or not the field was expanded.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(o) => o.id(),
        }
    }
}

impl<T> Expandable<T> {
    pub fn as_object(&self) -> Option<&T> {
        match self {
            Expandable::Object(o) => Some(o),
            Expandable::Id(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for Expandable<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Expandable::Id(id) => s.serialize_str(id),
            Expandable::Object(o) => o.serialize(s),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Expandable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(id) => Ok(Expandable::Id(id)),
            obj @ serde_json::Value::Object(_) => {
                serde_json::from_value(obj).map(|o| Expandable::Object(Box::new(o))).map_err(serde::de::Error::custom)
            }
            other => Err(serde::de::Error::custom(format!("expected an id or an object, found {other}"))),
        }
    }
}
