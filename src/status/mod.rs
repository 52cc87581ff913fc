//! What trailwatch shows of itself at a glance, as HTML: the facts gathered from the state and
//! a running daemon (`facts.rs`), the alert pages (`alerts.rs`), the alerts-per-day chart
//! (`chart.rs`), the pages themselves (`page.rs`, templates in `templates/`) and which path
//! asks for which (`route.rs`). The daemon
//! serves them on its operator endpoint; `report --format html` writes the overview to a file,
//! and `report --send` mails it through the email sinks (`mail.rs`).

pub(crate) mod alerts;
pub(crate) mod chart;
pub(crate) mod facts;
pub(crate) mod mail;
pub(crate) mod page;
pub(crate) mod route;
