//! Reset tokens travel over real SMTP to a minimal SMTP server started on loopback.

use std::sync::{Arc, Mutex};

use fractal_server::startup::Application;
use fractal_testkit::{Service, TestDatabase};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::test_settings;

/// Accepts SMTP sessions and keeps each message's DATA.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(buf) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(std::mem::take(buf));
                            data = None;
                            w.write_all(b"250 OK queued\r\n").await.unwrap();
                        } else {
                            buf.push_str(&line);
                            buf.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn forgot_password_mails_through_smtp() {
    let (port, received) = smtp_sink().await;
    let db = TestDatabase::new(Service::Sqlite).await.unwrap();
    let port_s = port.to_string();
    let settings = test_settings(
        &db,
        &[
            ("FRACTAL_EMAIL_SMTP_SERVER", "127.0.0.1"),
            ("FRACTAL_EMAIL_SMTP_PORT", &port_s),
            ("FRACTAL_EMAIL_SENDER", "fractal@example.org"),
            ("FRACTAL_EMAIL_USE_STARTTLS", "false"),
            ("FRACTAL_EMAIL_USE_LOGIN", "false"),
        ],
    );
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/auth/forgot-password"))
        .json(&json!({"email": "admin@fractal.xy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let mut mail = None;
    for _ in 0..200 {
        if let Some(m) = received.lock().unwrap().first().cloned() {
            mail = Some(m);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mail = mail.expect("a mail reached the SMTP server");
    assert!(mail.contains("From: fractal@example.org"), "{mail}");
    assert!(mail.contains("To: admin@fractal.xy"), "{mail}");
    assert!(
        mail.contains("Subject: Reset your Fractal password"),
        "{mail}"
    );
    assert!(
        mail.contains("Content-Transfer-Encoding: quoted-printable"),
        "{mail}"
    );
    // Undo quoted-printable's soft line breaks, as a mail client does.
    let body = mail.replace("=\n", "");
    let token = body
        .lines()
        .rev()
        .find(|l| l.starts_with("eyJ"))
        .expect("token line")
        .trim()
        .to_owned();
    let res = client
        .post(format!("{base}/auth/reset-password"))
        .json(&json!({"token": token, "password": "via-smtp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(format!("{base}/auth/token/login"))
        .form(&[("username", "admin@fractal.xy"), ("password", "via-smtp")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
