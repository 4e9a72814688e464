//! Apply a plan through the `clickhouse` crate over HTTP: statement by statement, retrying what
//! is transient, recording what ran in the store's history table. Safe to re-run after a failure
//! half-way: the plan is recomputed from the live schema and every statement is idempotent.

use super::ddl::{HISTORY_TABLE, TableLayout};
use super::live;
use super::migrate::{self, Plan};
use clickhouse::Client;
use std::time::Duration;

/// Where a store is and who we are there.
#[derive(Clone, Debug)]
pub struct Connection {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Connection {
    pub fn client(&self) -> Client {
        let mut c = Client::default().with_url(&self.url);
        if let Some(u) = &self.user {
            c = c.with_user(u);
        }
        if let Some(p) = &self.password {
            c = c.with_password(p);
        }
        c
    }
}

/// What happened in one store: what the controller turns into status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do.
    UpToDate,
    /// Statements were run (and recorded).
    Applied { statements: Vec<String> },
    /// A dry run: what would run.
    Pending { statements: Vec<String> },
    /// Some change cannot be made in place; nothing was run for those tables.
    Refused {
        reasons: Vec<String>,
        applied: Vec<String>,
    },
    /// The store did not answer.
    Unreachable { error: String },
    /// A statement failed for good; `applied` ran before it.
    Failed { error: String, applied: Vec<String> },
}

impl Outcome {
    /// The short state name used in status (`Applied`, `Pending`, ...).
    pub fn state(&self) -> &'static str {
        match self {
            Outcome::UpToDate | Outcome::Applied { .. } => "Applied",
            Outcome::Pending { .. } => "Pending",
            Outcome::Refused { .. } => "Refused",
            Outcome::Unreachable { .. } => "Unreachable",
            Outcome::Failed { .. } => "Failed",
        }
    }
}

/// Which pipeline and generation a run records.
#[derive(Clone, Debug)]
pub struct Record {
    pub pipeline: String,
    pub generation: i64,
    pub spec_hash: String,
}

/// Read the live schema and plan.
pub async fn plan(
    client: &Client,
    layouts: &[TableLayout],
) -> Result<Plan, clickhouse::error::Error> {
    let database = layouts
        .first()
        .map(|l| l.database.as_str())
        .unwrap_or("default");
    let mut names: Vec<&str> = vec![super::ddl::HISTORY_TABLE];
    let tables: Vec<&str> = layouts.iter().map(|l| l.table.as_str()).collect();
    // Rollups the spec no longer names too: the planner reports them.
    let existing = retry(|| live::rollup_names(client, database, &tables)).await?;
    for l in layouts {
        names.extend([l.table.as_str(), l.ingest.as_str(), l.view.as_str()]);
        for r in &l.rollups {
            names.extend([r.table.as_str(), r.view.as_str()]);
        }
    }
    names.extend(existing.iter().map(String::as_str));
    let live = retry(|| live::read(client, database, &names)).await?;
    Ok(migrate::plan(layouts, &live))
}

/// Plan, and run the plan unless `dry_run`.
pub async fn apply(
    client: &Client,
    layouts: &[TableLayout],
    record: &Record,
    dry_run: bool,
) -> Outcome {
    let plan = match plan(client, layouts).await {
        Ok(p) => p,
        Err(e) => {
            return Outcome::Unreachable {
                error: e.to_string(),
            };
        }
    };
    if dry_run {
        return if plan.steps.is_empty() && plan.refused.is_empty() {
            Outcome::UpToDate
        } else if plan.refused.is_empty() {
            Outcome::Pending {
                statements: plan.statements(),
            }
        } else {
            Outcome::Refused {
                reasons: plan.refused,
                applied: Vec::new(),
            }
        };
    }
    let mut applied = Vec::new();
    for step in &plan.steps {
        if let Err(e) = retry(|| client.query(&step.sql).execute()).await {
            return Outcome::Failed {
                error: format!("{}: {e}", first_line(&step.sql)),
                applied,
            };
        }
        applied.push(step.sql.clone());
    }
    if !applied.is_empty()
        && let Err(e) = record_history(client, layouts, record, &applied).await
    {
        return Outcome::Failed {
            error: format!("recording the history: {e}"),
            applied,
        };
    }
    match (plan.refused.is_empty(), applied.is_empty()) {
        (false, _) => Outcome::Refused {
            reasons: plan.refused,
            applied,
        },
        (true, true) => Outcome::UpToDate,
        (true, false) => Outcome::Applied {
            statements: applied,
        },
    }
}

#[derive(clickhouse::Row, serde::Serialize)]
struct HistoryRow<'a> {
    pipeline: &'a str,
    table: &'a str,
    generation: i64,
    spec_hash: &'a str,
    statements: &'a [String],
    operator_version: &'a str,
}

async fn record_history(
    client: &Client,
    layouts: &[TableLayout],
    record: &Record,
    statements: &[String],
) -> Result<(), clickhouse::error::Error> {
    let table = layouts
        .iter()
        .map(|l| l.table.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let database = layouts
        .first()
        .map(|l| l.database.as_str())
        .unwrap_or("default");
    let client = client.clone().with_database(database);
    let mut insert = client
        .insert::<HistoryRow<'_>>(HISTORY_TABLE)
        .await?
        .with_setting("insert_deduplicate", "0");
    insert
        .write(&HistoryRow {
            pipeline: &record.pipeline,
            table: &table,
            generation: record.generation,
            spec_hash: &record.spec_hash,
            statements,
            operator_version: env!("CARGO_PKG_VERSION"),
        })
        .await?;
    insert.end().await
}

fn first_line(sql: &str) -> &str {
    sql.lines().next().unwrap_or(sql)
}

/// Server error codes worth retrying: timeouts, network, overload, Keeper, read-only replicas.
const TRANSIENT_CODES: &[i32] = &[159, 164, 202, 209, 210, 242, 252, 319, 425, 999, 1000];

fn transient(e: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => true,
        Error::BadResponse(text) => TRANSIENT_CODES
            .iter()
            .any(|c| text.starts_with(&format!("Code: {c}."))),
        _ => false,
    }
}

/// Up to 4 tries with exponential backoff (0.2 s, 0.4 s, 0.8 s) for transient errors.
async fn retry<T, F, Fut>(mut f: F) -> Result<T, clickhouse::error::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, clickhouse::error::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match f().await {
            Err(e) if transient(&e) && tries < 3 => {
                tries += 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}
