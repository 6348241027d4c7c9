//! The parts of Python's behaviour that chat templates see and minijinja does differently: how values print
//! (`str()`/`repr()`), transformers' `tojson` (a plain `json.dumps`), jinja2's `iterable`/`sequence`/`number`
//! tests, and `strftime_now`.
//!
//! minijinja 2.24 already prints `None`, `True` and `False` as Python does; `{{ }}` and `| string` here also
//! print lists and dicts as Python's `repr` (`['a', None]`, where minijinja writes `["a", None]`) and floats as
//! `repr(float)` (`1e+16`, where minijinja writes `10000000000000000.0`). What stays minijinja's: the `~`
//! operator and built-in filters such as `join` convert containers and such floats its way; no recorded
//! template prints a container or a float through them.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::NaiveDateTime;
use minijinja::value::{ArgType, Kwargs, Rest, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// Python's `str(value)`, as jinja2 prints `{{ value }}` and as its `string` filter converts: strings as they
/// are, `None`/`True`/`False`, floats as `repr(float)`, lists and dicts as their `repr`, undefined as "".
pub(crate) fn write_str(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => write_number(out, value, false),
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => write_repr(out, value),
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

/// Python's `repr(value)` for the values templates hold: strings quoted as Python quotes them, containers
/// with `, ` and `: ` (a one-shot iterable prints as the list of its items).
fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined => out.push_str("Undefined"),
        ValueKind::String => write_repr_str(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item);
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &key);
                out.push_str(": ");
                write_repr(out, &value.get_item(&key).unwrap_or_default());
            }
            out.push('}');
        }
        _ => write_str(out, value),
    }
}

