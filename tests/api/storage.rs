//! Storage on the configured backend: migrations up and down, and the two migration sets
//! agreeing with the one diesel schema the query code is written against.

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use switchboard::config::Settings;
use switchboard::db::{Database, DbConn};

use crate::helpers::{TestDatabase, test_env};

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
}

async fn open() -> (Database, TestDatabase, tempfile::TempDir) {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_layers(None, &test_env(&dir, &db)).unwrap();
    let database = Database::connect(&settings.database)
        .await
        .expect("connect");
    (database, db, dir)
}

/// (table, column) → (portable type, nullable) as the live database describes them.
async fn live_columns(database: &Database) -> BTreeMap<(String, String), (String, bool)> {
    let conn = &mut database.reader().await.unwrap();
    let rows: Vec<Column> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS name, p.type AS sql_type, \
                    CAST(p.\"notnull\" OR p.pk > 0 AS BIGINT) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> '__diesel_schema_migrations'",
        )
        .load(&mut **c)
        .await
        .unwrap(),
        DbConn::Postgres(c) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS name, \
                    data_type::text AS sql_type, \
                    CAST(CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS BIGINT) AS not_null \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'",
        )
        .load(&mut **c)
        .await
        .unwrap(),
    };
    rows.into_iter()
        .map(|c| {
            let portable = match c.sql_type.to_ascii_lowercase().as_str() {
                "integer" | "bigint" => "BigInt",
                "boolean" => "Bool",
                "timestamp without time zone" => "Timestamp",
                "text"
                    if ["_at", "_until", "_since", "_start"]
                        .iter()
                        .any(|end| c.name.ends_with(end))
                        || c.name == "day" =>
                {
                    "Timestamp"
                }
                "text" => "Text",
                other => panic!("unexpected SQL type {other} of {}.{}", c.table_name, c.name),
            };
            (
                (c.table_name, c.name),
                (portable.to_owned(), c.not_null == 0),
            )
        })
        .collect()
}

/// The same map, read from src/db/schema.rs.
fn schema_columns() -> BTreeMap<(String, String), (String, bool)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs")).unwrap();
    let mut table = None;
    let mut columns = BTreeMap::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("    ")
            && !line.starts_with("        ")
            && trimmed.ends_with('{')
            && trimmed.contains(" (")
        {
            table = trimmed.split(' ').next().map(str::to_owned);
        } else if let (Some(t), Some((name, ty))) = (
            &table,
            trimmed.strip_suffix(',').and_then(|l| l.split_once(" -> ")),
        ) {
            if t == "__diesel_schema_migrations" {
                continue;
            }
            let (ty, nullable) = match ty
                .strip_prefix("Nullable<")
                .and_then(|r| r.strip_suffix('>'))
            {
                Some(inner) => (inner, true),
                None => (ty, false),
            };
            columns.insert((t.clone(), name.to_owned()), (ty.to_owned(), nullable));
        }
    }
    columns
}

#[actix_web::test]
async fn migrations_apply_revert_and_reapply() {
    let (database, db, _dir) = open().await;
    let count = db.migration_count();
    assert!(count >= 2, "found the migration folders");
    assert_eq!(database.pending_migrations().await.unwrap().len(), count);
    let applied = database.migrate().await.expect("up");
    assert_eq!(applied.len(), count);
    assert!(database.pending_migrations().await.unwrap().is_empty());
    assert!(
        database.migrate().await.unwrap().is_empty(),
        "applying twice is a no-op"
    );
    assert!(live_columns(&database).await.len() > 100);

    let mut reverted = database.revert_all_migrations().await.expect("down");
    reverted.reverse();
    assert_eq!(reverted, applied, "reverted newest first");
    assert!(
        live_columns(&database).await.is_empty(),
        "down removes every table"
    );
    assert_eq!(database.pending_migrations().await.unwrap(), applied);

    assert_eq!(database.migrate().await.expect("up again"), applied);
}

#[actix_web::test]
async fn migrations_match_the_shared_diesel_schema() {
    let (database, _db, _dir) = open().await;
    database.migrate().await.unwrap();
    let live = live_columns(&database).await;
    let declared = schema_columns();
    assert!(declared.len() > 100, "schema.rs parsed");
    let missing: Vec<_> = declared.keys().filter(|k| !live.contains_key(*k)).collect();
    let extra: Vec<_> = live.keys().filter(|k| !declared.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "in schema.rs but not in the database: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in the database but not in schema.rs: {extra:?}"
    );
    for (key, declared) in &declared {
        assert_eq!(&live[key], declared, "{key:?}: database vs schema.rs");
    }
}

