//! The hostile-input suite (issue 10): what a tenant who may create LogPipelines in its own
//! namespace, or a careless admin, could try. Each file of tests/hostile/ is one class of the
//! issue: documents shared by its cases, then cases, each starting with a line
//!
//! - `# case: refused: <text>`: `render` exits 1, prints nothing, and its error names `<text>`
//!   (the field, and why);
//! - `# case: safe` (optionally `, absent: <text>`, `, present: <text>`): `render` accepts it
//!   and what it prints is safe: every document a mapping with a kind and a name, no two
//!   objects with the same kind, namespace and name, the absent text nowhere in the output and
//!   the present text somewhere.
//!
//! The SQL side of the same classes runs on chdb in tests/schema.rs (ownership, the values
//! ClickHouse refuses).

mod kit;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

enum Expect {
    Refused(String),
    Safe {
        absent: Option<String>,
        present: Option<String>,
    },
}

struct Case {
    line: usize,
    expect: Expect,
    docs: String,
}

fn cases(text: &str) -> (String, Vec<Case>) {
    let mut base = String::new();
    let mut out: Vec<Case> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if let Some(rest) = l.strip_prefix("# case: ") {
            let expect = if let Some(t) = rest.strip_prefix("refused: ") {
                Expect::Refused(t.to_string())
            } else if let Some(rest) = rest.strip_prefix("safe") {
                let get = |key: &str| {
                    rest.split(", ")
                        .find_map(|kv| kv.strip_prefix(key))
                        .map(String::from)
                };
                Expect::Safe {
                    absent: get("absent: "),
                    present: get("present: "),
                }
            } else {
                panic!("line {}: `# case: refused: ...` or `# case: safe`", i + 1)
            };
            out.push(Case {
                line: i + 1,
                expect,
                docs: String::new(),
            });
        } else if let Some(c) = out.last_mut() {
            c.docs.push_str(l);
            c.docs.push('\n');
        } else {
            base.push_str(l);
            base.push('\n');
        }
    }
    (base, out)
}

/// The printed objects are well-formed and distinct (kind, namespace, name).
fn check_safe(stdout: &str) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for doc in serde_norway::Deserializer::from_str(stdout) {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        if v.is_null() {
            continue; // the DDL comments after the last object
        }
        let (Some(kind), Some(name)) = (v["kind"].as_str(), v["metadata"]["name"].as_str()) else {
            return Err(format!("a document without kind or name: {v}"));
        };
        let ns = v["metadata"]["namespace"].as_str().unwrap_or_default();
        if !seen.insert((kind.to_string(), ns.to_string(), name.to_string())) {
            return Err(format!("{kind} {ns}/{name} twice"));
        }
    }
    if seen.is_empty() {
        return Err("nothing rendered".into());
    }
    Ok(())
}

#[test]
fn every_hostile_input_is_refused_naming_its_field_or_rendered_safely() {
    let dir = kit::root().join("tests/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "a file per class of the issue");
    let tmp = tempfile::tempdir().unwrap();
    let mut total = 0;
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let (base, cases) = cases(&text);
        assert!(cases.len() >= 3, "{}: several cases per class", f.display());
        for c in cases {
            total += 1;
            let what = format!("{}:{}", f.display(), c.line);
            let input = tmp.path().join("input.yaml");
            std::fs::write(&input, format!("{base}---\n{}", c.docs)).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_otelhouse"))
                .args(["render", "-f"])
                .arg(&input)
                .arg("--nodes")
                .arg(kit::samples().join("nodes.yaml"))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let verdict = match &c.expect {
                Expect::Refused(text) => {
                    if out.status.code() != Some(1) {
                        Err(format!("accepted\n{stderr}"))
                    } else if !stdout.is_empty() {
                        Err("printed half-way".into())
                    } else if !stderr.contains(text.as_str()) {
                        Err(format!("expected {text:?} in:\n{stderr}"))
                    } else {
                        Ok(())
                    }
                }
                Expect::Safe { absent, present } => {
                    if !out.status.success() {
                        Err(format!("refused\n{stderr}"))
                    } else {
                        check_safe(&stdout).and_then(|()| match (absent, present) {
                            (Some(a), _) if stdout.contains(a.as_str()) => {
                                Err(format!("{a:?} in the output"))
                            }
                            (_, Some(p)) if !stdout.contains(p.as_str()) => {
                                Err(format!("no {p:?} in the output"))
                            }
                            _ => Ok(()),
                        })
                    }
                }
            };
            if let Err(e) = verdict {
                failures.push(format!("{what}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(total >= 50, "{total} cases");
}
