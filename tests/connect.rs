//! Connecting like the nats CLI, against real nats-server processes on 127.0.0.1: user and
//! password, token, nkey and creds (operator mode with JWTs made here) authentication; TLS
//! with a CA made here, mutual TLS and TLS-first; nats CLI contexts and their precedence;
//! permission violations; unreachable servers. Every failure must be one clear line, exit 2,
//! with no secret in any output.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Run, Subscribers, nats_trace_with_env};
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};

/// One server `n1` with `config` added to its configuration.
fn server(config: &str) -> Topology {
    TopologyBuilder::new()
        .server(ServerSpec::new("n1").extra(config))
        .start()
        .expect("server starts")
}

/// Runs nats-trace with a private, empty `XDG_CONFIG_HOME` (unless `env` names one), so that
/// a context selected on the machine running the tests plays no part.
fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let empty = tempfile::tempdir().expect("tempdir");
    let empty_path = empty.path().display().to_string();
    let mut full: Vec<(&str, &str)> = vec![
        ("XDG_CONFIG_HOME", empty_path.as_str()),
        ("HOME", empty_path.as_str()),
    ];
    for (key, _) in env {
        full.retain(|(k, _)| k != key);
    }
    full.extend_from_slice(env);
    for name in [
        "NATS_USER",
        "NATS_PASSWORD",
        "NATS_TOKEN",
        "NATS_CREDS",
        "NATS_NKEY",
        "NATS_CERT",
        "NATS_KEY",
        "NATS_CA",
    ] {
        if !env.iter().any(|(k, _)| *k == name) {
            full.push((name, ""));
        }
    }
    nats_trace_with_env(args, &full)
}

/// The run traced a message through `n1`: exit 0 and the tree's header and origin line.
fn assert_traced(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("Tracing message route to subject orders.new\n"),
        "{run:?}"
    );
    assert!(run.stdout.contains("server:\"n1\""), "{run:?}");
    assert!(run.stdout.contains("Legend:"), "{run:?}");
}

/// The run failed with exit 2 and one `nats-trace: error:` line containing `what`.
fn assert_error(run: &Run, what: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {run:?}");
    assert!(lines[0].starts_with("nats-trace: error: "), "{run:?}");
    assert!(lines[0].contains(what), "expected {what:?} in {run:?}");
    // Shown with --nocapture, to read the messages users get.
    eprintln!("{}", lines[0]);
}

/// No secret appears on stdout or stderr.
fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "secret {secret:?} shown: {run:?}"
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    path
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

// ---------------------------------------------------------------------------------------
// user and password, token

const ALICE_PASSWORD: &str = "pw-Alice-S3cret";

fn user_server() -> Topology {
    server(&format!(
        "authorization {{ users = [ {{user: \"alice\", password: \"{ALICE_PASSWORD}\"}} ] }}"
    ))
}

#[test]
fn user_and_password_trace_and_a_wrong_password_is_refused() {
    let topology = user_server();
    let url = topology.url("n1");

    let ok = run(
        &[
            "-s",
            &url,
            "--user",
            "alice",
            "--password",
            ALICE_PASSWORD,
            "--raw",
            "-v",
            "orders.new",
        ],
        &[],
    );
    assert_traced(&ok);
    assert!(ok.stdout.contains(">>> {"), "{ok:?}");
    assert!(
        ok.stderr.contains("authenticating with user \"alice\""),
        "{ok:?}"
    );
    assert_no_secret(&ok, &[ALICE_PASSWORD]);

    let wrong = run(
        &[
            "-s",
            &url,
            "--user",
            "alice",
            "--password",
            "pw-Wrong-S3cret",
            "-v",
            "orders.new",
        ],
        &[],
    );
    assert_eq!(wrong.code, 2, "{wrong:?}");
    let last = wrong.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("nats-trace: error: "), "{wrong:?}");
    assert!(last.contains("authorization violation"), "{wrong:?}");
    assert!(last.contains("user \"alice\""), "{wrong:?}");
    assert_no_secret(&wrong, &["pw-Wrong-S3cret", ALICE_PASSWORD]);

    let none = run(&["-s", &url, "orders.new"], &[]);
    assert_error(
        &none,
        "authorization violation: the server requires credentials",
    );
}