/// `repr(str)`: single quotes unless the text has `'` and no `"`; backslash, the quote and control characters
/// escaped; other characters (non-ASCII included) verbatim.
fn write_repr_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// An integer in decimal; a float as Python's `repr(float)` (`1.0`, `1e+16`, `1e-05`), or with `json` as
/// `json.dumps` writes the non-finite ones (`NaN`, `Infinity`).
fn write_number(out: &mut String, value: &Value, json: bool) {
    if value.is_integer() {
        let _ = write!(out, "{value}");
        return;
    }
    let Ok(f) = f64::try_from(value.clone()) else {
        let _ = write!(out, "{value}");
        return;
    };
    if f.is_nan() {
        out.push_str(if json { "NaN" } else { "nan" });
    } else if f.is_infinite() {
        out.push_str(match (json, f > 0.0) {
            (true, true) => "Infinity",
            (true, false) => "-Infinity",
            (false, true) => "inf",
            (false, false) => "-inf",
        });
    } else {
        out.push_str(&float_repr(f));
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip (Rust finds the same ones), positional for
/// decimal exponents -4..16 with at least one fractional digit, else `d.ddde+XX`.
pub(crate) fn float_repr(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes a decimal exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// The `string` filter: `str(value)`.
pub(crate) fn string_filter(value: &Value) -> Value {
    let mut out = String::new();
    write_str(&mut out, value);
    Value::from(out)
}

/// jinja2's `iterable` test (`iter(value)` succeeds): false for none, which minijinja iterates as empty; true
/// for undefined, which jinja2 iterates as empty.
pub(crate) fn is_iterable(value: &Value) -> bool {
    match value.kind() {
        ValueKind::None => false,
        ValueKind::Undefined => true,
        _ => value.try_iter().is_ok(),
    }
}

/// jinja2's `sequence` test (`len(value)` and `value.__getitem__` exist): strings, lists, dicts and
/// undefined; minijinja's is true for lists only.
pub(crate) fn is_sequence(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::String | ValueKind::Bytes | ValueKind::Seq | ValueKind::Map | ValueKind::Undefined)
}

/// jinja2's `number` test (`isinstance(value, numbers.Number)`): booleans are numbers in Python.
pub(crate) fn is_number(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Number | ValueKind::Bool)
}

/// How `json.dumps` lays its output out.
struct JsonStyle {
    ensure_ascii: bool,
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
}

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`, which is
/// `json.dumps` with those arguments (positional or by name): separators `", "` and `": "` (`","` between
/// items when `indent` is given), keys in insertion order, non-ASCII verbatim, nothing HTML-escaped.
pub(crate) fn tojson(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > NAMES.len() {
        return Err(Error::new(ErrorKind::TooManyArguments, "tojson takes at most 4 arguments after the value"));
    }
    let mut params: [Option<Value>; 4] = Default::default();
    for (slot, arg) in params.iter_mut().zip(args.iter()) {
        *slot = Some(arg.clone());
    }
    for (slot, name) in params.iter_mut().zip(NAMES) {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            if slot.is_some() {
                return Err(Error::new(ErrorKind::InvalidOperation, format!("tojson got multiple values for `{name}`")));
            }
            *slot = Some(v);
        }
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = params.map(|p| p.filter(|v| !v.is_none()));
    let indent = match indent {
        None => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or_default().to_owned()),
        Some(v) => Some(" ".repeat(i64::from_value(Some(&v))?.max(0) as usize)),
    };
    let (item_separator, key_separator) = match separators {
        None if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
        Some(v) => {
            let parts: Vec<Value> = v.try_iter().map(|items| items.collect()).unwrap_or_default();
            match parts.as_slice() {
                [item, key] if item.as_str().is_some() && key.as_str().is_some() => {
                    (item.as_str().unwrap_or_default().to_owned(), key.as_str().unwrap_or_default().to_owned())
                }
                _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be two strings")),
            }
        }
    };
    let style = JsonStyle {
        ensure_ascii: ensure_ascii.is_some_and(|v| v.is_true()),
        indent,
        item_separator,
        key_separator,
        sort_keys: sort_keys.is_some_and(|v| v.is_true()),
    };
    let mut out = String::new();
    write_json(&mut out, value, &style, 0)?;
    Ok(Value::from(out))
}

fn write_json(out: &mut String, value: &Value, style: &JsonStyle, level: usize) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value, true),
        ValueKind::String => write_json_str(out, value.as_str().unwrap_or_default(), style.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, style, level, ('[', ']'), &items, |out, item, level| write_json(out, item, style, level))?;
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push((json_key(&key)?, item));
            }
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, style, level, ('{', '}'), &entries, |out, (key, item), level| {
                write_json_str(out, key, style.ensure_ascii);
                out.push_str(&style.key_separator);
                write_json(out, item, style, level)
            })?;
        }
        kind => {
            let kind = if kind == ValueKind::Undefined { "Undefined".to_owned() } else { kind.to_string() };
            return Err(Error::new(ErrorKind::InvalidOperation, format!("Object of type {kind} is not JSON serializable")));
        }
    }
    Ok(())
}

/// `[a, b]` / `{..}`: empty as `[]`, else the items between the separators, one per indented line when
/// `indent` is given.
fn write_container<T>(
    out: &mut String,
    style: &JsonStyle,
    level: usize,
    (open, close): (char, char),
    items: &[T],
    mut write_item: impl FnMut(&mut String, &T, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    let newline = |out: &mut String, level: usize| {
        if let Some(indent) = &style.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(indent);
            }
        }
    };
    newline(out, level + 1);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&style.item_separator);
            newline(out, level + 1);
        }
        write_item(out, item, level + 1)?;
    }
    newline(out, level);
    out.push(close);
    Ok(())
}

/// A dict key as `json.dumps` converts it: strings as they are, numbers, booleans and none as their JSON text.
fn json_key(key: &Value) -> Result<String, Error> {
    let mut out = String::new();
    match key.kind() {
        ValueKind::String => out.push_str(key.as_str().unwrap_or_default()),
        ValueKind::Number => write_number(&mut out, key, true),
        ValueKind::Bool => out.push_str(if key.is_true() { "true" } else { "false" }),
        ValueKind::None => out.push_str("null"),
        kind => return Err(Error::new(ErrorKind::InvalidOperation, format!("keys must be str, int, float, bool or None, not {kind}"))),
    }
    Ok(out)
}

/// A JSON string as `json.dumps` writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control characters
/// as `\u00xx`; with `ensure_ascii`, everything outside printable ASCII as `\uxxxx` (surrogate pairs above
/// U+FFFF).
pub(crate) fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !(' '..='~').contains(&c)) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `strftime_now(format)` at `now`: `datetime.strftime` in the C locale (`%d %b %Y` -> `26 Jul 2024`).
pub(crate) fn strftime(now: NaiveDateTime, format: &str) -> Result<String, Error> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("strftime_now: unsupported format {format:?}")));
    }
    let mut out = String::new();
    write!(out, "{}", now.format_with_items(items.into_iter()))
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("strftime_now: cannot format {format:?}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py_str(v: Value) -> String {
        let mut out = String::new();
        write_str(&mut out, &v);
        out
    }

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1234567890123456.0, "1234567890123456.0"),
            (1e300, "1e+300"),
            (2.5e-300, "2.5e-300"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f:e}");
        }
    }

    #[test]
    fn values_print_as_python_str() {
        assert_eq!(py_str(Value::from(())), "None");
        assert_eq!(py_str(Value::from(true)), "True");
        assert_eq!(py_str(Value::UNDEFINED), "");
        assert_eq!(py_str(Value::from("it's")), "it's");
        let list = Value::from(vec![Value::from("it's"), Value::from("a\\b\n"), Value::from(false), Value::from(())]);
        assert_eq!(py_str(list), r#"["it's", 'a\\b\n', False, None]"#);
        let map: Value = [("k", Value::from(1)), ("f", Value::from(2.0))].into_iter().collect();
        assert_eq!(py_str(map), "{'k': 1, 'f': 2.0}");
    }

    fn dumps(v: &Value, kwargs: &[(&str, Value)]) -> String {
        let kwargs: Kwargs = kwargs.iter().cloned().collect();
        tojson(v, Rest(vec![]), kwargs).unwrap().as_str().unwrap().to_owned()
    }

    #[test]
    fn tojson_is_json_dumps() {
        // Expected strings from python3: json.dumps(x, ensure_ascii=False, ...).
        let inner: Value = [("z", Value::from("é\u{1}\"<&>'")), ("a", Value::from(vec![1, 2]))].into_iter().collect();
        let v: Value = [("b", inner), ("e", Value::from(Vec::<Value>::new())), ("n", Value::from(()))].into_iter().collect();
        assert_eq!(dumps(&v, &[]), r#"{"b": {"z": "é\u0001\"<&>'", "a": [1, 2]}, "e": [], "n": null}"#);
        assert_eq!(
            dumps(&v, &[("indent", Value::from(2))]),
            "{\n  \"b\": {\n    \"z\": \"é\\u0001\\\"<&>'\",\n    \"a\": [\n      1,\n      2\n    ]\n  },\n  \"e\": [],\n  \"n\": null\n}"
        );
        assert_eq!(
            dumps(&v, &[("ensure_ascii", Value::from(true)), ("sort_keys", Value::from(true))]),
            r#"{"b": {"a": [1, 2], "z": "\u00e9\u0001\"<&>'"}, "e": [], "n": null}"#
        );
        assert_eq!(dumps(&Value::from("🦀"), &[("ensure_ascii", Value::from(true))]), r#""\ud83e\udd80""#);
        let seps = Value::from(vec![",", ":"]);
        assert_eq!(dumps(&Value::from(vec![1.0, 1e16]), &[("separators", seps)]), "[1.0,1e+16]");
        assert!(tojson(&Value::UNDEFINED, Rest(vec![]), Kwargs::from_iter([("indent", Value::from(1))])).is_err());
    }

    #[test]
    fn strftime_matches_c_locale() {
        let now = chrono::NaiveDate::from_ymd_opt(2024, 7, 26).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(strftime(now, "%d %b %Y").unwrap(), "26 Jul 2024");
        assert_eq!(strftime(now, "%B %d, %Y").unwrap(), "July 26, 2024");
        assert_eq!(strftime(now, "%Y-%m-%d").unwrap(), "2024-07-26");
        assert!(strftime(now, "%Q").is_err());
    }
}
