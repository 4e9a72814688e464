//! The CRDs' OpenAPI bounds, checked offline like their CEL rules ([`super::cel`]): `render`
//! reads files no API server saw, and the API server refuses an object over a `maxLength`,
//! `maxItems`, `maxProperties` or `maximum`, under a `minimum`, `minLength` or `minItems`,
//! outside an `enum` or not matching a `pattern` before any CEL rule runs (apiextensions'
//! structural schema validation). The bounds are read from the generated schema, so they are
//! the ones `crds/` installs.

use serde_json::Value;

/// One violation: the field path (`spec.tables[0].name`) and why.
pub(crate) struct Violation {
    pub field: String,
    pub message: String,
}

/// Every bound of `schema` that `value` breaks (object properties, array items and map values
/// are followed; `metadata`, `apiVersion`, `kind` and `status` are the API server's).
pub(crate) fn violations(schema: &Value, value: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            if matches!(k.as_str(), "metadata" | "apiVersion" | "kind" | "status") {
                continue;
            }
            if let Some(s) = props.get(k) {
                walk(s, v, k, &mut out);
            }
        }
    }
    out
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let mut bad = |message: String| {
        out.push(Violation {
            field: path.to_string(),
            message,
        })
    };
    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
    match value {
        Value::String(s) => {
            // The API server counts characters (runes), not bytes.
            let n = s.chars().count() as f64;
            if let Some(max) = bound("maxLength").filter(|m| n > *m) {
                bad(format!(
                    "Too long: may not be more than {max} characters (the CRD's maxLength)"
                ));
            }
            if let Some(min) = bound("minLength").filter(|m| n < *m) {
                bad(format!(
                    "Too short: must be at least {min} characters (the CRD's minLength)"
                ));
            }
            if let Some(p) = schema["pattern"].as_str() {
                match regex::Regex::new(p) {
                    Ok(re) if !re.is_match(s) => {
                        bad(format!("{s:?} does not match the CRD's pattern {p}"))
                    }
                    _ => {}
                }
            }
        }
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                if let Some(max) = bound("maximum").filter(|m| v > *m) {
                    bad(format!("{n} is over the CRD's maximum {max}"));
                }
                if let Some(min) = bound("minimum").filter(|m| v < *m) {
                    bad(format!("{n} is under the CRD's minimum {min}"));
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as f64;
            if let Some(max) = bound("maxItems").filter(|m| n > *m) {
                bad(format!("Too many: {n} items, the CRD allows at most {max}"));
            }
            if let Some(min) = bound("minItems").filter(|m| n < *m) {
                bad(format!(
                    "Too few: {n} items, the CRD asks for at least {min}"
                ));
            }
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(item, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(obj) => {
            let n = obj.len() as f64;
            if let Some(max) = bound("maxProperties").filter(|m| n > *m) {
                bad(format!(
                    "Too many: {n} entries, the CRD allows at most {max}"
                ));
            }
            let props = schema["properties"].as_object();
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in obj {
                let child = props.and_then(|p| p.get(k)).or(extra);
                if let Some(s) = child {
                    walk(s, v, &format!("{path}.{k}"), out);
                }
            }
        }
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !value.is_null()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        out.push(Violation {
            field: path.to_string(),
            message: format!("{value} is not one of {} (the CRD's enum)", list.join(", ")),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_are_checked_with_their_path() {
        let schema = json!({"properties": {"spec": {"properties": {
            "name": {"type": "string", "maxLength": 3, "minLength": 1},
            "n": {"type": "integer", "minimum": 1, "maximum": 10},
            "items": {"type": "array", "maxItems": 1, "items": {"properties": {"e": {"enum": ["A", "B"]}}}},
            "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"maxLength": 2}},
            "p": {"type": "string", "pattern": "^[a-z]+$"}
        }}}});
        let ok = json!({"metadata": {"name": "x".repeat(300)}, "spec": {"name": "abc", "n": 10,
            "items": [{"e": "A"}], "labels": {"a": "bb"}, "p": "abc"}});
        assert!(violations(&schema, &ok).is_empty());
        let bad = json!({"spec": {"name": "ééééé", "n": 0, "items": [{"e": "C"}, {"e": "A"}],
            "labels": {"a": "bbb", "b": ""}, "p": "A"}});
        let v: Vec<String> = violations(&schema, &bad)
            .into_iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect();
        for want in [
            "spec.name: Too long",
            "spec.n: 0 is under the CRD's minimum 1",
            "spec.items: Too many",
            "spec.items[0].e: \"C\" is not one of",
            "spec.labels: Too many",
            "spec.labels.a: Too long",
            "spec.p: \"A\" does not match",
        ] {
            assert!(v.iter().any(|m| m.starts_with(want)), "{want}: {v:#?}");
        }
        assert_eq!(v.len(), 7, "{v:#?}");
    }
}
