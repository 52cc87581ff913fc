//! AWS partitions: where a region's services answer. The SDK's clients resolve their own
//! endpoints; the calls trailwatch signs itself (IAM, EC2, SQS, Organizations) and the console
//! links in messages use this: `aws` (amazonaws.com), `aws-cn` (China, amazonaws.com.cn), `aws-us-gov` (GovCloud).

/// One partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Partition {
    pub name: &'static str,
    /// The DNS suffix of its endpoints.
    pub suffix: &'static str,
    /// Where its global services (IAM, Organizations) are signed.
    pub iam_region: &'static str,
    pub organizations_region: &'static str,
    /// IAM's host (global).
    pub iam_host: &'static str,
    /// The console's host.
    pub console: &'static str,
}

const AWS: Partition = Partition {
    name: "aws",
    suffix: "amazonaws.com",
    iam_region: "us-east-1",
    organizations_region: "us-east-1",
    iam_host: "iam.amazonaws.com",
    console: "console.aws.amazon.com",
};

const CHINA: Partition = Partition {
    name: "aws-cn",
    suffix: "amazonaws.com.cn",
    iam_region: "cn-north-1",
    organizations_region: "cn-northwest-1",
    iam_host: "iam.cn-north-1.amazonaws.com.cn",
    console: "console.amazonaws.cn",
};

const GOV: Partition = Partition {
    name: "aws-us-gov",
    suffix: "amazonaws.com",
    iam_region: "us-gov-west-1",
    organizations_region: "us-gov-west-1",
    iam_host: "iam.us-gov.amazonaws.com",
    console: "console.amazonaws-us-gov.com",
};

/// The partition a region belongs to.
pub(crate) fn of(region: &str) -> Partition {
    if region.starts_with("cn-") {
        CHINA
    } else if region.starts_with("us-gov-") {
        GOV
    } else {
        AWS
    }
}

impl Partition {
    /// `https://SERVICE.REGION.SUFFIX/`: a regional endpoint.
    pub(crate) fn regional(&self, service: &str, region: &str) -> String {
        format!("https://{service}.{region}.{}/", self.suffix)
    }

    /// A global service's endpoint and the region it is signed for.
    pub(crate) fn global(&self, service: &str) -> (String, &'static str) {
        match service {
            "iam" => (format!("https://{}/", self.iam_host), self.iam_region),
            s => (
                self.regional(s, self.organizations_region),
                self.organizations_region,
            ),
        }
    }
}

/// Where a call to `service` goes, and the region it is signed for: `endpoint_url` when given
/// (tests, private endpoints), else the region's partition's endpoint (a global service's at
/// the partition's own, signed for its region).
pub(crate) fn endpoint(
    service: &str,
    global: bool,
    region: &str,
    endpoint_url: Option<&str>,
) -> (String, String) {
    let p = of(region);
    let (url, signed_for) = if global {
        let (u, r) = p.global(service);
        (u, r.to_string())
    } else {
        (p.regional(service, region), region.to_string())
    };
    match endpoint_url {
        Some(u) => (format!("{}/", u.trim_end_matches('/')), signed_for),
        None => (url, signed_for),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_partition_of_the_region() {
        assert_eq!(
            of("ap-northeast-2").regional("ec2", "ap-northeast-2"),
            "https://ec2.ap-northeast-2.amazonaws.com/"
        );
        assert_eq!(
            of("cn-north-1").regional("sqs", "cn-north-1"),
            "https://sqs.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            of("us-gov-west-1").global("iam"),
            (
                "https://iam.us-gov.amazonaws.com/".to_string(),
                "us-gov-west-1"
            )
        );
        assert_eq!(
            of("cn-northwest-1").global("iam"),
            (
                "https://iam.cn-north-1.amazonaws.com.cn/".to_string(),
                "cn-north-1"
            )
        );
        assert_eq!(
            of("eu-west-1").global("organizations"),
            (
                "https://organizations.us-east-1.amazonaws.com/".to_string(),
                "us-east-1"
            )
        );
        assert_eq!(of("cn-north-1").global("organizations").1, "cn-northwest-1");
        assert_eq!(of("us-gov-east-1").console, "console.amazonaws-us-gov.com");
    }
}
