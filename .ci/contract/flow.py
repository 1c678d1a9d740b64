"""The README's flow, through the Python client that openapi-python-client generated from the
served OpenAPI document, and through nothing else: every call is a generated function and
every answer a generated model, so an operation or a model the generator dropped fails here.

Usage: python flow.py BASE_URL  (with MEDISLOT_ADMIN_EMAIL and MEDISLOT_ADMIN_PASSWORD set)
"""

import datetime
import os
import sys
import uuid

from medislot_client import AuthenticatedClient, Client
from medislot_client.api.auth import login, logout, me, register
from medislot_client.api.bookings import book, cancel_booking, get_booking, list_bookings
from medislot_client.api.doctors import create_doctor, get_doctor, list_doctors, publish_slots
from medislot_client.api.slots import list_slots
from medislot_client.models import (
    Account,
    Booking,
    BookingPage,
    BookingStatus,
    BookRequest,
    CancelledBy,
    CancelRequest,
    CreateDoctor,
    Doctor,
    DoctorPage,
    LoginRequest,
    LoginResult,
    NewSlot,
    Problem,
    PublishSlots,
    RegisterRequest,
    Role,
    SlotStatus,
)
from medislot_client.types import UNSET


def expect(value, kind, what):
    """`value` must be a `kind` (a generated model), not None or a Problem."""
    if not isinstance(value, kind):
        sys.exit(f"FAIL {what}: expected {kind.__name__}, got {value!r}")
    return value


def check(condition, what):
    if not condition:
        sys.exit(f"FAIL {what}")


def sign_in(base_url, email, password):
    answer = login.sync(client=Client(base_url=base_url), body=LoginRequest(email=email, password=password))
    result = expect(answer, LoginResult, f"login {email}")
    expect(result.user, Account, "login user")
    return AuthenticatedClient(base_url=base_url, token=result.token), result


def main():
    base_url = sys.argv[1]
    admin, admin_login = sign_in(
        base_url, os.environ["MEDISLOT_ADMIN_EMAIL"], os.environ["MEDISLOT_ADMIN_PASSWORD"]
    )
    check(admin_login.user.role == Role.ADMIN, "the admin signs in as admin")

    # The admin creates a doctor and publishes three slots, a month ahead.
    doctor = expect(
        create_doctor.sync(
            client=admin,
            body=CreateDoctor(name="Dr Ada Lovelace", specialization="Cardiology", timezone="Europe/London"),
        ),
        Doctor,
        "create_doctor",
    )
    expect(get_doctor.sync(doctor.id, client=Client(base_url=base_url)), Doctor, "get_doctor")
    day = datetime.datetime.now(datetime.timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)
    day += datetime.timedelta(days=30)
    starts = [day + datetime.timedelta(minutes=30 * i) for i in range(3)]
    slots = publish_slots.sync(
        doctor.id,
        client=admin,
        body=PublishSlots(slots=[NewSlot(starts_at=s, ends_at=s + datetime.timedelta(minutes=30)) for s in starts]),
    )
    check(isinstance(slots, list) and len(slots) == 3, f"publish_slots: {slots!r}")
    check(all(s.status == SlotStatus.AVAILABLE for s in slots), "published slots are available")

    # Two patients register and sign in.
    public = Client(base_url=base_url)
    suffix = uuid.uuid4().hex[:8]
    patients = []
    for name in ("Pat", "Sam"):
        email = f"{name.lower()}-{suffix}@example.com"
        password = f"{name.lower()}-password-{suffix}"
        account = expect(
            register.sync(client=public, body=RegisterRequest(email=email, password=password, name=name)),
            Account,
            f"register {name}",
        )
        check(account.role == Role.PATIENT, "a registered account is a patient")
        client, _ = sign_in(base_url, email, password)
        expect(me.sync(client=client), Account, "me")
        patients.append(client)
    pat, sam = patients

    # Pat finds a free cardiology slot and books it twice with one key: one booking.
    page = list_slots.sync(client=public, specialization="cardiology", available=True, doctor_id=doctor.id)
    check(page is not None and len(page.items) == 3, f"list_slots: {page!r}")
    slot = page.items[0]
    key = f"pat-booking-{suffix}"
    first_answer = book.sync_detailed(client=pat, body=BookRequest(slot_id=slot.id), idempotency_key=key)
    check(first_answer.status_code == 201, f"a first booking is 201: {first_answer.status_code}")
    first = expect(first_answer.parsed, Booking, "book")
    again_answer = book.sync_detailed(client=pat, body=BookRequest(slot_id=slot.id), idempotency_key=key)
    check(again_answer.status_code == 200, f"a retry is 200: {again_answer.status_code}")
    check(again_answer.headers.get("idempotent-replayed") == "true", "a retry says it is a replay")
    again = expect(again_answer.parsed, Booking, "retry")
    check(again.id == first.id, "a retry with the same key returns the same booking")
    check(first.status == BookingStatus.CONFIRMED, f"booked: {first.status}")
    check(first.doctor.id == doctor.id and first.slot.id == slot.id, "the booking names its slot and doctor")

    # Sam gets a typed 409 problem for the same slot.
    refused = book.sync(client=sam, body=BookRequest(slot_id=slot.id))
    problem = expect(refused, Problem, "a second patient booking the same slot")
    check(problem.status == 409 and problem.code == "slot_unavailable", f"409 slot_unavailable: {problem!r}")

    # Pat lists and cancels; Sam and Pat book the other two slots.
    mine = expect(list_bookings.sync(client=pat), BookingPage, "list_bookings")
    check([b.id for b in mine.items] == [first.id], f"list_bookings: {mine!r}")
    cancelled = expect(
        cancel_booking.sync(first.id, client=pat, body=CancelRequest(reason="feeling better")), Booking, "cancel"
    )
    check(cancelled.status == BookingStatus.CANCELLED, f"cancelled: {cancelled.status}")
    check(cancelled.cancelled_by == CancelledBy.PATIENT, "cancelled by the patient")
    fetched = expect(get_booking.sync(first.id, client=pat), Booking, "get_booking")
    check(fetched.status == BookingStatus.CANCELLED, "get_booking")
    ids = {first.id}
    for client, s in ((sam, page.items[1]), (pat, page.items[2])):
        ids.add(expect(book.sync(client=client, body=BookRequest(slot_id=s.id)), Booking, "book").id)

    # The admin pages through every booking, one per page.
    seen, cursor, pages = [], UNSET, 0
    while True:
        answer = expect(list_bookings.sync(client=admin, limit=1, cursor=cursor), BookingPage, "admin list_bookings")
        seen += [b.id for b in answer.items]
        pages += 1
        if isinstance(answer.next_cursor, str):
            cursor = answer.next_cursor
        else:
            break
    check(set(seen) == ids and len(seen) == 3, f"the admin saw {seen}, expected {ids}")
    check(pages >= 3, f"one booking per page: {pages} pages")

    doctors = expect(list_doctors.sync(client=public, limit=1), DoctorPage, "list_doctors")
    check([d.id for d in doctors.items] == [doctor.id] and doctors.next_cursor is UNSET, "list_doctors")

    # Sign out: the token stops working.
    check(logout.sync_detailed(client=sam).status_code == 204, "logout")
    check(isinstance(me.sync(client=sam), Problem), "a signed-out token is refused")
    print(f"flow OK: doctor {doctor.id}, {len(seen)} bookings over {pages} pages, 409 {problem.code}")


if __name__ == "__main__":
    main()