#[test]
fn user_and_password_from_the_environment_and_from_the_url() {
    let topology = user_server();
    let url = topology.url("n1");

    let env = run(
        &["orders.new"],
        &[
            ("NATS_URL", url.as_str()),
            ("NATS_USER", "alice"),
            ("NATS_PASSWORD", ALICE_PASSWORD),
        ],
    );
    assert_traced(&env);
    assert_no_secret(&env, &[ALICE_PASSWORD]);

    let with_userinfo = url.replace("nats://", &format!("nats://alice:{ALICE_PASSWORD}@"));
    let in_url = run(&["-s", &with_userinfo, "-v", "orders.new"], &[]);
    assert_traced(&in_url);
    assert!(in_url.stderr.contains("alice:[redacted]@"), "{in_url:?}");
    assert_no_secret(&in_url, &[ALICE_PASSWORD]);

    let bad_url = url.replace("nats://", "nats://alice:pw-Url-S3cret@");
    let refused = run(&["-s", &bad_url, "orders.new"], &[]);
    assert_error(&refused, "authorization violation");
    assert!(refused.stderr.contains("alice:[redacted]@"), "{refused:?}");
    assert_no_secret(&refused, &["pw-Url-S3cret"]);
}

#[test]
fn token_traces_and_a_wrong_token_is_refused() {
    let token = "tok-Right-S3cret";
    let topology = server(&format!("authorization {{ token: \"{token}\" }}"));
    let url = topology.url("n1");

    let ok = run(
        &["-s", &url, "--token", token, "-v", "--raw", "orders.new"],
        &[],
    );
    assert_traced(&ok);
    assert_no_secret(&ok, &[token]);

    let wrong = run(
        &["-s", &url, "--token", "tok-Wrong-S3cret", "orders.new"],
        &[],
    );
    assert_error(
        &wrong,
        "authorization violation: the server refused the token",
    );
    assert_no_secret(&wrong, &["tok-Wrong-S3cret", token]);
}

// ---------------------------------------------------------------------------------------
// nkey

#[test]
fn nkey_seed_file_traces_and_bad_nkey_files_are_clear_errors() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let topology = server(&format!(
        "authorization {{ users = [ {{nkey: \"{}\"}} ] }}",
        user.public_key()
    ));
    let url = topology.url("n1");
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_file = write(dir.path(), "user.nk", &format!("{seed}\n"));

    let ok = run(
        &["-s", &url, "--nkey", &s(&seed_file), "-v", "orders.new"],
        &[],
    );
    assert_traced(&ok);
    assert_no_secret(&ok, &[&seed]);

    let stranger = nkeys::KeyPair::new_user().seed().expect("seed");
    let other = write(dir.path(), "other.nk", &stranger);
    let refused = run(&["-s", &url, "--nkey", &s(&other), "orders.new"], &[]);
    assert_error(&refused, "authorization violation");
    assert!(refused.stderr.contains("other.nk"), "{refused:?}");
    assert_no_secret(&refused, &[&stranger, &seed]);

    let missing = run(
        &[
            "-s",
            &url,
            "--nkey",
            &s(&dir.path().join("nope.nk")),
            "orders.new",
        ],
        &[],
    );
    assert_error(&missing, "cannot read nkey seed file");
    assert!(missing.stderr.contains("nope.nk"), "{missing:?}");

    let garbage = write(dir.path(), "garbage.nk", "not-a-seed S3cretGarbage\n");
    let bad = run(&["-s", &url, "--nkey", &s(&garbage), "orders.new"], &[]);
    assert_error(&bad, "holds no user nkey seed");
    assert_no_secret(&bad, &["S3cretGarbage"]);
}

// ---------------------------------------------------------------------------------------
// creds, operator mode

