# Typographic apostrophes and dashes are intended in translations.
# ruff: noqa: RUF001
"""Spanish (neutral, addressing the customer as "tú")."""

from portal_gateway.portal.i18n.catalog import Messages

ES = Messages(
    portal_name="Portal de facturación",
    skip_to_content="Saltar al contenido principal",
    return_to_merchant="Volver a {merchant}",
    sign_out="Cerrar sesión",
    language="Idioma",
    contact_support="¿Preguntas sobre tu facturación? Escribe a {email}.",
    footer_security=(
        "Esta página es privada. Por tu seguridad, la sesión se cierra tras una hora sin actividad."
    ),
    merchant_fallback="la empresa",
    overview_heading="Gestiona tu facturación",
    signed_in_as="Sesión iniciada como {name} ({email})",
    subscriptions_heading="Suscripciones",
    no_subscriptions="No tienes ninguna suscripción con {merchant}.",
    price_month="{amount} al mes",
    price_year="{amount} al año",
    status_active="Activa",
    status_on_hold="En espera",
    status_canceled="Cancelada",
    status_incomplete="Pago pendiente",
    status_incomplete_expired="No iniciada",
    status_ending="Finaliza pronto",
    next_charge_label="Próximo cobro",
    next_charge_value="{amount} el {date}",
    current_period_label="Período actual",
    period_range="{start} – {end}",
    payment_method_label="Método de pago",
    ends_on_label="Finaliza el",
    canceled_on_label="Cancelada el",
    ends_on_notice=(
        "Tu suscripción está cancelada y finaliza el {date}. Mantienes el acceso hasta "
        "entonces y no se te volverá a cobrar."
    ),
    canceled_notice="Esta suscripción se canceló el {date}. No se te volverá a cobrar.",
    on_hold_notice=(
        "Tu último pago no se pudo completar, por lo que esta suscripción está en espera. "
        "Cambia de tarjeta más abajo o ponte en contacto con {merchant} si necesitas ayuda."
    ),
    incomplete_notice="Estamos esperando a que se complete tu primer pago.",
    incomplete_expired_notice=(
        "El primer pago falló, así que esta suscripción nunca se inició. No se te ha cobrado nada."
    ),
    cancel_subscription="Cancelar suscripción",
    payment_methods_heading="Métodos de pago",
    card_generic="Tarjeta",
    card_ending="{brand} terminada en {last4}",
    card_expires="Vence {expiry}",
    card_expired="Venció {expiry}",
    card_expiring_soon="Vence pronto",
    no_payment_methods="No hay ningún método de pago registrado.",
    invoices_heading="Historial de facturas",
    invoices_caption="Tus facturas, de la más reciente a la más antigua",
    col_date="Fecha",
    col_number="Número",
    col_amount="Importe",
    col_status="Estado",
    col_plan="Plan",
    invoice_status_paid="Pagada",
    invoice_status_open="Pendiente",
    invoice_status_uncollectible="Impagada",
    invoice_status_void="Anulada",
    invoice_status_draft="Borrador",
    no_invoices="Todavía no hay facturas.",
    cancel_title="Cancela tu suscripción",
    cancel_intro=(
        "Lamentamos que te vayas. Contarnos el motivo es opcional y ayuda a {merchant} a mejorar."
    ),
    reason_legend="¿Por qué cancelas?",
    optional="(opcional)",
    reason_too_expensive="Es demasiado caro",
    reason_missing_features="Le faltan funciones que necesito",
    reason_switched_service="Me cambio a otro servicio",
    reason_unused="No lo uso lo suficiente",
    reason_customer_service="La atención al cliente no estuvo a la altura",
    reason_too_complex="Es demasiado complicado de usar",
    reason_low_quality="La calidad no fue la que esperaba",
    reason_other="Otro motivo",
    comment_label="¿Hay algo más que quieras contarnos?",
    comment_hint="Hasta {max} caracteres.",
    continue_button="Continuar",
    keep_subscription="Mantener mi suscripción",
    back="Atrás",
    confirm_title="Confirma la cancelación",
    confirm_now_summary=(
        "Tu suscripción a {plan} finaliza de inmediato y pierdes el acceso en este momento."
    ),
    confirm_period_end_summary=(
        "Tu suscripción a {plan} sigue activa hasta el {date} y después finaliza. No se renovará."
    ),
    confirm_no_charge="No se te volverá a cobrar por esta suscripción.",
    confirm_reason_label="Tu motivo",
    confirm_comment_label="Tu comentario",
    no_reason_given="Sin motivo indicado",
    confirm_button="Confirmar cancelación",
    form_has_errors="Corrige el campo indicado a continuación.",
    error_reason_invalid="Elige uno de los motivos de la lista.",
    error_comment_too_long="Tu comentario es demasiado largo: el máximo es de {max} caracteres.",
    notice_canceled="Tu suscripción a {plan} se ha cancelado.",
    notice_cancel_scheduled=(
        "Tu suscripción a {plan} finalizará el {date}. No se te volverá a cobrar."
    ),
    notice_already_canceled="Esta suscripción ya estaba cancelada.",
    notice_not_cancelable="Esta suscripción ya no se puede cancelar.",
    notice_cancel_rejected=(
        "No pudimos cancelar tu suscripción y no se ha modificado nada. Inténtalo de nuevo o "
        "contacta con {merchant} si vuelve a ocurrir."
    ),
    notice_cancel_pending=(
        "Hemos recibido tu cancelación y todavía la estamos procesando. Actualiza esta página "
        "en unos instantes para verla."
    ),
    notice_unavailable=(
        "No pudimos conectar con el sistema de facturación, así que no se ha modificado nada. "
        "Inténtalo de nuevo en unos instantes."
    ),
    link_expired_title="Este enlace ha caducado",
    link_expired_body=(
        "Por tu seguridad, los enlaces del portal de facturación solo funcionan durante unos "
        "minutos. Vuelve a {merchant} y abre de nuevo el portal de facturación."
    ),
    link_used_title="Este enlace ya se ha utilizado",
    link_used_body=(
        "Por tu seguridad, cada enlace del portal de facturación funciona una sola vez. Vuelve "
        "a {merchant} y abre de nuevo el portal de facturación para obtener un enlace nuevo."
    ),
    link_unknown_title="No encontramos este enlace",
    link_unknown_body=(
        "Puede que el enlace esté incompleto o mal escrito. Vuelve al lugar donde lo obtuviste "
        "y abre de nuevo el portal de facturación."
    ),
    session_ended_title="Tu sesión ha finalizado",
    session_ended_body=(
        "Por tu seguridad, la sesión se cierra tras una hora sin actividad. Vuelve a "
        "{merchant} y abre de nuevo el portal de facturación."
    ),
    signed_out_title="Has cerrado la sesión",
    signed_out_body=(
        "Gracias por tu visita. Para volver, abre el portal de facturación desde {merchant}."
    ),
    no_session_title="No has iniciado sesión",
    no_session_body=(
        "Para gestionar tu facturación, vuelve a {merchant} y abre el portal de facturación."
    ),
    not_found_title="Página no encontrada",
    not_found_body="Esta página no existe o no está disponible desde tu cuenta.",
    back_to_overview="Volver al resumen de facturación",
    account_unavailable_title="No podemos mostrar tu cuenta en este momento",
    account_unavailable_body=(
        "Los datos de tu cuenta aún no están disponibles. Inténtalo de nuevo en unos instantes."
    ),
    csrf_title="Este formulario ha caducado",
    csrf_body=(
        "Por tu seguridad, no pudimos aceptar este formulario. Vuelve atrás, recarga la página "
        "e inténtalo de nuevo."
    ),
    bad_request_title="No pudimos procesar esta solicitud",
    bad_request_body="Vuelve atrás e inténtalo de nuevo.",
    error_title="Algo salió mal",
    error_body=(
        "Inténtalo de nuevo en unos instantes. Si el problema continúa, contacta con "
        "{merchant} e indica la referencia {reference}."
    ),
    change_card="Cambiar tarjeta",
    payment_method_title="Cambiar método de pago",
    payment_method_intro=(
        "Elige la tarjeta a la que se cobrará tu suscripción {plan} a partir de ahora."
    ),
    current_card_label="Se cobra actualmente a",
    no_current_card="No hay ninguna tarjeta registrada",
    saved_cards_legend="Tus tarjetas guardadas",
    card_current_tag="Actual",
    use_saved_card_button="Usar esta tarjeta",
    new_card_heading="Añadir una tarjeta nueva",
    new_card_privacy=(
        "Los datos de tu tarjeta van directamente a nuestro procesador de pagos. Solo guardamos"
        " la marca, los 4 últimos dígitos y la fecha de vencimiento."
    ),
    card_number_label="Número de tarjeta",
    card_expiry_legend="Fecha de vencimiento",
    card_exp_month_label="Mes (MM)",
    card_exp_year_label="Año (AAAA)",
    card_cvc_label="Código de seguridad (CVC)",
    card_cvc_hint="3 dígitos en el reverso de la tarjeta; 4 en el anverso si es American Express.",
    save_card_button="Guardar y usar esta tarjeta",
    error_choose_card="Elige una de tus tarjetas.",
    error_card_number="Este número de tarjeta no es válido. Revísalo e inténtalo de nuevo.",
    error_card_exp_month="Indica el mes de vencimiento con un número del 1 al 12.",
    error_card_exp_year=(
        "Indica el año de vencimiento que aparece en tu tarjeta, con cuatro dígitos."
    ),
    error_card_expired="Esta tarjeta ha vencido. Usa otra tarjeta.",
    error_card_cvc="Indica el código de seguridad: 3 dígitos, o 4 si es American Express.",
    error_card_cvc_incorrect="El código de seguridad es incorrecto. Revísalo e inténtalo de nuevo.",
    error_card_declined="Tu tarjeta ha sido rechazada. Usa otra tarjeta.",
    error_card_processing=(
        "No hemos podido verificar tu tarjeta en este momento. Inténtalo de nuevo en unos "
        "instantes."
    ),
    error_card_reenter=(
        "Por tu seguridad, vuelve a introducir el número de tarjeta y el código de seguridad."
    ),
    error_saved_card_expired="Esta tarjeta ha vencido. Elige otra tarjeta o añade una nueva.",
    error_saved_card_missing=(
        "Esta tarjeta ya no está disponible. Elige otra tarjeta o añade una nueva."
    ),
    error_card_change_rejected=(
        "No pudimos cambiar tu método de pago y no se ha modificado nada. Inténtalo de nuevo o "
        "contacta con {merchant} si vuelve a ocurrir."
    ),
    test_clock_notice=(
        "Modo de prueba: el reloj de facturación de {merchant} marca el {date}. Las fechas y "
        "renovaciones de esta página lo siguen."
    ),
    notice_card_updated=(
        "A partir de ahora, tu suscripción {plan} se cobrará a tu tarjeta {brand} terminada en "
        "{last4}."
    ),
    notice_card_unchanged=(
        "Esa tarjeta ya paga tu suscripción {plan}, así que no se ha modificado nada."
    ),
    notice_card_subscription_ended=(
        "Esta suscripción ha finalizado, así que ya no se puede cambiar su método de pago."
    ),
    notice_card_pending=(
        "Hemos recibido tu tarjeta y todavía estamos procesando el cambio. Actualiza esta "
        "página en unos instantes para verlo."
    ),
)