#[actix_web::test]
async fn sqlite_is_durable_and_enforces_foreign_keys() {
    let (database, db, _dir) = open().await;
    if db.is_postgres() {
        return; // PostgreSQL enforces both by design; these are SQLite connection settings.
    }
    database.migrate().await.unwrap();
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let conn = &mut database.writer().await.unwrap();
    let DbConn::Sqlite(c) = conn else {
        unreachable!()
    };
    let pragma = async |c: &mut switchboard::db::SqliteConn, sql: &str| -> String {
        let rows: Vec<Setting> =
            diesel::sql_query(format!("SELECT CAST(({sql}) AS TEXT) AS value"))
                .load(c)
                .await
                .unwrap();
        rows[0].value.clone()
    };
    assert_eq!(
        pragma(&mut **c, "SELECT journal_mode FROM pragma_journal_mode").await,
        "wal"
    );
    assert_eq!(
        pragma(&mut **c, "SELECT synchronous FROM pragma_synchronous").await,
        "2",
        "FULL"
    );
    assert_eq!(
        pragma(&mut **c, "SELECT foreign_keys FROM pragma_foreign_keys").await,
        "1"
    );
    let orphan = diesel::sql_query(
        "INSERT INTO sessions (agent_id, token_hash, created_at, expires_at) VALUES (424242, 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    )
    .execute(&mut **c)
    .await;
    assert!(orphan.is_err(), "foreign keys are enforced");

    let reader = &mut database.reader().await.unwrap();
    let DbConn::Sqlite(r) = reader else {
        unreachable!()
    };
    let write = diesel::sql_query("DELETE FROM agents")
        .execute(&mut **r)
        .await;
    assert!(write.is_err(), "reader connections are query_only");
}

#[actix_web::test]
async fn two_hubs_migrating_one_postgres_database_at_once_both_start() {
    let (database, db, _dir) = open().await;
    if !db.is_postgres() {
        return; // One SQLite file belongs to one hub; the advisory lock is for PostgreSQL nodes.
    }
    let (second, ..) = {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::from_layers(None, &test_env(&dir, &db)).unwrap();
        (Database::connect(&settings.database).await.unwrap(), dir)
    };
    let (a, b) = tokio::join!(database.migrate(), second.migrate());
    let applied = a.expect("first node migrates").len() + b.expect("second node migrates").len();
    assert_eq!(applied, db.migration_count(), "each migration ran once");
}

#[actix_web::test]
async fn two_starts_racing_for_the_first_admin_create_exactly_one() {
    use switchboard::store::{Actor, agents};
    let (database, db, _dir) = open().await;
    database.migrate().await.unwrap();
    let new = |email: &str| agents::NewAgent {
        email: switchboard::domain::EmailAddress::parse(email).unwrap(),
        name: switchboard::domain::DisplayName::parse("Admin").unwrap(),
        role: switchboard::db::types::Role::Admin,
        password_hash: "not-a-real-hash".into(),
        capacity: None,
    };
    let (one, two) = (new("boss@example.com"), new("boss@example.com"));
    let actor = Actor::system();
    let (first, second) = match db.is_postgres() {
        // Two nodes: both transactions count zero agents before either commits.
        true => {
            let (mut c1, mut c2) = (
                database.writer().await.unwrap(),
                database.writer().await.unwrap(),
            );
            tokio::join!(
                agents::create_first_admin(&mut c1, &one, &actor),
                agents::create_first_admin(&mut c2, &two, &actor)
            )
        }
        // SQLite has one writer connection: the starts serialise.
        false => {
            let mut c = database.writer().await.unwrap();
            let first = agents::create_first_admin(&mut c, &one, &actor).await;
            (
                first,
                agents::create_first_admin(&mut c, &two, &actor).await,
            )
        }
    };
    let created = [first.expect("no error"), second.expect("no error")];
    assert_eq!(
        created.iter().filter(|a| a.is_some()).count(),
        1,
        "exactly one admin"
    );
}
