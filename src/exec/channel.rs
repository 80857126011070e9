//! The incident channel, as the executor sees it: somewhere a message can be posted, and what
//! became of the post. The executor never does HTTP itself; `launch` gives it a real channel
//! (`crate::notify::Webhook`) when a webhook is configured, and tests give it a scripted one.

pub use crate::domain::DeliveryStatus;

/// What became of one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub status: DeliveryStatus,
    /// The last HTTP status received, if any answer came.
    pub http_status: Option<u16>,
    /// Requests sent (0 when nothing was sent).
    pub attempts: u32,
    /// Why the post failed, in words; never contains the webhook's address.
    pub error: Option<String>,
}

impl Delivery {
    /// Nothing was sent: the operator chose `status` (skip, copy by hand), or this was a preview.
    pub fn not_sent(status: DeliveryStatus) -> Delivery {
        Delivery {
            status,
            http_status: None,
            attempts: 0,
            error: None,
        }
    }
}

/// Where messages for the incident channel are posted.
pub trait Channel {
    /// Posts `text`, retrying as the channel's policy says; never panics, never blocks for longer
    /// than the channel's own bound.
    fn post(&mut self, text: &str) -> Delivery;
}

/// Answers from a list and keeps every text it was given. For tests.
#[derive(Debug, Default)]
pub struct ScriptedChannel {
    pub answers: std::collections::VecDeque<Delivery>,
    pub posted: Vec<String>,
}

impl Channel for ScriptedChannel {
    fn post(&mut self, text: &str) -> Delivery {
        self.posted.push(text.to_string());
        self.answers.pop_front().unwrap_or(Delivery {
            status: DeliveryStatus::Posted,
            http_status: Some(200),
            attempts: 1,
            error: None,
        })
    }
}
