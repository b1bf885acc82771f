//! `migrations [up|down|status|fresh]` against `DATABASE_URL` (e.g. `sqlite://data/fractal.db?mode=rwc`).

use migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let db = Database::connect(&url).await?;
    match std::env::args().nth(1).as_deref().unwrap_or("up") {
        "up" => Migrator::up(&db, None).await?,
        "down" => Migrator::down(&db, Some(1)).await?,
        "status" => Migrator::status(&db).await?,
        "fresh" => Migrator::fresh(&db).await?,
        other => {
            return Err(
                format!("unknown command {other:?}; expected up, down, status or fresh").into(),
            );
        }
    }
    Ok(())
}
