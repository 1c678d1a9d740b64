//! The conformance kit: every [`SlotStore`](crate::SlotStore) must pass it.
//!
//! Each check is a plain `pub async fn` that takes a fresh, empty store and panics when the store
//! breaks a rule. [`slot_store_conformance!`](crate::slot_store_conformance) turns all of them
//! into `#[tokio::test]`s with one line in the store crate's tests:
//!
//! ```ignore
//! // tests/conformance.rs of a store crate (needs `tokio` as a dev-dependency)
//! async fn fresh_store() -> MyStore {
//!     MyStore::connect_to_a_new_empty_database().await
//! }
//! medislot_core::slot_store_conformance!(fresh_store);
//! ```
//!
//! The store type must implement both [`SlotStore`](crate::SlotStore) and
//! [`AccountStore`](crate::AccountStore). Checks drive the store through a
//! [`BookingEngine`](crate::BookingEngine) with a [`ManualClock`](crate::ManualClock), so expiry
//! is tested by moving time, never by sleeping.

mod accounts;
mod bookings;
mod catalog;
mod cutoffs;
mod edge;
mod finding;
mod hours;
mod journal;
mod profiles;
mod races;
mod reminders;
mod reschedule;
mod schedule;
mod support;
mod waitlist;
mod window;

pub use accounts::*;
pub use bookings::*;
pub use catalog::*;
pub use cutoffs::*;
pub use edge::*;
pub use finding::*;
pub use hours::*;
pub use journal::*;
pub use profiles::*;
pub use races::*;
pub use reminders::*;
pub use reschedule::*;
pub use schedule::*;
pub use support::Fixture;
pub use waitlist::*;
pub use window::*;

