//! Where CloudTrail puts its files in a bucket, and what a key says. A trail delivers to
//! `<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`, an organization trail to
//! `<prefix>/AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/`; a file is named
//! `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`, the time being when it
//! was delivered (UTC), so keys of one folder sort by delivery time. Digest and Insights files
//! live beside, in `CloudTrail-Digest/` and `CloudTrail-Insight/`.
//!
//! Pure functions: no AWS, no I/O.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

/// One account and region of a bucket: one stream, behind its own watermark.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    /// The organization's ID, for an organization trail.
    pub org: Option<String>,
    pub account: String,
    pub region: String,
}

/// What a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A CloudTrail log file: its place, the delivery time in its name, and the date of the
    /// folder it is in (`None` when the folder's name is not a date).
    Log {
        place: Place,
        time: Timestamp,
        folder: Option<Date>,
    },
    /// A digest (integrity) file: its place, its chain, the end of the hour it covers (in
    /// its name), and the date of its folder.
    Digest {
        place: Place,
        chain: Chain,
        end: Timestamp,
        folder: Option<Date>,
    },
    /// A CloudTrail Insights file.
    Insight,
    /// Anything else under the prefix.
    Other,
}

/// One chain of digests of a place: a trail's hourly digests, or its backfill digests (for
/// files delivered late), each chained to the one before.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Chain {
    pub trail: String,
    /// The trail's home region.
    pub home: String,
    pub backfill: bool,
}

impl Chain {
    /// Its name beside the place's stream: `trail@home`, `trail@home/backfill`.
    pub fn name(&self) -> String {
        let b = if self.backfill { "/backfill" } else { "" };
        format!("{}@{}{b}", self.trail, self.home)
    }
}

/// The key prefix before `AWSLogs/`, as the trail's S3 key prefix is written (`""`, `"a/b"` or
/// `"a/b/"`), with its trailing slash.
pub fn base(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

/// `YYYYMMDDTHHmmZ` as in a file name.
fn stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%MZ").to_string()
}

