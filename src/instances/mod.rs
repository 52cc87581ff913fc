//! Several instances of one configuration, one state: the state kept in a DynamoDB table
//! (`table`, with the runtime its calls run on), one instance working at a time by a lease
//! with fencing (`lease`), the others standing by to take over; the working instance's local
//! state a cache of the table, every flush copied to it (`mirror`); what an instance does to
//! take over (`instance`); `[state]` validated (`config`); a request and its answer through
//! the table (`exchange`), used by commands from other hosts asking the holder (`mailbox`) and
//! by standbys handing what they read from the S3 queues to the holder (`handover`); creating
//! the table and moving a one-host state into it (`setup`).

pub(crate) mod config;
mod exchange;
pub(crate) mod handover;
pub(crate) mod instance;
pub(crate) mod lease;
pub(crate) mod mailbox;
pub(crate) mod mirror;
pub(crate) mod setup;
pub(crate) mod table;