/// Turns every check of the kit into a `#[tokio::test]` (multi-threaded runtime) that runs on a
/// store made by `$factory`, an `async fn() -> S` where `S: SlotStore + AccountStore + 'static`.
/// The calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! slot_store_conformance {
    ($factory:path) => {
        $crate::slot_store_conformance!(@tests $factory;
            // catalog
            creates_lists_and_filters_doctors,
            publishing_is_all_or_nothing_and_refuses_overlap,
            publishing_for_an_unknown_or_deleted_doctor_is_refused,
            slots_that_only_touch_do_not_overlap,
            a_withdrawn_slot_frees_its_time_for_new_slots,
            slot_listing_filters_and_pages_by_keyset,
            a_cursor_past_the_window_gives_an_empty_page,
            deleting_a_doctor_with_active_bookings_is_refused_and_keeps_history,
            withdrawing_a_booked_slot_is_refused,
            // doctor profiles
            a_doctor_profile_is_stored_replaced_and_read_back,
            updating_the_profile_of_an_unknown_or_deleted_doctor_is_refused,
            // bookings
            booking_a_free_slot_confirms_it,
            booking_a_taken_slot_is_refused_as_unavailable,
            booking_a_started_or_unknown_slot_is_refused,
            the_reason_for_the_visit_is_kept_with_the_booking,
            patient_cancel_frees_the_slot_at_once,
            cancelling_twice_is_refused_and_changes_nothing,
            stale_cancel_after_rebooking_never_frees_the_new_booking,
            another_patient_cannot_confirm_or_cancel,
            admin_cancel_holds_slot_until_buffer_ends,
            patient_cannot_cancel_an_admins_buffer,
            hold_then_confirm_keeps_the_slot,
            lapsed_hold_frees_the_slot_and_cannot_be_confirmed,
            release_expired_tidies_statuses_without_changing_availability,
            idempotency_key_replays_the_first_booking,
            booking_listings_filter_by_patient_doctor_and_status_and_page,
            booking_listings_come_in_appointment_order_and_page,
            booking_view_keeps_history_after_doctor_is_deleted,
            // reschedule
            rescheduling_moves_a_booking_to_another_slot_in_one_step,
            admin_may_reschedule_any_booking_to_any_doctors_slot,
            rescheduling_refusals_change_nothing,
            a_reschedule_retried_with_its_idempotency_key_moves_once,
            // cut-offs
            patient_may_cancel_or_reschedule_only_until_the_cutoff,
            admin_may_cancel_or_reschedule_after_the_cutoff,
            a_started_slot_cannot_be_booked_held_confirmed_or_cancelled_by_its_patient,
            // the booking window
            booking_outside_the_window_is_refused_naming_its_bounds,
            a_retried_booking_replays_after_its_slot_left_the_window,
            a_patients_reschedule_stays_inside_the_window_an_admins_need_not,
            // finding a time
            the_availability_summary_counts_what_the_listing_calls_available,
            next_available_is_the_first_free_slot_on_or_after_an_instant,
            finding_a_time_keeps_to_the_booking_window,
            // races
            many_tasks_racing_for_one_slot_yield_one_booking,
            a_thousand_tasks_over_a_hundred_slots_never_double_book,
            double_cancel_racing_with_bookers_frees_the_slot_once,
            admin_and_patient_cancel_racing_one_wins,
            concurrent_publishes_never_overlap,
            bookers_racing_a_reschedule_for_its_target_one_wins,
            opposite_reschedules_at_once_never_deadlock_or_double_book,
            reschedule_racing_the_admins_cancel_one_wins,
            // working hours
            working_hours_make_exact_slots_across_daylight_saving_time,
            generating_twice_creates_each_slot_once,
            racing_generations_create_each_slot_once,
            // stored working hours
            saved_hours_are_stored_replaced_and_read_back,
            a_rule_change_never_withdraws_a_booked_slot,
            extending_the_horizon_at_once_creates_each_slot_once,
            // the journal and the outbox
            a_bookings_whole_life_reads_as_its_history,
            a_reschedule_is_recorded_on_both_bookings_and_told_once,
            a_refused_or_replayed_change_leaves_no_entry_and_no_message,
            racing_bookings_each_have_exactly_one_message,
            a_claimed_message_is_not_claimed_again_until_its_lease_ends,
            each_channel_settles_its_own_copy_of_a_message,
            racing_deliverers_never_claim_one_message_twice,
            a_failing_message_backs_off_then_dies_and_can_be_retried,
            the_journal_filters_and_pages,
            // reminders
            each_confirmed_booking_has_one_reminder_and_a_cancelled_or_moved_one_is_withdrawn,
            a_reminder_cancelled_after_its_claim_is_withdrawn_before_it_is_sent,
            // the waitlist
            a_freed_slot_is_offered_to_the_first_waiting_patient,
            a_declined_or_lapsed_offer_passes_to_the_next_then_to_the_public,
            with_the_sweeper_stopped_a_lapsed_offer_passes_on_at_the_next_touch,
            an_admins_cancel_offers_the_slot_to_the_waitlist_first,
            reschedules_and_new_slots_are_offered_to_matching_entries_only,
            joining_is_limited_per_patient_and_only_a_waiting_entry_can_be_left,
            thirty_patients_racing_a_live_offer_all_fail,
            confirming_as_the_offer_lapses_is_refused_and_never_double_holds,
            two_slots_freed_at_once_make_one_offer_per_entry,
            // accounts
            accounts_are_stored_and_found_by_email,
            accounts_are_found_by_part_of_a_name_or_email,
            duplicate_email_is_refused,
            roles_and_password_hashes_can_change,
            profiles_are_stored_and_replaced,
            ending_sessions_raises_the_generation,
            revoked_sessions_are_seen_on_the_account_read_until_pruned,
            login_failures_are_all_counted_and_cleared,
            racing_attempts_are_each_counted_once_per_key_and_window,
            a_reset_token_works_once_and_ends_every_session,
            unknown_or_expired_reset_tokens_are_refused,
            racing_redeems_of_one_token_one_wins,
            role_changes_are_journalled_with_both_roles,
            a_reset_request_is_queued_for_email_only,
            a_booking_under_a_session_checks_it_in_its_own_transaction,
            // the edge of what stores hold
            text_with_control_characters_is_refused_before_the_store,
            instants_outside_the_representable_range_are_refused,
            unusual_text_round_trips_exactly,
            the_last_representable_instant_round_trips_exactly,
            account_names_in_unusual_text_round_trip_exactly,
        );
    };
    (@tests $factory:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let store = ::std::sync::Arc::new($factory().await);
                $crate::testkit::$check(store).await;
            }
        )*
    };
}
