//! `/healthz` (the process answers), `/readyz` (the store answers) and `/metrics`.

use medislot_core::DoctorId;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use crate::problem::Problem;
use crate::state::AppState;

/// Operational routes.
pub(crate) struct HealthApi {
    pub(crate) state: AppState,
}

/// A health answer.
#[derive(Debug, Object)]
struct Health {
    /// Always `ok` when answered with 200.
    status: String,
}

fn ok() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

#[OpenApi(tag = "ApiTags::Operations")]
impl HealthApi {
    /// The process is alive.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Health> {
        ok()
    }

    /// The store answers; 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> Result<Json<Health>, Problem> {
        // A read of a doctor that cannot exist: it touches the store and nothing else.
        self.state.engine().store().doctor(DoctorId::new()).await?;
        Ok(ok())
    }

    /// Prometheus metrics in the text exposition format.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self) -> PlainText<String> {
        PlainText(self.state.metrics().render())
    }
}
