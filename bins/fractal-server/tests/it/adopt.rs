//! Adopting a database written by the real fractal-server 1.3.14 (`fractalctl set-db`, then its
//! own API: see scripts/fractal_fixture.sh), on SQLite and PostgreSQL: it opens, its bcrypt users
//! log in, Fractal's data is served, and Fractal's own way of writing users keeps working. And
//! the auth tables of a fractal-server 2.18.5 PostgreSQL database (scripts/fractal2_fixture.sh;
//! the live side-by-side run is `python_fractal::side_by_side_with_fractal_server_2x`).

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_on_db};
use fractal_testkit::{Service, TestDatabase};

const SQLITE_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/fixtures/fractal-1.3.14.sqlite"
);
const PG_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/fixtures/fractal-1.3.14.pg.sql"
);

const PG2_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/fixtures/fractal-2.18.5.pg.sql"
);

/// A fresh PostgreSQL database holding what Fractal 2.18.5 wrote, or `None` without PostgreSQL.
async fn fractal2_db() -> Option<TestDatabase> {
    let db = TestDatabase::new(Service::Postgres).await?;
    let conn = Database::connect(&db.url).await.unwrap();
    let dump = std::fs::read_to_string(PG2_FIXTURE).unwrap();
    conn.execute_unprepared(&dump).await.unwrap();
    let _ = conn.close().await;
    Some(db)
}

/// A fresh database holding what Fractal 1.3.14 wrote, or `None` when the service is absent.
async fn fractal_db(service: Service) -> Option<TestDatabase> {
    let db = TestDatabase::new(service).await?;
    match service {
        Service::Sqlite => {
            let path = db
                .url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            std::fs::copy(SQLITE_FIXTURE, path).unwrap();
        }
        Service::Postgres => {
            let conn = Database::connect(&db.url).await.unwrap();
            let dump = std::fs::read_to_string(PG_FIXTURE).unwrap();
            conn.execute_unprepared(&dump).await.unwrap();
            let _ = conn.close().await;
        }
        Service::MySql => unreachable!("Fractal never ran on MySQL"),
    }
    Some(db)
}

async fn connect(url: &str) -> DatabaseConnection {
    Database::connect(url).await.unwrap()
}

async fn strings(conn: &DatabaseConnection, sql: &str) -> Vec<Option<String>> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get_by_index::<Option<String>>(0).unwrap())
    .collect()
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    res.json().await.unwrap()
}

/// What Fractal's SQLAlchemy code sends to create a user: it knows none of our columns.
fn fractal_insert(email: &str, hash: &str, username: &str, backend: sea_orm::DbBackend) -> String {
    let (t, f) = match backend {
        sea_orm::DbBackend::Postgres => ("true", "false"),
        _ => ("1", "0"),
    };
    format!(
        "INSERT INTO user_oauth (email, hashed_password, is_active, is_superuser, is_verified, \
         slurm_user, cache_dir, username) VALUES ('{email}', '{hash}', {t}, {f}, {f}, NULL, NULL, \
         '{username}')"
    )
}

