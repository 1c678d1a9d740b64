//! `/healthz` (the process answers) and `/readyz` (the store answers). `/metrics` is served
//! apart from the API: see [`crate::metrics`].

use medislot_core::DoctorId;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::problem::errors::UNAVAILABLE;
use crate::problem::ApiError;
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

#[derive(ApiResponse)]
enum Healthy {
    /// `{"status": "ok"}`.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<Health>),
}

fn ok() -> Healthy {
    Healthy::Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

#[OpenApi(tag = "ApiTags::Operations")]
impl HealthApi {
    /// The process is alive.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Healthy {
        ok()
    }

    /// The store answers; 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> Result<Healthy, ApiError<UNAVAILABLE>> {
        // A read of a doctor that cannot exist: it touches the store and nothing else.
        self.state.engine().store().doctor(DoctorId::new()).await?;
        Ok(ok())
    }
}