/// A NATS JWT: header, claims and an ed25519 signature by `signer`, base64url without padding.
fn jwt(signer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let issued = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "jti": format!("{}{issued}", &subject[..8]),
        "iat": issued,
        "iss": signer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = signer.sign(signing_input.as_bytes()).expect("sign");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn creds_file(user_jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

fn user_claims() -> serde_json::Value {
    serde_json::json!({
        "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
        "type": "user", "version": 2
    })
}

#[test]
fn creds_in_operator_mode_trace_and_foreign_creds_are_refused() {
    let (topology, account) = operator_mode_server();
    let url = topology.url("n1");
    let dir = tempfile::tempdir().expect("tempdir");
    let user = nkeys::KeyPair::new_user();
    let user_jwt = jwt(&account, &user.public_key(), "tracer", user_claims());
    let user_seed = user.seed().expect("seed");
    creds_file_traces(&url, dir.path(), &user_jwt, &user_seed);
    inline_jwt_and_seed_from_a_context_trace(&url, &user_jwt, &user_seed);
    a_user_of_an_unknown_account_is_refused(&url, dir.path());
    missing_and_malformed_creds_files_are_named(&url, dir.path(), &user_jwt);
}

/// A server in operator mode (operator, account `APP` and system account JWTs preloaded);
/// returns it and the key of `APP`, which signs users.
fn operator_mode_server() -> (Topology, nkeys::KeyPair) {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "test-operator",
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "APP",
        serde_json::json!({
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1
            },
            "default_permissions": {"pub": {}, "sub": {}},
            "type": "account", "version": 2
        }),
    );
    // The server sends trace messages through its system account: operator mode needs one.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2}),
    );
    let topology = server(&format!(
        "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
         resolver_preload: {{ {acc}: \"{account_jwt}\", {sys}: \"{system_jwt}\" }}",
        acc = account.public_key(),
        sys = system.public_key(),
    ));
    (topology, account)
}

fn creds_file_traces(url: &str, dir: &Path, user_jwt: &str, user_seed: &str) {
    let creds = write(dir, "tracer.creds", &creds_file(user_jwt, user_seed));
    let ok = run(
        &[
            "-s",
            url,
            "--creds",
            &s(&creds),
            "-v",
            "--raw",
            "orders.new",
        ],
        &[],
    );
    assert_traced(&ok);
    assert!(
        ok.stderr.contains("the credentials in") && ok.stderr.contains("tracer.creds"),
        "{ok:?}"
    );
    assert_no_secret(&ok, &[user_seed, user_jwt]);
}

/// The same user from a context holding the JWT and seed inline, as `nats context` can.
fn inline_jwt_and_seed_from_a_context_trace(url: &str, user_jwt: &str, user_seed: &str) {
    let xdg = tempfile::tempdir().expect("tempdir");
    write(
        xdg.path(),
        "nats/context/jwt.json",
        &serde_json::json!({"url": url, "user_jwt": user_jwt, "user_seed": user_seed}).to_string(),
    );
    let inline = run(
        &["--context", "jwt", "-v", "orders.new"],
        &[("XDG_CONFIG_HOME", &s(xdg.path()))],
    );
    assert_traced(&inline);
    assert!(
        inline
            .stderr
            .contains("the user JWT and seed (from the context)"),
        "{inline:?}"
    );
    assert_no_secret(&inline, &[user_seed, user_jwt]);
}

fn a_user_of_an_unknown_account_is_refused(url: &str, dir: &Path) {
    let stranger_account = nkeys::KeyPair::new_account();
    let stranger = nkeys::KeyPair::new_user();
    let stranger_seed = stranger.seed().expect("seed");
    let stranger_jwt = jwt(
        &stranger_account,
        &stranger.public_key(),
        "stranger",
        user_claims(),
    );
    let foreign = write(
        dir,
        "stranger.creds",
        &creds_file(&stranger_jwt, &stranger_seed),
    );
    let refused = run(&["-s", url, "--creds", &s(&foreign), "orders.new"], &[]);
    assert_error(&refused, "authorization violation");
    assert!(refused.stderr.contains("stranger.creds"), "{refused:?}");
    assert_no_secret(&refused, &[&stranger_seed, &stranger_jwt]);
}

fn missing_and_malformed_creds_files_are_named(url: &str, dir: &Path, user_jwt: &str) {
    let missing = run(
        &[
            "-s",
            url,
            "--creds",
            &s(&dir.join("gone.creds")),
            "orders.new",
        ],
        &[],
    );
    assert_error(&missing, "cannot read credentials file");
    assert!(missing.stderr.contains("gone.creds"), "{missing:?}");

    let broken = write(
        dir,
        "broken.creds",
        &format!("-----BEGIN NATS USER JWT-----\n{user_jwt}\n"),
    );
    let malformed = run(&["-s", url, "--creds", &s(&broken), "orders.new"], &[]);
    assert_error(&malformed, "is malformed");
    assert!(malformed.stderr.contains("broken.creds"), "{malformed:?}");
    assert_no_secret(&malformed, &[user_jwt]);
}

// ---------------------------------------------------------------------------------------
// TLS

struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and an
/// unrelated CA, all made now.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    let dir = tempfile::tempdir().expect("tempdir");
    let make_ca = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("ca");
        (cert.pem(), Issuer::new(params, key))
    };
    let (ca_pem, issuer) = make_ca("nats-trace test CA");
    let (other_pem, _) = make_ca("some other CA");

    let server_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params.distinguished_name.push(DnType::CommonName, "n1");
    let server_cert = params.signed_by(&server_key, &issuer).expect("server cert");

    let client_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, "tracer");
    let client_cert = params.signed_by(&client_key, &issuer).expect("client cert");

    let d = dir.path().to_path_buf();
    Pki {
        ca: write(&d, "ca.pem", &ca_pem),
        server_cert: write(&d, "server.pem", &server_cert.pem()),
        server_key: write(&d, "server-key.pem", &server_key.serialize_pem()),
        client_cert: write(&d, "client.pem", &client_cert.pem()),
        client_key: write(&d, "client-key.pem", &client_key.serialize_pem()),
        other_ca: write(&d, "other-ca.pem", &other_pem),
        dir,
    }
}

