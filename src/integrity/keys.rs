//! The keys CloudTrail signs digests with: each region publishes its public keys
//! (`ListPublicKeys`) as DER — PKCS#1 `RSAPublicKey`, or a `SubjectPublicKeyInfo` — with a
//! fingerprint, the MD5 of that DER in hex, which a digest names. A digest's signature is RSA
//! PKCS#1 v1.5 with SHA-256 (`SHA256withRSA`), hex in the object's metadata.

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use md5::{Digest as _, Md5};

/// One public key, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicKey {
    pub der: Vec<u8>,
    /// MD5 of `der`, lowercase hex.
    pub fingerprint: String,
}

impl PublicKey {
    pub(crate) fn of_der(der: Vec<u8>) -> PublicKey {
        PublicKey {
            fingerprint: hex::encode(Md5::digest(&der)),
            der,
        }
    }

    /// True when `signature_hex` is this key's signature of `text`.
    pub(crate) fn verifies(&self, text: &str, signature_hex: &str) -> bool {
        let Ok(sig) = hex::decode(signature_hex.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.der)
            .verify(text.as_bytes(), &sig)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 2048-bit test key (made with Python's cryptography), its two DER forms, and its
    // signature of `TEXT`.
    const PKCS1: &str = "3082010a0282010100c670c5facebfb53e64b28e23feefaf56a5404ba7827dc69c2e95a13096d7efd9f60008e6641e1216a5d05288c45f84596b1c0beac06e9d64c20382caa03f849458bff0096b3f75e344c238e827a7b766202337418dbfe3fa99b04be5eed97c874cf691bd063605ceafeb27b1a47d4c745e4e4119a26baa2dabd5504a0246853114a863c7a5be2a79cb4b9f0881754df4f9fa40744806e35340192617c273bd741ea4060fb920208e7c18ecb15d76327d99e7cb10e01312a174df9124c78acc7f5c9ecfb2f780ffa9235d8c2ac6db21fc340dc612ac00815f3e1539b84e6060ac3bb07ec7ff8f920c3106342690071bdae4ee35d4e9f5a232c77465f422426a870203010001";
    const SPKI_HEAD: &str = "30820122300d06092a864886f70d01010105000382010f00";
    const SIG: &str = "5db2df6fb6f5114eb45b8ab492f4130fcdcc209656d4b8d26f6fa85940dcf3e5eb2189100422c452ca3c042fc9c66d96686b89f12e889de73d877c23a1789a3a28afd93993fdc663e0114c08448bbf2328b4e6f17011874128e39d9f4e8e86ba31d9384bdca05265c7498bd8c407cf5f7912c32ea12ed7b3e7d322991467d2fb1d7ba4fd348179d20ff771f0168238041138ca1c71fd5c24b2d4e90c26efdc9d89d0977169a517aab5ee1a77b04aa01d4f3fc4fef546ca6fe6a111d3fd93008c2c333849647837ea047e4d9ea38fd9c58126f4f158df5c26ce9d2c377f19906e779ef23d6ba88193c69e3affd1a9995f9fb5f1639a75d3548c6ce91faa4a208a";
    const TEXT: &str = "2026-11-22T01:00:00Z\nb/k\nabc\nnull";

    #[test]
    fn both_der_forms_verify_and_the_fingerprint_is_the_md5_of_the_der() {
        let pkcs1 = PublicKey::of_der(hex::decode(PKCS1).unwrap());
        assert_eq!(pkcs1.fingerprint, "a66d8e250c255ba245db2c75148ffe98");
        assert!(pkcs1.verifies(TEXT, SIG));
        let spki = PublicKey::of_der(hex::decode(format!("{SPKI_HEAD}{PKCS1}")).unwrap());
        assert!(
            spki.verifies(TEXT, SIG),
            "SubjectPublicKeyInfo is accepted too"
        );
        assert!(
            !pkcs1.verifies(&TEXT.replace("null", "nul1"), SIG),
            "another text"
        );
        let mut bad = SIG.to_string();
        bad.replace_range(0..2, "00");
        assert!(!pkcs1.verifies(TEXT, &bad), "another signature");
        assert!(!pkcs1.verifies(TEXT, "zz"), "not hex");
    }
}
