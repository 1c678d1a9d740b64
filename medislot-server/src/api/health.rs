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
    /// Readiness only, with a read replica (`--replica-url`): where the reads that tolerate lag
    /// go now. `current`: the replica, which has replayed this instance's writes; `behind`:
    /// the primary, until the replica has; `not_standby` or `unavailable`: the primary, as the
    /// replica is not a standby or does not answer. The server stays ready either way.
    #[oai(skip_serializing_if_is_none)]
    replica: Option<String>,
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
        replica: None,
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
    ///
    /// With a read replica, also says where lag-tolerant reads go now; a replica that is down
    /// does not make the server unready (the primary serves those reads then).
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> Result<Healthy, ApiError<UNAVAILABLE>> {
        // A read of a doctor that cannot exist: it touches the primary and nothing else.
        let (primary, replica) = tokio::join!(
            self.state.engine().store().doctor(DoctorId::new()),
            self.state.replica_status()
        );
        primary?;
        Ok(Healthy::Ok(Json(Health {
            status: "ok".to_owned(),
            replica: replica.map(|status| status.as_str().to_owned()),
        })))
    }
}
