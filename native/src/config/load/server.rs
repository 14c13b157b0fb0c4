//! The function groups and their `server` (the transports and what each needs); moved here
//! from native/src/config/load.rs.

use serde_yaml_ng::Value;
use std::path::PathBuf;

use super::super::*;
use super::{check_url, err, invalid, join, Walker};

impl Walker<'_> {
    pub(super) fn group(
        &self,
        v: &Value,
        path: &str,
        config: &Config,
    ) -> Result<FunctionGroup, ConfigError> {
        let mut o = self.obj(v, path)?;
        let kind_path = o.path("_type");
        let kind = match self.string(o.require("_type")?, &kind_path)?.as_str() {
            "per_user_mcp_client" => GroupKind::PerUser,
            "mcp_client" => GroupKind::Shared,
            other => {
                return Err(invalid(
                    &kind_path,
                    format!("unknown _type `{other}`; expected per_user_mcp_client or mcp_client"),
                ))
            }
        };
        let server_path = o.path("server");
        let server = self.server(o.require("server")?, &server_path, config)?;
        o.finish(&["_type", "server"])?;
        Ok(FunctionGroup { kind, server })
    }

    fn server(&self, v: &Value, path: &str, config: &Config) -> Result<ServerConfig, ConfigError> {
        let mut o = self.obj(v, path)?;
        let t_path = o.path("transport");
        let transport = match o.take("transport") {
            None => Transport::StreamableHttp,
            Some(t) => match self.string(t, &t_path)?.as_str() {
                "streamable-http" | "streamable_http" => Transport::StreamableHttp,
                "sse" => Transport::Sse,
                "stdio" => Transport::Stdio,
                other => {
                    return Err(invalid(
                        &t_path,
                        format!(
                            "unknown transport `{other}`; expected streamable-http, sse or stdio"
                        ),
                    ))
                }
            },
        };
        let url_path = o.path("url");
        let url = o.take("url").map(|u| self.string(u, &url_path)).transpose()?;
        let command_path = o.path("command");
        let command = o.take("command").map(|c| self.string(c, &command_path)).transpose()?;
        let args_path = o.path("args");
        let args = o
            .take("args")
            .map(|a| self.string_list(a, &args_path))
            .transpose()?
            .unwrap_or_default();
        let env_path = o.path("env");
        let mut env = Vec::new();
        if let Some(vars) = o.take("env") {
            for (k, val) in self.obj(vars, &env_path)?.members {
                let value = self.string(val, &join(&env_path, &k))?;
                if k.is_empty() || k.contains(['=', '\0']) || value.contains('\0') {
                    return Err(invalid(
                        &join(&env_path, &k),
                        "not an environment variable (a name without `=` or NUL)",
                    ));
                }
                env.push((k, value));
            }
        }
        let cwd_path = o.path("cwd");
        let cwd = o.take("cwd").map(|c| self.string(c, &cwd_path)).transpose()?.map(PathBuf::from);
        let ap_path = o.path("auth_provider");
        let auth_provider =
            o.take("auth_provider").map(|a| self.string(a, &ap_path)).transpose()?;
        match transport {
            Transport::Stdio => {
                if command.is_none() {
                    return Err(err(&command_path, ConfigProblem::Missing));
                }
                if url.is_some() {
                    return Err(invalid(&url_path, "a stdio server has a command, not a url"));
                }
            }
            _ => {
                match &url {
                    None => return Err(err(&url_path, ConfigProblem::Missing)),
                    Some(u) => check_url(u, &url_path)?,
                }
                let stdio_only = [
                    (command.is_some(), &command_path),
                    (!args.is_empty(), &args_path),
                    (!env.is_empty(), &env_path),
                    (cwd.is_some(), &cwd_path),
                ];
                if let Some((_, path)) = stdio_only.iter().find(|(set, _)| *set) {
                    return Err(invalid(path, "only for `transport: stdio`"));
                }
            }
        }
        if let Some(name) = &auth_provider {
            // MCP transports: SSE has no authorization.
            if transport == Transport::Sse {
                return Err(err(&ap_path, ConfigProblem::SseWithAuth));
            }
            // MCP authorization applies to HTTP transports; a stdio server takes credentials
            // from its environment.
            if transport == Transport::Stdio {
                return Err(err(&ap_path, ConfigProblem::StdioWithAuth));
            }
            if !config.authentication.iter().any(|(n, _)| n == name) {
                let defined: Vec<&str> =
                    config.authentication.iter().map(|(n, _)| n.as_str()).collect();
                return Err(err(
                    &ap_path,
                    ConfigProblem::UnknownAuthProvider {
                        name: name.clone(),
                        defined: if defined.is_empty() {
                            "none".into()
                        } else {
                            defined.join(", ")
                        },
                    },
                ));
            }
        }
        o.finish(&["transport", "url", "command", "args", "env", "cwd", "auth_provider"])?;
        Ok(ServerConfig { transport, url, command, args, env, cwd, auth_provider })
    }
}
