//! HTTPS: with `--tls` the server makes a self-signed certificate in its data directory,
//! serves the pages and signaling over TLS, keeps the certificate across restarts, and answers
//! plain HTTP on the same port with a redirect; `--tls-cert`/`--tls-key` serve a given one, and
//! one that cannot be read stops the start with the reason.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use onair::{
    protocol::{ClientMessage, Role, ServerMessage},
    server::{serve, Config},
};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, ServerName},
    ClientConfig, RootCertStore,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{client::TlsStream, TlsConnector};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    common::{TestServer, STEP},
    http::{request, request_over},
};

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "onair-tls-test-{}-{}",
        std::process::id(),
        onair::server::secrets::new_token()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The certificate the server keeps in `dir`, once it has written it (it starts in the
/// background).
async fn certificate(dir: &std::path::Path) -> CertificateDer<'static> {
    let path = dir.join("tls-cert.pem");
    let deadline = tokio::time::Instant::now() + STEP;
    while !path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no certificate in {dir:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    CertificateDer::from_pem_file(path).expect("a PEM certificate")
}

/// A TLS connection that trusts `cert` only, to the server by `name`.
async fn connect(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
    name: &str,
) -> TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(
        STEP,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("the handshake timed out")
    .expect("the server's certificate is trusted for this name")
}

#[tokio::test]
async fn with_tls_pages_and_signaling_go_over_https_with_a_certificate_kept_across_restarts() {
    let dir = data_dir();
    let dir_flag = dir.to_str().unwrap();
    let server = TestServer::start(&["--tls", "--data-dir", dir_flag]).await;
    let cert = certificate(&dir).await;

    // The certificate names the loopback address and localhost.
    for name in ["localhost", "127.0.0.1"] {
        let tls = connect(server.addr, &cert, name).await;
        let reply = request_over(tls, server.addr, "GET", "/healthz", &[], b"").await;
        assert_eq!(reply.status, 200, "over {name}: {}", reply.body);
    }

    // Signaling over wss://.
    let tls = connect(server.addr, &cert, "localhost").await;
    let url = format!("wss://localhost:{}/ws/secure", server.addr.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("the WebSocket upgrade over TLS");
    let join = serde_json::to_string(&ClientMessage::join(Role::Viewer)).unwrap();
    ws.send(Message::text(join)).await.unwrap();
    let welcome = tokio::time::timeout(STEP, ws.next())
        .await
        .expect("a welcome in time")
        .expect("a message")
        .expect("a frame");
    let Message::Text(text) = welcome else {
        panic!("expected text, got {welcome:?}");
    };
    assert!(matches!(
        serde_json::from_str::<ServerMessage>(&text).unwrap(),
        ServerMessage::Welcome { .. }
    ));

    // Someone typed http://: the same place over HTTPS.
    let plain = request(server.addr, "GET", "/talk/all-hands?x=1", &[], b"").await;
    assert_eq!(plain.status, 308, "{}", plain.body);
    assert_eq!(
        plain.header("location"),
        Some(format!("https://{}/talk/all-hands?x=1", server.addr).as_str())
    );

    // A restart keeps the certificate a browser accepted.
    drop(server);
    let again = TestServer::start(&["--tls", "--data-dir", dir_flag]).await;
    assert_eq!(certificate(&dir).await, cert);
    let tls = connect(again.addr, &cert, "localhost").await;
    let reply = request_over(tls, again.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(reply.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_given_certificate_is_served_and_one_that_cannot_be_read_stops_the_start() {
    // A certificate and key made elsewhere (here: by an earlier start, copied away).
    let made = data_dir();
    let maker = TestServer::start(&["--tls", "--data-dir", made.to_str().unwrap()]).await;
    let cert = certificate(&made).await;
    drop(maker);
    let given = data_dir();
    let (cert_path, key_path) = (given.join("server.crt"), given.join("server.key"));
    std::fs::copy(made.join("tls-cert.pem"), &cert_path).unwrap();
    std::fs::copy(made.join("tls-key.pem"), &key_path).unwrap();
    let (cert_flag, key_flag) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let server = TestServer::start(&["--tls-cert", cert_flag, "--tls-key", key_flag]).await;
    let tls = connect(server.addr, &cert, "localhost").await;
    let reply = request_over(tls, server.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(reply.status, 200);

    // A key file that holds no key: the start fails and says which file and why.
    std::fs::write(&key_path, "not a key\n").unwrap();
    let config = Config::try_parse_from([
        "onair",
        "--addr",
        "127.0.0.1:0",
        "--media",
        "p2p",
        "--tls-cert",
        cert_flag,
        "--tls-key",
        key_flag,
    ])
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve(listener, config, std::future::pending())
        .await
        .expect_err("a start without a usable key");
    let text = err.to_string();
    assert!(
        text.contains("server.key") && text.contains("no PEM private key"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(made);
    let _ = std::fs::remove_dir_all(given);
}
