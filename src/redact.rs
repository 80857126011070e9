//! PROVISIONAL: replaced by the transcript branch at merge.
pub const MASK: &str = "***";
pub struct Redactor {
    secrets: Vec<String>,
}
impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Redactor {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
    pub fn redact_str(&self, s: &str) -> String {
        let mut s = s.to_string();
        for x in &self.secrets {
            s = s.replace(x.as_str(), MASK);
        }
        s
    }
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            secrets: self.secrets.clone(),
            held: Vec::new(),
        }
    }
}
pub struct StreamRedactor {
    secrets: Vec<String>,
    held: Vec<u8>,
}
impl StreamRedactor {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        Vec::new()
    }
    pub fn finish(&mut self) -> Vec<u8> {
        let s = String::from_utf8_lossy(&std::mem::take(&mut self.held)).to_string();
        let mut s = s;
        for x in &self.secrets {
            s = s.replace(x.as_str(), MASK);
        }
        s.into_bytes()
    }
}
