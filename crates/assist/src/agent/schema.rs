//! The subset of JSON Schema that tool parameters use: what a call's arguments may be, for the
//! grammar that constrains decoding and the check of a parsed call.

use serde_json::Value;

/// One value's schema.
#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    /// A string; with `choices`, one of them.
    String {
        choices: Vec<String>,
    },
    Integer,
    Number,
    Boolean,
    Array(Box<Schema>),
    /// An object with these properties, in the schema's order.
    Object {
        properties: Vec<(String, Schema)>,
        required: Vec<String>,
    },
    /// Any JSON value (a schema without a type this subset knows).
    Any,
}

impl Schema {
    /// Reads a schema from its JSON text; keys keep the text's order.
    pub fn parse(json: &str) -> Schema {
        match serde_json::from_str::<OrderedValue>(json) {
            Ok(v) => Schema::from_ordered(&v),
            Err(_) => Schema::Any,
        }
    }

    fn from_ordered(v: &OrderedValue) -> Schema {
        let OrderedValue::Object(fields) = v else { return Schema::Any };
        let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let ty = match get("type") {
            Some(OrderedValue::Plain(Value::String(t))) => t.as_str(),
            _ => "",
        };
        match ty {
            "string" => {
                let choices = strings(get("enum"));
                Schema::String { choices }
            }
            "integer" => Schema::Integer,
            "number" => Schema::Number,
            "boolean" => Schema::Boolean,
            "array" => Schema::Array(Box::new(get("items").map_or(Schema::Any, Schema::from_ordered))),
            "object" => {
                let properties = match get("properties") {
                    Some(OrderedValue::Object(props)) => props.iter().map(|(k, v)| (k.clone(), Schema::from_ordered(v))).collect(),
                    _ => Vec::new(),
                };
                let required = strings(get("required"));
                Schema::Object { properties, required }
            }
            _ => Schema::Any,
        }
    }

    /// The name of its type, for messages to the model.
    pub fn type_name(&self) -> &'static str {
        match self {
            Schema::String { .. } => "string",
            Schema::Integer => "integer",
            Schema::Number => "number",
            Schema::Boolean => "boolean",
            Schema::Array(_) => "array",
            Schema::Object { .. } => "object",
            Schema::Any => "value",
        }
    }
}

/// The strings of a list of strings (`enum`, `required`); other entries and other values give none.
fn strings(value: Option<&OrderedValue>) -> Vec<String> {
    match value {
        Some(OrderedValue::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                OrderedValue::Plain(Value::String(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A JSON value whose objects keep their key order (serde_json's maps are sorted in this workspace).
#[derive(Debug)]
enum OrderedValue {
    Object(Vec<(String, OrderedValue)>),
    Array(Vec<OrderedValue>),
    Plain(Value),
}

impl<'de> serde::Deserialize<'de> for OrderedValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OrderedValue, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, OrderedValue>()? {
                    fields.push((k, v));
                }
                Ok(OrderedValue::Object(fields))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedValue, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<OrderedValue>()? {
                    items.push(v);
                }
                Ok(OrderedValue::Array(items))
            }
            fn visit_str<E>(self, v: &str) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::String(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<OrderedValue, E> {
                Ok(OrderedValue::Plain(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_properties_in_order() {
        let s = Schema::parse(
            r#"{"type": "object", "properties": {"path": {"type": "string"}, "b": {"type": "integer"}, "a": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}}}, "required": ["path"]}"#,
        );
        let Schema::Object { properties, required } = s else { panic!("{s:?}") };
        let names: Vec<&str> = properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["path", "b", "a"]);
        assert_eq!(required, ["path"]);
        assert_eq!(properties[2].1, Schema::Array(Box::new(Schema::String { choices: vec!["x".into(), "y".into()] })));
        assert_eq!(Schema::parse("not json"), Schema::Any);
    }
}
