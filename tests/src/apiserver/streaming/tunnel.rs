//! The byte stream inside a WebSocket, as kubectl's `TunnelingConnection`
//! makes it for port-forward (`SPDY/3.1+portforward.k8s.io`): every binary
//! message carries the next bytes of the SPDY connection, with no framing
//! of its own; a normal close is end of stream.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::remote_command::{LINGER, close_websocket};

const BUFFER: usize = 256 * 1024;

/// Unwraps `ws` into a byte stream (the returned end); a task pumps bytes
/// both ways and closes the WebSocket normally when the byte stream's
/// writer shuts down or is dropped.
pub fn bytes_of<S>(ws: WebSocketStream<S>) -> DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(BUFFER);
    tokio::spawn(pump(ws, ours));
    theirs
}

async fn pump<S>(ws: WebSocketStream<S>, io: DuplexStream)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut sink, mut source) = ws.split();
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            msg = source.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if wr.write_all(&b).await.is_err() {
                        break;
                    }
                }
                // The client closed (or vanished): end of the byte stream.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    let _ = wr.shutdown().await;
                    // Keep delivering what the server still writes until
                    // it is done, bounded.
                    let _ = tokio::time::timeout(LINGER, async {
                        loop {
                            match rd.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if sink.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    })
                    .await;
                    return;
                }
                Some(Ok(_)) => {}
            },
            n = rd.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
    // The server side is done.
    close_websocket(&mut sink, &mut source).await;
}
