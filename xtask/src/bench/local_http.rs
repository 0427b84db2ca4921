//! The bench's local HTTP/1.1 servers (the Lambda Runtime + Extensions API stub and the DynamoDB
//! proxy) on hyper: one task per connection, keep-alive, long polls allowed (a handler may wait
//! as long as it likes before answering).
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type Reply = Response<Full<Bytes>>;

/// Binds 127.0.0.1 on a free port and serves every connection with `handler`.
pub async fn serve<H, F>(handler: H) -> (u16, JoinHandle<()>)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port for the bench");
    let port = listener.local_addr().expect("local address").port();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let answer = handler(request);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                // A peer that goes away mid-request (a killed function) is not an error here.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, server)
}

/// A response with `headers` and `body`.
pub fn reply(status: StatusCode, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"bad response header"))))
}
