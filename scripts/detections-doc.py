#!/usr/bin/env python3
"""Writes docs/detections.md from the built-in packs (`trailwatch rules list --json`), so the
page lists exactly the rules that ship. Usage: scripts/detections-doc.py [path/to/trailwatch]
(default: target/debug/trailwatch). The corpus report is written by hand in REPORT below: rerun
the commands it quotes when a rule changes, and update the figures."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/trailwatch")

HEADER = """# Detections

Every rule trailwatch ships, what it catches and what it deliberately does not. This page is
generated from the packs themselves (`scripts/detections-doc.py`); `tests/detections.rs` fails
when a built-in rule is missing from it.

Turn packs on in the configuration: `rule_packs = ["default", "threats"]` (`cis` adds the 14 CIS
CloudWatch metric filters). Then:

- `trailwatch rules test` runs every rule's own tests (a record it must match and a near miss it
  must not, at least one of each per built-in rule) and exits 1 naming any rule and test that
  fails; `trailwatch check` runs the tests of the configured rules too.
- `trailwatch rules list --coverage` prints the MITRE ATT&CK techniques the enabled rules cover.
- `[vars]` tunes the threats pack to an organization: `own_accounts` (sharing with them is not an
  alert), `automation_roles` (role ARNs whose IAM and Lambda changes are expected) and
  `trusted_cidrs` (your NAT and public addresses). A rule marked *needs* below stays quiet until
  its variable is set, and `check` says so.
- A rule with a *threshold* alerts once when that many matches happen within the period for one
  key, listing the events, then stays quiet for the period; the counts live in the state, so a
  restart does not reset them.
- A *first seen* rule alerts only when its fields' values together are new for the account
  (not seen within its window), after learning what is usual from the account's first record;
  the history lives in the state (docs/rules.md, "First-seen rules").
- Messages show the rule's runbook (what to check, what to do) in the configured language.

"""

REPORT = """## On real data: what the threats pack raises

Two corpora, scanned with the pack's defaults (empty `[vars]`):

**invictus-aws-dataset** (2,900 real records of a Stratus Red Team attack simulation, one
account, 2023-07-10): `trailwatch scan --rules threats ../shared/corpus/invictus-aws-dataset`
raises **37 alerts**, every one an attack step of the simulation:

| rule | alerts | why it fires |
| --- | --- | --- |
| `cloudtrail-stopped` | 2 | `DeleteTrail` of two Stratus trails (`ctes`, `ctlr`) |
| `cloudtrail-changed` | 2 | `PutEventSelectors`: management events turned off, then back on (every change is reported) |
| `vpc-flow-logs-deleted` | 1 | `DeleteFlowLogs` |
| `log-group-deleted` | 1 | `DeleteLogGroup` of `/stratus-red-team/vpc-flow-logs` |
| `s3-short-expiration` | 1 | a 1-day expiration rule `nuke-cloudtrail-logs` on the trail bucket |
| `left-organization` | 1 | `LeaveOrganization`, denied: the attempt is reported |
| `security-group-open-to-world` | 2 | 443 opened to `0.0.0.0/0`, and port 22 opened to a `/0` written with host bits |
| `ami-shared`, `ebs-snapshot-shared`, `rds-snapshot-shared` | 3 | images and snapshots shared with outside accounts |
| `access-key-for-another-user` | 2 | keys created for backdoor users |
| `login-profile-for-another-user` | 2 | console passwords created for other users |
| `admin-policy-attached` | 2 | `AdministratorAccess` on a backdoor role and a user |
| `role-trust-changed` | 2 | a role's trust policy opened to an outside account, then restored |
| `console-login-without-mfa` | 1 | the backdoor user signs in without MFA |
| `lambda-code-changed` | 2 | `UpdateFunctionCode` outside any pipeline |
| `lambda-made-public` | 1 | `AddPermission` with principal `*` |
| `secrets-read-in-bulk` | 2 | 40 `GetSecretValue` by one user in minutes (threshold 10 in 10 min, twice: the reads after each alert fall in its quiet period) |
| `parameters-read-in-bulk` | 1 | 40 `GetParameter` with decryption (threshold 20) |
| `parameters-read-in-batches` | 1 | decrypted `GetParameters` batches (threshold 3 in 10 min) |
| `ec2-user-data-read` | 4 | `DescribeInstanceAttribute userData` that succeeded |
| `roles-anywhere-trust-anchor` | 2 | `CreateTrustAnchor` and `CreateProfile` of IAM Roles Anywhere |
| `backups-destroyed` | 2 | RDS and backup deletions of the simulation's clean-up |

