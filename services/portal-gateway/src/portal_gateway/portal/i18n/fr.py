# Typographic apostrophes and dashes are intended in translations.
# ruff: noqa: RUF001
"""French (addressing the customer as "vous").

French typography puts a (narrow) no-break space before ``?``, ``!`` and ``:``; they are
written as escapes so that they stay visible in review.
"""

from portal_gateway.portal.i18n.catalog import Messages

_NNBSP = "\u202f"  # narrow no-break space, before ? and !
_NBSP = "\u00a0"  # no-break space, before :

FR = Messages(
    portal_name="Portail de facturation",
    skip_to_content="Aller au contenu principal",
    return_to_merchant="Retour à {merchant}",
    sign_out="Se déconnecter",
    language="Langue",
    contact_support=f"Des questions sur votre facturation{_NNBSP}? Écrivez à {{email}}.",
    footer_security=(
        "Cette page vous est réservée. Pour votre sécurité, vous êtes déconnecté après une "
        "heure d’inactivité."
    ),
    merchant_fallback="l’entreprise",
    overview_heading="Gérez votre facturation",
    signed_in_as="Connecté en tant que {name} ({email})",
    subscriptions_heading="Abonnements",
    no_subscriptions="Vous n’avez aucun abonnement chez {merchant}.",
    price_month="{amount} par mois",
    price_year="{amount} par an",
    status_active="Actif",
    status_on_hold="En attente",
    status_canceled="Résilié",
    status_incomplete="Paiement en attente",
    status_incomplete_expired="Non démarré",
    status_ending="Bientôt terminé",
    next_charge_label="Prochain prélèvement",
    next_charge_value="{amount} le {date}",
    current_period_label="Période en cours",
    period_range="{start} – {end}",
    payment_method_label="Moyen de paiement",
    ends_on_label="Se termine le",
    canceled_on_label="Résilié le",
    ends_on_notice=(
        "Votre abonnement est résilié et se termine le {date}. Vous y avez accès jusque-là et "
        "ne serez plus débité."
    ),
    canceled_notice="Cet abonnement a été résilié le {date}. Vous ne serez plus débité.",
    on_hold_notice=(
        "Votre dernier paiement n’a pas abouti : cet abonnement est donc en attente. "
        "Changez de carte ci-dessous, ou contactez {merchant} pour obtenir de l’aide."
    ).replace(" :", f"{_NBSP}:"),
    incomplete_notice="Nous attendons la confirmation de votre premier paiement.",
    incomplete_expired_notice=(
        "Le premier paiement a échoué : cet abonnement n’a donc jamais démarré. Vous n’avez "
        "pas été débité."
    ).replace(" :", f"{_NBSP}:"),
    cancel_subscription="Résilier l’abonnement",
    payment_methods_heading="Moyens de paiement",
    card_generic="Carte",
    card_ending="{brand} se terminant par {last4}",
    card_expires="Expire fin {expiry}",
    card_expired="Expirée ({expiry})",
    card_expiring_soon="Expire bientôt",
    no_payment_methods="Aucun moyen de paiement enregistré.",
    invoices_heading="Historique des factures",
    invoices_caption="Vos factures, de la plus récente à la plus ancienne",
    col_date="Date",
    col_number="Numéro",
    col_amount="Montant",
    col_status="Statut",
    col_plan="Formule",
    invoice_status_paid="Payée",
    invoice_status_open="À payer",
    invoice_status_uncollectible="Impayée",
    invoice_status_void="Annulée",
    invoice_status_draft="Brouillon",
    no_invoices="Aucune facture pour le moment.",
    cancel_title="Résilier votre abonnement",
    cancel_intro=(
        "Nous sommes désolés de vous voir partir. Nous indiquer la raison est facultatif et "
        "aide {merchant} à s’améliorer."
    ),
    reason_legend=f"Pourquoi résiliez-vous{_NNBSP}?",
    optional="(facultatif)",
    reason_too_expensive="C’est trop cher",
    reason_missing_features="Il manque des fonctionnalités dont j’ai besoin",
    reason_switched_service="Je passe à un autre service",
    reason_unused="Je ne l’utilise pas assez",
    reason_customer_service="Le service client n’a pas été à la hauteur",
    reason_too_complex="C’est trop compliqué à utiliser",
    reason_low_quality="La qualité n’était pas celle attendue",
    reason_other="Une autre raison",
    comment_label=f"Souhaitez-vous nous dire autre chose{_NNBSP}?",
    comment_hint="Jusqu’à {max} caractères.",
    continue_button="Continuer",
    keep_subscription="Conserver mon abonnement",
    back="Retour",
    confirm_title="Confirmer la résiliation",
    confirm_now_summary=(
        "Votre abonnement {plan} se termine immédiatement et vous en perdez l’accès dès maintenant."
    ),
    confirm_period_end_summary=(
        "Votre abonnement {plan} reste actif jusqu’au {date}, puis se termine. Il ne sera pas "
        "renouvelé."
    ),
    confirm_no_charge="Vous ne serez plus débité pour cet abonnement.",
    confirm_reason_label="Votre raison",
    confirm_comment_label="Votre commentaire",
    no_reason_given="Aucune raison indiquée",
    confirm_button="Confirmer la résiliation",
    form_has_errors="Veuillez corriger le champ ci-dessous.",
    error_reason_invalid="Veuillez choisir l’une des raisons proposées.",
    error_comment_too_long=(
        f"Votre commentaire est trop long{_NBSP}: {{max}} caractères au maximum."
    ),
    notice_canceled="Votre abonnement {plan} a été résilié.",
    notice_cancel_scheduled=(
        "Votre abonnement {plan} se terminera le {date}. Vous ne serez plus débité."
    ),
    notice_already_canceled="Cet abonnement était déjà résilié.",
    notice_not_cancelable="Cet abonnement ne peut plus être résilié.",
    notice_cancel_rejected=(
        "Nous n’avons pas pu résilier votre abonnement et rien n’a été modifié. Réessayez, ou "
        "contactez {merchant} si le problème persiste."
    ),
    notice_cancel_pending=(
        "Nous avons bien reçu votre résiliation et la traitons encore. Actualisez cette page "
        "dans un instant pour la voir."
    ),
    notice_unavailable=(
        "Nous n’avons pas pu joindre le système de facturation : rien n’a été modifié. "
        "Réessayez dans un instant."
    ).replace(" :", f"{_NBSP}:"),
    link_expired_title="Ce lien a expiré",
    link_expired_body=(
        "Pour votre sécurité, les liens du portail de facturation ne fonctionnent que quelques "
        "minutes. Retournez auprès de {merchant} et ouvrez à nouveau le portail de facturation."
    ),
    link_used_title="Ce lien a déjà été utilisé",
    link_used_body=(
        "Pour votre sécurité, chaque lien du portail de facturation ne fonctionne qu’une fois. "
        "Retournez auprès de {merchant} et ouvrez à nouveau le portail pour obtenir un "
        "nouveau lien."
    ),
    link_unknown_title="Nous ne trouvons pas ce lien",
    link_unknown_body=(
        "Le lien est peut-être incomplet ou mal saisi. Revenez à l’endroit où vous l’avez "
        "obtenu et ouvrez à nouveau le portail de facturation."
    ),
    session_ended_title="Votre session a pris fin",
    session_ended_body=(
        "Pour votre sécurité, vous êtes déconnecté après une heure d’inactivité. Retournez auprès "
        "de {merchant} et ouvrez à nouveau le portail de facturation."
    ),
    signed_out_title="Vous êtes déconnecté",
    signed_out_body=(
        "Merci de votre visite. Pour revenir, retournez auprès de {merchant} et ouvrez le "
        "portail de facturation."
    ),
    no_session_title="Vous n’êtes pas connecté",
    no_session_body=(
        "Pour gérer votre facturation, retournez auprès de {merchant} et ouvrez le portail de "
        "facturation."
    ),
    not_found_title="Page introuvable",
    not_found_body="Cette page n’existe pas ou n’est pas accessible depuis votre compte.",
    back_to_overview="Retour au résumé de votre facturation",
    account_unavailable_title="Nous ne pouvons pas afficher votre compte pour le moment",
    account_unavailable_body=(
        "Les informations de votre compte ne sont pas encore disponibles. Réessayez dans un "
        "instant."
    ),
    csrf_title="Ce formulaire a expiré",
    csrf_body=(
        "Pour votre sécurité, nous n’avons pas pu accepter ce formulaire. Revenez en arrière, "
        "rechargez la page et réessayez."
    ),
    bad_request_title="Nous n’avons pas pu traiter cette demande",
    bad_request_body="Revenez en arrière et réessayez.",
    error_title="Une erreur est survenue",
    error_body=(
        "Réessayez dans un instant. Si le problème persiste, contactez {merchant} en indiquant "
        "la référence {reference}."
    ),
    change_card="Changer de carte",
    payment_method_title="Changer de moyen de paiement",
    payment_method_intro=(
        "Choisissez la carte sur laquelle votre abonnement {plan} sera désormais débité."
    ),
    current_card_label="Actuellement débité sur",
    no_current_card="Aucune carte enregistrée",
    saved_cards_legend="Vos cartes enregistrées",
    card_current_tag="Actuelle",
    use_saved_card_button="Utiliser cette carte",
    new_card_heading="Ajouter une nouvelle carte",
    new_card_privacy=(
        "Les données de votre carte sont transmises directement à notre prestataire de "
        "paiement. Nous ne conservons que le réseau de la carte, ses 4 derniers chiffres et sa "
        "date d’expiration."
    ),
    card_number_label="Numéro de carte",
    card_expiry_legend="Date d’expiration",
    card_exp_month_label="Mois (MM)",
    card_exp_year_label="Année (AAAA)",
    card_cvc_label="Cryptogramme (CVC)",
    card_cvc_hint=f"3 chiffres au dos de la carte{_NNBSP}; 4 au recto pour American Express.",
    save_card_button="Enregistrer et utiliser cette carte",
    error_choose_card="Veuillez choisir l’une de vos cartes.",
    error_card_number="Ce numéro de carte n’est pas valide. Vérifiez-le et réessayez.",
    error_card_exp_month="Indiquez le mois d’expiration par un nombre de 1 à 12.",
    error_card_exp_year=(
        "Indiquez l’année d’expiration figurant sur votre carte, sur quatre chiffres."
    ),
    error_card_expired="Cette carte a expiré. Veuillez utiliser une autre carte.",
    error_card_cvc=f"Indiquez le cryptogramme{_NBSP}: 3 chiffres, ou 4 pour American Express.",
    error_card_cvc_incorrect="Le cryptogramme est incorrect. Vérifiez-le et réessayez.",
    error_card_declined="Votre carte a été refusée. Veuillez utiliser une autre carte.",
    error_card_processing=(
        "Nous n’avons pas pu vérifier votre carte pour le moment. Réessayez dans un instant."
    ),
    error_card_reenter=(
        "Pour votre sécurité, saisissez à nouveau le numéro de carte et le cryptogramme."
    ),
    error_saved_card_expired=(
        "Cette carte a expiré. Choisissez une autre carte ou ajoutez-en une nouvelle."
    ),
    error_saved_card_missing=(
        "Cette carte n’est plus disponible. Choisissez une autre carte ou ajoutez-en une nouvelle."
    ),
    error_card_change_rejected=(
        "Nous n’avons pas pu changer votre moyen de paiement et rien n’a été modifié. "
        "Réessayez, ou contactez {merchant} si le problème persiste."
    ),
    test_clock_notice=(
        f"Mode test{_NBSP}: l’horloge de facturation de {{merchant}} indique le {{date}}. Les "
        f"dates et les renouvellements de cette page la suivent."
    ),
    notice_card_updated=(
        "Votre abonnement {plan} sera désormais débité sur votre carte {brand} se terminant par"
        " {last4}."
    ),
    notice_card_unchanged=(
        f"Cette carte paie déjà votre abonnement {{plan}}{_NBSP}: rien n’a donc été modifié."
    ),
    notice_card_subscription_ended=(
        f"Cet abonnement est terminé{_NBSP}: son moyen de paiement ne peut plus être modifié."
    ),
    notice_card_pending=(
        "Nous avons bien reçu votre carte et traitons encore le changement. Actualisez cette "
        "page dans un instant pour le voir."
    ),
)
