//! The probe's HTTP server (hyper 1, HTTP/1.1): `GET /metrics` (every metric, text format
//! 0.0.4), `GET /probe?case=NAME` (runs the case now and returns only its metrics; 400 for an
//! unknown case, blackbox-exporter style), `GET /healthz` and `GET /` (the page). Bounds: at
//! most [`MAX_CONNECTIONS`] connections at once (more are closed), [`HEADER_TIMEOUT`] to send
//! a request's headers; request bodies are never read.

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{mpsc, oneshot, watch};

use crate::probe::metrics::CONTENT_TYPE;
use crate::probe::page;
use crate::probe::scheduler::{OnDemand, Shared};

/// The most connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// The time a client has to send a request's headers.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a `/probe` request waits for its probe (queue and run).
const PROBE_WAIT: Duration = Duration::from_secs(120);

/// What the server serves.
#[derive(Clone)]
pub(crate) struct Site {
    shared: Shared,
    cases: Rc<Vec<String>>,
    requests: mpsc::Sender<OnDemand>,
}

impl Site {
    pub(crate) fn new(
        shared: Shared,
        cases: Vec<String>,
        requests: mpsc::Sender<OnDemand>,
    ) -> Site {
        Site {
            shared,
            cases: Rc::new(cases),
            requests,
        }
    }
}

/// Accepts connections until `stopping` turns true.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    site: Site,
    mut stopping: watch::Receiver<bool>,
) {
    let open = Rc::new(Cell::new(0usize));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        if open.get() >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        open.set(open.get() + 1);
        let site = site.clone();
        let open = open.clone();
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(move |request| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(site.answer(&request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            open.set(open.get().saturating_sub(1));
        });
    }
}

impl Site {
    /// The answer to one request.
    async fn answer(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        }
        match request.uri().path() {
            "/metrics" => self.metrics(),
            "/probe" => self.probe(request.uri().query().unwrap_or("")).await,
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/" => self.page(),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /probe?case=NAME, /healthz or /\n",
            ),
        }
    }

    fn metrics(&self) -> Response<Full<Bytes>> {
        let body = match self.shared.lock() {
            Ok(observer) => observer.render_metrics(),
            Err(_) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the probe state is unavailable\n",
                );
            }
        };
        respond(StatusCode::OK, CONTENT_TYPE, body)
    }

    fn page(&self) -> Response<Full<Bytes>> {
        let body = match self.shared.lock() {
            Ok(observer) => page::index(&observer),
            Err(_) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the probe state is unavailable\n",
                );
            }
        };
        respond(StatusCode::OK, "text/html; charset=utf-8", body)
    }

    /// `/probe?case=NAME`: runs the case now and returns its metrics.
    async fn probe(&self, query: &str) -> Response<Full<Bytes>> {
        let name = case_parameter(query);
        let Some(index) = name
            .as_deref()
            .and_then(|n| self.cases.iter().position(|c| c == n))
        else {
            let shown = crate::text::sanitize(name.as_deref().unwrap_or(""));
            return text(
                StatusCode::BAD_REQUEST,
                &format!("unknown case {shown:?}: give ?case=NAME with a case of the suite\n"),
            );
        };
        let (reply, answer) = oneshot::channel();
        if self
            .requests
            .try_send(OnDemand { case: index, reply })
            .is_err()
        {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the probe is busy or stopping\n",
            );
        }
        match tokio::time::timeout(PROBE_WAIT, answer).await {
            Ok(Ok(body)) => respond(StatusCode::OK, CONTENT_TYPE, body),
            _ => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the probe did not answer\n",
            ),
        }
    }
}

/// The `case` parameter of a query string, percent-decoded.
fn case_parameter(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "case").then(|| {
            let value = value.replace('+', " ");
            percent_encoding::percent_decode_str(&value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=utf-8", body.to_string())
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_parameter_is_decoded() {
        assert_eq!(case_parameter("case=a%20b&x=1"), Some("a b".to_string()));
        assert_eq!(
            case_parameter("x=1&case=one+two"),
            Some("one two".to_string())
        );
        assert_eq!(case_parameter("nothing"), None);
    }
}
