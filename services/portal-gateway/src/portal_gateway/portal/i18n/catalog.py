"""The portal's message catalog: one typed field per sentence shown to customers.

Why a typed catalog instead of gettext ``.po``/``.mo`` files: the portal has about a hundred
messages and four languages, all maintained in this repository. As a frozen dataclass,
a language that forgets a message fails at import time (a missing constructor argument), a
template that names a message that does not exist fails in the tests (StrictUndefined), and
there is no compile step that a deployment could forget. A unit test checks that every
translation keeps the same ``{placeholders}`` as English. Should translators ever work
outside the repository, the catalog converts mechanically to ``.po``.

Placeholders use ``str.format`` names; values are escaped by the templates, never by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class Messages:
    # -- layout ------------------------------------------------------------------------
    portal_name: str
    skip_to_content: str
    return_to_merchant: str  # {merchant}
    sign_out: str
    language: str
    contact_support: str  # {email}
    footer_security: str
    merchant_fallback: str  # how to name the merchant when we do not know who it is

    # -- overview ----------------------------------------------------------------------
    overview_heading: str
    signed_in_as: str  # {name} {email}
    subscriptions_heading: str
    no_subscriptions: str  # {merchant}
    price_month: str  # {amount}
    price_year: str  # {amount}
    status_active: str
    status_on_hold: str
    status_canceled: str
    status_incomplete: str
    status_incomplete_expired: str
    status_ending: str
    next_charge_label: str
    next_charge_value: str  # {amount} {date}
    current_period_label: str
    period_range: str  # {start} {end}
    payment_method_label: str
    ends_on_label: str
    canceled_on_label: str
    ends_on_notice: str  # {date}
    canceled_notice: str  # {date}
    on_hold_notice: str  # {merchant}
    incomplete_notice: str
    incomplete_expired_notice: str
    cancel_subscription: str
    payment_methods_heading: str
    card_generic: str
    card_ending: str  # {brand} {last4}
    card_expires: str  # {expiry}
    card_expired: str  # {expiry}
    card_expiring_soon: str
    no_payment_methods: str
    invoices_heading: str
    invoices_caption: str
    col_date: str
    col_number: str
    col_amount: str
    col_status: str
    col_plan: str
    invoice_status_paid: str
    invoice_status_open: str
    invoice_status_uncollectible: str
    invoice_status_void: str
    invoice_status_draft: str
    no_invoices: str

    # -- cancel flow -------------------------------------------------------------------
    cancel_title: str
    cancel_intro: str  # {merchant}
    reason_legend: str
    optional: str
    reason_too_expensive: str
    reason_missing_features: str
    reason_switched_service: str
    reason_unused: str
    reason_customer_service: str
    reason_too_complex: str
    reason_low_quality: str
    reason_other: str
    comment_label: str
    comment_hint: str  # {max}
    continue_button: str
    keep_subscription: str
    back: str
    confirm_title: str
    confirm_now_summary: str  # {plan}
    confirm_period_end_summary: str  # {plan} {date}
    confirm_no_charge: str
    confirm_reason_label: str
    confirm_comment_label: str
    no_reason_given: str
    confirm_button: str
    form_has_errors: str
    error_reason_invalid: str
    error_comment_too_long: str  # {max}

    # -- changing the payment method ---------------------------------------------------
    change_card: str
    payment_method_title: str
    payment_method_intro: str  # {plan}
    current_card_label: str
    no_current_card: str
    saved_cards_legend: str
    card_current_tag: str
    use_saved_card_button: str
    new_card_heading: str
    new_card_privacy: str
    card_number_label: str
    card_expiry_legend: str
    card_exp_month_label: str
    card_exp_year_label: str
    card_cvc_label: str
    card_cvc_hint: str
    save_card_button: str
    error_choose_card: str
    error_card_number: str
    error_card_exp_month: str
    error_card_exp_year: str
    error_card_expired: str
    error_card_cvc: str
    error_card_cvc_incorrect: str
    error_card_declined: str
    error_card_processing: str
    error_card_reenter: str
    error_saved_card_expired: str
    error_saved_card_missing: str
    error_card_change_rejected: str  # {merchant}

    # -- test clocks (development) -----------------------------------------------------
    test_clock_notice: str  # {merchant} {date}

    # -- notices after an action -------------------------------------------------------
    notice_canceled: str  # {plan}
    notice_cancel_scheduled: str  # {plan} {date}
    notice_already_canceled: str
    notice_not_cancelable: str
    notice_cancel_rejected: str  # {merchant}
    notice_cancel_pending: str
    notice_unavailable: str
    notice_card_updated: str  # {plan} {brand} {last4}
    notice_card_unchanged: str  # {plan}
    notice_card_subscription_ended: str
    notice_card_pending: str

    # -- pages shown instead of the portal ---------------------------------------------
    link_expired_title: str
    link_expired_body: str  # {merchant}
    link_used_title: str
    link_used_body: str  # {merchant}
    link_unknown_title: str
    link_unknown_body: str
    session_ended_title: str
    session_ended_body: str  # {merchant}
    signed_out_title: str
    signed_out_body: str  # {merchant}
    no_session_title: str
    no_session_body: str  # {merchant}
    not_found_title: str
    not_found_body: str
    back_to_overview: str
    account_unavailable_title: str
    account_unavailable_body: str
    csrf_title: str
    csrf_body: str
    bad_request_title: str
    bad_request_body: str
    error_title: str
    error_body: str  # {merchant} {reference}

    def reason(self, code: str) -> str:
        """The label of a cancellation reason code (``CancellationReason``)."""
        label = getattr(self, f"reason_{code}", None)
        return label if isinstance(label, str) else code

    def subscription_status(self, status: str) -> str:
        label = getattr(self, f"status_{status}", None)
        return label if isinstance(label, str) else status.replace("_", " ")

    def invoice_status(self, status: str) -> str:
        label = getattr(self, f"invoice_status_{status}", None)
        return label if isinstance(label, str) else status.replace("_", " ")


def message_names() -> list[str]:
    return [f.name for f in fields(Messages)]
