//! The MySQL / MariaDB store (features `server`, `mysql`) against real `mariadbd` instances
//! (tests/support/mariadb.rs): the shared store battery (tests/support/battery.rs) as
//! `mysql_store::*`, and what is particular to this store (its table, expiry by column, errors
//! without the password).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/mariadb.rs"]
mod mariadb;
#[path = "support/multi.rs"]
mod multi;
#[macro_use]
#[path = "support/battery.rs"]
mod battery;

use std::time::Duration;

use mcp_oauth::store::{MysqlStore, PendingStore, StoreError, StoreKey, StoredEntry, TokenStore};
use multi::STORE_KEY;
use mysql_async::prelude::Queryable;

/// A table of its own on the binary's shared server, or a server of its own (stoppable).
enum Server {
    Shared(&'static mariadb::Mariadb),
    Own(mariadb::Mariadb),
}

/// The MySQL store's backend for the battery.
struct MariadbBackend {
    server: Server,
    table: String,
}

impl MariadbBackend {
    fn db(&self) -> &mariadb::Mariadb {
        match &self.server {
            Server::Shared(db) => db,
            Server::Own(db) => db,
        }
    }

    async fn root(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.db().root_url()).await.unwrap()
    }
}

impl battery::Backend for MariadbBackend {
    type Store = MysqlStore;

    async fn start(stoppable: bool) -> Self {
        let server = if stoppable {
            Server::Own(mariadb::Mariadb::start().await)
        } else {
            Server::Shared(mariadb::shared().await)
        };
        MariadbBackend { server, table: mariadb::fresh_table() }
    }

    async fn connect(&self) -> MysqlStore {
        MysqlStore::connect(&self.db().url(), &self.table, &STORE_KEY).await.unwrap()
    }

    async fn connect_with(&self, keys: mcp_oauth::store::SealingKeys) -> MysqlStore {
        MysqlStore::connect(&self.db().url(), &self.table, keys).await.unwrap()
    }

    fn stop(&mut self) {
        match &self.server {
            Server::Own(db) => db.stop(),
            Server::Shared(_) => panic!("the shared server is not stopped"),
        }
    }

    fn restart(&mut self) {
        match &self.server {
            Server::Own(db) => db.restart(),
            Server::Shared(_) => panic!("the shared server is not stopped"),
        }
    }

    fn backend_name(&self) -> String {
        format!("mysql://127.0.0.1:{}/{}", self.db().port, mariadb::DATABASE)
    }

    async fn raw(&self) -> Vec<(String, Vec<u8>)> {
        let mut conn = self.root().await;
        let rows: Vec<(Vec<u8>, Vec<u8>)> =
            conn.query(format!("SELECT name, value FROM `{}`", self.table)).await.unwrap();
        rows.into_iter().map(|(n, v)| (String::from_utf8(n).unwrap(), v)).collect()
    }

    async fn put_raw(&self, name: &str, value: &[u8]) {
        let mut conn = self.root().await;
        let sql = format!("UPDATE `{}` SET value = ? WHERE name = ?", self.table);
        conn.exec_drop(sql, (value, name)).await.unwrap();
        assert_eq!(conn.affected_rows(), 1, "row {name}");
    }

    /// `<kind>:<hash>` (native/src/store/mysql.rs).
    fn record_name(kind: &str, hash: &str) -> String {
        format!("{kind}:{hash}")
    }
}

mod mysql_store {
    store_battery!(super::MariadbBackend);
}

/// The table has the documented columns; a second replica finds it in place; expired rows read
/// as absent and are deleted by later writes; each write bumps the row's version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_expiry_by_column_and_versions() {
    let backend = <MariadbBackend as battery::Backend>::start(false).await;
    let store = battery::Backend::connect(&backend).await;
    let again = battery::Backend::connect(&backend).await; // CREATE TABLE IF NOT EXISTS
    let mut conn = backend.root().await;
    let columns: Vec<String> = conn
        .exec(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            (mariadb::DATABASE, &backend.table),
        )
        .await
        .unwrap();
    assert_eq!(columns, ["name", "value", "version", "expires_at"]);

    let key = StoreKey {
        user: "Alice".into(),
        resource: "http://127.0.0.1:9/mcp".into(),
        issuer: "http://127.0.0.1:8".into(),
    };
    store.save(&key, &StoredEntry::default()).await.unwrap();
    again.save(&key, &StoredEntry::default()).await.unwrap();
    let versions: Vec<u64> = conn
        .query(format!("SELECT version FROM `{}` WHERE name LIKE 'tok:%'", backend.table))
        .await
        .unwrap();
    assert_eq!(versions, [2], "one row, written twice");

    // 70 short-lived links: expired ones read as absent; the 64th write cleans up.
    let link = mcp_oauth::store::ConsentLink {
        state: "s".into(),
        user: "Alice".into(),
        authorization_url: "http://127.0.0.1:8/auth".into(),
    };
    for i in 0..10 {
        store.put_link(&format!("early-{i}"), &link, Duration::from_millis(50)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.take_link("early-0").await.unwrap(), None, "expired");
    let links = format!("SELECT COUNT(*) FROM `{}` WHERE name LIKE 'link:%'", backend.table);
    assert_eq!(
        conn.query_first::<u64, _>(&links).await.unwrap().unwrap(),
        10,
        "expired rows stay until a cleanup"
    );
    for i in 0..60 {
        store.put_link(&format!("late-{i}"), &link, Duration::from_secs(60)).await.unwrap();
    }
    assert_eq!(
        conn.query_first::<u64, _>(&links).await.unwrap().unwrap(),
        60,
        "the 64th write deleted the expired rows"
    );
    assert_eq!(store.take_link("late-59").await.unwrap(), Some(link));
}

/// Wrong password, unknown host port, stopped server: `Unavailable` naming
/// `mysql://host:port/db`, never the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_server_without_the_password() {
    let db = mariadb::shared().await;
    let password = db.password();
    let wrong = db.url().replace(&password, "not-the-password-123");
    let err = MysqlStore::connect(&wrong, "t_wrong", &STORE_KEY).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{text}");
    assert!(text.contains(&format!("mysql://127.0.0.1:{}/mcp", db.port)), "{text}");
    assert!(text.contains("Access denied"), "{text}");
    assert!(!text.contains("not-the-password-123") && !text.contains(&password), "{text}");

    let port = multi::free_port();
    let url = format!("mysql://{}:{password}@127.0.0.1:{port}/mcp", mariadb::USER);
    let err = MysqlStore::connect(&url, "t", &STORE_KEY).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("mysql://127.0.0.1:{port}/mcp")), "{text}");
    assert!(!text.contains(&password), "{text}");
    let err = MysqlStore::connect(&db.url(), "bad name", &STORE_KEY).await.unwrap_err();
    assert!(err.to_string().contains("table name"), "{err}");
}