With `own_accounts = ["123837392027"]` (the simulation's account) it raises 28: the backdoor
bucket policy granting account 193672423079 (`s3-bucket-shared-with-another-account`) joins.
Attack steps of the simulation it does not raise, and why: 30 `GetPasswordData` and the
user-data reads that were denied (the rules count successful reads only); one `SendCommand` to
one instance named by its ID (not a fleet); `StopLogging` attempts on trails that did not
exist. `default,cis,threats` together raise 230 alerts on it, 193 of them from `default` and
`cis` (the CIS filters report every IAM, network and bucket-policy change).

**panther-cloudtrail-samples** (430 records written as tests of Panther's rules; 196 are an
alert for the rule they test, 234 a near miss for it):
`jq -c .record ../shared/corpus/panther-cloudtrail-samples/samples.jsonl | trailwatch scan --rules threats`
raises **96 alerts**: 76 on records Panther's rule also alerts on, and 20 on near misses of
another rule's logic. The rules added for the second round of detections raise 38 of them:
35 on records Panther alerts on too (database and backup deletion, RDS made public or
unlocked, S3 logging and MFA delete turned off, traffic mirroring, batch secret reads, instance
access, export tasks, LLMjacking, SSE-C encryption, alarms deleted), and 3 near misses kept on
purpose: two resource policies open to `*` but restricted by a Condition (conditions are not
evaluated: the alert says to read it) and one `BatchGetSecretValue` whose filters Panther judges
narrow enough (every batch read is reported). Three near misses those rules first raised were
fixed, each now a test: `GetSigninToken` by the IAM Identity Center portal, user data read by a
service on the caller's behalf, a `PutBucketLogging` without a logging status. The 17 older ones,
and why they stay:

- the event is what the threats rule is about, the near miss is about something else (8):
  `DeleteBucketEncryption` ×2 (near misses of Panther's MFA-delete and versioning rules),
  `AttachRolePolicy`/`AttachUserPolicy` of `AdministratorAccess` ×2 (near misses of Panther's
  create-role/user rules), `StopConfigurationRecorder`, a successful sign-in without MFA, root
  creating an access key for an IAM user (reported as a key for another user), a bucket policy
  for `*` narrowed by conditions (reported: conditions are not evaluated);
- every change is reported where Panther judges the content (6): event selectors turned back on,
  two trust-policy updates without an internet principal, a login profile reset with
  `passwordResetRequired` (a reset password still lets its setter in first), and a login profile
  changed by a role session named like the user, in two of Panther's rule sets (a pattern cannot
  compare two fields);
- expected automation (3): two Lambda deployments by CI roles and a key created through
  CloudFormation: list the roles in `[vars] automation_roles`.

The first-seen rules add **51** on these samples (access-key-from-new-network 12,
first-region-use 8, role-from-new-network 30, first-console-login-from-network 1), and that is
their semantics at work, not a flaw of the samples: `scan` keeps a history of its own, learning
from each account's first record, and the samples' eventTimes span years in a handful of test
accounts, so past the first week each principal, key and region there is seen for the first time.
On the invictus run (one day) they raise nothing: the whole day is the learning week. A daemon
that has learned an account raises them only for what is new; `backfill --learn` builds that
history from the past before it starts.

Four false alerts this report found were fixed in the pack (each now has the near miss as a test):
root creating a key *for a user* was also reported as a root key; the SAML provider IAM
Identity Center manages for itself (`invokedBy sso.amazonaws.com`); a deny-all quarantine
policy matched the inline-admin rule (`"Action": ["*"]` with `Deny`); a public access block
event from a non-S3 source. Records with lowercase top-level keys (8 in the Panther set) are
not CloudTrail's shape and match nothing.

"""


def main():
    out = subprocess.run(
        [BIN, "rules", "list", "--json", "--rules", "default,cis,threats"],
        check=True, capture_output=True, text=True,
    ).stdout
    rules = [json.loads(l) for l in out.splitlines()]
    cov = subprocess.run(
        [BIN, "rules", "list", "--coverage", "--rules", "default,cis,threats"],
        check=True, capture_output=True, text=True,
    ).stdout
    packs = {"default": [], "cis": [], "threats": []}
    for r in rules:
        packs[r["origin"]].append(r)
    text = HEADER
    text += "## Coverage\n\n`trailwatch rules list --coverage --rules default,cis,threats`:\n\n```\n" + cov + "```\n\n"
    text += REPORT
    intro = {
        "default": "The two alerts trailwatch was built to replace (on unless `rule_packs` says otherwise).",
        "cis": "The CIS AWS Foundations Benchmark's CloudWatch metric filters, exactly as CIS writes them "
               "(`../shared/reference/cis-cloudwatch-filters.tsv`). A CIS alarm fires on a count of 1 or more, so "
               "each matching event alerts. They report every change of their kind, wanted or not; what they "
               "miss is what their filter does not name. The pack's `root-usage` replaces the default one.",
        "threats": "Detections of the attacks that matter on AWS, written from AWS's documented event shapes.",
    }
    for pack, rs in packs.items():
        text += f"## Pack `{pack}` ({len(rs)} rules)\n\n{intro[pack]}\n\n"
        for r in rs:
            text += f"### `{r['name']}`: {r['title']}\n\n"
            facts = [f"severity **{r['severity']}**", "techniques " + ", ".join(r["tags"])]
            th = r.get("threshold")
            if th:
                facts.append(f"threshold **{th['count']} in {th['period']}** per {', '.join(th['group_by'])}")
            fs = r.get("first_seen")
            if fs:
                facts.append(f"first seen: **{' + '.join(fs['fields'])}** new in {fs['window']} (learning {fs['learn']})")
            if r.get("inert"):
                facts.append(f"*needs* [vars]: quiet by default ({r['inert']})")
            facts.append(f"{r['tests']} tests")
            text += "- " + "; ".join(facts) + "\n"
            w = r["written"] or {"pattern": r["pattern"], "exclude": r["exclude"]}
            language = "EventBridge pattern" if w["pattern"].lstrip().startswith('{"') else "filter pattern"
            text += f"- catches ({language}): `{w['pattern']}`\n"
            for x in w["exclude"]:
                text += f"- except: `{x}`\n"
            if r.get("does_not_cover"):
                text += f"- misses: {r['does_not_cover']}\n"
            if r.get("runbook"):
                text += f"- runbook: {r['runbook']}\n"
            text += "\n"
    (ROOT / "docs/detections.md").write_text(text)
    print(f"docs/detections.md: {len(rules)} rules")


if __name__ == "__main__":
    main()
