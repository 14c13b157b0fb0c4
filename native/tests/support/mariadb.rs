//! MariaDB servers for the tests, from Debian's `mariadb-server` (`bash .ci/run` installs it):
//! `mariadb-install-db` once per test binary into a template data directory (about 5 s), then
//! `mariadbd` instances on free loopback ports, each on a copy of the template in a private
//! temporary directory (its socket there too).
//!
//! [`shared`] is one server for the whole test binary (tests isolate themselves by table); it
//! stops when the binary exits: it runs under a small `sh` that waits on its standard input,
//! a pipe the test process holds, and on end of file sends `mariadbd` SIGTERM; another `sh`
//! then removes the temporary directory once no `mariadbd` runs in it. [`Mariadb::start`] is a server of the caller's own, which it may stop and start
//! again on the same port; it stops (SIGTERM) when dropped. Self-contained (the multi-user
//! bench includes it too).
#![allow(dead_code)]
#![allow(clippy::panic, clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The database the tests' user may use.
pub const DATABASE: &str = "mcp";
/// The tests' user (its password is random per test binary).
pub const USER: &str = "mcp_app";

/// Settings that keep an instance small and fast (no fsync: test data only).
const SMALL: &[&str] = &[
    "--innodb-log-file-size=8M",
    "--innodb-buffer-pool-size=32M",
    "--innodb-flush-method=nosync",
    "--innodb-doublewrite=0",
    "--innodb-flush-log-at-trx-commit=0",
];

/// The per-binary base directory, with the installed template data directory.
struct Base {
    dir: PathBuf,
    password: String,
    /// The pipe a janitor `sh` waits on: at the binary's exit it waits for every `mariadbd`
    /// under `dir` to end, then removes `dir`.
    /// (It outlives this process on purpose: never waited for.)
    _janitor: (Child, ChildStdin),
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = {
            use std::os::unix::fs::PermissionsExt;
            tempfile::Builder::new()
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()
                .expect("tempdir")
                .keep()
        };
        let mut janitor = Command::new("sh")
            .arg("-c")
            .arg(
                r#"read line
while pgrep -f -- "--datadir=$1/" >/dev/null; do sleep 0.2; done
rm -rf "$1""#,
            )
            .arg("sh")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        let janitor_stdin = janitor.stdin.take().unwrap();
        let mut pw = [0u8; 12];
        getrandom::fill(&mut pw).unwrap();
        let password: String = pw.iter().map(|b| format!("{b:02x}")).collect();
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("template").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(SMALL);
        if running_as_root() {
            install.arg("--user=root");
        }
        let out = install
            .output()
            .expect("mariadb-install-db must be installed (bash .ci/run installs mariadb-server)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Base { dir, password: format!("pw-{password}"), _janitor: (janitor, janitor_stdin) }
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// One `mariadbd` on a copy of the template.
pub struct Mariadb {
    pub port: u16,
    dir: PathBuf,
    /// The supervising `sh` and the pipe it waits on (closing it stops the server).
    process: Mutex<Option<(Child, ChildStdin)>>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl Mariadb {
    /// A server of the caller's own on a free port, with the tests' user and database.
    pub async fn start() -> Mariadb {
        let base = base();
        let dir = base.dir.join(format!("db{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).unwrap();
        let copied = Command::new("cp")
            .arg("-a")
            .arg(base.dir.join("template"))
            .arg(dir.join("data"))
            .status()
            .unwrap();
        assert!(copied.success(), "copy the template data directory");
        let db = Mariadb { port: free_port(), dir, process: Mutex::new(None) };
        db.spawn();
        // The tests' user, by TCP as root (no password on a fresh install).
        let root = format!("mysql://root@127.0.0.1:{}/mysql", db.port);
        let pool = mysql_async::Pool::new(root.as_str());
        let mut conn = pool.get_conn().await.unwrap();
        use mysql_async::prelude::Queryable;
        for sql in [
            format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"),
            format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{}'",
                base.password
            ),
            format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'localhost' IDENTIFIED BY '{}'",
                base.password
            ),
            format!("GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1'"),
            format!("GRANT ALL ON {DATABASE}.* TO '{USER}'@'localhost'"),
        ] {
            conn.query_drop(sql).await.unwrap();
        }
        drop(conn);
        pool.disconnect().await.unwrap();
        db
    }

    fn spawn(&self) {
        let data = self.dir.join("data");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                r#"mariadbd "$@" & pid=$!
read line
kill -TERM "$pid"
wait "$pid""#,
            )
            .arg("sh")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!("--log-error={}", self.dir.join("error.log").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--skip-networking=0",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--max-connections=500",
            ])
            .args(SMALL)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            cmd.arg("--user=root");
        }
        let mut child = cmd.spawn().expect("sh");
        let stdin = child.stdin.take().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if matches!(child.try_wait(), Ok(Some(_))) || std::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                panic!("mariadbd did not listen on {}: {log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        *self.process.lock().unwrap() = Some((child, stdin));
    }

    /// The tests' URL (user and password included).
    pub fn url(&self) -> String {
        format!("mysql://{USER}:{}@127.0.0.1:{}/{DATABASE}", base().password, self.port)
    }

    /// The root URL, for reading what the store wrote.
    pub fn root_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The tests' password (to check that no error message quotes it).
    pub fn password(&self) -> String {
        base().password.clone()
    }

    /// Stops the server (SIGTERM) and waits for it.
    pub fn stop(&self) {
        if let Some((mut child, mut stdin)) = self.process.lock().unwrap().take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server shared by the tests of this binary (started on first use).
pub async fn shared() -> &'static Mariadb {
    static SHARED: tokio::sync::OnceCell<Mariadb> = tokio::sync::OnceCell::const_new();
    SHARED.get_or_init(Mariadb::start).await
}

/// A fresh table name on the shared server.
pub fn fresh_table() -> String {
    format!("mcp_oauth_t{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
