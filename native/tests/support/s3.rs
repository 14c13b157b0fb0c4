//! Test support for the S3 store: moto's S3-compatible server (PyPI `moto[server]`; `.ci/run`
//! installs it) on a free loopback port, started by tests/support/moto_serial.py (moto's
//! server app, one request at a time: moto's own conditional writes are check-then-write, not
//! atomic under concurrent requests), stopped with SIGTERM when dropped, and raw access to its
//! objects (moto does not check signatures unless told to).
//!
//! moto implements the conditional writes the store relies on (checked against 5.2.1 and
//! 5.2.6): PutObject `If-None-Match: *` answers 412 when the object exists, `If-Match` answers
//! 412 on another ETag and 404 when absent, DeleteObject `If-Match` answers 412 on another ETag.
//! Quirks seen with `python3 -m moto.server` (threaded): two concurrent conditional PUTs of one
//! object can both succeed (the likely cause of one double refresh seen in the 200-user test),
//! and a ListObjectsV2 running while an object is added answered 500; handling one request at a
//! time removes both. Its optional signature check (`INITIAL_NO_AUTH_ACTION_COUNT`) refuses a
//! correctly signed query value containing `/` (botocore's signature is refused too).
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
        Moto::start_with(port, &[])
    }

    /// A server that checks SigV4 signatures (and IAM policies) of every request after its
    /// first four (moto's `INITIAL_NO_AUTH_ACTION_COUNT`): the bucket's creation and an IAM
    /// user with an access key allowed everything. Returns the key id and secret.
    pub async fn start_checking_signatures() -> (Moto, String, String) {
        let moto =
            Moto::start_with(crate::multi::free_port(), &[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let mut key = (String::new(), String::new());
        for action in [
            "Action=CreateUser&UserName=store".to_owned(),
            "Action=CreateAccessKey&UserName=store".to_owned(),
            mcp_oauth::core::__private::encoding::form_encode(&[
                ("Action", "PutUserPolicy"),
                ("UserName", "store"),
                ("PolicyName", "all"),
                ("PolicyDocument", policy),
            ]),
        ] {
            mcp_oauth::http::install_crypto_provider();
            let text = reqwest::Client::new()
                .post(moto.endpoint())
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/iam/aws4_request, \
                     SignedHeaders=host, Signature=0",
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("{action}&Version=2010-05-08"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let element = |name: &str| {
                let open = format!("<{name}>");
                text.split(&open).nth(1).and_then(|t| t.split('<').next()).map(str::to_owned)
            };
            if let (Some(id), Some(secret)) = (element("AccessKeyId"), element("SecretAccessKey")) {
                key = (id, secret);
            }
            assert!(!text.contains("<Error>"), "{action}: {text}");
        }
        assert!(!key.0.is_empty(), "CreateAccessKey answered a key");
        (moto, key.0, key.1)
    }

    fn start_with(port: u16, env: &[(&str, &str)]) -> Moto {
        let python = std::env::var("MCP_OAUTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_serial.py"))
            .arg(port.to_string())
            .envs(env.iter().copied())
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
                panic!("{python} moto_serial.py: {e} (bash .ci/run installs moto[server])")
            });
        let mut moto = Moto { child: Some(child), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready once this child listens on the port (not another test's server that took the
        // port while it was free: a restart reuses its port); then the bucket is created.
        loop {
            let pid = moto.child.as_ref().unwrap().id();
            if listens(pid, port) {
                assert_eq!(moto.create_bucket(), Some(200), "create bucket {BUCKET}");
                return moto;
            }
            if let Some(status) = moto.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "moto.server on port {port} exited ({status}): port taken, or moto[server] \
                     not installed for {python}"
                );
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
        mcp_oauth::http::install_crypto_provider();
        reqwest::Client::new().request(method, url).header("authorization", UNCHECKED_AUTH)
    }

    /// Every object under `prefix`: its key and bytes.
    pub async fn objects(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        // Object names here are hex digits, `/`, `-` and `_`: no query encoding needed.
        let url = format!("{}/{BUCKET}?list-type=2&max-keys=1000&prefix={prefix}", self.endpoint());
        mcp_oauth::http::install_crypto_provider();
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

    /// `PUT key` with `If-None-Match: *`: the status (200 created, 412 already there).
    pub async fn put_if_absent(&self, key: &str, value: &[u8]) -> u16 {
        let resp = self
            .raw_request(reqwest::Method::PUT, key)
            .header("if-none-match", "*")
            .body(value.to_vec())
            .send()
            .await
            .unwrap();
        resp.status().as_u16()
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

/// Whether process `pid` has a socket listening on loopback TCP `port` (Linux: the LISTEN
/// entries of /proc/net/tcp and the socket inodes among the process's file descriptors).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else { return false };
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit(':').next()?;
            let listening = f.get(3) == Some(&"0A");
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| f.get(9).map(|i| format!("socket:[{i}]")))
                .flatten()
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.to_string_lossy() == *i))
    })
}
