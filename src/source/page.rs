//! One page of an AWS answer, as every reader returns it.

/// One page of an answer: the records' JSON texts, and the token of the next page.
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<String>,
    pub next: Option<String>,
}
