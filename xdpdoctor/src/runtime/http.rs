//! HTTP/1.1 over a unix socket, as much as a container runtime's API needs: one request per
//! connection (`Connection: close`), a body given whole (JSON, or a tar for an image
//! import), and the answer read to the end, `Content-Length` or `chunked`. No TLS, no
//! keep-alive, no redirects: the socket is local and the runtime answers directly.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// One answer: status code and body (chunks joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (200, 404, ...).
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy), trimmed: what error messages quote.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// A body to send and its media type.
pub struct Body<'a> {
    /// `application/json`, `application/x-tar`.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// Where an HTTP-over-unix-socket server listens, and how long a request may take.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The socket file.
    pub socket: PathBuf,
    /// Connect, write and read timeout per request.
    pub timeout: Duration,
}

impl Endpoint {
    /// An endpoint at `socket` with `timeout`.
    pub fn new(socket: impl AsRef<Path>, timeout: Duration) -> Self {
        Endpoint {
            socket: socket.as_ref().to_path_buf(),
            timeout,
        }
    }

    /// Sends `method path` (with `body`) and reads the whole answer.
    pub fn request(&self, method: &str, path: &str, body: Option<Body>) -> Result<Response> {
        let what = format!("{method} {path} on {}", self.socket.display());
        let sys = |op: &'static str| {
            let target = what.clone();
            move |source: std::io::Error| Error::Sys { op, target, source }
        };
        let mut s = UnixStream::connect(&self.socket).map_err(sys("connect"))?;
        s.set_read_timeout(Some(self.timeout))
            .map_err(sys("set read timeout"))?;
        s.set_write_timeout(Some(self.timeout))
            .map_err(sys("set write timeout"))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: xdpdoctor\r\n\
             Connection: close\r\n"
        );
        if let Some(b) = &body {
            head += &format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                b.content_type,
                b.bytes.len()
            );
        }
        head += "\r\n";
        s.write_all(head.as_bytes()).map_err(sys("send request"))?;
        if let Some(b) = body {
            s.write_all(b.bytes).map_err(sys("send body"))?;
        }
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(sys("read answer"))?;
        parse_response(&raw).map_err(|m| Error::unexpected(what, m))
    }
}

/// Parses a whole HTTP/1.1 answer: status line, headers, body (by `Content-Length`, chunked,
/// or to the end).
pub fn parse_response(raw: &[u8]) -> std::result::Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the headers in the answer")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (mut chunked, mut length) = (false, None);
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if k == "content-length" {
            length = v.parse::<usize>().ok();
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| format!("body shorter than its Content-Length {n}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

/// Joins the chunks of a `Transfer-Encoding: chunked` body.
fn dechunk(mut b: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line without its end")?;
        let line = std::str::from_utf8(&b[..eol]).map_err(|_| "chunk size is not text")?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {line:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = b.get(..size).ok_or("chunk shorter than its size")?;
        out.extend_from_slice(chunk);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

/// `s` with the characters a URL query or path segment cannot hold as they are
/// percent-encoded (RFC 3986 unreserved characters stay).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_chunked_bodies() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKtrailing").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]));
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=1\r\n:1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.text(), "{\"a\":1}");
        assert!(!r.ok());
        let r = parse_response(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap();
        assert!(r.ok() && r.body.is_empty());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 2xx OK\r\n\r\n").is_err());
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            escape(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
        assert_eq!(escape("web-1_x.y"), "web-1_x.y");
    }
}
