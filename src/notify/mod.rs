//! The incident channel over HTTP: posts `{"text": …}` to a Slack-compatible incoming webhook,
//! with a timeout, bounded retries (429 after its `Retry-After`, 5xx and network errors with
//! backoff, never another 4xx), and errors in words that never contain the webhook's address.
//!
//! The address is a secret (it is the channel's credential): [`Webhook::url`] exists only so
//! `launch` can add it to the redactor; nothing here prints or returns it.

use std::time::{Duration, Instant};

use crate::exec::channel::{Channel, Delivery, DeliveryStatus};

/// The environment variable read when the runbook names none.
pub const DEFAULT_ENV: &str = "RB_WEBHOOK_URL";

/// How hard a post tries.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The bound on one request, connection included.
    pub timeout: Duration,
    /// Requests at most, the first included.
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the retries.
    pub max_retry_after: Duration,
    /// No retry starts when it would end later than this after the first request.
    pub budget: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(30),
            budget: Duration::from_secs(60),
        }
    }
}

/// An incoming webhook.
pub struct Webhook {
    url: String,
    /// Where the address came from, for messages (`$RB_WEBHOOK_URL`).
    source: String,
    policy: Policy,
}

/// What one request got.
enum Answer {
    Status(u16, Option<Duration>, String),
    Transport(String),
}

impl Webhook {
    /// The webhook named by the environment: `$env` when the runbook names one and it is set,
    /// else `$RB_WEBHOOK_URL`; None when neither is set. An address that is not http(s) is an
    /// error naming the variable (never its value).
    pub fn from_env(
        runbook_env: Option<&str>,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Webhook>, String> {
        let found = runbook_env
            .and_then(|name| get(name).map(|v| (name, v)))
            .or_else(|| get(DEFAULT_ENV).map(|v| (DEFAULT_ENV, v)))
            .filter(|(_, v)| !v.trim().is_empty());
        let Some((name, url)) = found else {
            return Ok(None);
        };
        let url = url.trim().to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "`${name}` is not an http(s) URL: set it to the incoming webhook's address (https://…)"
            ));
        }
        Ok(Some(Webhook {
            url,
            source: format!("${name}"),
            policy: Policy::default(),
        }))
    }

    pub fn with_policy(mut self, policy: Policy) -> Webhook {
        self.policy = policy;
        self
    }

    /// The address, for the redactor only.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the address came from (`$RB_WEBHOOK_URL`).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.policy.timeout))
            // Slack explains a refusal in the body (`invalid_payload`, `channel_not_found`).
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// One request.
    fn send(&self, agent: &ureq::Agent, body: &str) -> Answer {
        let sent = agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body);
        match sent {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_string()
                    .unwrap_or_default();
                Answer::Status(status, retry_after, self.scrub(&text))
            }
            Err(e) => Answer::Transport(self.scrub(&e.to_string())),
        }
    }

    /// Error text without the address (ureq names the URL in some errors), on one short line.
    fn scrub(&self, text: &str) -> String {
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(200).collect();
        cut.replace(&self.url, "<webhook>")
    }

    /// Posts with retries; blocking, bounded by the policy's budget plus one timeout.
    fn post_blocking(&self, text: &str) -> Delivery {
        let body = serde_json::json!({ "text": text }).to_string();
        let agent = self.agent();
        let started = Instant::now();
        let mut wait = self.policy.backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = self.send(&agent, &body);
            let (http_status, error, retry_in) = match answer {
                Answer::Status(s, _, _) if (200..300).contains(&s) => {
                    return Delivery {
                        status: DeliveryStatus::Posted,
                        http_status: Some(s),
                        attempts,
                        error: None,
                    };
                }
                Answer::Status(429, after, body) => {
                    let err = format!("HTTP 429 (rate limited){}", detail(&body));
                    match after {
                        Some(a) if a > self.policy.max_retry_after => (
                            Some(429),
                            format!("{err}; Retry-After {}s is too long to wait", a.as_secs()),
                            None,
                        ),
                        Some(a) => (Some(429), err, Some(a)),
                        None => (Some(429), err, Some(wait)),
                    }
                }
                Answer::Status(s, _, body) if s >= 500 => {
                    (Some(s), format!("HTTP {s}{}", detail(&body)), Some(wait))
                }
                Answer::Status(s, _, body) => (Some(s), format!("HTTP {s}{}", detail(&body)), None),
                Answer::Transport(e) => (None, e, Some(wait)),
            };
            let next = retry_in.filter(|d| {
                attempts < self.policy.attempts && started.elapsed() + *d < self.policy.budget
            });
            let Some(delay) = next else {
                return Delivery {
                    status: DeliveryStatus::Failed,
                    http_status,
                    attempts,
                    error: Some(error),
                };
            };
            std::thread::sleep(delay);
            wait = wait.saturating_mul(2);
        }
    }
}

/// `: body` when the server explained itself.
fn detail(body: &str) -> String {
    if body.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", body.trim())
    }
}

impl Channel for Webhook {
    fn post(&mut self, text: &str) -> Delivery {
        // The HTTP client blocks: it runs on its own thread, as it would under `spawn_blocking`,
        // so nothing of the step loop's runtime is held while it waits.
        let hook = Webhook {
            url: self.url.clone(),
            source: self.source.clone(),
            policy: self.policy,
        };
        let text = text.to_string();
        match std::thread::spawn(move || hook.post_blocking(&text)).join() {
            Ok(d) => d,
            Err(_) => Delivery {
                status: DeliveryStatus::Failed,
                http_status: None,
                attempts: 0,
                error: Some("the HTTP client failed unexpectedly".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_runbooks_variable_wins_and_the_default_is_the_fallback() {
        let both = env(&[
            ("TEAM_HOOK", "https://a.invalid/x"),
            (DEFAULT_ENV, "https://b.invalid/y"),
        ]);
        let w = Webhook::from_env(Some("TEAM_HOOK"), &both)
            .unwrap()
            .unwrap();
        assert_eq!((w.url(), w.source()), ("https://a.invalid/x", "$TEAM_HOOK"));
        let default_only = env(&[(DEFAULT_ENV, "https://b.invalid/y")]);
        let w = Webhook::from_env(Some("TEAM_HOOK"), &default_only)
            .unwrap()
            .unwrap();
        assert_eq!(w.source(), "$RB_WEBHOOK_URL");
        assert!(Webhook::from_env(None, &env(&[])).unwrap().is_none());
    }

    #[test]
    fn a_bad_address_is_refused_without_showing_it() {
        let bad = env(&[(DEFAULT_ENV, "hooks.example/secret-token")]);
        let err = Webhook::from_env(None, &bad).err().unwrap();
        assert!(err.contains("$RB_WEBHOOK_URL"), "{err}");
        assert!(!err.contains("secret-token"), "{err}");
    }

    #[test]
    fn errors_never_carry_the_address() {
        let w = Webhook::from_env(
            None,
            &env(&[(DEFAULT_ENV, "http://127.0.0.1:9/T0/B0/secret")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            w.scrub("cannot reach http://127.0.0.1:9/T0/B0/secret\n now"),
            "cannot reach <webhook> now"
        );
    }
}
