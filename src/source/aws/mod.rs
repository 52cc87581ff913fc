//! AWS access for the sources: the SDK configuration and clients (`access`), AWS's clock from
//! its answers (`clock`), one kind of call sent within a rate with retries (`caller`), the
//! query-protocol calls signed here (`query`), what an account is (`account`), and failures
//! described for an operator (`error`).

pub(crate) mod access;
pub(crate) mod account;
pub(crate) mod cached;
pub(crate) mod caller;
pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod json;
pub(crate) mod organization;
pub(crate) mod query;
pub(crate) mod signed;

pub(crate) use access::{
    default_region, no_credentials, sdk_config, AwsAccess, HOW_TO_GIVE_CREDENTIALS,
};
pub(crate) use caller::{ApiStats, Caller};
pub use clock::Clock;
pub(crate) use error::{ApiError, ApiErrorKind};
