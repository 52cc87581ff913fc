//! AWS access for the sources: the SDK configuration and clients (`access`), AWS's clock from
//! its answers (`clock`), one kind of call sent within a rate with retries (`caller`), the
//! query-protocol calls signed here (`query`), what an account is (`account`), and failures
//! described for an operator (`error`).

pub mod access;
pub mod account;
pub mod caller;
pub mod clock;
pub mod error;
pub mod json;
pub mod organization;
pub mod query;
pub mod signed;

pub use access::{default_region, sdk_config, AwsAccess};
pub use caller::{ApiStats, Caller};
pub use clock::Clock;
pub use error::{ApiError, ApiErrorKind};