fn parse_stamp(s: &str) -> Option<Timestamp> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    if date.len() != 8 || time.len() != 4 {
        return None;
    }
    let num = |t: &str| t.parse::<i16>().ok();
    let d = Date::new(
        num(&date[..4])?,
        num(&date[4..6])? as i8,
        num(&date[6..])? as i8,
    )
    .ok()?;
    let dt = d.at(num(&time[..2])? as i8, num(&time[2..])? as i8, 0, 0);
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// 12 digits.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `o-` and 10 to 32 lowercase letters or digits.
pub fn is_org(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|r| {
        (10..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

impl Place {
    /// The stream's name (its watermark's key beside the source's name).
    pub fn stream(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }

    /// The account's folder: `<base>AWSLogs/[<org>/]<account>/`.
    pub fn account_dir(base: &str, org: Option<&str>, account: &str) -> String {
        match org {
            Some(o) => format!("{base}AWSLogs/{o}/{account}/"),
            None => format!("{base}AWSLogs/{account}/"),
        }
    }

    /// The region's folder of log files.
    pub fn dir(&self, base: &str) -> String {
        format!(
            "{}CloudTrail/{}/",
            Self::account_dir(base, self.org.as_deref(), &self.account),
            self.region
        )
    }

    /// The folder of one day's files.
    pub fn day(&self, base: &str, d: Date) -> String {
        format!("{}{}/", self.dir(base), d.strftime("%Y/%m/%d"))
    }

    /// The folder of one day's digests.
    pub fn digest_day(&self, base: &str, d: Date) -> String {
        format!(
            "{}CloudTrail-Digest/{}/{}/",
            Self::account_dir(base, self.org.as_deref(), &self.account),
            self.region,
            d.strftime("%Y/%m/%d")
        )
    }

    /// A key that sorts just before every file of this place delivered at or after `t` (a
    /// `StartAfter` for the listing of `t`'s day).
    pub fn start_after(&self, base: &str, t: Timestamp) -> String {
        let minute = t.strftime("%Y%m%dT%H%M").to_string();
        // Files delivered in `t`'s minute end `…T<HHmm>Z_…`; "Y" sorts before "Z".
        format!(
            "{}{}_CloudTrail_{}_{minute}Y",
            self.day(base, utc_date(t)),
            self.account,
            self.region
        )
    }
}

/// The UTC date of `t`.
pub fn utc_date(t: Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// The days from `from`'s to `to`'s, both included (UTC).
pub fn days(from: Timestamp, to: Timestamp) -> Vec<Date> {
    let (mut d, last) = (utc_date(from), utc_date(to));
    let mut out = Vec::new();
    while d <= last {
        out.push(d);
        match d.checked_add(1.day()) {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    out
}

/// What `key` is, under `base` (the prefix before `AWSLogs/`).
pub fn parse(base: &str, key: &str) -> KeyKind {
    let Some(rest) = key
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix("AWSLogs/"))
    else {
        return KeyKind::Other;
    };
    let mut parts: Vec<&str> = rest.split('/').collect();
    let org = match parts.first() {
        Some(o) if is_org(o) => {
            let o = o.to_string();
            parts.remove(0);
            Some(o)
        }
        _ => None,
    };
    // <account>/<kind>/<region>/YYYY/MM/DD/<file>
    let [account, kind, region, yyyy, mm, dd, file] = parts[..] else {
        return KeyKind::Other;
    };
    if !is_account(account) {
        return KeyKind::Other;
    }
    let folder = (|| {
        let (y, m, d) = (yyyy.parse().ok()?, mm.parse().ok()?, dd.parse().ok()?);
        (yyyy.len() == 4 && mm.len() == 2 && dd.len() == 2)
            .then(|| Date::new(y, m, d).ok())
            .flatten()
    })();
    let place = Place {
        org,
        account: account.to_string(),
        region: region.to_string(),
    };
    match kind {
        "CloudTrail-Digest" => return digest(place, file, folder),
        "CloudTrail-Insight" => return KeyKind::Insight,
        "CloudTrail" => {}
        _ => return KeyKind::Other,
    }
    let head = format!("{account}_CloudTrail_{region}_");
    let Some(time) = file
        .strip_prefix(&head)
        .and_then(|t| t.get(..14))
        .and_then(parse_stamp)
    else {
        return KeyKind::Other;
    };
    KeyKind::Log {
        place,
        time,
        folder,
    }
}

/// A digest's file name: `<account>_CloudTrail-Digest_<region>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>
/// [_backfill].json.gz` (a trail's name may hold underscores: it is what is between).
fn digest(place: Place, file: &str, folder: Option<Date>) -> KeyKind {
    let head = format!("{}_CloudTrail-Digest_{}_", place.account, place.region);
    let parsed = (|| {
        let rest = file.strip_prefix(&head)?.strip_suffix(".json.gz")?;
        let (rest, backfill) = match rest.strip_suffix("_backfill") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (rest, stamp) = rest.rsplit_once('_')?;
        let (trail, home) = rest.rsplit_once('_')?;
        let end = parse_stamp_seconds(stamp)?;
        (!trail.is_empty() && !home.is_empty())
            .then(|| Chain {
                trail: trail.to_string(),
                home: home.to_string(),
                backfill,
            })
            .map(|chain| (chain, end))
    })();
    match parsed {
        Some((chain, end)) => KeyKind::Digest {
            place,
            chain,
            end,
            folder,
        },
        None => KeyKind::Other,
    }
}

/// `YYYYMMDDTHHMMSSZ`, as in a digest's name.
fn parse_stamp_seconds(s: &str) -> Option<Timestamp> {
    let minutes = parse_stamp(&format!("{}Z", s.strip_suffix('Z')?.get(..13)?))?;
    let secs: i64 = s.get(13..15)?.parse().ok()?;
    (s.len() == 16).then(|| minutes + jiff::SignedDuration::from_secs(secs))
}

/// A digest's key (tests lay chains out with it).
pub fn digest_key_for(base: &str, place: &Place, chain: &Chain, end: Timestamp) -> String {
    format!(
        "{}{}_CloudTrail-Digest_{}_{}_{}_{}{}.json.gz",
        place.digest_day(base, utc_date(end)),
        place.account,
        place.region,
        chain.trail,
        chain.home,
        end.strftime("%Y%m%dT%H%M%SZ"),
        if chain.backfill { "_backfill" } else { "" }
    )
}

/// How far after AWS's now a file may be named (its name is the time it was delivered).
pub const FUTURE_MARGIN: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// Why the delivery time a key's name gives cannot be trusted, if it cannot: it is not on its
/// folder's day, or it is later than `now` (AWS's) by more than `FUTURE_MARGIN`. Anyone who
/// can write one object into the bucket can name it so; trusting it would move a watermark
/// past everything that is delivered until then.
pub fn doubt(time: Timestamp, folder: Option<Date>, now: Timestamp) -> Option<String> {
    let day = utc_date(time);
    match folder {
        None => return Some("its folder is not a date (YYYY/MM/DD)".into()),
        Some(f) if f != day => {
            return Some(format!(
                "it is named {} but lies in the folder of {f}",
                stamp(time)
            ))
        }
        Some(_) => {}
    }
    (time > now + FUTURE_MARGIN).then(|| {
        format!(
            "it is named {}, later than AWS's time now ({})",
            stamp(time),
            stamp(now)
        )
    })
}

/// A key for a file of `place` delivered at `t` (tests and benchmarks lay buckets out with it).
pub fn key_for(base: &str, place: &Place, t: Timestamp, unique: &str) -> String {
    format!(
        "{}{}_CloudTrail_{}_{}_{unique}.json.gz",
        place.day(base, utc_date(t)),
        place.account,
        place.region,
        stamp(t)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(org: Option<&str>) -> Place {
        Place {
            org: org.map(String::from),
            account: "111122223333".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn keys_of_both_layouts_parse() {
        let t: Timestamp = "2023-07-10T11:45:00Z".parse().unwrap();
        for org in [None, Some("o-a1b2c3d4e5")] {
            for b in ["", "trails/"] {
                let k = key_for(b, &place(org), t, "7xgocspSowgK0Gto");
                assert_eq!(
                    parse(b, &k),
                    KeyKind::Log {
                        place: place(org),
                        time: t,
                        folder: Some(utc_date(t)),
                    },
                    "{k}"
                );
            }
        }
        let k = key_for("", &place(Some("o-a1b2c3d4e5")), t, "x");
        assert_eq!(
            k,
            "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1145Z_x.json.gz"
        );
        assert_eq!(
            parse("", "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2023/07/10/111122223333_CloudTrail-Digest_us-east-1_x_20230710T1145Z.json.gz"),
            KeyKind::Other
        );
        // A digest: its chain (a trail name may hold underscores), its end, backfill or not.
        let end: Timestamp = "2023-07-10T11:45:12Z".parse().unwrap();
        for (trail, backfill) in [("main", false), ("org_trail_1", true)] {
            let chain = Chain {
                trail: trail.into(),
                home: "eu-west-1".into(),
                backfill,
            };
            let k = digest_key_for("logs/", &place(Some("o-a1b2c3d4e5")), &chain, end);
            assert_eq!(
                parse("logs/", &k),
                KeyKind::Digest {
                    place: place(Some("o-a1b2c3d4e5")),
                    chain,
                    end,
                    folder: Date::new(2023, 7, 10).ok()
                },
                "{k}"
            );
        }
        assert_eq!(
            parse(
                "",
                "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2023/07/10/f.json.gz"
            ),
            KeyKind::Insight
        );
        assert_eq!(
            parse("", "AWSLogs/111122223333/elasticloadbalancing/x"),
            KeyKind::Other
        );
        assert_eq!(parse("other/", &k), KeyKind::Other);
        assert_eq!(
            parse("", "AWSLogs/12345/CloudTrail/us-east-1/2023/07/10/f"),
            KeyKind::Other
        );
    }

    #[test]
    fn start_after_sorts_before_the_minute_and_after_the_one_before() {
        let p = place(None);
        let t: Timestamp = "2023-07-10T11:45:30Z".parse().unwrap();
        let s = p.start_after("", t);
        let at = key_for("", &p, "2023-07-10T11:45:00Z".parse().unwrap(), "0000");
        let before = key_for("", &p, "2023-07-10T11:44:00Z".parse().unwrap(), "zzzz");
        assert!(before < s && s < at, "{before} < {s} < {at}");
        assert_eq!(base("/a/b/"), "a/b/");
        assert_eq!(base(""), "");
    }

    #[test]
    fn a_name_outside_its_folder_or_in_the_future_is_not_trusted() {
        let now: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let day = Some(utc_date(now));
        assert_eq!(doubt(t("2026-12-02T09:55:00Z"), day, now), None);
        assert_eq!(
            doubt(t("2026-12-02T10:10:00Z"), day, now),
            None,
            "within the margin"
        );
        assert!(doubt(t("2026-12-02T13:00:00Z"), day, now)
            .unwrap()
            .contains("later than"));
        assert!(doubt(t("2099-12-31T23:59:00Z"), day, now)
            .unwrap()
            .contains("folder of 2026-12-02"));
        assert!(doubt(t("2026-12-02T09:00:00Z"), None, now).is_some());
        let p = place(None);
        let k = key_for("", &p, now, "x").replace("_20261202T1000Z_", "_20991231T2359Z_");
        let KeyKind::Log { time, folder, .. } = parse("", &k) else {
            panic!("{k}")
        };
        assert!(doubt(time, folder, now).is_some(), "{k}");
    }

    #[test]
    fn days_span_both_ends() {
        let a: Timestamp = "2023-07-09T23:50:00Z".parse().unwrap();
        let b: Timestamp = "2023-07-11T00:10:00Z".parse().unwrap();
        let d: Vec<String> = days(a, b).iter().map(ToString::to_string).collect();
        assert_eq!(d, ["2023-07-09", "2023-07-10", "2023-07-11"]);
        assert!(is_org("o-a1b2c3d4e5") && !is_org("o-short") && !is_org("111122223333"));
    }
}