fn tls_server(pki: &Pki, extra: &str) -> Topology {
    server(&format!(
        "tls {{\n cert_file: {:?}\n key_file: {:?}\n timeout: 2\n {extra}\n}}",
        s(&pki.server_cert),
        s(&pki.server_key)
    ))
}

#[test]
fn tls_with_a_ca_traces_and_an_untrusted_certificate_fails_clearly() {
    let pki = pki();
    let topology = tls_server(&pki, "");
    let url = topology.url("n1");

    let ok = run(&["-s", &url, "--tlsca", &s(&pki.ca), "orders.new"], &[]);
    assert_traced(&ok);
    let tls_url = url.replace("nats://", "tls://");
    let ok = run(&["-s", &tls_url, "orders.new"], &[("NATS_CA", &s(&pki.ca))]);
    assert_traced(&ok);

    let untrusted = run(&["-s", &url, "orders.new"], &[]);
    assert_error(
        &untrusted,
        "certificate is not trusted (give its CA with --tlsca)",
    );

    let wrong_ca = run(
        &["-s", &url, "--tlsca", &s(&pki.other_ca), "orders.new"],
        &[],
    );
    assert_error(&wrong_ca, "not trusted by the CA given with --tlsca");

    let not_pem = write(pki.dir.path(), "junk.pem", "junk");
    let junk = run(&["-s", &url, "--tlsca", &s(&not_pem), "orders.new"], &[]);
    assert_error(&junk, "is not PEM");
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let pki = pki();
    let topology = tls_server(&pki, &format!("ca_file: {:?}\n verify: true", s(&pki.ca)));
    let url = topology.url("n1");

    let ok = run(
        &[
            "-s",
            &url,
            "--tlsca",
            &s(&pki.ca),
            "--tlscert",
            &s(&pki.client_cert),
            "--tlskey",
            &s(&pki.client_key),
            "orders.new",
        ],
        &[],
    );
    assert_traced(&ok);

    let without = run(&["-s", &url, "--tlsca", &s(&pki.ca), "orders.new"], &[]);
    assert_error(&without, "requires a client certificate");

    let half = run(
        &["-s", &url, "--tlscert", &s(&pki.client_cert), "orders.new"],
        &[],
    );
    assert_error(&half, "--tlscert needs --tlskey");
}

#[test]
fn tls_first_traces_and_its_absence_is_explained() {
    let pki = pki();
    let topology = tls_server(&pki, "handshake_first: true");
    let url = topology.url("n1");

    let ok = run(
        &[
            "-s",
            &url,
            "--tlsca",
            &s(&pki.ca),
            "--tlsfirst",
            "orders.new",
        ],
        &[],
    );
    assert_traced(&ok);

    let plain = run(
        &[
            "-s",
            &url,
            "--tlsca",
            &s(&pki.ca),
            "--timeout",
            "4s",
            "orders.new",
        ],
        &[],
    );
    assert_eq!(plain.code, 2, "{plain:?}");
    eprintln!("{}", plain.stderr.trim_end());
    // The server gives up on the handshake after its TLS timeout (2s), before ours.
    assert!(plain.stderr.contains("use --tlsfirst"), "{plain:?}");

    // TLS first against a server that greets in plain text.
    let plain_server = Topology::single().expect("server");
    let mismatch = run(
        &[
            "-s",
            &plain_server.url("n1"),
            "--tlsca",
            &s(&pki.ca),
            "--tlsfirst",
            "orders.new",
        ],
        &[],
    );
    assert_error(&mismatch, "TLS handshake failed");
}

