//! Whether a live object already is what we would apply: every field we set has the value we
//! set (the server adds defaults and status; those are not changes). This is what makes a
//! reconcile with nothing to change write nothing.

use serde_json::Value;

/// `desired` is contained in `live`: maps key by key, lists item by item (same length), scalars
/// equal (numbers compared as numbers, and a number equal to its string form, since quantities
/// and int-or-strings come back either way).
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            // An empty map or list we set may come back absent.
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        (Value::String(d), Value::Number(l)) | (Value::Number(l), Value::String(d)) => {
            d.parse::<f64>().ok() == l.as_f64()
        }
        (Value::Null, Value::Null) => true,
        (d, l) => d == l || (is_empty(d) && is_empty(l)),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_status_are_not_changes() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "IfNotPresent"}]}}}, "status": {"readyReplicas": 2}});
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn a_changed_or_missing_field_is_a_change() {
        let desired = json!({"spec": {"replicas": 3}});
        assert!(!is_subset(&desired, &json!({"spec": {"replicas": 2}})));
        assert!(!is_subset(&desired, &json!({"spec": {}})));
        assert!(!is_subset(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(is_subset(&json!({"a": {}}), &json!({})));
        assert!(is_subset(&json!({"cpu": "3"}), &json!({"cpu": 3})));
    }
}
