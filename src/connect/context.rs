//! nats CLI contexts: finding the context to use (`--context`, `NATS_CONTEXT`, or the one
//! selected in `nats/context.txt`) under `$XDG_CONFIG_HOME` (default `~/.config`), and reading
//! its `nats/context/NAME.json` with the field names the nats CLI writes. Unknown fields are
//! ignored; a missing or malformed file is an error naming the file. Nothing here connects:
//! [`crate::connect`] merges a context under the flags and environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::connect::secret::Secret;
use crate::error::Error;

/// The connection settings of one nats CLI context. Every field is optional; empty strings,
/// as the nats CLI writes them, mean "not set".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContextSettings {
    #[serde(deserialize_with = "string_or_null")]
    pub description: String,
    #[serde(deserialize_with = "string_or_null")]
    pub url: String,
    #[serde(deserialize_with = "string_or_null")]
    pub user: String,
    pub password: Secret,
    pub token: Secret,
    #[serde(deserialize_with = "string_or_null")]
    pub creds: String,
    #[serde(deserialize_with = "string_or_null")]
    pub nkey: String,
    #[serde(deserialize_with = "string_or_null")]
    pub cert: String,
    #[serde(deserialize_with = "string_or_null")]
    pub key: String,
    #[serde(deserialize_with = "string_or_null")]
    pub ca: String,
    #[serde(deserialize_with = "string_or_null")]
    pub inbox_prefix: String,
    pub user_jwt: Secret,
    pub user_seed: Secret,
    #[serde(deserialize_with = "bool_or_null")]
    pub tls_first: bool,
    #[serde(deserialize_with = "string_or_null")]
    pub socks_proxy: String,
}

fn string_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn bool_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or_default())
}

/// A context read from disk.
#[derive(Debug, Clone)]
pub struct Context {
    pub name: String,
    pub path: PathBuf,
    pub settings: ContextSettings,
}

/// Where the nats CLI keeps its configuration: `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub fn config_root(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    match xdg_config_home.filter(|v| !v.is_empty()) {
        Some(xdg) => Some(PathBuf::from(xdg)),
        None => home
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".config")),
    }
}

/// The configuration root of this process's environment.
pub fn default_config_root() -> Option<PathBuf> {
    config_root(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// The file of the context called `name` under `root`.
pub fn context_path(root: &Path, name: &str) -> PathBuf {
    root.join("nats")
        .join("context")
        .join(format!("{name}.json"))
}

/// Finds and reads the context to use: `named` (from `--context` or `NATS_CONTEXT`) when
/// given, else the one selected in `ROOT/nats/context.txt`, else none. An error about the
/// selected one names `context.txt`.
pub fn load(root: Option<&Path>, named: Option<&str>) -> Result<Option<Context>, Error> {
    if let Some(name) = named.map(str::trim).filter(|n| !n.is_empty()) {
        // Like the nats CLI, `--context` also takes the path of a context file.
        if name.ends_with(".json") && Path::new(name).is_file() {
            return Ok(Some(read_file(Path::new(name))?));
        }
        let root = root.ok_or_else(|| {
            Error::Usage(format!(
                "cannot find context {name:?}: neither XDG_CONFIG_HOME nor HOME is set"
            ))
        })?;
        return Ok(Some(read(root, name)?));
    }
    let Some(root) = root else {
        return Ok(None);
    };
    let selected_file = root.join("nats").join("context.txt");
    let name = match std::fs::read_to_string(&selected_file) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Usage(format!(
                "cannot read the selected context file {}: {e}",
                selected_file.display()
            )));
        }
    };
    if name.is_empty() {
        return Ok(None);
    }
    let context = read(root, &name).map_err(|e| {
        Error::Usage(format!(
            "{e} (selected in {}; choose another with --context)",
            selected_file.display()
        ))
    })?;
    Ok(Some(context))
}

/// Reads the context called `name` under `root`.
pub fn read(root: &Path, name: &str) -> Result<Context, Error> {
    validate_name(name)?;
    let path = context_path(root, name);
    read_at(name, path)
}

/// Reads a context file given by its path; the context is named after the file.
pub fn read_file(path: &Path) -> Result<Context, Error> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    read_at(&name, path.to_path_buf())
}

fn read_at(name: &str, path: PathBuf) -> Result<Context, Error> {
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Usage(format!(
                "unknown context {name:?}: {} does not exist",
                path.display()
            ))
        } else {
            Error::Usage(format!("cannot read context file {}: {e}", path.display()))
        }
    })?;
    let settings = parse(&text)
        .map_err(|why| Error::Usage(format!("malformed context file {}: {why}", path.display())))?;
    Ok(Context {
        name: name.to_string(),
        path,
        settings,
    })
}