// ---------------------------------------------------------------------------------------
// contexts

/// A context file as the nats CLI writes it, with every field present.
fn context_json(url: &str, user: &str, password: &str) -> String {
    serde_json::json!({
        "description": "test", "url": url, "socks_proxy": "", "token": "", "user": user,
        "password": password, "creds": "", "nkey": "", "cert": "", "key": "", "ca": "",
        "nsc": "", "jetstream_domain": "", "jetstream_api_prefix": "",
        "jetstream_event_prefix": "", "inbox_prefix": "", "user_jwt": "", "user_seed": "",
        "color_scheme": "", "tls_first": false, "windows_cert_store": "",
        "windows_cert_match_by": "", "windows_cert_match": "", "windows_ca_certs_match": null,
        "a_field_from_the_future": {"x": 1}
    })
    .to_string()
}

#[test]
fn contexts_are_chosen_by_flag_environment_and_selection_and_flags_win() {
    let topology = user_server();
    let url = topology.url("n1");
    let xdg = contexts(&url);
    let xdg_path = s(xdg.path());
    contexts_are_chosen_by_flag_environment_and_selection(&xdg_path);
    flags_win_over_the_context(&url, &xdg_path);
    no_context_and_a_context_file_by_path(&url, &xdg_path);
}

/// An `XDG_CONFIG_HOME` with three contexts: `good` (alice on `url`), `badpass` (a wrong
/// password) and `elsewhere` (a closed port).
fn contexts(url: &str) -> tempfile::TempDir {
    let xdg = tempfile::tempdir().expect("tempdir");
    let ctx =
        |name: &str, text: &str| write(xdg.path(), &format!("nats/context/{name}.json"), text);
    ctx("good", &context_json(url, "alice", ALICE_PASSWORD));
    ctx(
        "badpass",
        &context_json(url, "alice", "pw-Ctx-Wrong-S3cret"),
    );
    // A server nobody listens on: a closed port.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "nats://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        )
    };
    ctx("elsewhere", &context_json(&closed, "alice", ALICE_PASSWORD));
    xdg
}

fn contexts_are_chosen_by_flag_environment_and_selection(xdg_path: &str) {
    let env = [("XDG_CONFIG_HOME", xdg_path)];
    // By flag.
    let by_flag = run(&["--context", "good", "-v", "orders.new"], &env);
    assert_traced(&by_flag);
    assert!(
        by_flag.stderr.contains("using context \"good\""),
        "{by_flag:?}"
    );
    assert_no_secret(&by_flag, &[ALICE_PASSWORD]);

    // By environment.
    let by_env = run(
        &["orders.new"],
        &[("XDG_CONFIG_HOME", xdg_path), ("NATS_CONTEXT", "good")],
    );
    assert_traced(&by_env);

    // By context.txt; and a flag naming another context wins over it.
    write(Path::new(xdg_path), "nats/context.txt", "good\n");
    assert_traced(&run(&["orders.new"], &env));
    let flag_wins = run(&["--context", "badpass", "orders.new"], &env);
    assert_error(&flag_wins, "authorization violation");
    assert!(
        flag_wins.stderr.contains("(from the context)"),
        "{flag_wins:?}"
    );
    assert_no_secret(&flag_wins, &["pw-Ctx-Wrong-S3cret", ALICE_PASSWORD]);
}

/// Flags win over the context's settings: its password, its URL.
fn flags_win_over_the_context(url: &str, xdg_path: &str) {
    let env = [("XDG_CONFIG_HOME", xdg_path)];
    let password_flag = run(
        &[
            "--context",
            "badpass",
            "--user",
            "alice",
            "--password",
            ALICE_PASSWORD,
            "orders.new",
        ],
        &env,
    );
    assert_traced(&password_flag);
    let server_flag = run(&["--context", "elsewhere", "-s", url, "orders.new"], &env);
    assert_traced(&server_flag);
    let server_env = run(
        &["--context", "elsewhere", "orders.new"],
        &[("XDG_CONFIG_HOME", xdg_path), ("NATS_URL", url)],
    );
    assert_traced(&server_env);
    let context_url = run(&["--context", "elsewhere", "orders.new"], &env);
    assert_error(&context_url, "no server reachable");
}

