//! An `s3` source's objects, from the bucket to the state, in one room. `reader`: what every
//! read of a source shares, what a key is (account, region, delivery time, and whether that
//! time can be trusted), read marks; `object`: one object downloaded and read record by
//! record, its matches disposed of as the reader decided (`Disposal`: raised here, handed to
//! the instance that holds the lease, or kept); `listing`: the streams read by listing, day by
//! day behind their watermarks, with the objects set aside that cannot be read (and the same
//! listing and ordered reads for `backfill`); `announced`: the objects a queue's messages
//! announce, and each message's verdict; `handed`: what standbys read, taken in by the holder;
//! `digest`: one of the trail's signed digests checked on its own, and `verify`: the daemon's
//! continuous check of the trail by its digests; `audit`: a past window checked from the bucket
//! alone (`trailwatch verify`).

mod announced;
mod audit;
pub(crate) mod digest;
mod handed;
mod listing;
mod object;
mod reader;
mod verify;

pub(crate) use announced::Verdict;
pub(crate) use audit::{audit_place, Audit};
pub(crate) use listing::{in_order, keys_between};
pub(crate) use object::{Fetch, Fetched};
pub(crate) use reader::Reader;
