//! Posting to the incident channel for real: rb's message steps go to an HTTP server on
//! 127.0.0.1 that each test starts (a `std::net` listener on its own thread), which answers as a
//! Slack incoming webhook would, or with 429, 500 or 404, or is not there at all. Every test also
//! checks that the webhook's address appears in no artefact.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::binary::{Out, Sandbox};

/// One request the server received.
#[derive(Debug, Clone)]
struct Request {
    line: String,
    content_type: String,
    body: serde_json::Value,
    at: Instant,
}

/// A webhook on 127.0.0.1: answers each request with the next scripted `(status, headers,
/// body)`, then 200 `ok`.
struct Hook {
    port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Hook {
    fn start(answers: Vec<(u16, &'static str, &'static str)>) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let answer = answers.next().unwrap_or((200, "", "ok"));
                if let Some(req) = serve(conn, answer) {
                    log.lock().unwrap().push(req);
                }
            }
        });
        Hook { port, seen }
    }

    /// The secret address: a path that must never be shown or recorded.
    fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/services/T0SECRET/B0SECRET/xoxsecret",
            self.port
        )
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request and writes the answer (one request per connection).
fn serve(conn: TcpStream, (status, headers, body): (u16, &str, &str)) -> Option<Request> {
    let at = Instant::now();
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().ok()?,
            "content-type" => content_type = v.trim().to_string(),
            _ => {}
        }
    }
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw).ok()?;
    let mut conn = conn;
    let reply = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).ok()?;
    Some(Request {
        line: line.trim_end().to_string(),
        content_type,
        body: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
        at,
    })
}

const RUNBOOK: &str = "version: 1\nname: t\ntitle: Disk full\nnotify: { webhook_env: TEAM_HOOK }\nparams:\n  mount: { default: /srv }\nsteps:\n  - id: tell\n    kind: message\n    text: \"INCIDENT: {{ mount }} is full. Investigating.\"\n  - id: fix\n    run: touch fixed\n  - id: done\n    kind: message\n    text: \"{{ mount }} has room again.\"\n";

/// `rb run --yes` with the webhook's address in `var`.
fn run(d: &Sandbox, var: &str, url: &str) -> Out {
    d.rb()
        .args(["run", "t.yaml", "--yes", "--transcript", "t.jsonl"])
        .env(var, url)
        .output()
}

