//! `cargo xtask upstream-stubs --port 8090`: serves the upstream stand-ins
//! (`harmonic_testkit::stubs`) until killed; then point every `*_API_URL` / `OPEN_METEO_*_URL`
//! at http://127.0.0.1:8090. Used by `make run OFFLINE=1` and the end-to-end stage.

const DEFAULT_PORT: u16 = 8090;

pub async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(index) => args.get(index + 1).ok_or("--port needs a value")?.parse()?,
        None => DEFAULT_PORT,
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let server = harmonic_testkit::stubs::start(listener).await;
    println!("[stubs] upstream stand-ins on {}", server.uri());
    std::future::pending::<()>().await;
    Ok(())
}
