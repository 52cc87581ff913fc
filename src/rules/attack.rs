//! The MITRE ATT&CK techniques the built-in packs are tagged with, by ID, for `rules list
//! --coverage` and the docs. A tag not listed here is shown by its ID alone.

/// (technique ID, name), as ATT&CK (Enterprise, Cloud) names them.
pub(crate) const TECHNIQUES: &[(&str, &str)] = &[
    ("T1021.004", "Remote Services: SSH"),
    ("T1037", "Boot or Logon Initialization Scripts"),
    ("T1040", "Network Sniffing"),
    ("T1059", "Command and Scripting Interpreter"),
    ("T1069.003", "Permission Groups Discovery: Cloud Groups"),
    ("T1078", "Valid Accounts"),
    ("T1078.004", "Valid Accounts: Cloud Accounts"),
    ("T1087.004", "Account Discovery: Cloud Account"),
    ("T1098", "Account Manipulation"),
    (
        "T1098.001",
        "Account Manipulation: Additional Cloud Credentials",
    ),
    ("T1098.003", "Account Manipulation: Additional Cloud Roles"),
    ("T1098.004", "Account Manipulation: SSH Authorized Keys"),
    ("T1110", "Brute Force"),
    ("T1136.003", "Create Account: Cloud Account"),
    ("T1190", "Exploit Public-Facing Application"),
    ("T1199", "Trusted Relationship"),
    (
        "T1484.002",
        "Domain or Tenant Policy Modification: Trust Modification",
    ),
    ("T1485", "Data Destruction"),
    ("T1486", "Data Encrypted for Impact"),
    ("T1490", "Inhibit System Recovery"),
    ("T1496", "Resource Hijacking"),
    ("T1525", "Implant Internal Image"),
    ("T1530", "Data from Cloud Storage"),
    ("T1531", "Account Access Removal"),
    ("T1535", "Unused/Unsupported Cloud Regions"),
    ("T1537", "Transfer Data to Cloud Account"),
    (
        "T1550.001",
        "Use Alternate Authentication Material: Application Access Token",
    ),
    ("T1552", "Unsecured Credentials"),
    ("T1552.001", "Unsecured Credentials: Credentials In Files"),
    (
        "T1552.005",
        "Unsecured Credentials: Cloud Instance Metadata API",
    ),
    (
        "T1555.006",
        "Credentials from Password Stores: Cloud Secrets Management Stores",
    ),
    (
        "T1556.006",
        "Modify Authentication Process: Multi-Factor Authentication",
    ),
    ("T1562.001", "Impair Defenses: Disable or Modify Tools"),
    (
        "T1562.007",
        "Impair Defenses: Disable or Modify Cloud Firewall",
    ),
    ("T1562.008", "Impair Defenses: Disable or Modify Cloud Logs"),
    ("T1578", "Modify Cloud Compute Infrastructure"),
    ("T1580", "Cloud Infrastructure Discovery"),
    ("T1584.001", "Compromise Infrastructure: Domains"),
    ("T1648", "Serverless Execution"),
    ("T1651", "Cloud Administration Command"),
    ("T1666", "Modify Cloud Resource Hierarchy"),
];

/// A technique's name, if known.
pub(crate) fn name(id: &str) -> Option<&'static str> {
    TECHNIQUES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}
