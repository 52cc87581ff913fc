//! AWS access for the sources: the SDK configuration (`access`), one kind of call sent within
//! a rate with retries (`caller`), and failures described for an operator (`error`).

pub mod access;
pub mod caller;
pub mod error;

pub use access::{default_region, sdk_config, AwsAccess};
pub use caller::{ApiStats, Caller};
pub use error::ApiError;