fn no_context_and_a_context_file_by_path(url: &str, xdg_path: &str) {
    let env = [("XDG_CONFIG_HOME", xdg_path)];
    // --no-context ignores the selected one.
    write(Path::new(xdg_path), "nats/context.txt", "elsewhere\n");
    let no_context = run(
        &[
            "--no-context",
            "-s",
            url,
            "--user",
            "alice",
            "--password",
            ALICE_PASSWORD,
            "orders.new",
        ],
        &env,
    );
    assert_traced(&no_context);

    // A context file given by path.
    let by_path = run(
        &[
            "--context",
            &s(&Path::new(xdg_path).join("nats/context/good.json")),
            "orders.new",
        ],
        &env,
    );
    assert_traced(&by_path);
}

#[test]
fn missing_and_malformed_contexts_name_their_file() {
    let xdg = tempfile::tempdir().expect("tempdir");
    let xdg_path = s(xdg.path());
    let env = [("XDG_CONFIG_HOME", xdg_path.as_str())];

    let missing = run(&["--context", "nope", "orders.new"], &env);
    assert_error(&missing, "unknown context \"nope\"");
    assert!(
        missing
            .stderr
            .contains(&s(&xdg.path().join("nats/context/nope.json"))),
        "{missing:?}"
    );

    write(
        xdg.path(),
        "nats/context/broken.json",
        "{\"password\": \"pw-Broken-S3cret\", \"url\": ",
    );
    let broken = run(&["--context", "broken", "orders.new"], &env);
    assert_error(&broken, "malformed context file");
    assert!(broken.stderr.contains("broken.json"), "{broken:?}");
    assert_no_secret(&broken, &["pw-Broken-S3cret"]);

    write(xdg.path(), "nats/context.txt", "ghost");
    let selected = run(&["orders.new"], &env);
    assert_error(&selected, "unknown context \"ghost\"");
    assert!(selected.stderr.contains("context.txt"), "{selected:?}");
}

// ---------------------------------------------------------------------------------------
// permissions

#[test]
fn permission_violations_are_reported_as_what_they_are() {
    let topology = server(
        "authorization { users = [
           {user: \"nosub\", password: \"p-nosub\", permissions: { subscribe: { deny: \"_INBOX.>\" } } },
           {user: \"nopub\", password: \"p-nopub\", permissions: { publish: { deny: \"orders.>\" } } }
         ] }",
    );
    let url = topology.url("n1");

    let no_sub = run(
        &[
            "-s",
            &url,
            "--user",
            "nosub",
            "--password",
            "p-nosub",
            "--timeout",
            "30s",
            "orders.new",
        ],
        &[],
    );
    assert_error(&no_sub, "no permission to subscribe to the trace inbox");
    assert_did_not_wait_for_the_timeout(&no_sub);
    assert_no_secret(&no_sub, &["p-nosub"]);

    let no_pub = run(
        &[
            "-s",
            &url,
            "--user",
            "nopub",
            "--password",
            "p-nopub",
            "--timeout",
            "30s",
            "orders.new",
        ],
        &[],
    );
    assert_eq!(no_pub.code, 2, "{no_pub:?}");
    assert!(
        no_pub
            .stderr
            .contains("nats-trace: error: no permission to publish to orders.new"),
        "{no_pub:?}"
    );
    assert_did_not_wait_for_the_timeout(&no_pub);
    assert!(
        no_pub.stdout.contains("Permissions Violation for Publish"),
        "{no_pub:?}"
    );
    assert_no_secret(&no_pub, &["p-nopub"]);
}

/// A refusal must not wait for the run's `--timeout 30s`. Not a timing goal (how fast errors
/// come is measured by `benches/live.rs`): the bound is far from both.
fn assert_did_not_wait_for_the_timeout(run: &Run) {
    assert!(
        run.elapsed < Duration::from_secs(20),
        "waited for the timeout: {run:?}"
    );
}

// ---------------------------------------------------------------------------------------
// unreachable servers

#[test]
fn unreachable_servers_fail_within_the_timeout() {
    // A port that accepts connections but never greets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!(
        "nats://127.0.0.1:{}",
        silent.local_addr().expect("addr").port()
    );
    let run_silent = run(
        &["-s", &silent_url, "--timeout", "300ms", "orders.new"],
        &[],
    );
    assert_error(&run_silent, "no server reachable within 300ms");
    // How fast it gives up is measured by `benches/live.rs`; a hang is caught by the
    // bound on every run (`common::RUN_LIMIT`).

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "nats://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        )
    };
    let refused = run(&["-s", &closed, "orders.new"], &[]);
    assert_error(&refused, "no server reachable (connection refused)");
}