async fn adopts_in_place(service: Service) {
    let Some(db) = fractal_db(service).await else {
        return;
    };
    let app = match spawn_app_on_db(db, &[]).await {
        Ok(app) => app,
        Err((_, e)) => panic!("a Fractal 1.3.14 database must open: {e}"),
    };
    // bcrypt users made by Fractal log in; their hashes stay bcrypt (default: no upgrade).
    let admin = app.admin_token().await;
    let alice = app.login("alice@example.org", "alice-pw").await;
    let conn = connect(app.db_url()).await;
    let hashes = strings(&conn, "SELECT hashed_password FROM user_oauth ORDER BY id").await;
    assert!(
        hashes
            .iter()
            .all(|h| h.as_deref().unwrap().starts_with("$2b$")),
        "{hashes:?}"
    );
    assert_eq!(
        strings(&conn, "SELECT email_lower FROM user_oauth ORDER BY id").await,
        [
            Some("admin@fractal.xy".into()),
            Some("alice@example.org".into())
        ]
    );

    // An OAuth account Fractal linked is served (PostgreSQL: its 32-bit expires_at was widened).
    conn.execute_unprepared(
        "INSERT INTO oauthaccount (user_id, oauth_name, access_token, expires_at, account_id, \
         account_email) SELECT id, 'github', 'gho_x', 1900000000, '4242', email FROM user_oauth \
         WHERE email = 'alice@example.org'",
    )
    .await
    .unwrap();
    let me = get(&app, &alice, "/auth/current-user").await;
    assert_eq!(me["oauth_accounts"][0]["oauth_name"], "github", "{me}");

    // Fractal's data is served.
    let projects = get(&app, &alice, "/api/v1/project").await;
    assert_eq!(projects[0]["name"], "proj", "{projects}");
    let pid = projects[0]["id"].as_i64().unwrap();
    let datasets = get(&app, &alice, &format!("/api/v1/project/{pid}/dataset")).await;
    assert_eq!(datasets[0]["name"], "ds", "{datasets}");
    let tasks = get(&app, &admin, "/api/v1/task").await;
    assert_eq!(tasks[0]["source"], "alice:echo-src", "{tasks}");
    assert_eq!(tasks[0]["version"], "1.0", "{tasks}");
    let workflows = get(&app, &alice, &format!("/api/v1/project/{pid}/workflow")).await;
    assert_eq!(workflows[0]["name"], "wf", "{workflows}");

    // Fractal's code keeps inserting users without naming our columns; the triggers fill
    // `email_lower`, and a case-variant duplicate is refused by the database.
    let backend = conn.get_database_backend();
    let hash = hashes[1].clone().unwrap();
    conn.execute_unprepared(&fractal_insert("Bob@Example.org", &hash, "bob", backend))
        .await
        .expect("Fractal-style insert");
    assert_eq!(
        strings(
            &conn,
            "SELECT email_lower FROM user_oauth WHERE username = 'bob'"
        )
        .await,
        [Some("bob@example.org".into())]
    );
    app.login("bob@example.org", "alice-pw").await;
    let dup = conn
        .execute_unprepared(&fractal_insert("BOB@example.org", &hash, "bob2", backend))
        .await;
    assert!(dup.is_err(), "case-variant duplicate must be refused");
    // Fractal changing an e-mail: the key follows.
    conn.execute_unprepared(
        "UPDATE user_oauth SET email = 'Robert@Example.org' WHERE username = 'bob'",
    )
    .await
    .unwrap();
    assert_eq!(
        strings(
            &conn,
            "SELECT email_lower FROM user_oauth WHERE username = 'bob'"
        )
        .await,
        [Some("robert@example.org".into())]
    );
    app.login("robert@example.org", "alice-pw").await;

    // Our own writes on Fractal's tables: deleting the project deletes its tree although
    // Fractal's foreign keys have no ON DELETE rule.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/project/{pid}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT count(*) FROM resource").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM workflowtask").await, 0);
    let _ = conn.close().await;

    // A second start on the adopted database changes nothing and opens.
    crate::helpers::spawn_peer(&app, &[]).await;
}

#[tokio::test]
async fn a_fractal_sqlite_database_is_adopted_in_place() {
    adopts_in_place(Service::Sqlite).await;
}

#[tokio::test]
async fn a_fractal_postgres_database_is_adopted_in_place() {
    adopts_in_place(Service::Postgres).await;
}

