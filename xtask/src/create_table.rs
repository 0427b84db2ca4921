//! `cargo xtask create-table`, used by `make run` and the end-to-end stage of `make test`:
//! creates the table (with its indexes) on the DynamoDB-compatible server, idempotently. The
//! table definition lives in one place, `Store::ensure_table`, shared with the tests; in AWS
//! the SAM template creates the table.
use harmonic_shared::config::Config;
use harmonic_shared::store::Store;

pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let endpoint = config
        .dynamodb_endpoint
        .clone()
        .ok_or("DYNAMODB_ENDPOINT must point at the local server")?;
    let store = Store::new(
        Store::connect_client(Some(&endpoint)).await,
        config.table_name.clone(),
    );
    store.ensure_table().await?;
    println!("[table] {} ready on {endpoint}", config.table_name);
    Ok(())
}
