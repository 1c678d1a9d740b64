// Type-checked (tsc --noEmit) against the types openapi-typescript generated from the served
// OpenAPI document: the README's flow written with openapi-fetch. A schema or operation that
// the types lost, or a property whose type changed, fails to compile.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Booking = components["schemas"]["Booking"];
type Problem = components["schemas"]["Problem"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8080" });

export async function flow(adminEmail: string, adminPassword: string): Promise<Booking[]> {
  const signedIn = await api.POST("/api/v1/auth/login", {
    body: { email: adminEmail, password: adminPassword },
  });
  if (!signedIn.data) throw new Error(problemText(signedIn.error));
  const admin = { Authorization: `Bearer ${signedIn.data.token}` };
  const role: "admin" | "patient" = signedIn.data.user.role;

  const doctor = await api.POST("/api/v1/doctors", {
    headers: admin,
    body: { name: "Dr Ada Lovelace", specialization: "Cardiology", timezone: "Europe/London" },
  });
  if (!doctor.data) throw new Error(problemText(doctor.error));
  const slots = await api.POST("/api/v1/doctors/{id}/slots", {
    params: { path: { id: doctor.data.id } },
    headers: admin,
    body: { slots: [{ starts_at: "2030-06-03T09:00:00+01:00", ends_at: "2030-06-03T09:30:00+01:00" }] },
  });
  const slotId: string | undefined = slots.data?.[0]?.id;

  const found = await api.GET("/api/v1/slots", {
    params: { query: { specialization: "cardiology", available: true, limit: 50 } },
  });
  const first = found.data?.items[0];
  if (!first || !slotId) throw new Error("no slot");
  const status: "available" | "held" | "booked" | "buffer" | "started" = first.status;

  const booked = await api.POST("/api/v1/bookings", {
    params: { header: { "Idempotency-Key": "pat-booking-1" } },
    headers: admin,
    body: { slot_id: first.id },
  });
  if (booked.error) {
    const problem: Problem = booked.error;
    if (problem.status === 409 && problem.code === "slot_unavailable") return [];
  }
  const mine = await api.GET("/api/v1/bookings", { headers: admin, params: { query: { limit: 10 } } });
  const next: string | undefined = mine.data?.next_cursor;
  const cancelled = await api.POST("/api/v1/bookings/{id}/cancel", {
    params: { path: { id: booked.data?.id ?? "" } },
    headers: admin,
    body: { reason: `${role} ${status} ${next ?? ""}` },
  });
  return cancelled.data ? [cancelled.data] : [];
}

function problemText(problem: Problem | undefined): string {
  return problem ? `${problem.status} ${problem.code}: ${problem.detail}` : "no answer";
}
