//! Lenient values: strings that may be numbers, lists that may be one item or absent, fields read only when they parse.

use super::*;

/// A string field that accepts any JSON scalar (numbers and booleans as their text) and treats
/// null, objects and arrays as absent, so one odd field never rejects an event.
#[derive(Default, Debug, Clone)]
pub(super) struct S(pub(super) Option<String>);

impl S {
    pub(super) fn take(&mut self) -> Option<String> {
        self.0.take().filter(|s| !s.is_empty())
    }
    pub(super) fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

/// Reads any JSON value as text: a scalar as its text, borrowed from the input when it has
/// no escapes; null, objects and arrays as absent.
pub(super) struct ScalarText;

impl<'de> Visitor<'de> for ScalarText {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de> Deserialize<'de> for S {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(S(d.deserialize_any(ScalarText)?.map(Cow::into_owned)))
    }
}

/// `S` borrowed from the input: for the envelope's fields, which are often only compared or
/// parsed, and are copied only when taken.
#[derive(Default)]
pub(super) struct Str<'a>(pub(super) Option<Cow<'a, str>>);

impl<'a> Str<'a> {
    pub(super) fn take(&mut self) -> Option<String> {
        self.take_borrowed().map(Cow::into_owned)
    }
    /// As `take`, without the copy.
    pub(super) fn take_borrowed(&mut self) -> Option<Cow<'a, str>> {
        self.0.take().filter(|s| !s.is_empty())
    }
    pub(super) fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarText).map(Str)
    }
}

/// A list that tolerates a non-list (treated as empty) and skips elements of the wrong shape.
#[derive(Debug)]
pub(super) struct L<T>(pub(super) Vec<T>);

impl<T> Default for L<T> {
    fn default() -> Self {
        L(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for L<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = L<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<L<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = s.next_element::<Lenient<T>>()? {
                    if let Some(item) = item.0 {
                        out.push(item);
                    }
                }
                Ok(L(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<L<T>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(L(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An element that is kept when it has the expected shape and dropped otherwise. Elements are
/// objects in every list Herald reads, so anything else is skipped without buffering.
pub(super) struct Lenient<T>(pub(super) Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &RawValue = <&RawValue>::deserialize(d)?;
        Ok(Lenient(serde_json::from_str(raw.get()).ok()))
    }
}

/// `L<String>`, with the strings borrowed from the input where they have no escapes. The first
/// is kept apart: lists Herald reads (`resources`) mostly have one, and need no `Vec` then.
#[derive(Default)]
pub(super) struct TextList<'a> {
    pub(super) first: Option<Cow<'a, str>>,
    pub(super) rest: Vec<Cow<'a, str>>,
}

impl<'a> TextList<'a> {
    pub(super) fn push(&mut self, s: Cow<'a, str>) {
        if self.first.is_none() {
            self.first = Some(s);
        } else {
            self.rest.push(s);
        }
    }
    pub(super) fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }
    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        self.first.iter().chain(&self.rest).map(|s| &**s)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TextList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = TextList::default();
                while let Some(raw) = s.next_element::<&'de RawValue>()? {
                    // As `Lenient<String>` reads it, without the copy when there is no escape
                    // (a raw string's text between its quotes is then the string).
                    let raw = raw.get();
                    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                        Some(text) if !text.contains('\\') => out.push(Cow::Borrowed(text)),
                        _ => {
                            if let Ok(text) = serde_json::from_str::<String>(raw) {
                                out.push(Cow::Owned(text));
                            }
                        }
                    }
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TextList::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
        }
        d.deserialize_any(V)
    }
}