/// The `message_posted` events of the run.
fn deliveries(d: &Sandbox) -> Vec<serde_json::Value> {
    std::fs::read_to_string(d.path("t.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "message_posted")
        .collect()
}

/// The address appears nowhere: not on stdout, not on stderr, not in the transcript.
fn assert_secret_kept(d: &Sandbox, out: &Out, url: &str) {
    let transcript = std::fs::read_to_string(d.path("t.jsonl")).unwrap();
    for (what, text) in [
        ("stdout", &out.stdout),
        ("stderr", &out.stderr),
        ("transcript", &transcript),
    ] {
        assert!(
            !text.contains(url),
            "the webhook's address is in {what}:\n{text}"
        );
        assert!(
            !text.contains("xoxsecret"),
            "part of the webhook's address is in {what}:\n{text}"
        );
    }
}

#[test]
fn message_steps_are_posted_as_json_text() {
    let hook = Hook::start(vec![]);
    let d = Sandbox::with_runbook(RUNBOOK).checking_transcripts();
    let out = run(&d, "TEAM_HOOK", &hook.url());
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(
        reqs[0].line,
        "POST /services/T0SECRET/B0SECRET/xoxsecret HTTP/1.1"
    );
    assert_eq!(reqs[0].content_type, "application/json");
    assert_eq!(
        reqs[0].body,
        serde_json::json!({"text": "INCIDENT: /srv is full. Investigating."})
    );
    assert_eq!(
        reqs[1].body,
        serde_json::json!({"text": "/srv has room again."})
    );
    let posted = deliveries(&d);
    assert_eq!(posted.len(), 2);
    for p in &posted {
        assert_eq!(
            (&p["status"], &p["http_status"], &p["attempts"]),
            (&"posted".into(), &200.into(), &1.into())
        );
        assert_eq!(p["purpose"], "step");
    }
    assert!(
        out.stdout
            .contains("posted to the incident channel (HTTP 200)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("($TEAM_HOOK)"), "{}", out.stdout);
    assert_secret_kept(&d, &out, &hook.url());
}

#[test]
fn a_429_is_retried_after_its_retry_after() {
    let hook = Hook::start(vec![(429, "retry-after: 1\r\n", "rate_limited")]);
    let d = Sandbox::with_runbook(RUNBOOK).checking_transcripts();
    let out = run(&d, "TEAM_HOOK", &hook.url());
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let reqs = hook.requests();
    // The first message: refused once, then accepted; the second: accepted at once.
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(reqs[0].body, reqs[1].body);
    assert!(
        reqs[1].at.duration_since(reqs[0].at).as_millis() >= 950,
        "the retry did not wait for Retry-After"
    );
    let posted = deliveries(&d);
    assert_eq!(
        (&posted[0]["status"], &posted[0]["attempts"]),
        (&"posted".into(), &2.into())
    );
    assert_secret_kept(&d, &out, &hook.url());
}

#[test]
fn a_500_is_retried_with_backoff_then_the_text_is_shown_for_copy_paste() {
    let e = (500, "", "internal_error");
    let hook = Hook::start(vec![e, e, e, e]);
    let d = Sandbox::with_runbook(RUNBOOK).checking_transcripts();
    let out = run(&d, "TEAM_HOOK", &hook.url());
    assert_eq!(
        out.code,
        Some(0),
        "a failed post must not fail the run: {}",
        out.stderr
    );
    assert!(
        d.path("fixed").exists(),
        "the run went on after the failed post"
    );
    let reqs = hook.requests();
    assert_eq!(
        reqs.len(),
        5,
        "4 attempts for the first message, 1 for the second: {reqs:?}"
    );
    let gaps: Vec<u128> = reqs
        .windows(2)
        .take(3)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect();
    assert!(
        gaps[1] > gaps[0] && gaps[2] > gaps[1],
        "no backoff between retries: {gaps:?} ms"
    );
    let failed = &deliveries(&d)[0];
    assert_eq!(
        (
            &failed["status"],
            &failed["http_status"],
            &failed["attempts"]
        ),
        (&"failed".into(), &500.into(), &4.into())
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500: internal_error"),
        "{failed}"
    );
    assert!(
        out.stdout.contains("copy this into the channel by hand"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout
            .matches("INCIDENT: /srv is full. Investigating.")
            .count(),
        2,
        "{}",
        out.stdout
    );
    assert_secret_kept(&d, &out, &hook.url());
}

#[test]
fn a_404_is_not_retried() {
    let hook = Hook::start(vec![(404, "", "no_service"), (404, "", "no_service")]);
    let d = Sandbox::with_runbook(RUNBOOK).checking_transcripts();
    // The runbook's variable is unset: `RB_WEBHOOK_URL` is the fallback.
    let out = run(&d, "RB_WEBHOOK_URL", &hook.url());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        hook.requests().len(),
        2,
        "one request per message, no retry"
    );
    let failed = &deliveries(&d)[0];
    assert_eq!(
        (
            &failed["status"],
            &failed["http_status"],
            &failed["attempts"]
        ),
        (&"failed".into(), &404.into(), &1.into())
    );
    assert!(
        failed["error"].as_str().unwrap().contains("no_service"),
        "{failed}"
    );
    assert!(
        out.stdout
            .contains("could not post to the incident channel (HTTP 404: no_service; 1 attempt)"),
        "{}",
        out.stdout
    );
    assert_secret_kept(&d, &out, &hook.url());
}

#[test]
fn a_server_that_is_gone_fails_the_post_not_the_run() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/services/T0SECRET/B0SECRET/xoxsecret");
    let d = Sandbox::with_runbook(RUNBOOK).checking_transcripts();
    let out = run(&d, "TEAM_HOOK", &url);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(d.path("fixed").exists());
    let failed = deliveries(&d);
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["status"], "failed");
    assert!(failed[0].get("http_status").is_none(), "{}", failed[0]);
    assert!(
        failed[0]["attempts"].as_u64().unwrap() > 1,
        "a network error is retried: {}",
        failed[0]
    );
    assert!(
        out.stdout.contains("copy this into the channel by hand"),
        "{}",
        out.stdout
    );
    assert_secret_kept(&d, &out, &url);
}

#[test]
fn an_address_that_is_not_http_stops_the_run_before_it_starts_without_showing_it() {
    let d = Sandbox::with_runbook(RUNBOOK);
    let out = run(&d, "TEAM_HOOK", "hooks.example/xoxsecret");
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("`$TEAM_HOOK` is not an http(s) URL"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("xoxsecret") && !out.stdout.contains("xoxsecret"));
    assert!(!d.path("fixed").exists());
}
