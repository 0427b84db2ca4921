//! Runs the upstream stand-ins (see `harmonic_tests::stubs`) on a port:
//! `upstream-stubs --port 8090`, then point every `*_API_URL` / `OPEN_METEO_*_URL` at
//! http://127.0.0.1:8090.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(index) => args.get(index + 1).ok_or("--port needs a value")?.parse()?,
        None => 8090,
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let server = harmonic_tests::stubs::start(listener).await;
    println!("[stubs] upstream stand-ins on {}", server.uri());
    std::future::pending::<()>().await;
    Ok(())
}