/// Parses the JSON of a context file. The error names the line and column, never a value.
pub fn parse(text: &str) -> Result<ContextSettings, String> {
    serde_json::from_str::<ContextSettings>(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a field has the wrong type",
            serde_json::error::Category::Eof => "unexpected end of file",
            _ => "not valid JSON",
        };
        format!("{what} at line {} column {}", e.line(), e.column())
    })
}

/// Refuses names the nats CLI would not write: empty, with a path separator, or `..`.
fn validate_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.contains(['/', '\\'])
        || name == "."
        || name == ".."
        || name.chars().any(char::is_control)
    {
        return Err(Error::Usage(format!("invalid context name {name:?}")));
    }
    Ok(())
}

/// Expands a path from a context: `$VAR` and `${VAR}` from the environment (an unset or
/// empty one is an error, see [`crate::env`]), then a leading `~` to the home directory.
pub fn expand_path(path: &str) -> Result<PathBuf, String> {
    let expanded = crate::env::expand(path)?;
    if let Some(rest) = expanded.strip_prefix('~') {
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            let mut out = PathBuf::from(home).into_os_string();
            out.push(rest);
            return Ok(PathBuf::from(out));
        }
    }
    Ok(PathBuf::from(expanded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_the_nats_cli_writes_and_ignores_others() {
        let settings = parse(
            r#"{
              "description": "prod", "url": "nats://a:4222,nats://b:4222", "socks_proxy": "",
              "token": "", "user": "bob", "password": "s3cret", "creds": "", "nkey": "",
              "cert": "/c.pem", "key": "/k.pem", "ca": "/ca.pem", "nsc": "",
              "jetstream_domain": "", "inbox_prefix": "_I", "user_jwt": "", "user_seed": "",
              "color_scheme": "", "tls_first": true, "windows_ca_certs_match": null,
              "something_new": {"nested": [1, 2]}
            }"#,
        )
        .expect("parses");
        assert_eq!(settings.url, "nats://a:4222,nats://b:4222");
        assert_eq!(settings.user, "bob");
        assert_eq!(settings.password.expose(), "s3cret");
        assert_eq!(settings.ca, "/ca.pem");
        assert_eq!(settings.inbox_prefix, "_I");
        assert!(settings.tls_first);
        assert!(settings.token.is_empty());
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn nulls_and_missing_fields_are_unset() {
        let settings = parse(r#"{"url": null, "tls_first": null}"#).expect("parses");
        assert!(settings.url.is_empty());
        assert!(!settings.tls_first);
        assert!(parse("{}").is_ok());
    }

    #[test]
    fn malformed_json_is_reported_without_its_values() {
        let why = parse(r#"{"password": "hunter2", "url": 42}"#).expect_err("wrong type");
        assert!(why.contains("wrong type"), "{why}");
        assert!(!why.contains("hunter2"), "{why}");
        let why = parse(r#"{"password": "hunter2""#).expect_err("truncated");
        assert!(!why.contains("hunter2"), "{why}");
    }

    #[test]
    fn the_root_is_xdg_config_home_else_home_dot_config() {
        assert_eq!(
            config_root(Some("/x".into()), Some("/h".into())),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(
            config_root(Some("".into()), Some("/h".into())),
            Some(PathBuf::from("/h/.config"))
        );
        assert_eq!(config_root(None, None), None);
        assert_eq!(
            context_path(Path::new("/x"), "prod"),
            PathBuf::from("/x/nats/context/prod.json")
        );
    }

    #[test]
    fn names_cannot_escape_the_context_directory() {
        for name in ["../etc", "a/b", "..", "a\\b"] {
            assert!(
                read(Path::new("/nonexistent"), name).is_err(),
                "{name} accepted"
            );
        }
    }

    #[test]
    fn paths_expand_the_environment_and_refuse_unset_variables() {
        let path = std::env::var("PATH").expect("PATH is set");
        assert_eq!(
            expand_path("${PATH}/x.creds"),
            Ok(PathBuf::from(format!("{path}/x.creds")))
        );
        let err = expand_path("$NATS_TRACE_SURELY_UNSET/x").expect_err("unset");
        assert!(err.contains("NATS_TRACE_SURELY_UNSET"), "{err}");
        assert_eq!(expand_path("/plain"), Ok(PathBuf::from("/plain")));
    }
}
