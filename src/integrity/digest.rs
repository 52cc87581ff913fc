//! One digest file, as CloudTrail writes it (AWS's CloudTrail user guide, "CloudTrail digest
//! file structure"), and the text its signature covers.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// A digest file's contents.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DigestFile {
    pub digest_start_time: String,
    pub digest_end_time: String,
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    #[serde(default)]
    pub digest_public_key_fingerprint: String,
    #[serde(default)]
    pub digest_signature_algorithm: String,
    #[serde(rename = "previousDigestS3Bucket", default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(rename = "previousDigestS3Object", default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFile>,
}

/// A log file a digest lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogFile {
    #[serde(rename = "s3Bucket")]
    pub s3_bucket: String,
    #[serde(rename = "s3Object")]
    pub s3_object: String,
    /// SHA-256 of the decompressed file, hex.
    pub hash_value: String,
}

impl DigestFile {
    /// Reads a digest from its decompressed JSON.
    pub(crate) fn parse(json: &[u8]) -> Result<DigestFile, String> {
        serde_json::from_slice(json).map_err(|e| format!("not a CloudTrail digest file: {e}"))
    }

    /// The text its signature covers: its end time, where it says it is, the hash of its
    /// decompressed bytes, and the previous digest's signature (`null` for a chain's first).
    pub(crate) fn signed_text(&self, decompressed: &[u8]) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            sha256_hex(decompressed),
            self.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_digest_signs_null_and_its_hash() {
        let json = br#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-22T00:00:00Z","digestEndTime":"2026-11-22T01:00:00Z","digestS3Bucket":"b","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/22/d.json.gz","digestPublicKeyFingerprint":"abc","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[]}"#;
        let d = DigestFile::parse(json).unwrap();
        assert!(d.previous_digest_s3_object.is_none());
        let t = d.signed_text(json);
        let lines: Vec<&str> = t.split('\n').collect();
        assert_eq!(lines[0], "2026-11-22T01:00:00Z");
        assert_eq!(
            lines[1],
            "b/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/22/d.json.gz"
        );
        assert_eq!(lines[2], sha256_hex(json));
        assert_eq!(lines[3], "null");
        assert!(DigestFile::parse(b"{}").is_err());
    }
}
