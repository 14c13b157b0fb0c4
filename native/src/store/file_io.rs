//! File-system steps of [`super::FileStore`]: a private directory, atomic writes, advisory
//! locks (a move out of file.rs, which holds the store and its key source).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{hex, io_error, random_bytes};
use super::StoreError;

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist; an existing directory
/// is left as it is.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            let e = io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory");
            return Err(io_error(dir, e));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(dir, e)),
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(|e| io_error(dir, e))?;
        // The mode given to mkdir is filtered by the umask.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io_error(dir, e))
    }
    #[cfg(not(unix))]
    {
        builder.create(dir).map_err(|e| io_error(dir, e))
    }
}

/// Refuses a directory that its group or others may enter or list (tokens are per user).
pub(super) fn check_private_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(dir).map_err(|e| io_error(dir, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::InsecurePermissions { path: dir.display().to_string(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to a new `.<name>.tmp-<random>` file in `dir` (mode 0600), synced to disk, and
/// returns its path. On failure the temporary file is removed.
pub(super) fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let suffix: [u8; 8] = random_bytes(dir)?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex(&suffix)));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| io_error(&tmp, e))?;
    let written = (|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The mode given to open is filtered by the umask.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()
    })();
    drop(file);
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(io_error(&tmp, e))
        }
    }
}

/// Replaces `dir/name` with `bytes` atomically: readers see the old or the new file, never part.
pub(super) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = write_temp(dir, name, bytes)?;
    let target = dir.join(name);
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(&target, e));
    }
    sync_dir(dir)
}

/// Makes a rename or removal in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Opens (creating, mode 0600) lock file `path` and takes its advisory lock, waiting at most
/// `wait` for another holder: `None` when it stays taken. Closing the file releases the lock.
pub(super) fn take_flock(path: &Path, wait: Duration) -> Result<Option<File>, StoreError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|e| io_error(path, e))?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(path, e)),
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
