//! Data transfers as xe makes them (`/export_raw_vdi`, `/import`, ...): one
//! `HTTP/1.0` request per transfer on its own TCP or TLS connection, with
//! the session in the query and no other header but `Host` and
//! `Content-Length`; the
//! answer's head is read before a single body byte is sent, so a redirect
//! or a refusal costs nothing and xapi's early `200` is honoured. Request
//! bodies are never chunked (xapi refuses that): a known length is sent, an
//! unknown one ends with the connection. Answer bodies end with their
//! `Content-Length` or the connection. TLS uses the connection's policy
//! (pinning included) for whichever host the transfer goes to.

use super::tls::{client_config, lock};
use super::{connect_reason, Connection, Error, Result};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;

/// A byte stream to the server: plain TCP or TLS over it.
trait Wire: Read + Write + Send {
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Wire for TcpStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl Wire for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush()?;
        self.sock.shutdown(std::net::Shutdown::Write)
    }
}

/// An open transfer: the answer's status and headers, then the body, read
/// (a download) or written (an upload) through `Read`/`Write`.
pub struct Transfer {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The status line as sent, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// Header names lower-cased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    wire: BufReader<Box<dyn Wire>>,
    /// Bytes of the answer's body still to read, when it has a length.
    remaining: Option<u64>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer").field("status_line", &self.status_line).field("headers", &self.headers).finish()
    }
}

impl Transfer {
    /// The first header of this name (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The answer's `Content-Length`, if it has one.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// Ends an upload: the server sees the end of the body (needed when it
    /// was sent without a length), and its closing of the connection is awaited.
    pub fn finish_upload(&mut self) -> io::Result<()> {
        self.wire.get_mut().flush()?;
        let _ = self.wire.get_mut().shutdown_write();
        let _ = io::copy(&mut self.wire, &mut io::sink());
        Ok(())
    }
}

impl Read for Transfer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.remaining {
            Some(0) => return Ok(0),
            Some(n) => buf.len().min(usize::try_from(n).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let n = self.wire.read(&mut buf[..want])?;
        if let Some(r) = &mut self.remaining {
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the answer ended before its length"));
            }
            *r -= n as u64;
        }
        Ok(n)
    }
}

impl Write for Transfer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wire.get_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.wire.get_mut().flush()
    }
}

/// `host`, `port` and whether TLS is used, from a connection's base URL.
fn endpoint(conn: &Connection) -> (String, u16, bool) {
    let base = &conn.inner.base;
    let host = base.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_string();
    (host, base.port_or_known_default().unwrap_or(443), base.scheme() == "https")
}

impl Connection {
    /// Sends `GET {path_and_query} HTTP/1.0` on a new connection and reads
    /// the answer's head; the body follows through [`Transfer`]'s `Read`.
    pub fn transfer_get(&self, path_and_query: &str) -> Result<Transfer> {
        self.transfer("GET", path_and_query, None)
    }

    /// Sends `PUT {path_and_query} HTTP/1.0` with `Content-Length` when
    /// `len` is known, and reads the answer's head before any body byte:
    /// on `200` write the body through [`Transfer`]'s `Write`, then
    /// [`Transfer::finish_upload`].
    pub fn transfer_put(&self, path_and_query: &str, len: Option<u64>) -> Result<Transfer> {
        self.transfer("PUT", path_and_query, Some(len))
    }

    fn transfer(&self, method: &str, path_and_query: &str, body: Option<Option<u64>>) -> Result<Transfer> {
        if self.inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Local { reason: "the connection was closed".into() });
        }
        let origin = self.inner.origin.clone();
        let shown = format!("{origin}{}", path_and_query.split('?').next().unwrap_or(""));
        let (host, port, tls) = endpoint(self);
        let connect_err = |reason: String| Error::Connect { url: origin.clone(), reason };
        let addrs: Vec<_> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| connect_err(format!("cannot resolve the host name: {e}")))?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.inner.opts.connect_timeout) {
                Ok(t) => {
                    tcp = Some(t);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match (tcp, last) {
            (Some(t), _) => t,
            (None, Some(e)) => return Err(connect_err(connect_reason(&e))),
            (None, None) => return Err(connect_err("no address for the host".into())),
        };
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(self.inner.opts.idle_timeout).map_err(|e| connect_err(e.to_string()))?;
        tcp.set_write_timeout(self.inner.opts.idle_timeout).map_err(|e| connect_err(e.to_string()))?;
        let mut wire: Box<dyn Wire> = if tls {
            lock(&self.inner.events.failure).take();
            let config = client_config(&self.inner.opts.tls, &self.inner.host_port, self.inner.events.clone())?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| Error::Tls { url: origin.clone(), reason: e.to_string() })?;
            let conn = rustls::ClientConnection::new(Arc::new(config), name)
                .map_err(|e| Error::Tls { url: origin.clone(), reason: e.to_string() })?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            // Complete the handshake now, so a refused certificate is a TLS error.
            while stream.conn.is_handshaking() {
                if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                    if let Some(err) = lock(&self.inner.events.failure).take() {
                        return Err(err);
                    }
                    return Err(Error::Tls { url: origin.clone(), reason: e.to_string() });
                }
            }
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        // xe sends no Host; it costs nothing and tells a pool member (or a
        // proxy) which name it was reached by.
        let host_header = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let mut head = format!("{method} {path_and_query} HTTP/1.0\r\nHost: {host_header}\r\n");
        if let Some(Some(n)) = body {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
        head.push_str("\r\n");
        let io_err =
            |e: io::Error| Error::Protocol { url: shown.clone(), method: method.to_string(), reason: e.to_string() };
        wire.write_all(head.as_bytes()).and_then(|()| wire.flush()).map_err(io_err)?;
        let mut wire = BufReader::with_capacity(64 << 10, wire);
        let mut status_line = String::new();
        read_line(&mut wire, &mut status_line).map_err(io_err)?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| io_err(io::Error::other(format!("not an HTTP answer: {status_line:?}"))))?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            read_line(&mut wire, &mut line).map_err(io_err)?;
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut t = Transfer { status, status_line, headers, wire, remaining: None };
        // Only a download's body is framed by the answer's length.
        if body.is_none() {
            t.remaining = t.content_length();
        }
        Ok(t)
    }
}

/// Reads one header line without its CRLF; an answer that ends first is an error.
fn read_line(r: &mut impl BufRead, line: &mut String) -> io::Result<()> {
    let mut raw = Vec::new();
    if r.take(64 << 10).read_until(b'\n', &mut raw)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection without an answer"));
    }
    while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        raw.pop();
    }
    *line = String::from_utf8_lossy(&raw).into_owned();
    Ok(())
}
