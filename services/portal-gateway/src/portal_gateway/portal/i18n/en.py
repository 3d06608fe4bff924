# Typographic apostrophes and dashes are intended in translations.
# ruff: noqa: RUF001
"""English: the reference catalog."""

from portal_gateway.portal.i18n.catalog import Messages

EN = Messages(
    portal_name="Billing portal",
    skip_to_content="Skip to main content",
    return_to_merchant="Return to {merchant}",
    sign_out="Sign out",
    language="Language",
    contact_support="Questions about your billing? Write to {email}.",
    footer_security=(
        "This page is private to you. For your security, you are signed out after an hour "
        "without activity."
    ),
    merchant_fallback="the business",
    overview_heading="Manage your billing",
    signed_in_as="Signed in as {name} ({email})",
    subscriptions_heading="Subscriptions",
    no_subscriptions="You don't have any subscriptions with {merchant}.",
    price_month="{amount} per month",
    price_year="{amount} per year",
    status_active="Active",
    status_on_hold="On hold",
    status_canceled="Canceled",
    status_incomplete="Payment pending",
    status_incomplete_expired="Not started",
    status_ending="Ending",
    next_charge_label="Next charge",
    next_charge_value="{amount} on {date}",
    current_period_label="Current period",
    period_range="{start} – {end}",
    payment_method_label="Payment method",
    ends_on_label="Ends on",
    canceled_on_label="Canceled on",
    ends_on_notice=(
        "Your subscription is canceled and ends on {date}. You keep access until then and "
        "won't be charged again."
    ),
    canceled_notice="This subscription was canceled on {date}. You won't be charged again.",
    on_hold_notice=(
        "Your last payment didn't go through, so this subscription is on hold. "
        "Change your card below, or contact {merchant} if you need help."
    ),
    incomplete_notice="We're waiting for your first payment to go through.",
    incomplete_expired_notice=(
        "The first payment failed, so this subscription never started. You haven't been charged."
    ),
    cancel_subscription="Cancel subscription",
    payment_methods_heading="Payment methods",
    card_generic="Card",
    card_ending="{brand} ending in {last4}",
    card_expires="Expires {expiry}",
    card_expired="Expired {expiry}",
    card_expiring_soon="Expires soon",
    no_payment_methods="No payment method on file.",
    invoices_heading="Invoice history",
    invoices_caption="Your invoices, newest first",
    col_date="Date",
    col_number="Number",
    col_amount="Amount",
    col_status="Status",
    col_plan="Plan",
    invoice_status_paid="Paid",
    invoice_status_open="Due",
    invoice_status_uncollectible="Unpaid",
    invoice_status_void="Void",
    invoice_status_draft="Draft",
    no_invoices="No invoices yet.",
    cancel_title="Cancel your subscription",
    cancel_intro=(
        "We're sorry to see you go. Telling us why is optional, and it helps {merchant} improve."
    ),
    reason_legend="Why are you canceling?",
    optional="(optional)",
    reason_too_expensive="It's too expensive",
    reason_missing_features="It's missing features I need",
    reason_switched_service="I'm switching to another service",
    reason_unused="I don't use it enough",
    reason_customer_service="Customer service fell short",
    reason_too_complex="It's too complicated to use",
    reason_low_quality="The quality wasn't what I expected",
    reason_other="Another reason",
    comment_label="Anything else you'd like to tell us?",
    comment_hint="Up to {max} characters.",
    continue_button="Continue",
    keep_subscription="Keep my subscription",
    back="Back",
    confirm_title="Confirm cancellation",
    confirm_now_summary=(
        "Your {plan} subscription ends immediately, and you lose access to it right away."
    ),
    confirm_period_end_summary=(
        "Your {plan} subscription stays active until {date}, and then it ends. It won't renew."
    ),
    confirm_no_charge="You won't be charged again for this subscription.",
    confirm_reason_label="Your reason",
    confirm_comment_label="Your comment",
    no_reason_given="No reason given",
    confirm_button="Confirm cancellation",
    form_has_errors="Please correct the field below.",
    error_reason_invalid="Please choose one of the listed reasons.",
    error_comment_too_long="Your comment is too long: please keep it to {max} characters.",
    notice_canceled="Your {plan} subscription has been canceled.",
    notice_cancel_scheduled=(
        "Your {plan} subscription will end on {date}. You won't be charged again."
    ),
    notice_already_canceled="This subscription was already canceled.",
    notice_not_cancelable="This subscription can't be canceled any more.",
    notice_cancel_rejected=(
        "We couldn't cancel your subscription, and nothing was changed. Please try again, "
        "or contact {merchant} if it keeps happening."
    ),
    notice_cancel_pending=(
        "We received your cancellation and are still processing it. Refresh this page in a "
        "moment to see it."
    ),
    notice_unavailable=(
        "We couldn't reach the billing system, so nothing was changed. Please try again in a "
        "moment."
    ),
    link_expired_title="This link has expired",
    link_expired_body=(
        "For your security, billing portal links only work for a few minutes. Please go back "
        "to {merchant} and open the billing portal again."
    ),
    link_used_title="This link has already been used",
    link_used_body=(
        "For your security, each billing portal link works only once. Please go back to "
        "{merchant} and open the billing portal again to get a new link."
    ),
    link_unknown_title="We couldn't find this link",
    link_unknown_body=(
        "The link may be incomplete or mistyped. Please go back to where you got it and open "
        "the billing portal again."
    ),
    session_ended_title="Your session has ended",
    session_ended_body=(
        "For your security, you are signed out after an hour without activity. Please go back "
        "to {merchant} and open the billing portal again."
    ),
    signed_out_title="You're signed out",
    signed_out_body=(
        "Thanks for stopping by. To come back later, return to {merchant} and open the billing "
        "portal."
    ),
    no_session_title="You're not signed in",
    no_session_body="To manage your billing, go back to {merchant} and open the billing portal.",
    not_found_title="Page not found",
    not_found_body="This page doesn't exist or isn't available from your account.",
    back_to_overview="Back to your billing overview",
    account_unavailable_title="We can't show your account right now",
    account_unavailable_body=(
        "Your account details aren't available yet. Please try again in a moment."
    ),
    csrf_title="This form has expired",
    csrf_body=(
        "For your security, we couldn't accept this form. Please go back, reload the page and "
        "try again."
    ),
    bad_request_title="We couldn't process this request",
    bad_request_body="Please go back and try again.",
    error_title="Something went wrong",
    error_body=(
        "Please try again in a moment. If the problem continues, contact {merchant} and "
        "mention reference {reference}."
    ),
    change_card="Change card",
    payment_method_title="Change payment method",
    payment_method_intro="Choose the card your {plan} subscription is charged to from now on.",
    current_card_label="Currently charged to",
    no_current_card="No card on file",
    saved_cards_legend="Your saved cards",
    card_current_tag="Current",
    use_saved_card_button="Use this card",
    new_card_heading="Add a new card",
    new_card_privacy=(
        "Your card details go straight to our payment processor. We only keep the card's brand,"
        " its last 4 digits and its expiry date."
    ),
    card_number_label="Card number",
    card_expiry_legend="Expiry date",
    card_exp_month_label="Month (MM)",
    card_exp_year_label="Year (YYYY)",
    card_cvc_label="Security code (CVC)",
    card_cvc_hint="3 digits on the back of your card; 4 on the front for American Express.",
    save_card_button="Save and use this card",
    error_choose_card="Please choose one of your cards.",
    error_card_number="This card number isn't valid. Please check it and try again.",
    error_card_exp_month="Enter the expiry month as a number from 1 to 12.",
    error_card_exp_year="Enter the expiry year shown on your card, with four digits.",
    error_card_expired="This card has expired. Please use another card.",
    error_card_cvc="Enter the security code: 3 digits, or 4 for American Express.",
    error_card_cvc_incorrect="The security code is incorrect. Please check it and try again.",
    error_card_declined="Your card was declined. Please use another card.",
    error_card_processing="We couldn't check your card just now. Please try again in a moment.",
    error_card_reenter="For your security, please enter the card number and security code again.",
    error_saved_card_expired="This card has expired. Please choose another card or add a new one.",
    error_saved_card_missing=(
        "This card is no longer available. Please choose another card or add a new one."
    ),
    error_card_change_rejected=(
        "We couldn't change your payment method, and nothing was changed. Please try again, or "
        "contact {merchant} if it keeps happening."
    ),
    test_clock_notice=(
        "Test mode: {merchant}'s billing clock is set to {date}. Dates and renewals on this "
        "page follow it."
    ),
    notice_card_updated=(
        "Your {plan} subscription will now be charged to your {brand} card ending in {last4}."
    ),
    notice_card_unchanged=(
        "That card already pays for your {plan} subscription, so nothing was changed."
    ),
    notice_card_subscription_ended=(
        "This subscription has ended, so its payment method can't be changed."
    ),
    notice_card_pending=(
        "We received your card and are still processing the change. Refresh this page in a "
        "moment to see it."
    ),
)
