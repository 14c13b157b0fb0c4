//! Test support for the S3 store: moto's S3-compatible server (PyPI `moto[server]`, started as
//! `python3 -m moto.server`; `.ci/run` installs it) on a free loopback port, stopped with
//! SIGTERM when dropped, and unsigned raw access to its objects (moto does not check
//! signatures unless told to).
//!
//! moto implements the conditional writes the store relies on (verified against 5.2.1):
//! PutObject `If-None-Match: *` answers 412 when the object exists, `If-Match` answers 412 on
//! another ETag and 404 when absent, DeleteObject `If-Match` answers 412 on another ETag.
#![allow(dead_code)]
#![allow(clippy::panic, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Authorization that moto accepts without checking the signature (it reads only the access
/// key id), so raw requests act as the owner of the objects the store wrote; unsigned requests
/// are anonymous and refused with 403.
const UNCHECKED_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// The bucket every test server gets.
pub const BUCKET: &str = "mcp-oauth-test";

/// A moto server on a loopback port, with [`BUCKET`] created; stopped when dropped.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_on(crate::multi::free_port())
    }

    /// Starts on `port` and creates [`BUCKET`] (blocking: it runs from `Drop`-free sync code
    /// such as the battery's `restart`).
    pub fn start_on(port: u16) -> Moto {
        let python = std::env::var("MCP_OAUTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            // MCP_OAUTH_TEST_MOTO_LOG=DIR: each server's request log in DIR/moto-PORT-N.log.
            .stderr(match std::env::var_os("MCP_OAUTH_TEST_MOTO_LOG") {
                Some(dir) => {
                    let n = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis();
                    let path = std::path::Path::new(&dir).join(format!("moto-{port}-{n}.log"));
                    Stdio::from(std::fs::File::create(path).unwrap())
                }
                None => Stdio::null(),
            })
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} -m moto.server: {e} (bash .ci/run installs moto[server])")
            });
        let mut moto = Moto { child: Some(child), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        // The bucket's creation is the readiness probe: 200 once moto answers.
        loop {
            if let Some(status) = moto.create_bucket() {
                assert_eq!(status, 200, "create bucket {BUCKET}");
                return moto;
            }
            if let Some(status) = moto.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("moto.server exited ({status}): is moto[server] installed for {python}?");
            }
            assert!(Instant::now() < deadline, "moto.server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `PUT /{BUCKET}` over a plain socket: the status, or `None` when nothing answers yet.
    fn create_bucket(&self) -> Option<u16> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let req = format!(
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn raw_request(&self, method: reqwest::Method, key: &str) -> reqwest::RequestBuilder {
        let url = if key.is_empty() {
            format!("{}/{BUCKET}", self.endpoint())
        } else {
            format!("{}/{BUCKET}/{key}", self.endpoint())
        };
        reqwest::Client::new().request(method, url).header("authorization", UNCHECKED_AUTH)
    }

    /// Every object under `prefix`: its key and bytes.
    pub async fn objects(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        // Object names here are hex digits, `/`, `-` and `_`: no query encoding needed.
        let url = format!("{}/{BUCKET}?list-type=2&max-keys=1000&prefix={prefix}", self.endpoint());
        let list = reqwest::Client::new().get(url).send().await.unwrap().text().await.unwrap();
        assert!(list.contains("<IsTruncated>false</IsTruncated>"), "one page: {list}");
        let mut out = Vec::new();
        for part in list.split("<Key>").skip(1) {
            let key = part.split("</Key>").next().unwrap().to_owned();
            out.push((key.clone(), self.get(&key).await.unwrap()));
        }
        out
    }

    /// The bytes of object `key`, if it exists.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let resp = self.raw_request(reqwest::Method::GET, key).send().await.unwrap();
        match resp.status().as_u16() {
            200 => Some(resp.bytes().await.unwrap().to_vec()),
            404 => None,
            other => panic!("GET {key}: {other}"),
        }
    }

    /// Overwrites object `key`.
    pub async fn put(&self, key: &str, value: &[u8]) {
        let resp =
            self.raw_request(reqwest::Method::PUT, key).body(value.to_vec()).send().await.unwrap();
        assert!(resp.status().is_success(), "PUT {key}: {}", resp.status());
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
