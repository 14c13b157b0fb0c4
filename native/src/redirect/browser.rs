//! Starting the user's browser on the authorization URL ([`open_browser`]).

use std::process::{Child, Command, Stdio};

use reqwest::Url;

use super::RedirectError;

/// Opens `url` in the user's browser without waiting for it.
///
/// Uses the `BROWSER` environment variable when set (see [`open_browser_with`]), else the OS
/// opener: `xdg-open` (Linux, BSD), `open` (macOS), `cmd /C start "" <url>` (Windows).
///
/// # Errors
///
/// [`RedirectError::InvalidUrl`] unless `url` is an `http`/`https` URL,
/// [`RedirectError::Spawn`] when the program cannot be started, [`RedirectError::NoOpener`] on
/// platforms without a known opener. The caller should then print the URL for the user to open.
pub fn open_browser(url: &str) -> Result<(), RedirectError> {
    let browser = std::env::var("BROWSER").ok();
    open_browser_with(browser.as_deref(), url)
}

/// [`open_browser`] with the `BROWSER` value given explicitly (`None`: the OS opener).
///
/// `command` is split on whitespace into a program and its arguments (no shell quoting); every
/// `%s` in an argument is replaced with the URL, and if no argument has one the URL is appended.
/// An empty or blank `command` means the OS opener. The child is not waited for: a background
/// thread reaps it when it exits. Its stdin and stdout are closed; stderr is inherited so the
/// opener's own complaints reach the user.
///
/// # Errors
///
/// As [`open_browser`].
pub fn open_browser_with(command: Option<&str>, url: &str) -> Result<(), RedirectError> {
    check_browser_url(url)?;
    let (program, mut cmd) = match command.map(str::trim).filter(|c| !c.is_empty()) {
        Some(command) => browser_command(command, url),
        None => os_opener(url).ok_or(RedirectError::NoOpener)?,
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let child = cmd.spawn().map_err(|source| RedirectError::Spawn { program, source })?;
    reap(child);
    Ok(())
}

/// Only hand absolute `http(s)` URLs to openers: no `file:`, no option-like arguments.
fn check_browser_url(url: &str) -> Result<(), RedirectError> {
    let refuse =
        |reason: &str| RedirectError::InvalidUrl { url: url.to_owned(), reason: reason.to_owned() };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("it contains whitespace or control characters"));
    }
    let parsed = Url::parse(url).map_err(|e| refuse(&format!("{e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || !url.contains("://") {
        return Err(refuse("only http and https URLs are opened in a browser"));
    }
    Ok(())
}

/// The command for a `BROWSER` value (non-blank).
fn browser_command(command: &str, url: &str) -> (String, Command) {
    let mut parts = command.split_whitespace();
    let program = parts.next().unwrap_or_default().to_owned();
    let mut substituted = false;
    let mut args: Vec<String> = parts
        .map(|arg| {
            if arg.contains("%s") {
                substituted = true;
                arg.replace("%s", url)
            } else {
                arg.to_owned()
            }
        })
        .collect();
    if !substituted {
        args.push(url.to_owned());
    }
    let mut cmd = Command::new(&program);
    cmd.args(&args);
    (program, cmd)
}

#[cfg(target_os = "macos")]
fn os_opener(url: &str) -> Option<(String, Command)> {
    let mut cmd = Command::new("open");
    cmd.arg(url);
    Some(("open".to_owned(), cmd))
}

#[cfg(all(unix, not(target_os = "macos")))]
fn os_opener(url: &str) -> Option<(String, Command)> {
    let mut cmd = Command::new("xdg-open");
    cmd.arg(url);
    Some(("xdg-open".to_owned(), cmd))
}

#[cfg(windows)]
fn os_opener(url: &str) -> Option<(String, Command)> {
    use std::os::windows::process::CommandExt;
    // `start`'s first quoted argument is the window title. The URL is quoted by hand so that
    // cmd does not split it at `&`; a validated URL holds no `"` (it would be `%22`).
    let mut cmd = Command::new("cmd");
    cmd.arg("/C").arg("start").raw_arg("\"\"").raw_arg(format!("\"{}\"", url.replace('"', "%22")));
    Some(("cmd /C start".to_owned(), cmd))
}

#[cfg(not(any(unix, windows)))]
fn os_opener(_url: &str) -> Option<(String, Command)> {
    None
}

/// Waits for the child in a background thread so it does not stay a zombie.
fn reap(mut child: Child) {
    // If no thread can be started the child is left to the OS (a zombie until we exit).
    let _ = std::thread::Builder::new().name("browser-reaper".to_owned()).spawn(move || {
        let _ = child.wait();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_command_substitutes_or_appends() {
        let (p, c) = browser_command("firefox --new-window", "https://a/?b=1");
        assert_eq!(p, "firefox");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["--new-window", "https://a/?b=1"]);
        let (_, c) = browser_command("x --url=%s --y", "https://a/");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["--url=https://a/", "--y"]);
    }
}
