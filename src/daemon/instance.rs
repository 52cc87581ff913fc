//! What the daemon does as the instance that holds a shared state: an alert of trailwatch
//! itself when it takes over from another instance (the one before stopped renewing: it died,
//! hung or was cut off), so that people learn a host failed even though nothing was missed;
//! and the answers to commands run on other hosts (`instances::mailbox`), read every second.

use std::sync::Arc;
use std::time::Duration;

use crate::control::{answer, Request};
use crate::instances::instance::Instance;
use crate::instances::mailbox;
use crate::names::OwnAlert;
use crate::settings::Settings;
use crate::severity::Severity;
use crate::state::State;

use super::own::Own;

/// Alerts, once per takeover, that this instance took over from another.
pub(super) fn took_over(s: &Settings, state: &State, taken: &Instance) {
    let Some(previous) = &taken.previous else {
        return;
    };
    let me = &taken.table.cfg.instance;
    let lang = s.language;
    let alert = Own {
        rule: OwnAlert::Takeover,
        title: lang.pick(
            format!("trailwatch: instance {me} took over from {previous}"),
            format!("trailwatch: 인스턴스 {me} 가 {previous} 의 작업을 이어받음"),
        ),
        severity: Severity::High,
        detail: lang.pick(
            format!("instance {previous} stopped renewing its lease on {} (it died, hung or lost its network); instance {me} continues from the shared state ({} entries). Check {previous}'s host.", taken.table.describe(), taken.loaded),
            format!("인스턴스 {previous} 가 {} 의 임대를 갱신하지 않았습니다(종료, 멈춤, 네트워크 단절). 인스턴스 {me} 가 공유 상태({} 항목)에서 이어갑니다. {previous} 호스트를 확인하세요.", taken.table.describe(), taken.loaded),
        ),
        key: Some(taken.lease.fence().epoch),
    };
    let (direct, _) = tokio::sync::mpsc::unbounded_channel();
    alert.raise(state, s.router().all().to_vec(), &direct);
}

/// Answers the requests other hosts leave in the table, every second, until dropped.
pub(super) async fn answer_mail(taken: Arc<crate::instances::table::Table>, state: Arc<State>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let mail = match mailbox::take(&taken).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("requests from other hosts cannot be read: {e}");
                continue;
            }
        };
        for (id, req) in mail {
            let a = match serde_json::from_value::<Request>(req) {
                Ok(r) => answer(&state, r),
                Err(e) => crate::control::Answer::Error {
                    error: format!("not a request trailwatch knows: {e}"),
                },
            };
            let v = serde_json::to_value(&a).expect("an answer serializes");
            if let Err(e) = mailbox::reply(&taken, &id, &v).await {
                tracing::warn!("an answer to another host cannot be written: {e}");
            }
        }
    }
}