/// Fractal's SQLite tables declare `id INTEGER ... PRIMARY KEY` without `AUTOINCREMENT`, so
/// SQLite gives the highest deleted id to the next user; every user starts at session
/// generation 0 and a token names (id, generation), so the deleted user's JWT logged in as the
/// next user registered. A row whose id was used before now gets a fresh generation (migration
/// `m20261206_000009_reused_user_ids`), whoever inserts it; a user with a new id keeps 0, what
/// the Python server's tokens carry.
#[tokio::test]
async fn a_reused_user_id_does_not_revive_a_deleted_users_token() {
    let Some(db) = fractal_db(Service::Sqlite).await else {
        return;
    };
    let app = spawn_app_on_db(db, &[])
        .await
        .unwrap_or_else(|(_, e)| panic!("{e}"));
    let admin = app.admin_token().await;
    let gone = app
        .create_user("gone@example.org", "gone-pw", serde_json::json!({}))
        .await;
    let token = app.login("gone@example.org", "gone-pw").await;
    assert_eq!(
        get(&app, &token, "/auth/current-user").await["id"],
        gone["id"]
    );
    let conn = connect(app.db_url()).await;
    let generation = |id: &serde_json::Value| {
        format!("SELECT CAST(session_generation AS TEXT) FROM user_oauth WHERE id = {id}")
    };
    assert_eq!(
        strings(&conn, &generation(&gone["id"])).await,
        [Some("0".to_owned())],
        "a new id starts at 0, as the Python server's tokens expect"
    );
    let res = app
        .client
        .delete(app.url(&format!("/auth/users/{}", gone["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let next = app
        .create_user("next@example.org", "next-pw", serde_json::json!({}))
        .await;
    assert_eq!(next["id"], gone["id"], "the premise: SQLite reused the id");
    let res = app
        .client
        .get(app.url("/auth/current-user"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the deleted user's token must not authenticate as the next user"
    );
    let own = app.login("next@example.org", "next-pw").await;
    assert_eq!(
        get(&app, &own, "/auth/current-user").await["email"],
        "next@example.org"
    );
    // Fractal's own code inserting a user with a reused id gets the same treatment.
    let res = app
        .client
        .delete(app.url(&format!("/auth/users/{}", next["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let hash = strings(
        &conn,
        "SELECT hashed_password FROM user_oauth ORDER BY id LIMIT 1",
    )
    .await;
    conn.execute_unprepared(&fractal_insert(
        "py@example.org",
        hash[0].as_deref().unwrap(),
        "py",
        conn.get_database_backend(),
    ))
    .await
    .unwrap();
    let reused = strings(&conn, &generation(&next["id"])).await;
    assert_ne!(
        reused,
        [Some("0".to_owned())],
        "a Fractal-inserted row with a reused id"
    );
}

async fn conflicting_rows_stop_everything(service: Service) {
    let Some(db) = fractal_db(service).await else {
        return;
    };
    let conn = connect(&db.url).await;
    let backend = conn.get_database_backend();
    // Fractal's index is case-sensitive: this row is legal there.
    conn.execute_unprepared(&fractal_insert("ALICE@example.org", "x", "alice2", backend))
        .await
        .unwrap();
    let (db, err) = match spawn_app_on_db(db, &[]).await {
        Ok(_) => panic!("case-variant e-mails must stop the adoption"),
        Err(e) => e,
    };
    assert!(
        err.contains("e-mails equal but for case (alice@example.org)"),
        "{err}"
    );
    assert!(
        err.contains("<ALICE@example.org>") && err.contains("<alice@example.org>"),
        "{err}"
    );
    assert!(err.contains("Nothing was changed"), "{err}");
    // Nothing changed: no column, no bookkeeping table of ours.
    let schema = migrations::SchemaManager::new(&conn);
    assert!(
        !schema
            .has_column("user_oauth", "email_lower")
            .await
            .unwrap()
    );
    assert!(!schema.has_table("seaql_migrations").await.unwrap());
    assert!(!schema.has_table("accesstoken").await.unwrap());
    let _ = conn.close().await;
    drop(db);
}

#[tokio::test]
async fn case_variant_emails_stop_adoption_on_sqlite_with_no_change() {
    conflicting_rows_stop_everything(Service::Sqlite).await;
}

#[tokio::test]
async fn case_variant_emails_stop_adoption_on_postgres_with_no_change() {
    conflicting_rows_stop_everything(Service::Postgres).await;
}

#[tokio::test]
async fn the_dry_run_reports_and_changes_nothing() {
    let db = fractal_db(Service::Sqlite).await.unwrap();
    let settings = crate::helpers::test_settings(&db, &[]);
    fractal_server::adopt::run(&settings, true).await.unwrap();
    let conn = connect(&db.url).await;
    let schema = migrations::SchemaManager::new(&conn);
    assert!(
        !schema
            .has_column("user_oauth", "email_lower")
            .await
            .unwrap()
    );
    assert!(!schema.has_table("seaql_migrations").await.unwrap());
    let plan = migrations::fractal::inspect(&schema)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.fractal_revision, "99ea79d9e5d2");
    assert!(plan.conflicts.is_empty());
    let report = plan.report();
    for expected in [
        "add nullable column user_oauth.email_lower",
        "create trigger trg_user_oauth_email_lower_insert",
        "add nullable column project.timestamp_created",
        "add nullable column applyworkflow.user_email",
        "create our own tables",
        "create table user_id_high_water and trigger user_oauth_reused_id",
    ] {
        assert!(
            report.contains(expected),
            "{expected:?} missing from:\n{report}"
        );
    }
    let _ = conn.close().await;
    // The real run then adopts; a second inspection has nothing left to do.
    fractal_server::adopt::run(&settings, false).await.unwrap();
    let conn = connect(&db.url).await;
    let plan = migrations::fractal::inspect(&migrations::SchemaManager::new(&conn))
        .await
        .unwrap()
        .unwrap();
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    let _ = conn.close().await;
}

/// An administration command on a Fractal Server database not yet taken over says how to take
/// it over, and changes nothing.
#[tokio::test]
async fn an_admin_command_on_a_fractal_database_says_to_adopt_it() {
    let db = fractal_db(Service::Sqlite).await.unwrap();
    let settings = crate::helpers::test_settings(&db, &[]);
    let opened = fractal_server::startup::assemble_for(
        &settings,
        std::sync::Arc::new(auth_core::LogMailer),
        fractal_server::startup::Purpose::Administer,
    )
    .await;
    match opened {
        Err(fractal_server::startup::StartupError::NotSetUp(m)) => {
            assert!(m.contains("adopt-fractal-db"), "{m}")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a Fractal database was opened for administration as it is"),
    }
    let conn = connect(&db.url).await;
    let schema = migrations::SchemaManager::new(&conn);
    assert!(!schema.has_table("seaql_migrations").await.unwrap());
    let _ = conn.close().await;
}

/// Pointed at no database, or an empty one, `adopt-fractal-db` (dry run or not) refuses and
/// creates nothing: it used to create the file, migrate it and report it "adopted".
#[tokio::test]
async fn nothing_to_adopt_is_refused_and_nothing_is_created() {
    for service in [Service::Sqlite, Service::Postgres, Service::MySql] {
        let Some(db) = TestDatabase::new(service).await else {
            continue;
        };
        let settings = crate::helpers::test_settings(&db, &[]);
        for dry_run in [true, false] {
            let e = fractal_server::adopt::run(&settings, dry_run)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("nothing to adopt"), "{service:?}: {e}");
        }
        if service == Service::Sqlite {
            // The test database's file was never made: it is still not there.
            let path = settings.database_url.sqlite_path().unwrap().to_owned();
            assert!(!path.exists(), "{path:?} created");
        } else {
            let conn = connect(&db.url).await;
            let schema = migrations::SchemaManager::new(&conn);
            assert!(
                !schema.has_table("seaql_migrations").await.unwrap(),
                "{service:?}"
            );
            let _ = conn.close().await;
        }
    }
}

#[tokio::test]
async fn the_upgrade_setting_rehashes_bcrypt_at_login() {
    let db = fractal_db(Service::Sqlite).await.unwrap();
    let app = spawn_app_on_db(db, &[("FRACTAL_UPGRADE_BCRYPT_HASHES", "true")])
        .await
        .map_err(|(_, e)| e)
        .unwrap();
    app.login("alice@example.org", "alice-pw").await;
    let conn = connect(app.db_url()).await;
    let h = strings(
        &conn,
        "SELECT hashed_password FROM user_oauth WHERE email = 'alice@example.org'",
    )
    .await;
    assert!(h[0].as_deref().unwrap().starts_with("$argon2id$"), "{h:?}");
    app.login("alice@example.org", "alice-pw").await;
    let _ = conn.close().await;
}

/// The column default of `user_oauth.project_dirs` (PostgreSQL), `None` when it has none.
async fn project_dirs_default(conn: &DatabaseConnection) -> Option<String> {
    strings(
        conn,
        "SELECT column_default::text FROM information_schema.columns WHERE table_schema = \
         current_schema() AND table_name = 'user_oauth' AND column_name = 'project_dirs'",
    )
    .await
    .into_iter()
    .next()
    .flatten()
}

/// What Fractal 2.x's SQLAlchemy code sends to create a user: `project_dirs`, none of ours.
fn fractal2_insert(email: &str, hash: &str) -> String {
    format!(
        "INSERT INTO user_oauth (email, hashed_password, is_active, is_superuser, is_verified, \
         profile_id, slurm_accounts, project_dirs) VALUES ('{email}', '{hash}', true, false, \
         true, 1, '{{}}', '{{/data/x}}')"
    )
}

#[tokio::test]
async fn a_fractal_2x_postgres_database_is_adopted_in_place() {
    let Some(db) = fractal2_db().await else {
        return;
    };
    // The dry run names the 2.x changes and makes none.
    let settings = crate::helpers::test_settings(&db, &[]);
    fractal_server::adopt::run(&settings, true).await.unwrap();
    let conn = connect(&db.url).await;
    let schema = migrations::SchemaManager::new(&conn);
    let plan = migrations::fractal::inspect(&schema)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.fractal_revision, "068496367952");
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    let report = plan.report();
    for expected in [
        "add nullable column user_oauth.email_lower",
        "set server default '{}' on required column user_oauth.project_dirs",
        "widen oauthaccount.expires_at from integer to bigint",
        "add nullable column user_oauth.username",
        "create our own tables",
    ] {
        assert!(
            report.contains(expected),
            "{expected:?} missing from:\n{report}"
        );
    }
    assert!(
        !schema
            .has_column("user_oauth", "email_lower")
            .await
            .unwrap()
    );
    assert_eq!(project_dirs_default(&conn).await, None);

    let app = match spawn_app_on_db(db, &[]).await {
        Ok(app) => app,
        Err((_, e)) => panic!("a Fractal 2.18.5 database must open: {e}"),
    };
    // Fractal's bcrypt users log in; their hashes stay bcrypt.
    let admin = app.admin_token().await;
    app.login("alice@example.org", "alice-pw").await;
    assert_eq!(
        project_dirs_default(&conn).await.as_deref(),
        Some("'{}'::character varying[]")
    );
    assert_eq!(
        strings(
            &conn,
            "SELECT data_type::text FROM information_schema.columns WHERE table_name = \
             'oauthaccount' AND column_name = 'expires_at'"
        )
        .await,
        [Some("bigint".into())]
    );

    // Ours registers a user although 2.x's project_dirs is NOT NULL: it gets none.
    let res = app
        .client
        .post(app.url("/auth/register"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"email": "erin@example.org", "password": "erin-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        strings(
            &conn,
            "SELECT array_to_string(project_dirs, ',') FROM user_oauth \
             WHERE email = 'erin@example.org'"
        )
        .await,
        [Some(String::new())]
    );
    app.login("erin@example.org", "erin-pw").await;

    // Fractal 2.x keeps inserting users; the trigger keys them.
    let hash = strings(
        &conn,
        "SELECT hashed_password FROM user_oauth WHERE email = 'alice@example.org'",
    )
    .await[0]
        .clone()
        .unwrap();
    assert!(hash.starts_with("$2b$"), "{hash}");
    conn.execute_unprepared(&fractal2_insert("Frank@Example.org", &hash))
        .await
        .expect("Fractal-style insert");
    app.login("frank@example.org", "alice-pw").await;
    assert!(
        conn.execute_unprepared(&fractal2_insert("FRANK@example.org", &hash))
            .await
            .is_err(),
        "case-variant duplicate must be refused"
    );

    // An adoption that Fractal partly undid (its alembic dropping our trigger, a row written
    // meanwhile) or that an older fractal-auth made is completed at the next start.
    conn.execute_unprepared(
        "DROP TRIGGER trg_user_oauth_email_lower ON user_oauth; \
         ALTER TABLE user_oauth ALTER COLUMN project_dirs DROP DEFAULT",
    )
    .await
    .unwrap();
    conn.execute_unprepared(&fractal2_insert("Grace@Example.org", &hash))
        .await
        .unwrap();
    assert_eq!(
        strings(
            &conn,
            "SELECT email_lower FROM user_oauth WHERE email = 'Grace@Example.org'"
        )
        .await,
        [None]
    );
    let peer = crate::helpers::spawn_peer(&app, &[]).await;
    let res = app
        .client
        .post(format!("{peer}/auth/token/login"))
        .form(&[("username", "grace@example.org"), ("password", "alice-pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(project_dirs_default(&conn).await.is_some());
    let _ = conn.close().await;
}

#[tokio::test]
async fn an_unknown_required_column_stops_adoption_with_no_change() {
    let Some(db) = fractal2_db().await else {
        return;
    };
    let conn = connect(&db.url).await;
    // A newer Fractal's required column, which our inserts would leave empty.
    conn.execute_unprepared(
        "ALTER TABLE user_oauth ADD COLUMN home_quota INTEGER NOT NULL DEFAULT 1; \
         ALTER TABLE user_oauth ALTER COLUMN home_quota DROP DEFAULT",
    )
    .await
    .unwrap();
    let (db, err) = match spawn_app_on_db(db, &[]).await {
        Ok(_) => panic!("an unknown required column must stop the adoption"),
        Err(e) => e,
    };
    assert!(
        err.contains("user_oauth.home_quota is required (NOT NULL, no default)"),
        "{err}"
    );
    assert!(err.contains("Nothing was changed"), "{err}");
    let schema = migrations::SchemaManager::new(&conn);
    assert!(
        !schema
            .has_column("user_oauth", "email_lower")
            .await
            .unwrap()
    );
    assert!(!schema.has_table("seaql_migrations").await.unwrap());
    assert_eq!(project_dirs_default(&conn).await, None);
    let _ = conn.close().await;
    drop(db);
}
