//! The generated CRDs: `crds/*.yaml` must be exactly what `otelhouse crd` prints, and the CEL
//! rules we rely on must be in them (a kube upgrade once made such rules vanish silently).

mod kit;

use kube::core::cel::{compile_schema, estimate_rule_cost};
use serde_json::Value;

#[test]
fn crd_files_do_not_drift() {
    let dir = kit::root().join("crds");
    let update = std::env::var("OTELHOUSE_UPDATE_CRDS").is_ok();
    for crd in otelhouse::crd::all_crds() {
        let file = dir.join(otelhouse::crd::crd_file_name(&crd));
        let want = otelhouse::crd::crd_yaml(&crd).unwrap();
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            have == want,
            "{} drifted from the types: run `OTELHOUSE_UPDATE_CRDS=1 cargo test --test crds` (or `otelhouse crd`) and commit",
            file.display()
        );
    }
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        otelhouse::crd::all_crds().len(),
        "stray files in crds/"
    );
}

fn rules(crd: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(rs)) = m.get("x-kubernetes-validations") {
                    out.extend(
                        rs.iter()
                            .filter_map(|r| r["rule"].as_str().map(String::from)),
                    );
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(crd, &mut out);
    out
}

#[test]
fn cel_rules_we_rely_on_are_generated() {
    let all: Vec<String> = otelhouse::crd::all_crds()
        .iter()
        .flat_map(|c| rules(&serde_json::to_value(c).unwrap()))
        .collect();
    for must in [
        "self.default ? (size(self.instanceTypes) == 0",
        "has(self.resources.limits) && 'memory' in self.resources.limits",
        "self.routes.all(r, self.tables.exists(t, t.name == r.table))",
        "self.tables.all(t, self.tables.exists_one(u, u.name == t.name))",
        "self.matches('^[a-z_][a-z0-9_]{0,47}$')",
        "self >= 1 && self <= 3650",
        "self >= 1000 && self <= 1000000",
        "self.matches('^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$')",
        "!has(self.maxReplicas) || !has(self.minReplicasPerZone) || self.maxReplicas >= self.minReplicasPerZone",
        "(has(self.dedicated) && self.dedicated) || (!has(self.resources)",
    ] {
        assert!(
            all.iter().any(|r| r.contains(must)),
            "CEL rule {must:?} is missing from the generated CRDs"
        );
    }
}

/// kube-cel compiles every rule (a second CEL implementation besides `crd_cost.rs`'s checker) and
/// applies its own cost check, which assumes 1,000-character strings and 1,000-item lists: far
/// below the API server's worst case. The API server's own estimate is `tests/crd_cost.rs`.
#[test]
fn every_cel_rule_compiles_and_fits_the_cost_budget() {
    for crd in otelhouse::crd::all_crds() {
        let v = &crd.spec.versions[0];
        let schema = serde_json::to_value(
            v.schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        let compiled = compile_schema(&schema);
        assert!(
            !compiled.has_errors(),
            "{}: {:?}",
            crd.spec.names.kind,
            compiled.compilation_errors()
        );
        fn check(s: &kube::core::cel::CompiledSchema, kind: &str) {
            for r in s.validations.iter().flatten() {
                let warnings = estimate_rule_cost(&r.rule.rule, s);
                assert!(
                    warnings.is_empty(),
                    "{kind}: {:?}: {warnings:?}",
                    r.rule.rule
                );
            }
            s.properties.values().for_each(|c| check(c, kind));
            if let Some(i) = &s.items {
                check(i, kind);
            }
            if let Some(a) = &s.additional_properties {
                check(a, kind);
            }
        }
        check(&compiled, &crd.spec.names.kind);
    }
}

#[test]
fn crds_have_status_printer_columns_and_short_names() {
    for crd in otelhouse::crd::all_crds() {
        let v = &crd.spec.versions[0];
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let cols = v.additional_printer_columns.as_ref().unwrap();
        assert!(cols.iter().any(|c| c.name == "Ready" || c.name == "Region"));
        assert!(
            crd.spec
                .names
                .short_names
                .as_ref()
                .is_some_and(|s| !s.is_empty())
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["otelhouse".to_string()][..])
        );
    }
}
