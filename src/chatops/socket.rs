//! Slack Socket Mode: the worker opens a WebSocket to Slack itself (`apps.connections.open`
//! with the app-level token), so workers in private subnets need no inbound endpoint. Each
//! envelope is acknowledged at once (Slack wants it within 3 s), then its click is handled like a
//! signed request's; a `disconnect` message (Slack refreshes connections every few hours) or a
//! dropped socket opens a new connection, after a growing pause when opening fails.

use super::Actor;
use crate::secret::Secret;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Pauses before a new connection: the first after a connection ends, doubled while opening
/// fails or connections end at once, up to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lived this long resets the pause.
const HEALTHY_SECS: u64 = 60;
/// Slack pings every connection; this long with no frame at all means it is gone.
const SILENCE: Duration = Duration::from_secs(120);

/// Socket Mode's side of Slack: where `apps.connections.open` is, and the app-level token.
pub struct SocketMode {
    pub app_token: Secret,
    /// `https://slack.com`; tests point it at a local server.
    pub api_base: String,
    pub http: reqwest::Client,
}

/// What one connection ended with.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Slack asked for a new connection (`disconnect`), or the socket closed.
    Reconnect,
    /// The worker is shutting down.
    Stop,
}

impl SocketMode {
    pub fn new(app_token: Secret, api_base: String) -> Result<Self, String> {
        let http =
            crate::deliver::http::client(Duration::from_secs(10)).map_err(|e| e.to_string())?;
        Ok(Self {
            app_token,
            api_base,
            http,
        })
    }

    /// The WebSocket URL of a new connection (`apps.connections.open`).
    async fn open(&self) -> Result<String, String> {
        let url = format!(
            "{}/api/apps.connections.open",
            self.api_base.trim_end_matches('/')
        );
        let r = self
            .http
            .post(url)
            .bearer_auth(self.app_token.expose())
            .send()
            .await
            .map_err(|e| format!("apps.connections.open: {}", e.without_url()))?;
        let v: serde_json::Value = r
            .json()
            .await
            .map_err(|e| format!("apps.connections.open: {}", e.without_url()))?;
        match (v["ok"].as_bool(), v["url"].as_str()) {
            (Some(true), Some(u)) => Ok(u.to_owned()),
            _ => Err(format!(
                "apps.connections.open: {}",
                v["error"].as_str().unwrap_or("no url")
            )),
        }
    }

    /// Runs until `stop` resolves: connects, acknowledges and hands each click to `actor`,
    /// reconnects when Slack asks or the socket drops.
    pub async fn run(self, actor: Arc<Actor>, stop: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(stop);
        let mut pause = BACKOFF_FIRST;
        loop {
            let attempt = async {
                let url = self.open().await?;
                let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
                    .await
                    .map_err(|e| format!("connecting to Socket Mode: {e}"))?;
                Ok::<_, String>(ws)
            };
            let ws = tokio::select! {
                _ = &mut stop => return,
                ws = attempt => ws,
            };
            let ws = match ws {
                Ok(ws) => ws,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "Socket Mode: cannot connect");
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            tracing::info!("Socket Mode: connected");
            let lived = std::time::Instant::now();
            if serve(ws, &actor, &mut stop).await == Ended::Stop {
                return;
            }
            pause = if lived.elapsed().as_secs() >= HEALTHY_SECS {
                BACKOFF_FIRST
            } else {
                pause
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(BACKOFF_MAX);
        }
    }
}

/// One connection: every envelope acknowledged, every click handed on.
async fn serve<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    actor: &Arc<Actor>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Ended
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    loop {
        let msg = tokio::select! {
            _ = stop.as_mut() => {
                let _ = tx.send(Message::Close(None)).await;
                return Ended::Stop;
            }
            m = tokio::time::timeout(SILENCE, rx.next()) => match m {
                Ok(m) => m,
                Err(_) => {
                    tracing::warn!("Socket Mode: nothing heard for two minutes; connecting again");
                    return Ended::Reconnect;
                }
            },
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(p))) => {
                let _ = tx.send(Message::Pong(p)).await;
                continue;
            }
            Some(Ok(Message::Close(_))) | None => return Ended::Reconnect,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "Socket Mode: connection lost");
                return Ended::Reconnect;
            }
        };
        let v: serde_json::Value = match serde_json::from_str(text.as_str()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "Socket Mode: a message that is not JSON");
                continue;
            }
        };
        match v["type"].as_str() {
            Some("hello") => continue,
            Some("disconnect") => {
                tracing::info!(
                    reason = v["reason"].as_str().unwrap_or(""),
                    "Socket Mode: Slack asks for a new connection"
                );
                return Ended::Reconnect;
            }
            _ => {}
        }
        // Every envelope is acknowledged at once, whatever it holds: Slack resends what is not.
        if let Some(id) = v["envelope_id"].as_str() {
            let ack = serde_json::json!({ "envelope_id": id }).to_string();
            if let Err(e) = tx.send(Message::text(ack)).await {
                tracing::warn!(error = %e, "Socket Mode: cannot acknowledge");
                return Ended::Reconnect;
            }
        }
        if v["type"] != "interactive" {
            continue;
        }
        match super::slack::parse_payload(&v["payload"]) {
            Ok(Some(click)) => {
                let actor = actor.clone();
                tokio::spawn(async move {
                    actor.handle(click, crate::clock::unix_now()).await;
                });
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "Socket Mode: an interaction Herald cannot read"),
        }
    }
}
