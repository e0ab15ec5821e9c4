//! An OTLP/HTTP trace receiver for the tests: a small hyper 1 server on a free port of
//! 127.0.0.1, on its own thread and runtime, that gunzips and decodes every
//! `POST /v1/traces` body with the official `opentelemetry-proto` types and keeps what it
//! got. Its first answers can be scripted (e.g. 503 with `Retry-After: 0`); after them it
//! answers 200. [`OtlpReceiver::tls`] serves HTTPS with a given certificate (tokio-rustls).

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub content_type: String,
    pub content_encoding: String,
    /// Every header, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The decoded body (`None` when it did not decode).
    pub request: Option<ExportTraceServiceRequest>,
    /// The status the receiver answered.
    pub status: u16,
}

/// A scripted answer: status and `Retry-After` seconds.
pub(crate) type Reply = (u16, Option<u64>);

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    /// Counting mode (benchmarks): keep only the counts, not the requests.
    counting: bool,
    /// Spans in accepted requests, in either mode.
    span_count: usize,
}

/// The running receiver; stopped when dropped.
pub(crate) struct OtlpReceiver {
    port: u16,
    scheme: &'static str,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    /// A receiver that answers 200 to everything.
    pub(crate) fn start() -> OtlpReceiver {
        OtlpReceiver::scripted(&[])
    }

    /// A receiver that answers 200 and keeps only the number of spans (memory stays flat).
    pub(crate) fn counting() -> OtlpReceiver {
        let receiver = OtlpReceiver::scripted(&[]);
        receiver.state.lock().expect("state").counting = true;
        receiver
    }

    /// Spans in the requests it answered with 200 (both modes).
    pub(crate) fn span_count(&self) -> usize {
        self.state.lock().expect("state").span_count
    }

    /// A receiver whose first answers are `replies`, then 200.
    pub(crate) fn scripted(replies: &[Reply]) -> OtlpReceiver {
        OtlpReceiver::serving(replies, None)
    }

    /// An HTTPS receiver with the certificate chain and key of these PEM files (answers 200).
    pub(crate) fn tls(cert_pem: &std::path::Path, key_pem: &std::path::Path) -> OtlpReceiver {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
            .expect("certificate file")
            .map(|c| c.expect("certificate"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(key_pem).expect("key file");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        OtlpReceiver::serving(&[], Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    fn serving(replies: &[Reply], tls: Option<tokio_rustls::TlsAcceptor>) -> OtlpReceiver {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State {
            script: replies.iter().copied().collect(),
            ..State::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || serve(listener, shared, tls, stopped));
        OtlpReceiver {
            port,
            scheme,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The URL to export to.
    pub(crate) fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/v1/traces", self.scheme, self.port)
    }

    /// Every request so far, in arrival order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// The decoded requests it answered with 200.
    pub(crate) fn accepted(&self) -> Vec<ExportTraceServiceRequest> {
        self.received()
            .into_iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| r.request)
            .collect()
    }

    /// Every span of the accepted requests.
    pub(crate) fn spans(&self) -> Vec<Span> {
        self.accepted()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|r| r.scope_spans.iter())
            .flat_map(|s| s.spans.iter().cloned())
            .collect()
    }

    /// Polls (bounded by `limit`) until at least `count` spans were accepted; the spans.
    pub(crate) fn wait_for_spans(&self, count: usize, limit: Duration) -> Vec<Span> {
        let deadline = Instant::now() + limit;
        loop {
            let spans = self.spans();
            if spans.len() >= count || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The accept loop, until `stopped`.
fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let stream = tokio::select! {
                _ = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            let state = Arc::clone(&state);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    // A failed handshake (an untrusting client) just ends the connection.
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_connection(stream, state).await;
                        }
                    }
                    None => serve_connection(stream, state).await,
                }
            });
        }
    });
}

/// HTTP/1 on one connection.
async fn serve_connection<S>(stream: S, state: Arc<Mutex<State>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| handle(Arc::clone(&state), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

/// Records one request and answers it as scripted.
async fn handle(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = v.to_str().unwrap_or("").to_string();
            (k.as_str().to_ascii_lowercase(), value)
        })
        .collect();
    let body = request.into_body().collect().await?.to_bytes();
    let decoded = decode(&body, &content_encoding);
    let mut state = state.lock().expect("state");
    let (status, retry_after) = state.script.pop_front().unwrap_or((200, None));
    if status == 200 {
        state.span_count += decoded.as_ref().map_or(0, span_count);
    }
    if !state.counting {
        state.received.push(Received {
            content_type,
            content_encoding,
            headers,
            request: decoded,
            status,
        });
    }
    let mut response = Response::builder().status(status);
    if let Some(seconds) = retry_after {
        response = response.header("Retry-After", seconds.to_string());
    }
    Ok(response
        .header("Content-Type", "application/x-protobuf")
        .body(Full::new(Bytes::new()))
        .expect("response"))
}

fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .map(|s| s.spans.len())
        .sum()
}

/// The body gunzipped (when so encoded) and decoded.
fn decode(body: &[u8], encoding: &str) -> Option<ExportTraceServiceRequest> {
    let mut bytes = Vec::new();
    if encoding == "gzip" {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut bytes)
            .ok()?;
    } else {
        bytes = body.to_vec();
    }
    ExportTraceServiceRequest::decode(bytes.as_slice()).ok()
}