// ---------------------------------------------------------------------------------------
// colors, verbose, completions, man page

#[test]
fn colors_follow_the_choice_no_color_and_the_terminal() {
    let topology = Topology::single().expect("server");
    let url = topology.url("n1");
    let mut subs = Subscribers::new();
    subs.subscribe(&url, "worker", "orders.new", None);

    // Not a terminal: auto prints no colors.
    let auto = run(&["-s", &url, "orders.new"], &[("NO_COLOR", "")]);
    assert_traced(&auto);
    assert!(!auto.stdout.contains('\x1b'), "{auto:?}");

    // always: green client arrow; it wins over NO_COLOR.
    let always = run(
        &["-s", &url, "--color", "always", "orders.new"],
        &[("NO_COLOR", "1")],
    );
    assert_eq!(always.code, 0, "{always:?}");
    assert!(always.stdout.contains("\x1b[32m--C"), "{always:?}");

    // Red for errors.
    let nobody = run(&["-s", &url, "--color", "always", "nobody.listens"], &[]);
    assert_eq!(nobody.code, 0, "{nobody:?}");
    let line = nobody
        .stdout
        .lines()
        .find(|l| l.contains("No active interest"))
        .unwrap_or_default();
    assert!(line.contains("31") && line.contains('\x1b'), "{nobody:?}");

    let never = run(&["-s", &url, "--color", "never", "orders.new"], &[]);
    assert!(!never.stdout.contains('\x1b'), "{never:?}");
}

#[test]
fn colors_on_a_terminal_unless_no_color() {
    // `script` gives the program a terminal. It is required, not optional: without it this
    // test would check nothing (`scripts/test` installs it: Debian's bsdutils/util-linux).
    let script = which("script").unwrap_or_else(|()| {
        panic!(
            "this test needs the `script` command (util-linux; on Debian the package \
             bsdutils) to give nats-trace a terminal: install it, or run scripts/test"
        )
    });
    let topology = Topology::single().expect("server");
    let url = topology.url("n1");
    let mut subs = Subscribers::new();
    subs.subscribe(&url, "worker", "orders.new", None);
    let binary = env!("CARGO_BIN_EXE_nats-trace");
    let on_tty = |no_color: Option<&str>| {
        let mut command = std::process::Command::new(&script);
        command
            .args([
                "-qec",
                &format!("{binary} -s {url} orders.new"),
                "/dev/null",
            ])
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null());
        if let Some(v) = no_color {
            command.env("NO_COLOR", v);
        }
        let out = command.output().expect("script runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let colored = on_tty(None);
    assert!(colored.contains("\x1b[32m--C"), "{colored:?}");
    let plain = on_tty(Some("1"));
    assert!(plain.contains("--C Client"), "{plain:?}");
    assert!(!plain.contains("\x1b[32m"), "{plain:?}");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn verbose_goes_to_stderr_only() {
    let topology = Topology::single().expect("server");
    let url = topology.url("n1");
    let quiet = run(&["-s", &url, "orders.new"], &[]);
    let verbose = run(&["-s", &url, "-v", "orders.new"], &[]);
    assert_traced(&verbose);
    assert_eq!(
        common::normalize_ids(&verbose.stdout),
        common::normalize_ids(&quiet.stdout)
    );
    for needed in [
        "nats-trace: connected to nats://127.0.0.1:",
        "version 2.",
        "listening for trace messages on _INBOX.",
        "publishing to orders.new",
        "complete: true",
    ] {
        assert!(
            verbose.stderr.contains(needed),
            "{needed:?} missing: {verbose:?}"
        );
    }
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(&["completions", shell], &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("nats-trace"), "{shell}: {out:?}");
        assert!(out.stdout.contains("tlsfirst"), "{shell}: {out:?}");
    }
    let man = run(&["man"], &[]);
    assert_eq!(man.code, 0, "{man:?}");
    assert!(man.stdout.contains(".TH nats-trace 1"), "{man:?}");
    assert!(man.stdout.contains("NATS_CONTEXT"), "{man:?}");
    let bad = run(&["completions", "tcsh"], &[]);
    assert_eq!(bad.code, 2, "{bad:?}");
}
