//! trailwatch's integration tests, in one binary (one link of the AWS SDK, one `support`
//! module): the command line, the daemon against real servers (moto, aiosmtpd, local HTTP
//! receivers) and the wire-level fake CloudTrail, hostile input and faults, detections and
//! the pattern engines' properties. Each file is one area.

mod support;

mod cli;
mod cloudwatch_logs;
mod corpus;
mod daemon;
mod delivery;
mod detections;
mod digests;
mod faults;
mod first_seen;
mod hostile_bucket;
mod hostile_input;
mod instances;
mod lookup_events;
mod messages;
mod never_blind;
mod operator;
mod package;
mod private_state;
mod properties;
mod quiet;
mod s3;
mod sigma;
mod status_page;
